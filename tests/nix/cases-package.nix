# cases-package.nix -- flake.nix's outputs and nix/package.nix, evaluated against the
# stand-in nixpkgs; { name, actual, expected } cases for compare.py.
let
  lib = import ./harness/lib.nix;
  nixpkgs = { inherit lib; outPath = ./harness/nixpkgs; };
  flake = import ../../flake.nix;
  outputs = flake.outputs { self = outputs; inherit nixpkgs; };
  pkg = outputs.packages.x86_64-linux.default;
  names = map (p: p.name);
in
[
  {
    name = "flake: the outputs users are promised";
    actual = {
      top = builtins.attrNames outputs;
      packages = builtins.attrNames outputs.packages.x86_64-linux;
      nixos = builtins.attrNames outputs.nixosModules;
      hm = builtins.attrNames outputs.homeManagerModules;
    };
    expected = {
      top = [ "devShells" "homeManagerModules" "nixosModules" "overlays" "packages" ];
      packages = [ "comfyui-ipex" "default" ];
      nixos = [ "comfyui-ipex" "default" ];
      hm = [ "comfyui-ipex" "default" ];
    };
  }
  {
    name = "flake: the package is built by the Makefile with the Debian stack's nixpkgs names";
    actual = {
      inherit (pkg) name;
      native = names pkg.attrs.nativeBuildInputs;
      build = names pkg.attrs.buildInputs;
    };
    expected = {
      name = "comfyui-ipex-0.1.0";
      native = [ "pkg-config" ];
      build = [ "libmicrohttpd" "oneDNN_2" "level-zero" "cjson" "libpng" "stb" "systemd" "openssl" "utf8proc" "curl" ];
    };
  }
  {
    name = "package: installs under $out with the fetched tokenizer";
    actual = pkg.attrs.makeFlags;
    expected = [ "PREFIX=${builtins.placeholder "out"}" "TOKENIZER_DIR=${pkg.attrs.passthru.tokenizer}" ];
  }
  {
    name = "package: the source leaves out build trees and node_modules";
    actual = map (n: pkg.attrs.src.filter "/src/${n}" "directory") [ "build" "build-asan" "node_modules" "src" "nix" ];
    expected = [ false false false true true ];
  }
  {
    name = "package: every tokenizer file is fetched from a pinned ComfyUI commit";
    actual = lib.all (e: builtins.match
      "https://raw.githubusercontent.com/comfyanonymous/ComfyUI/[0-9a-f]{40}/comfy/sd1_tokenizer/${e.name}" e.path.url != null)
      pkg.attrs.passthru.tokenizer.entries;
    expected = true;
  }
  {
    name = "package: the tokenizer has the four files ComfyUI's sd1 tokenizer folder has";
    actual = map (e: e.name) pkg.attrs.passthru.tokenizer.entries;
    expected = [ "merges.txt" "special_tokens_map.json" "tokenizer_config.json" "vocab.json" ];
  }
  {
    name = "flake: the overlay adds pkgs.comfyui-ipex";
    actual = (import nixpkgs { system = "x86_64-linux"; overlays = [ outputs.overlays.default ]; }).comfyui-ipex.name;
    expected = "comfyui-ipex-0.1.0";
  }
  {
    name = "flake: the dev shell has the package's inputs and the tools";
    actual = let s = outputs.devShells.x86_64-linux.default.attrs; in {
      from = names s.inputsFrom;
      tools = lib.all (n: builtins.elem n (names s.packages)) [ "clang-tools" "gdb" ];
    };
    expected = { from = [ "comfyui-ipex-0.1.0" ]; tools = true; };
  }
  {
    name = "flake: nixosModules.default evaluates";
    actual = (import ./harness/eval.nix { modules = [ outputs.nixosModules.default { services.comfyui-ipex.enable = true; } ]; })
      .config.systemd.services.comfyui-ipex.serviceConfig.Type;
    expected = "notify";
  }
  {
    name = "flake: homeManagerModules.default evaluates";
    actual = (import ./harness/eval.nix { homeManager = true; modules = [
      outputs.homeManagerModules.default
      { home.homeDirectory = "/home/ada"; programs.comfyui-ipex.enable = true; }
    ]; }).config.programs.comfyui-ipex.workspace.directory;
    expected = "/home/ada/comfyui-workspace";
  }
]
