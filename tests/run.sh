#!/usr/bin/env bash
# Runs every test of the suite and prints one closing line "N passed, N failed".
#   unit:        build/tests/test_* (cmocka; each prints its own summary)
#   fuzz:        tests/fuzz/run.sh when present (short libFuzzer runs)
#   integration: pytest over tests/integration (the real daemon over HTTP/WebSocket)
#   browser:     tests/browser/run.sh when present (headless Chromium)
set -u
BUILD=${BUILD:-build}
export SHARED=${SHARED:-$(cd .. && pwd)/shared} BUILD
export CMOCKA_MESSAGE_OUTPUT=stdout
passed=0 failed=0
log=$(mktemp)

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  "$t" >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
  # A crash or a non-cmocka failure still counts as one failed test.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAILED: $t exited $rc"; fi
  passed=$((passed + p)); failed=$((failed + f))
done

count_line() {  # "N passed, N failed" style lines from a sub-runner
  local p f
  p=$(grep -Eo '[0-9]+ passed' "$1" | tail -1 | awk '{print $1}')
  f=$(grep -Eo '[0-9]+ failed' "$1" | tail -1 | awk '{print $1}')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

for sub in tests/fuzz/run.sh tests/browser/run.sh tests/nix/run.sh; do
  [ -x "$sub" ] || continue
  "$sub" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  count_line "$log"
  if [ "$rc" -ne 0 ] && ! grep -Eq '[1-9][0-9]* failed' "$log"; then failed=$((failed + 1)); fi
done

if ls tests/integration/test_*.py >/dev/null 2>&1; then
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  count_line "$log"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && ! grep -Eq '[1-9][0-9]* (failed|error)' "$log"; then
    failed=$((failed + 1))
  fi
  e=$(grep -Eo '[0-9]+ error' "$log" | tail -1 | awk '{print $1}')
  failed=$((failed + ${e:-0}))
fi

rm -f "$log"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
