#!/usr/bin/env bash
# Packaging tests: systemd units, Nix expressions and modules, install, workflow schema.
# Prints one closing line "N passed, N failed" (tests/run.sh adds it to the suite).
#   units:   systemd-analyze verify on the units, systemd-analyze security --offline under
#            EXPOSURE_MAX (the score is printed), sysusers/tmpfiles applied to a scratch
#            root, the W^X probe (why MemoryDenyWriteExecute= waits for --no-jit)
#   nix:     every .nix parses; the NixOS, Home Manager, flake and package cases evaluated
#            with tests/nix/harness (a minimal module system and stand-in pkgs: no nixpkgs
#            offline); the NixOS unit rendered, verified and scored like the file
#   daemon:  the built daemon accepts every unit's command line (skipped before `make`)
#   install: make install into a staging root
#   schema:  workflows/*.json and tests/workflows/valid pass scripts/check-workflow.py,
#            every file of tests/workflows/broken fails at the place EXPECT names
set -u
cd "$(dirname "$0")/../.."
EXPOSURE_MAX=${EXPOSURE_MAX:-2.0}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
# Evaluation only: a dummy store, so neither root nor a nix daemon is needed.
NIX_EVAL=(nix-instantiate --readonly-mode --store dummy:// --eval --strict --json)
NIX_PARSE=(nix-instantiate --readonly-mode --store dummy:// --parse)
passed=0 failed=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# check NAME CMD...: runs one test; its output is shown when it fails, else only "note:"
# lines. Exit status 77 means the test cannot run here: reported, counted neither way.
check() {
  local name=$1 out rc; shift
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); echo "ok   $name"
    printf '%s\n' "$out" | grep '^note:' | sed 's/^/     /'
  elif [ "$rc" -eq 77 ]; then
    echo "skip $name"; printf '%s\n' "$out" | tail -1 | sed 's/^/     /'
  else
    failed=$((failed + 1)); echo "FAIL $name"; printf '%s\n' "$out" | sed 's/^/     /'
  fi
}

# systemd-analyze verify insists that ExecStart's binary exists: point the units at a stand-in.
stage_units() {
  mkdir -p "$scratch/units" "$scratch/bin"
  printf '#!/bin/sh\n' >"$scratch/bin/comfyui-ipex" && chmod +x "$scratch/bin/comfyui-ipex"
  for u in systemd/*.service systemd/*.socket; do
    sed "s#/usr/local/bin/#$scratch/bin/#" "$u" >"$scratch/units/$(basename "$u")"
  done
}

# security_ok UNITFILE: the offline exposure score is printed and must be under EXPOSURE_MAX.
security_ok() {
  local out score
  out=$(systemd-analyze security --offline=true --no-pager "$1" 2>&1) || { echo "$out"; return 1; }
  score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
  echo "note: exposure $(basename "$1"): $score (must be under $EXPOSURE_MAX)"
  [ -n "$score" ] && awk -v s="$score" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s < m) }'
}

verify_units() {  # a warning is as bad as an error here: verify prints nothing when all is well
  local out
  out=$(systemd-analyze verify --man=no "$@" 2>&1) || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
}

# sysusers creates the user in a scratch root, tmpfiles then makes the directories there;
# the snippets are installed where `make install` puts them, relative to that root.
sysusers_tmpfiles_apply() {
  local r=$scratch/root
  install -Dm644 systemd/comfyui-ipex.sysusers "$r/usr/lib/sysusers.d/comfyui-ipex.conf"
  install -Dm644 systemd/comfyui-ipex.tmpfiles "$r/usr/lib/tmpfiles.d/comfyui-ipex.conf"
  mkdir -p "$r/etc"
  systemd-sysusers --root="$r" || return 1
  grep -q '^comfyui:' "$r/etc/passwd" || { echo "no comfyui user in $r/etc/passwd"; return 1; }
  if [ "$(id -u)" -ne 0 ]; then  # creating directories owned by comfyui needs root
    systemd-tmpfiles --root="$r" --cat-config >/dev/null
    return
  fi
  systemd-tmpfiles --root="$r" --create || return 1
  [ -d "$r/var/lib/comfyui/models/checkpoints" ] && [ -d "$r/etc/comfyui-ipex" ] &&
    [ "$(stat -c %U "$r/var/lib/comfyui/models" 2>/dev/null || true)" != root ]
}

# nix_cases FILE: evaluates a cases file and counts each case as one test.
nix_cases() {
  local json status name why
  if ! json=$("${NIX_EVAL[@]}" "$1" 2>&1); then
    failed=$((failed + 1)); echo "FAIL $1 does not evaluate"; printf '%s\n' "$json" | sed 's/^/     /'
    return
  fi
  while IFS=$'\t' read -r status name why; do
    if [ "$status" = PASS ]; then passed=$((passed + 1)); echo "ok   nix: $name"
    else failed=$((failed + 1)); echo "FAIL nix: $name"; echo "     $why"; fi
  done < <(printf '%s' "$json" | $PY tests/nix/compare.py)
}

# nixos_unit NAME SETTINGS: the NixOS module's unit for SETTINGS (a Nix attrset), rendered
# to $scratch/units-nixos/NAME/comfyui-ipex.service with ExecStart on the stand-in binary.
nixos_unit() {
  local dir=$scratch/units-nixos/$1
  mkdir -p "$dir"
  "${NIX_EVAL[@]}" -E "(import ./tests/nix/harness/eval.nix { modules = [ ./nix/nixos-module.nix
      { services.comfyui-ipex = { enable = true; } // $2; } ]; }).config.systemd.services.comfyui-ipex" |
    $PY tests/nix/units.py render |
    sed "s#^ExecStart=/nix/store/[^ ]*/bin/#ExecStart=$scratch/bin/#" >"$dir/comfyui-ipex.service" &&
    [ -s "$dir/comfyui-ipex.service" ]
}

nixos_unit_ok() {  # NAME SETTINGS: renders, verifies and scores one configuration
  nixos_unit "$1" "$2" || return 1
  verify_units "$scratch/units-nixos/$1/comfyui-ipex.service" &&
    security_ok "$scratch/units-nixos/$1/comfyui-ipex.service"
}

# The pinned hashes in nix/package.nix are those of the tokenizer files the fixtures used.
tokenizer_hashes() {
  "${NIX_EVAL[@]}" -E '(import ./nix/package.nix {
      lib = import ./tests/nix/harness/lib.nix; stdenv.mkDerivation = a: a; fetchurl = a: a;
      linkFarm = n: e: e; pkg-config = null; libmicrohttpd = null; oneDNN_2 = null;
      level-zero = null; cjson = null; libpng = null; stb = null; systemd = null;
      openssl = null; utf8proc = null; curl = null; }).passthru.tokenizerHashes' |
    $PY -c '
