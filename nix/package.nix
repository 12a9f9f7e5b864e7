# package.nix -- comfyui-ipex built by its own Makefile (for callPackage).
#
# The same `make` / `make install` as on Debian: pkg-config finds the libraries,
# PREFIX puts everything under $out, and DATADIR (compiled into the daemon as its
# default data folder) becomes $out/share/comfyui-ipex. The CLIP tokenizer files
# are not in the repository; they are ComfyUI's own copy (comfy/sd1_tokenizer,
# the openai/clip-vit-large-patch14 vocabulary), fetched at a pinned commit with
# pinned hashes and installed under share/comfyui-ipex/tokenizers/sd1.
# The test suite is not run here: it needs the reference fixtures in ../shared.
{ lib
, stdenv
, fetchurl
, linkFarm
, pkg-config
, libmicrohttpd
, oneDNN_2
, level-zero
, cjson
, libpng
, stb
, systemd
, openssl
, utf8proc
, curl
}:

let
  version = "0.1.0";

  # ComfyUI commit whose comfy/sd1_tokenizer files the fixtures were made with.
  comfyRev = "a0f6703f051416ba8d10cc90a4f10b8124fcbb38";
  tokenizerHashes = {
    "vocab.json" = "sha256-4Imtkro2g3oNMUM+VVyPRf5gGrXCIdT2B97TLZ96Q0k=";
    "merges.txt" = "sha256-n9aR98gDkhDg/O0VhlRmxlgg0JtjmIsBdL/iXeKZBRo=";
    "tokenizer_config.json" = "sha256-830gVu6XQ8RKebhes3Y7e6s3gznmmktQ9Yo36JBmghw=";
    "special_tokens_map.json" = "sha256-xIZKk3aoQBkYQlvtcfwU/A6B+bWexFwc+WzMst9Qjqw=";
  };
  tokenizer = linkFarm "comfyui-ipex-sd1-tokenizer" (lib.mapAttrsToList
    (name: hash: {
      inherit name;
      path = fetchurl {
        url = "https://raw.githubusercontent.com/comfyanonymous/ComfyUI/${comfyRev}/comfy/sd1_tokenizer/${name}";
        inherit hash;
      };
    })
    tokenizerHashes);
in
stdenv.mkDerivation {
  pname = "comfyui-ipex";
  inherit version;

  # The repository without build trees a developer's checkout may hold (stale objects
  # there would be linked instead of rebuilt).
  src = lib.cleanSourceWith {
    src = lib.cleanSource ./..;
    filter = path: type:
      !(builtins.elem (baseNameOf path) [ "build" "build-asan" "node_modules" "comfyui-data" "result" ]);
  };

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ libmicrohttpd oneDNN_2 level-zero cjson libpng stb systemd openssl utf8proc curl ];

  # The Makefile looks for stb's headers where Debian puts them (/usr/include/stb).
  env.NIX_CFLAGS_COMPILE = "-I${stb}/include/stb";

  makeFlags = [
    "PREFIX=${placeholder "out"}"
    "TOKENIZER_DIR=${tokenizer}"
  ];

  passthru = { inherit tokenizer tokenizerHashes; };

  meta = {
    description = "ComfyUI-compatible image generation server in C on oneDNN (CPU and Intel GPUs)";
    license = lib.licenses.mit;
    platforms = [ "x86_64-linux" ];
    mainProgram = "comfyui-ipex";
  };
}
