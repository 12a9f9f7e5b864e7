#!/usr/bin/python3
"""units.py -- unit-file helpers for tests/nix/run.sh.

  units.py render NAME < service.json > NAME.service
      Writes a NixOS systemd.services.<name> value (JSON) as the unit file NixOS would
      generate: lists become one line per item, booleans true/false, environment
      becomes Environment= lines. Only the fields the module uses are known; any other
      field is an error, so the test notices when the module grows one.
  units.py parity UNITFILE < hardening.json
      Checks that every setting of nix/hardening.nix has the same value in the unit
      file's [Service] section (yes/true spellings and line splits aside).
  units.py run UNITFILE DAEMON BASEDIR PORT
      Runs the unit's ExecStart with --quick-test-for-ci appended: the program replaced
      by DAEMON, the values of --base-directory and --port by BASEDIR and PORT, unset
      $VARIABLES dropped. The daemon's status is the result: it rejects unknown flags.
"""
import json
import re
import shlex
import subprocess
import sys

UNIT_LISTS = {"after": "After", "before": "Before", "wants": "Wants", "requires": "Requires"}
KNOWN = set(UNIT_LISTS) | {"description", "wantedBy", "environment", "serviceConfig", "path",
                           "script"}


def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render(svc):
    unknown = set(svc) - KNOWN
    if unknown:
        sys.exit("units.py: unknown service fields %s" % sorted(unknown))
    unit, service, install = [], [], []
    if "description" in svc:
        unit.append("Description=%s" % svc["description"])
    for key, name in UNIT_LISTS.items():
        if svc.get(key):
            unit.append("%s=%s" % (name, " ".join(svc[key])))
    for k, v in sorted(svc.get("environment", {}).items()):
        service.append('Environment="%s=%s"' % (k, v))
    for k, v in svc.get("serviceConfig", {}).items():
        for item in (v if isinstance(v, list) else [v]):
            service.append("%s=%s" % (k, value(item)))
    if svc.get("wantedBy"):
        install.append("WantedBy=%s" % " ".join(svc["wantedBy"]))
    out = ["[Unit]"] + unit + ["", "[Service]"] + service
    if install:
        out += ["", "[Install]"] + install
    return "\n".join(out) + "\n"


def service_section(path):
    """[Service] of a unit file as key -> list of values, continuation lines joined."""
    settings, section, pending = {}, None, ""
    for raw in open(path):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            k, _, v = line.partition("=")
            settings.setdefault(k, []).append(v)
    return settings


def run(unit_path, daemon, base, port):
    line = service_section(unit_path)["ExecStart"][-1]
    argv = [daemon]
    for arg in shlex.split(line)[1:]:
        if not re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", arg):  # $VAR splits; empty here
            argv.append(arg)
    for flag, value in (("--base-directory", base), ("--port", port)):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
    argv.append("--quick-test-for-ci")
    print(" ".join(shlex.quote(a) for a in argv))
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        print("the daemon did not exit")
        return 1
    if r.returncode != 0:
        print(r.stdout + r.stderr)
    return r.returncode


def normal(values):
    words = " ".join(values).split()
    return " ".join({"yes": "true", "no": "false"}.get(w, w) for w in words)


def parity(unit_path, hardening):
    unit = service_section(unit_path)
    bad = []
    for k, v in hardening.items():
        want = normal([value(x) for x in (v if isinstance(v, list) else [v])])
        got = normal(unit.get(k, ["<missing>"]))
        if want != got:
            bad.append("%s: nix/hardening.nix says %r, %s says %r" % (k, want, unit_path, got))
    print("\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["render"]:
        sys.stdout.write(render(json.load(sys.stdin)))
    elif sys.argv[1:2] == ["parity"] and len(sys.argv) == 3:
        sys.exit(parity(sys.argv[2], json.load(sys.stdin)))
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 6:
        sys.exit(run(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
