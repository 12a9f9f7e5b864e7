# flake.nix -- comfyui-ipex for Nix users: the package, an overlay, a development
# shell, the NixOS module (services.comfyui-ipex) and the Home Manager module
# (programs.comfyui-ipex). Everything lives in nix/; this file only wires it up.
#
#   nix build                      # ./result/bin/comfyui-ipex
#   nix develop                    # shell with the build inputs, clangd, gdb, test tools
#   imports = [ comfyui-ipex.nixosModules.comfyui-ipex ];        # NixOS
#   imports = [ comfyui-ipex.homeManagerModules.comfyui-ipex ];  # Home Manager
{
  description = "ComfyUI-compatible image generation server in C on oneDNN (CPU and Intel GPUs)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      # oneDNN's CPU kernels and Level Zero target x86-64.
      systems = [ "x86_64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f (import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
      }));
    in
    {
      overlays.default = import ./nix/overlay.nix;

      packages = forAllSystems (pkgs: {
        comfyui-ipex = pkgs.comfyui-ipex;
        default = pkgs.comfyui-ipex;
      });

      devShells = forAllSystems (pkgs: {
        default = import ./nix/shell.nix { inherit pkgs; };
      });

      nixosModules = {
        comfyui-ipex = import ./nix/nixos-module.nix;
        default = self.nixosModules.comfyui-ipex;
      };

      homeManagerModules = {
        comfyui-ipex = import ./nix/hm-module.nix;
        default = self.homeManagerModules.comfyui-ipex;
      };
    };
}
