#!/usr/bin/env bash
# Short libFuzzer runs of the checkpoint readers (called by tests/run.sh).
#   fuzz_ckpt:   any bytes through ckpt_open_memory (safetensors header, zip, pickle)
#   fuzz_pickle: any bytes as a torch data.pkl through the safe pickle VM
# Each target is built with clang (-fsanitize=fuzzer,address,undefined) from the io
# sources, seeded with small valid and broken files, and run FUZZ_SECONDS (default
# 20). A crash, leak or sanitizer report fails it; the input is left in $BUILD/fuzz.
# Prints "N passed, N failed".
set -u
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-20}
out="$BUILD/fuzz"
passed=0 failed=0
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not installed (scripts/deps.sh installs it)"
  echo "0 passed, 1 failed"
  exit 1
fi
mkdir -p "$out"
rm -rf "$out/seeds_ckpt" "$out/seeds_pickle"
/usr/bin/python3 tests/fuzz/make_seeds.py "$out/seeds_ckpt" "$out/seeds_pickle" || failed=$((failed + 1))

# The io sources are compiled here with clang's instrumentation; what else they use
# (dtype_*, tensor_to_f32) comes from the suite's $BUILD/libcomfyui.a.
PKGS="libmicrohttpd libcjson libpng libsystemd level-zero libcrypto libutf8proc"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined $(pkg-config --cflags $PKGS)"
LIBS="$BUILD/libcomfyui.a $(pkg-config --libs $PKGS) -ldnnl -lgomp -lm -lpthread"
IO_SRC="src/io/ckpt.c src/io/safetensors.c src/io/torchzip.c src/io/zip.c src/io/pickle.c"

for t in ckpt pickle; do
  bin="$out/fuzz_$t"
  if ! clang $CFLAGS "tests/fuzz/fuzz_$t.c" $IO_SRC $LIBS -o "$bin" 2>"$out/build_$t.log"; then
    cat "$out/build_$t.log"; echo "FAILED: fuzz_$t does not build"; failed=$((failed + 1)); continue
  fi
  mkdir -p "$out/corpus_$t"
  if "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$out/crash_$t-" "$out/corpus_$t" "$out/seeds_$t" >"$out/run_$t.log" 2>&1; then
    echo "fuzz_$t: $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$out/run_$t.log" | grep -Eo '[0-9]+$') runs, no crash"
    passed=$((passed + 1))
  else
    tail -40 "$out/run_$t.log"; echo "FAILED: fuzz_$t (see $out/run_$t.log)"; failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