import base64, hashlib, json, sys
bad = 0
for name, sri in json.load(sys.stdin).items():
    with open(sys.argv[1] + "/" + name, "rb") as f:
        want = "sha256-" + base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
    if sri != want:
        print("%s: package.nix pins %s, the file hashes to %s" % (name, sri, want)); bad = 1
sys.exit(bad)' "${SHARED:-../shared}/tokenizer/sd1"
}

# make install into a staging root (programs left out: they are other tests' business).
install_tree() {
  local d=$scratch/dest
  make -s install PROGRAMS= DESTDIR="$d" PREFIX=/usr >/dev/null 2>&1 || { make install PROGRAMS= DESTDIR="$d" PREFIX=/usr; return 1; }
  local f
  for f in usr/share/comfyui-ipex/tokenizers/sd1/vocab.json usr/share/comfyui-ipex/tokenizers/sd1/merges.txt \
      usr/share/comfyui-ipex/workflow-schema.json usr/share/comfyui-ipex/workflows/txt2img.json \
      usr/lib/systemd/system/comfyui-ipex.service usr/lib/systemd/system/comfyui-ipex.socket \
      usr/lib/sysusers.d/comfyui-ipex.conf usr/lib/tmpfiles.d/comfyui-ipex.conf; do
    [ -f "$d/$f" ] || { echo "missing: $f"; return 1; }
  done
  grep -q '^ExecStart=/usr/bin/comfyui-ipex ' "$d/usr/lib/systemd/system/comfyui-ipex.service" ||
    { echo "ExecStart not pointed at PREFIX/bin"; return 1; }
  [ ! -e "$d/usr/share/comfyui-ipex/workflows/schema.json" ] || { echo "schema among the examples"; return 1; }
}

hardening_parity() {
  "${NIX_EVAL[@]}" nix/hardening.nix | $PY tests/nix/units.py parity systemd/comfyui-ipex.service
}

