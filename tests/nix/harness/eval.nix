# eval.nix -- evaluates modules the way NixOS or Home Manager would, with the
# harness's lib and pkgs. Returns { config, failedAssertions }.
#   nix-instantiate --eval --strict --json -E '(import ./eval.nix { modules = [ ... ]; }).config'
{ modules, homeManager ? false }:

let
  baseLib = import ./lib.nix;
  # Home Manager hands its modules lib extended with lib.hm (the activation DAG).
  lib = if homeManager then baseLib // {
    hm.dag.entryAfter = after: data: { inherit after data; before = [ ]; };
  } else baseLib;
  pkgs = import ./pkgs.nix { inherit lib; };
  result = lib.evalModules { inherit modules; specialArgs = { inherit lib pkgs; }; };
  config = result.config;
in
{
  inherit config;
  failedAssertions = map (a: a.message)
    (builtins.filter (a: !a.assertion) (config.assertions or [ ]));
}
