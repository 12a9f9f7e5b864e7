# overlay.nix -- adds pkgs.comfyui-ipex (the flake's overlays.default).
final: prev: {
  comfyui-ipex = final.callPackage ./package.nix { };
}
