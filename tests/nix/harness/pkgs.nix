# pkgs.nix -- stand-ins for the nixpkgs packages and builders the modules and the
# package expression use. A package is an attrset with a store-path-like outPath
# (what "${pkg}" interpolates to); builders keep their inputs visible to the tests.
{ lib }:

let
  storePath = name: "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
  drv = name: { type = "derivation"; inherit name; outPath = storePath name; };

  pkgs = lib.genAttrs
    [ "curl" "coreutils" "gdb" "clang" "clang-tools" "cmocka" "nix" "pkg-config"
      "libmicrohttpd" "oneDNN_2" "level-zero" "cjson" "libpng" "stb" "systemd" "openssl"
      "utf8proc" ]
    drv
  // {
    inherit lib;
    comfyui-ipex = drv "comfyui-ipex-0.1.0";
    python3 = drv "python3" // {
      withPackages = select: drv "python3-env" // {
        packages = select (lib.genAttrs [ "numpy" "pillow" "pytest" "websocket-client" "jsonschema" ] drv);
      };
    };

    # Builders: the result is a package that also carries what it was built from.
    writeText = name: text: drv name // { inherit text; };
    writeShellScript = name: text: drv name // { inherit text; };
    fetchurl = { url, hash }: drv (baseNameOf url) // { inherit url hash; };
    linkFarm = name: entries: drv name // { inherit entries; };
    stdenv.mkDerivation = attrs: drv "${attrs.pname}-${attrs.version}" // { inherit attrs; };
    mkShell = attrs: drv "shell" // { inherit attrs; };

    # callPackage: the function's named arguments filled from pkgs, overridable.
    callPackage = fn: overrides:
      let f = if builtins.isFunction fn then fn else import fn;
      in f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // overrides);
  };
in
pkgs
