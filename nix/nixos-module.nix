# nixos-module.nix -- services.comfyui-ipex: the daemon as a hardened NixOS service.
#
# Every option ends up as a daemon flag or a unit setting; nothing is written to a
# config file, so `systemctl cat comfyui-ipex` shows the whole truth. The sandbox is
# the one of systemd/comfyui-ipex.service (shared through hardening.nix), adjusted
# to the options:
#   - /dev/dri (group render/video) only when acceleration is not "cpu", else
#     PrivateDevices=yes;
#   - MemoryDenyWriteExecute=yes only when optimization.jitCompile is false:
#     oneDNN's JIT writes its kernels into memory it then executes, which W^X forbids;
#   - IPAddressAllow=localhost/IPAddressDeny=any when the daemon listens on loopback.
# Models live in /var/lib/comfyui/models unless models.path says otherwise; then
# that folder is bind-mounted read-only over it. models.autoDownload adds a one-shot
# unit that fetches models.downloads (checked against their sha256) before the
# server starts, so the server itself never needs to reach the network.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkOption mkIf mkMerge mkDefault types literalExpression
    optional optionals concatStringsSep concatMapStringsSep mapAttrsToList replaceStrings
    hasInfix elem;

  cfg = config.services.comfyui-ipex;
  stateDir = "/var/lib/comfyui";
  defaultModels = "${stateDir}/models";
  gpu = cfg.acceleration != "cpu";
  loopback = elem cfg.host [ "127.0.0.1" "::1" "localhost" ];

  # One argument as systemd's ExecStart parses it: a C-style quoted string, with its
  # own specifier (%) and variable ($) expansion turned off.
  execArg = s: replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
  execLine = args: concatMapStringsSep " " execArg args;

  daemonArgs = [
    "--listen" cfg.host
    "--port" (toString cfg.port)
    "--base-directory" stateDir
    "--acceleration" cfg.acceleration
    "--opt-level" cfg.optimization.level
    "--precision" cfg.optimization.precision
    (if cfg.optimization.jitCompile then "--jit" else "--no-jit")
  ]
  # Left to the daemon's own default unless asked for.
  ++ optionals (!cfg.models.cache.enable) [ "--cache-size" "0" ]
  ++ optionals (cfg.models.cache.enable && cfg.models.cache.size != null)
    [ "--cache-size" (toString cfg.models.cache.size) ]
  ++ cfg.extraArgs;

  listenAddress =
    if hasInfix ":" cfg.host then "[${cfg.host}]:${toString cfg.port}"
    else "${cfg.host}:${toString cfg.port}";

  # Fetches each missing file of models.downloads through the cache folder, so a
  # half-done download never appears under its real name.
  fetchScript = ''
    fetch() {  # fetch RELATIVE-PATH URL SHA256
      dest=${lib.escapeShellArg cfg.models.path}/$1
      [ -e "$dest" ] && return 0
      part="$CACHE_DIRECTORY/download.part"
      curl --fail --location --retry 3 --silent --show-error --output "$part" "$2"
      if ! echo "$3  $part" | sha256sum --check --quiet; then
        rm -f "$part"; echo "comfyui-ipex: $1: sha256 mismatch, not installed" >&2; return 1
      fi
      mkdir -p "$(dirname "$dest")" && mv "$part" "$dest"
    }
    ${concatStringsSep "\n" (mapAttrsToList (name: d:
      "fetch ${lib.escapeShellArgs [ name d.url d.sha256 ]}") cfg.models.downloads)}
  '';

  download = types.submodule {
    options = {
      url = mkOption { type = types.str; description = "Where to download the file from."; };
      sha256 = mkOption { type = types.str; description = "Its sha256, as hex digits."; };
    };
  };
