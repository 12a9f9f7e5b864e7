#!/usr/bin/env bash
# Install the Debian packages the build and the test suite need, only those missing.
# Systems without apt: the list below is what to install; on NixOS use `nix develop`.
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config clang libmicrohttpd-dev libdnnl-dev libze-dev
  libcjson-dev libpng-dev libstb-dev libsystemd-dev libssl-dev libutf8proc-dev libcurl4-openssl-dev libcmocka-dev)
TEST_PKGS=(python3 python3-numpy python3-pil python3-pytest python3-websocket nodejs chromium
  systemd python3-jsonschema nix-bin)
EXTRA_PKGS=(${COMFYUI_IPEX_EXTRA_PKGS:-})

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${EXTRA_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: this system has no apt-get. Install the equivalents by hand;" >&2
  echo "deps: on NixOS run 'nix develop' in this folder for a shell with everything." >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
