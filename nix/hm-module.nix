# hm-module.nix -- programs.comfyui-ipex: a per-user workspace, user service and
# editor setup (Home Manager).
#
# The workspace (default ~/comfyui-workspace) is the daemon's --base-directory:
# models/, input/, output/, workflows/. Model folders kept elsewhere appear in it as
# symlinks (models.symlinks); the example workflows are copied in once, as
# writable files the user then owns (a later switch never overwrites them). With
# development.enable the workspace also becomes a place to write workflows and node
# packs: VS Code validates workflows/*.json against the package's JSON Schema,
# clangd finds the node ABI headers (include/comfyui_ipex), and a gdb launch
# configuration starts the daemon on the workspace.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkOption mkIf mkMerge types literalExpression
    hasPrefix removePrefix mapAttrs' nameValuePair escapeShellArg;

  cfg = config.programs.comfyui-ipex;
  home = config.home.homeDirectory;
  ws = cfg.workspace.directory;
  # home.file paths are relative to the home directory.
  rel = removePrefix "${home}/" ws;
  share = "${cfg.package}/share/comfyui-ipex";

  daemonArgs = [ "--listen" "127.0.0.1" "--port" (toString cfg.service.port)
    "--base-directory" ws ] ++ cfg.service.extraArgs;
  execArg = s: lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);

  vscodeSettings = {
    "json.schemas" = [{
      fileMatch = [ "/workflows/*.json" ]; # "/": from the workspace folder
      url = "file://${share}/workflow-schema.json";
    }];
    "C_Cpp.intelliSenseEngine" = "disabled"; # clangd does it, from .clangd
  };

  launch = {
    version = "0.2.0";
    configurations = [{
      name = "comfyui-ipex (gdb)";
      type = "cppdbg";
      request = "launch";
      program = "${cfg.package}/bin/comfyui-ipex";
      args = [ "--base-directory" ws "--port" (toString cfg.service.port) "--verbose" ];
      cwd = ws;
      MIMode = "gdb";
      miDebuggerPath = "${pkgs.gdb}/bin/gdb";
    }];
  };

  # Node packs are C11 against the ABI headers the package installs.
  clangd = ''
    CompileFlags:
      Add: [-std=c11, -Wall, -Wextra, -I${cfg.package}/include]
  '';
in
{
  options.programs.comfyui-ipex = {
    enable = mkEnableOption "comfyui-ipex, the ComfyUI-compatible image generation server";

    package = mkOption {
      type = types.package;
      default = pkgs.comfyui-ipex or (pkgs.callPackage ./package.nix { });
      defaultText = literalExpression "pkgs.comfyui-ipex";
      description = "The comfyui-ipex package.";
    };

    workspace.directory = mkOption {
      type = types.str;
      default = "${home}/comfyui-workspace";
      defaultText = literalExpression "\"\${config.home.homeDirectory}/comfyui-workspace\"";
      description = "The workspace (absolute, inside the home directory): models, input, output, workflows.";
    };

    models.symlinks = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = { checkpoints = "/data/sd/checkpoints"; loras = "/data/sd/loras"; };
      description = "Model folders kept elsewhere, linked into the workspace's models/ by name.";
    };

    workflows.examples = mkOption {
      type = types.bool;
      default = true;
      description = "Copy the example workflows into workflows/ (files already there are kept).";
    };

    service = {
      enable = mkEnableOption "a user service running the daemon on the workspace";
      port = mkOption {
        type = types.port;
        default = 8188;
        description = "Port of the user service (on 127.0.0.1).";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "--acceleration" "xpu" "--precision" "bf16" ];
        description = "More daemon flags.";
      };
    };

    development.enable = mkEnableOption
      "the editor setup in the workspace: workflow JSON Schema, clangd, gdb launch configuration";
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [{
        assertion = hasPrefix "${home}/" ws;
        message = "programs.comfyui-ipex.workspace.directory (${ws}) must lie inside ${home}.";
      }];

      home.packages = [ cfg.package ];

      home.file = mapAttrs'
        (folder: target: nameValuePair "${rel}/models/${folder}" {
          source = config.lib.file.mkOutOfStoreSymlink target;
        })
        cfg.models.symlinks;

      home.activation.comfyui-ipex-workspace = lib.hm.dag.entryAfter [ "writeBoundary" ] (''
        run mkdir -p ${escapeShellArg ws}/models ${escapeShellArg ws}/input ${escapeShellArg ws}/output ${escapeShellArg ws}/workflows
      '' + lib.optionalString cfg.workflows.examples ''
        for f in ${share}/workflows/*.json; do
          dest=${escapeShellArg ws}/workflows/$(basename "$f")
          if [ ! -e "$dest" ]; then
            run cp "$f" "$dest" && run chmod u+w "$dest"
          fi
        done
      '');
    }

    (mkIf cfg.service.enable {
      systemd.user.services.comfyui-ipex = {
        Unit.Description = "ComfyUI-compatible image generation server (workspace ${ws})";
        Service = {
          Type = "notify";
          ExecStart = "${cfg.package}/bin/comfyui-ipex ${lib.concatMapStringsSep " " execArg daemonArgs}";
          Restart = "on-failure";
          WatchdogSec = "60s";
        };
        Install.WantedBy = [ "default.target" ];
      };
    })

    (mkIf cfg.development.enable {
      home.packages = [ pkgs.clang-tools pkgs.gdb ];
      home.file."${rel}/.vscode/settings.json".text = builtins.toJSON vscodeSettings;
      home.file."${rel}/.vscode/launch.json".text = builtins.toJSON launch;
      home.file."${rel}/.clangd".text = clangd;
    })
  ]);
}
