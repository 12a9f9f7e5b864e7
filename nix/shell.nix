# shell.nix -- the development shell (the flake's devShells.default): the package's
# build inputs plus what `make test` and node-pack development use.
{ pkgs ? import <nixpkgs> { overlays = [ (import ./overlay.nix) ]; } }:

pkgs.mkShell {
  inputsFrom = [ pkgs.comfyui-ipex ];
  packages = with pkgs; [
    clang
    clang-tools # clangd, clang-format
    gdb
    cmocka
    nix # nix-instantiate for tests/nix
    (python3.withPackages (ps: with ps; [ numpy pillow pytest websocket-client jsonschema ]))
  ];
}