# The W^X probe: under the kernel's PR_SET_MDWE (what MemoryDenyWriteExecute=yes
# enforces), oneDNN's JIT kernels must fail and its reference kernels run.
wx_probe() {
  cc -std=c11 -Wall -Wextra -Werror tests/nix/wx_probe.c -o "$scratch/wx_probe" -ldnnl || return 1
  "$scratch/wx_probe"
}

# daemon_runs UNITFILE: the daemon `make` built accepts the unit's command line and
# starts (--quick-test-for-ci), on a scratch base directory and a free port.
daemon_runs() {
  [ -x "$BUILD/comfyui-ipex" ] || { echo "no $BUILD/comfyui-ipex: run make first"; return 77; }
  local port
  port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$scratch/base"
  $PY tests/nix/units.py run "$1" "$BUILD/comfyui-ipex" "$scratch/base" "$port"
}

# hm_unit: the Home Manager user service's ExecStart as a unit file.
hm_unit() {
  mkdir -p "$scratch/units-hm"
  { echo "[Service]"; printf 'ExecStart=%s\n' "$("${NIX_EVAL[@]}" -E '(import ./tests/nix/harness/eval.nix {
      homeManager = true; modules = [ ./nix/hm-module.nix { home.homeDirectory = "/home/ada";
        programs.comfyui-ipex = { enable = true; service.enable = true;
          service.extraArgs = [ "--acceleration" "cpu" "--precision" "bf16" ]; }; } ];
    }).config.systemd.user.services.comfyui-ipex.Service.ExecStart' | $PY -c 'import json, sys; print(json.load(sys.stdin))')"
  } >"$scratch/units-hm/comfyui-ipex.service"
}

# expect_broken FILE WHERE: the checker rejects FILE and names WHERE in its message.
expect_broken() {
  local out
  out=$($PY scripts/check-workflow.py "$1" 2>&1) && { echo "accepted: $1"; return 1; }
  printf '%s\n' "$out" | grep -qF ": $2" || { echo "expected an error at $2, got:"; echo "$out"; return 1; }
}

stage_units
check "units: verify service and socket" verify_units "$scratch"/units/*
check "units: security --offline comfyui-ipex.service" security_ok "$scratch/units/comfyui-ipex.service"
check "units: sysusers and tmpfiles apply to a scratch root" sysusers_tmpfiles_apply
check "units: oneDNN JIT fails under W^X, reference kernels run (MemoryDenyWriteExecute)" wx_probe

for f in $(find . -name '*.nix' -not -path './.git/*' | sort); do
  check "nix: $f parses" "${NIX_PARSE[@]}" "$f"
done
nix_cases tests/nix/cases-nixos.nix
nix_cases tests/nix/cases-hm.nix
check "nix: NixOS unit (defaults) verifies and scores" nixos_unit_ok default '{ }'
check "nix: NixOS unit (cpu, no JIT, public) verifies and scores" nixos_unit_ok cpu \
  '{ acceleration = "cpu"; optimization.jitCompile = false; host = "0.0.0.0"; }'
check "nix: NixOS hardening matches systemd/comfyui-ipex.service" hardening_parity
nixos_unit flags '{ acceleration = "auto"; optimization = { level = "O3"; precision = "bf16"; };
  extraArgs = [ "--preview-method" "auto" ]; environment.X = "1"; }'
hm_unit
check "daemon: accepts systemd/comfyui-ipex.service's command line" daemon_runs "$scratch/units/comfyui-ipex.service"
for u in default cpu flags; do
  check "daemon: accepts the NixOS unit's command line ($u)" daemon_runs "$scratch/units-nixos/$u/comfyui-ipex.service"
done
check "daemon: accepts the Home Manager user service's command line" daemon_runs "$scratch/units-hm/comfyui-ipex.service"
nix_cases tests/nix/cases-package.nix
check "nix: package.nix pins the hashes of shared/tokenizer/sd1" tokenizer_hashes
check "install: make install stages units, tokenizer, workflows, schema" install_tree

check "schema: workflows/schema.json is up to date with the node registry" \
  $PY scripts/gen-workflow-schema.py --check "${SHARED:-../shared}/spec/comfyui-core-nodes.json" workflows/schema.json
for f in workflows/*.json tests/workflows/valid/*.json; do
  [ "$f" = workflows/schema.json ] && continue
  check "schema: accepts $f" $PY scripts/check-workflow.py "$f"
done
while IFS=$'\t' read -r file where; do
  case $file in '#'*|'') continue ;; esac
  check "schema: rejects $file at $where" expect_broken "tests/workflows/broken/$file" "$where"
done <tests/workflows/broken/EXPECT

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
