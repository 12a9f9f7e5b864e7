#!/usr/bin/env bash
# Browser tests (headless Chromium + playwright-core) against the real daemon.
# Needs the UI bundle (make ui) and the synthetic checkpoint (make test builds both).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
if [ ! -x "$BUILD/comfyui-ipex" ] || [ ! -f ui/dist/index.html ] || [ ! -f "$BUILD/sd15-synth.safetensors" ]; then
  echo "browser: missing daemon, UI bundle or synthetic checkpoint"
  echo "0 passed, 1 failed"
  exit 1
fi
exec node tests/browser/ui.test.mjs
