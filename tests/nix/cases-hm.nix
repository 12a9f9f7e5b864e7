# cases-hm.nix -- programs.comfyui-ipex (Home Manager) under several configurations;
# { name, actual, expected } cases for compare.py, like cases-nixos.nix.
let
  # What Home Manager itself provides and the module reads.
  hmBase = {
    home.homeDirectory = "/home/ada";
    lib.file.mkOutOfStoreSymlink = path: { outOfStoreSymlink = path; };
  };
  evalFull = settings: import ./harness/eval.nix {
    homeManager = true;
    modules = [ ../../nix/hm-module.nix hmBase { programs.comfyui-ipex = { enable = true; } // settings; } ];
  };
  eval = settings: (evalFull settings).config;
  pkg = "/nix/store/16e759bdbd266e2b305f3d33df87c1c8-comfyui-ipex-0.1.0";
  ws = "/home/ada/comfyui-workspace";
  rejects = settings: !(builtins.tryEval (builtins.deepSeq (eval settings) true)).success;
  has = (import ./harness/lib.nix).hasInfix;
in
[
  {
    name = "hm: the package is installed, the workspace defaults to ~/comfyui-workspace";
    actual = let c = eval { }; in { packages = map toString c.home.packages; ws = c.programs.comfyui-ipex.workspace.directory; };
    expected = { packages = [ pkg ]; inherit ws; };
  }
  {
    name = "hm: model folders become out-of-store symlinks in the workspace's models/";
    actual = (eval { models.symlinks = { checkpoints = "/data/sd/ckpt"; loras = "/data/sd/loras"; }; }).home.file;
    expected = {
      "comfyui-workspace/models/checkpoints".source.outOfStoreSymlink = "/data/sd/ckpt";
      "comfyui-workspace/models/loras".source.outOfStoreSymlink = "/data/sd/loras";
    };
  }
  {
    name = "hm: activation makes the folders and copies the examples without overwriting";
    actual = let a = (eval { }).home.activation.comfyui-ipex-workspace; in {
      inherit (a) after;
      dirs = has "run mkdir -p '${ws}'/models '${ws}'/input '${ws}'/output '${ws}'/workflows\n" a.data;
      lists = has "for f in ${pkg}/share/comfyui-ipex/workflows/*.json; do" a.data;
      keeps = has "if [ ! -e \"$dest\" ]; then\n    run cp \"$f\" \"$dest\"" a.data;
    };
    expected = { after = [ "writeBoundary" ]; dirs = true; lists = true; keeps = true; };
  }
  {
    name = "hm: workflows.examples = false copies nothing";
    actual = has "run cp" (eval { workflows.examples = false; }).home.activation.comfyui-ipex-workspace.data;
    expected = false;
  }
  {
    name = "hm: the activation script is valid shell";
    shell = true;
    actual = "run() { \"$@\"; }\n" + (eval { }).home.activation.comfyui-ipex-workspace.data;
    expected = true;
  }
  {
    name = "hm: no user service unless asked";
    actual = (eval { }).systemd ? user;
    expected = false;
  }
  {
    name = "hm: the user service runs the daemon on the workspace";
    argv = true;
    actual = (eval { service = { enable = true; port = 8200; extraArgs = [ "--acceleration" "xpu" ]; }; })
      .systemd.user.services.comfyui-ipex.Service.ExecStart;
    expected = [ "${pkg}/bin/comfyui-ipex" "--listen" "127.0.0.1" "--port" "8200" "--base-directory" ws
      "--acceleration" "xpu" ];
  }
  {
    name = "hm: the user service is a notify unit wanted by default.target";
    actual = let s = (eval { service.enable = true; }).systemd.user.services.comfyui-ipex; in
      { inherit (s.Service) Type Restart; inherit (s.Install) WantedBy; };
    expected = { Type = "notify"; Restart = "on-failure"; WantedBy = [ "default.target" ]; };
  }
  {
    name = "hm: no editor files unless development.enable";
    actual = builtins.attrNames (eval { }).home.file or { };
    expected = [ ];
  }
  {
    name = "hm: development wires the workflow schema to workflows/*.json";
    actual = builtins.fromJSON (eval { development.enable = true; }).home.file."comfyui-workspace/.vscode/settings.json".text;
    expected = {
      "json.schemas" = [{ fileMatch = [ "/workflows/*.json" ]; url = "file://${pkg}/share/comfyui-ipex/workflow-schema.json"; }];
      "C_Cpp.intelliSenseEngine" = "disabled";
    };
  }
  {
    name = "hm: development gives clangd the node ABI headers";
    actual = has "-I${pkg}/include]" (eval { development.enable = true; }).home.file."comfyui-workspace/.clangd".text;
    expected = true;
  }
  {
    name = "hm: development adds a gdb launch configuration for the daemon";
    actual = let l = builtins.fromJSON (eval { development.enable = true; }).home.file."comfyui-workspace/.vscode/launch.json".text;
      c = builtins.head l.configurations; in { inherit (c) program MIMode cwd; args = builtins.head c.args; };
    expected = { program = "${pkg}/bin/comfyui-ipex"; MIMode = "gdb"; cwd = ws; args = "--base-directory"; };
  }
  {
    name = "hm: development adds clangd and gdb to the profile";
    actual = builtins.length (eval { development.enable = true; }).home.packages;
    expected = 3;
  }
  {
    name = "hm: a workspace outside the home directory fails an assertion";
    actual = (evalFull { workspace.directory = "/srv/ws"; }).failedAssertions != [ ];
    expected = true;
  }
  {
    name = "hm: the default workspace passes the assertions";
    actual = (evalFull { }).failedAssertions;
    expected = [ ];
  }
  { name = "hm: a non-string symlink target is rejected"; actual = rejects { models.symlinks.vae = 3; }; expected = true; }
  { name = "hm: an unknown option is rejected"; actual = rejects { workspace.dir = "/home/ada/x"; }; expected = true; }
]
