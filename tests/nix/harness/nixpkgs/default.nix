# The stand-in for `import nixpkgs { system; overlays; }` in flake.nix: the harness's
# pkgs with the overlays applied in order (each sees the final set and the previous).
{ system, overlays ? [ ] }:

let
  lib = import ../lib.nix;
  base = import ../pkgs.nix { inherit lib; } // { inherit system; };
  final = builtins.foldl' (prev: overlay: prev // overlay final prev) base overlays;
in
final
