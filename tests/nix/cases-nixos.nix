# cases-nixos.nix -- services.comfyui-ipex evaluated under several configurations;
# each case is { name, actual, expected } and compare.py checks them (argv: the
# ExecStart line split as systemd does; shell: a script that must pass `bash -n`).
let
  eval = settings: (import ./harness/eval.nix {
    modules = [ ../../nix/nixos-module.nix { services.comfyui-ipex = { enable = true; } // settings; } ];
  }).config;
  svc = settings: (eval settings).systemd.services.comfyui-ipex;
  sc = settings: (svc settings).serviceConfig;
  # Whether evaluating the configuration fails (a type error, an unknown option).
  rejects = settings: !(builtins.tryEval (builtins.deepSeq (eval settings) true)).success;
  has = (import ./harness/lib.nix).hasInfix;
  bin = "/nix/store/16e759bdbd266e2b305f3d33df87c1c8-comfyui-ipex-0.1.0/bin/comfyui-ipex";
in
[
  {
    name = "defaults become the daemon's flags";
    argv = true;
    actual = (sc { }).ExecStart;
    expected = [ bin "--listen" "127.0.0.1" "--port" "8188" "--base-directory" "/var/lib/comfyui"
      "--acceleration" "auto" "--opt-level" "O3" "--precision" "fp32" "--jit" ];
  }
  {
    name = "every option becomes its flag";
    argv = true;
    actual = (sc {
      host = "0.0.0.0"; port = 9000; acceleration = "cpu";
      optimization = { level = "O3"; precision = "bf16"; jitCompile = false; };
      models.cache.size = 4096; extraArgs = [ "--preview-method" "auto" ];
    }).ExecStart;
    expected = [ bin "--listen" "0.0.0.0" "--port" "9000" "--base-directory" "/var/lib/comfyui"
      "--acceleration" "cpu" "--opt-level" "O3" "--precision" "bf16" "--no-jit" "--cache-size" "4096"
      "--preview-method" "auto" ];
  }
  {
    name = "a disabled model cache is --cache-size 0";
    argv = true;
    actual = (sc { models.cache.enable = false; }).ExecStart;
    expected = [ bin "--listen" "127.0.0.1" "--port" "8188" "--base-directory" "/var/lib/comfyui"
      "--acceleration" "auto" "--opt-level" "O3" "--precision" "fp32" "--jit" "--cache-size" "0" ];
  }
  {
    name = "a disabled model cache wins over a size";
    actual = let e = (sc { models.cache = { enable = false; size = 4096; }; }).ExecStart; in
      { zero = has "\"--cache-size\" \"0\"" e; size = has "4096" e; };
    expected = { zero = true; size = false; };
  }
  {
    name = "systemd specifiers and variables in arguments are escaped";
    actual = builtins.match ".* \"--front-end-root\" \"/srv/ui%%1[$][$]HOME\"" (sc { extraArgs = [ "--front-end-root" "/srv/ui%1$HOME" ]; }).ExecStart != null;
    expected = true;
  }
  {
    name = "unit: notify, watchdog, restart, state/cache/config directories";
    actual = { inherit (sc { }) Type WatchdogSec Restart StateDirectory CacheDirectory ConfigurationDirectory User; };
    expected = { Type = "notify"; WatchdogSec = "60s"; Restart = "on-failure"; StateDirectory = "comfyui";
      CacheDirectory = "comfyui"; ConfigurationDirectory = "comfyui-ipex"; User = "comfyui"; };
  }
  {
    name = "acceleration cpu: no devices at all";
    actual = { inherit (sc { acceleration = "cpu"; }) PrivateDevices DeviceAllow SupplementaryGroups; };
    expected = { PrivateDevices = true; DeviceAllow = [ ]; SupplementaryGroups = [ ]; };
  }
  {
    name = "acceleration xpu: /dev/dri only, through the render and video groups";
    actual = { inherit (sc { acceleration = "xpu"; }) PrivateDevices DevicePolicy DeviceAllow SupplementaryGroups; };
    expected = { PrivateDevices = false; DevicePolicy = "closed"; DeviceAllow = [ "char-drm rw" ];
      SupplementaryGroups = [ "render" "video" ]; };
  }
  {
    name = "acceleration auto may use the GPU too";
    actual = (sc { acceleration = "auto"; }).DeviceAllow;
    expected = [ "char-drm rw" ];
  }
  {
    name = "JIT on: MemoryDenyWriteExecute stays off";
    actual = (sc { optimization.jitCompile = true; }).MemoryDenyWriteExecute;
    expected = false;
  }
  {
    name = "JIT off: MemoryDenyWriteExecute=yes";
    actual = (sc { optimization.jitCompile = false; }).MemoryDenyWriteExecute;
    expected = true;
  }
  {
    name = "loopback host: only localhost may connect";
    actual = { inherit (sc { host = "::1"; }) IPAddressAllow IPAddressDeny; };
    expected = { IPAddressAllow = [ "localhost" ]; IPAddressDeny = [ "any" ]; };
  }
  {
    name = "public host: no IP filter";
    actual = { inherit (sc { host = "0.0.0.0"; }) IPAddressAllow IPAddressDeny; };
    expected = { IPAddressAllow = [ ]; IPAddressDeny = [ ]; };
  }
  {
    name = "openFirewall opens the port";
    actual = (eval { port = 9000; openFirewall = true; }).networking.firewall.allowedTCPPorts;
    expected = [ 9000 ];
  }
  {
    name = "the firewall is left alone by default";
    actual = (eval { }).networking;
    expected = { };
  }
  {
    name = "socket activation: a socket on host:port, the service no longer started at boot";
    actual = let c = eval { socketActivation = true; host = "::1"; port = 8190; }; in {
      listen = c.systemd.sockets.comfyui-ipex.listenStreams;
      socketWantedBy = c.systemd.sockets.comfyui-ipex.wantedBy;
      serviceWantedBy = c.systemd.services.comfyui-ipex.wantedBy;
    };
    expected = { listen = [ "[::1]:8190" ]; socketWantedBy = [ "sockets.target" ]; serviceWantedBy = [ ]; };
  }
  {
    name = "without socket activation the service starts at boot and no socket exists";
    actual = let c = eval { }; in { wantedBy = c.systemd.services.comfyui-ipex.wantedBy; sockets = c.systemd ? sockets; };
    expected = { wantedBy = [ "multi-user.target" ]; sockets = false; };
  }
  {
    name = "models.path elsewhere is bind-mounted read-only over the default";
    actual = let c = eval { models.path = "/srv/models"; }; in {
      bind = c.systemd.services.comfyui-ipex.serviceConfig.BindReadOnlyPaths;
      tmpfiles = c.systemd.tmpfiles.rules;
    };
    expected = { bind = [ "/srv/models:/var/lib/comfyui/models" ]; tmpfiles = [ "d /srv/models 0750 comfyui comfyui -" ]; };
  }
  {
    name = "the default models.path needs no bind mount";
    actual = (sc { }).BindReadOnlyPaths;
    expected = [ ];
  }
  {
    name = "autoDownload off: no download unit";
    actual = (eval { }).systemd.services ? comfyui-ipex-models;
    expected = false;
  }
  {
    name = "autoDownload: a oneshot before the server, with network, writing models.path only";
    actual = let m = (eval {
      models = { autoDownload = true; path = "/srv/models";
        downloads."checkpoints/a b.safetensors" = { url = "https://example.org/a"; sha256 = "00ff"; }; };
    }).systemd.services.comfyui-ipex-models; in {
      inherit (m) wantedBy before after;
      inherit (m.serviceConfig) Type ReadWritePaths User;
      fetches = builtins.match ".*\nfetch 'checkpoints/a b.safetensors' 'https://example.org/a' '00ff'\n.*" m.script != null;
    };
    expected = { wantedBy = [ "comfyui-ipex.service" ]; before = [ "comfyui-ipex.service" ];
      after = [ "network-online.target" ]; Type = "oneshot"; ReadWritePaths = [ "/srv/models" ];
      User = "comfyui"; fetches = true; };
  }
  {
    name = "the download script is valid shell";
    shell = true;
    actual = (eval { models = { autoDownload = true;
      downloads."vae/x.safetensors" = { url = "https://example.org/x"; sha256 = "ab"; }; }; })
      .systemd.services.comfyui-ipex-models.script;
    expected = true;
  }
  {
    name = "environment reaches the service";
    actual = (svc { environment = { OMP_NUM_THREADS = "4"; }; }).environment;
    expected = { OMP_NUM_THREADS = "4"; };
  }
  {
    name = "the service user and group exist";
    actual = let c = eval { }; in { user = c.users.users.comfyui.isSystemUser; group = c.users.groups ? comfyui; };
    expected = { user = true; group = true; };
  }
  {
    name = "tunables are defaults a configuration can override";
    actual = (import ./harness/eval.nix {
      modules = [
        ../../nix/nixos-module.nix
        { services.comfyui-ipex.enable = true; systemd.services.comfyui-ipex.serviceConfig.MemoryMax = "32G"; }
      ];
    }).config.systemd.services.comfyui-ipex.serviceConfig.MemoryMax;
    expected = "32G";
  }
  {
    name = "mkForce beats the module's hardening (models under /home)";
    actual = (import ./harness/eval.nix {
      modules = [
        ../../nix/nixos-module.nix
        ({ lib, ... }: {
          services.comfyui-ipex = { enable = true; models.path = "/home/ada/models"; };
          systemd.services.comfyui-ipex.serviceConfig.ProtectHome = lib.mkForce "read-only";
        })
      ];
    }).config.systemd.services.comfyui-ipex.serviceConfig.ProtectHome;
    expected = "read-only";
  }
  {
    name = "two plain definitions of one setting conflict";
    actual = !(builtins.tryEval (builtins.deepSeq (import ./harness/eval.nix {
      modules = [
        ../../nix/nixos-module.nix
        { services.comfyui-ipex.enable = true; systemd.services.comfyui-ipex.serviceConfig.ProtectHome = false; }
      ];
    }).config.systemd.services.comfyui-ipex.serviceConfig.ProtectHome true)).success;
    expected = true;
  }
  {
    name = "disabled: nothing is configured";
    actual = let c = (import ./harness/eval.nix { modules = [ ../../nix/nixos-module.nix { } ]; }).config;
      in { systemd = c.systemd or { }; users = c.users or { }; };
    expected = { systemd = { }; users = { }; };
  }
  { name = "a port out of range is rejected"; actual = rejects { port = 70000; }; expected = true; }
  { name = "an unknown acceleration is rejected"; actual = rejects { acceleration = "cuda"; }; expected = true; }
  { name = "an unknown precision is rejected"; actual = rejects { optimization.precision = "fp8"; }; expected = true; }
  { name = "an unknown option is rejected"; actual = rejects { hots = "0.0.0.0"; }; expected = true; }
  { name = "a valid configuration is not rejected"; actual = rejects { port = 8189; }; expected = false; }
]
