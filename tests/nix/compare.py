#!/usr/bin/python3
"""compare.py -- checks the cases a tests/nix/cases-*.nix file evaluated to (JSON on stdin).

A case is {"name", "actual", "expected"}, compared for equality, with two variants:
  "argv": true   actual is an ExecStart line, split as systemd splits it (shell-like
                 quoting), then compared with the expected list of arguments;
  "shell": true  actual is a shell script that must pass `bash -n`.
Prints "PASS<TAB>name" or "FAIL<TAB>name<TAB>why" per case.
"""
import json
import shlex
import subprocess
import sys


def judge(case):
    actual = case["actual"]
    if case.get("argv"):
        actual = shlex.split(actual)
    if case.get("shell"):
        r = subprocess.run(["bash", "-n"], input=actual, text=True, capture_output=True)
        return None if r.returncode == 0 else "bash -n: " + r.stderr.strip()
    if actual != case["expected"]:
        return "expected %s, got %s" % (json.dumps(case["expected"]), json.dumps(actual))
    return None


for case in json.load(sys.stdin):
    why = judge(case)
    print("PASS\t%s" % case["name"] if why is None else "FAIL\t%s\t%s" % (case["name"], why))