in
{
  options.services.comfyui-ipex = {
    enable = mkEnableOption "comfyui-ipex, the ComfyUI-compatible image generation server";

    package = mkOption {
      type = types.package;
      default = pkgs.comfyui-ipex or (pkgs.callPackage ./package.nix { });
      defaultText = literalExpression "pkgs.comfyui-ipex";
      description = "The comfyui-ipex package to run.";
    };

    host = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address to listen on (--listen); several as a comma-separated list.";
    };

    port = mkOption {
      type = types.port;
      default = 8188;
      description = "TCP port of the HTTP/WebSocket API and the web UI (--port).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port in the firewall.";
    };

    socketActivation = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Let systemd listen on host:port and start the server on the first connection
        (comfyui-ipex.socket), instead of starting it at boot.
      '';
    };

    models = {
      path = mkOption {
        type = types.str;
        default = defaultModels;
        description = ''
          Folder (absolute path) of the model files in ComfyUI's layout (checkpoints/,
          loras/, vae/, ...).
          Anywhere but the default, it is bind-mounted read-only over ${defaultModels}.
          Under /home it also needs
          systemd.services.comfyui-ipex.serviceConfig.ProtectHome = lib.mkForce "read-only".
        '';
      };

      autoDownload = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Before the server starts, download every entry of models.downloads that is
          not there yet, checking its sha256 (comfyui-ipex-models.service).
        '';
      };

      downloads = mkOption {
        type = types.attrsOf download;
        default = { };
        example = literalExpression ''
          { "checkpoints/v1-5-pruned-emaonly-fp16.safetensors" = {
              url = "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly-fp16.safetensors";
              sha256 = "...";
            }; }
        '';
        description = "Files to fetch into models.path, by path relative to it.";
      };

      cache = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Keep loaded models in memory between prompts.";
        };
        size = mkOption {
          type = types.nullOr types.ints.unsigned;
          default = null;
          example = 8192;
          description = "Memory budget of the model cache in MB (--cache-size); null: the daemon's default.";
        };
      };
    };

    acceleration = mkOption {
      type = types.enum [ "auto" "cpu" "xpu" ];
      default = "auto";
      description = ''
        Where to compute (--acceleration): an Intel GPU through Level Zero (xpu), the
        CPU, or auto (the GPU if one is found). Anything but cpu grants /dev/dri.
      '';
    };

    optimization = {
      level = mkOption {
        type = types.enum [ "O0" "O1" "O2" "O3" ];
        default = "O3";
        description = "Optimization level (--opt-level); O3 is the fastest, O0 the unfused reference; all match ComfyUI's fp32 numbers within the conformance bounds.";
      };
      precision = mkOption {
        type = types.enum [ "fp32" "fp16" "bf16" "int8" ];
        default = "fp32";
        description = "Compute precision (--precision).";
      };
      jitCompile = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Prepare kernels for the target shapes ahead of the first step (--jit). When
          false (--no-jit) the unit also sets MemoryDenyWriteExecute=yes, which oneDNN's
          JIT kernels cannot run under.
        '';
      };
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--preview-method" "auto" "--verbose" ];
      description = "More daemon flags, appended to the generated ones.";
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = { OMP_NUM_THREADS = "8"; };
      description = "Environment variables of the service.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      users.users.comfyui = {
        isSystemUser = true;
        group = "comfyui";
        home = stateDir;
        description = "comfyui-ipex service";
      };
      users.groups.comfyui = { };

      systemd.tmpfiles.rules = [ "d ${cfg.models.path} 0750 comfyui comfyui -" ];

      systemd.services.comfyui-ipex = {
        description = "ComfyUI-compatible image generation server (oneDNN)";
        after = [ "network.target" ];
        wantedBy = optional (!cfg.socketActivation) "multi-user.target";
        inherit (cfg) environment;
        serviceConfig = import ./hardening.nix // {
          Type = "notify";
          NotifyAccess = "main";
          ExecStart = "${cfg.package}/bin/comfyui-ipex ${execLine daemonArgs}";
          Restart = "on-failure";
          RestartSec = "5s";
          TimeoutStartSec = "2min";
          TimeoutStopSec = "30s";
          WatchdogSec = mkDefault "60s";
          User = "comfyui";
          Group = "comfyui";
          StateDirectory = "comfyui";
          CacheDirectory = "comfyui";
          ConfigurationDirectory = "comfyui-ipex";
          MemoryMax = mkDefault "16G";
          LimitNOFILE = mkDefault 4096;
          TasksMax = mkDefault 512;
          PrivateDevices = !gpu;
          DevicePolicy = "closed";
          DeviceAllow = optional gpu "char-drm rw";
          SupplementaryGroups = optionals gpu [ "render" "video" ];
          MemoryDenyWriteExecute = !cfg.optimization.jitCompile;
          IPAddressAllow = optional loopback "localhost";
          IPAddressDeny = optional loopback "any";
          BindReadOnlyPaths = optional (cfg.models.path != defaultModels)
            "${cfg.models.path}:${defaultModels}";
        };
      };
    }

    (mkIf cfg.openFirewall {
      networking.firewall.allowedTCPPorts = [ cfg.port ];
    })

    (mkIf cfg.socketActivation {
      systemd.sockets.comfyui-ipex = {
        description = "ComfyUI-compatible image generation server socket";
        wantedBy = [ "sockets.target" ];
        listenStreams = [ listenAddress ];
      };
    })

    (mkIf cfg.models.autoDownload {
      systemd.services.comfyui-ipex-models = {
        description = "Download the models of comfyui-ipex";
        wantedBy = [ "comfyui-ipex.service" ];
        before = [ "comfyui-ipex.service" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        path = [ pkgs.curl pkgs.coreutils ];
        script = fetchScript;
        serviceConfig = import ./hardening.nix // {
          Type = "oneshot";
          User = "comfyui";
          Group = "comfyui";
          StateDirectory = "comfyui";
          CacheDirectory = "comfyui";
          ReadWritePaths = [ cfg.models.path ];
          PrivateDevices = true;
        };
      };
    })
  ]);
}
