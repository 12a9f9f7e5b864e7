#!/usr/bin/python3
"""check-workflow.py -- checks API-format workflow files against workflows/schema.json.

Two passes per file: the JSON Schema (structure, per-node inputs, ranges, combo options), then
what a schema cannot say: every link must name a node of the same workflow. Errors print as
"FILE: <node id>/inputs/<name>: message", one a line, so an editor or a test can point at the
input; the exit status is 1 when any file has an error. Needs python3-jsonschema.

Usage: check-workflow.py [--schema workflows/schema.json] FILE...
"""
import json
import os
import sys

import jsonschema

DEFAULT_SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "..", "workflows", "schema.json")


MAX_MESSAGE = 200


def describe(err):
    """One message per error; an anyOf over link/constant reports the branch the value took."""
    msg = err.message
    if err.validator == "anyOf" and err.context:
        branch = 0 if isinstance(err.instance, list) else 1
        msgs = [c.message for c in err.context if c.schema_path and c.schema_path[0] == branch]
        if msgs:
            msg = "; ".join(msgs)
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 3] + "..."


def schema_errors(validator, prompt):
    for err in sorted(validator.iter_errors(prompt), key=lambda e: list(map(str, e.path))):
        yield "/".join(map(str, err.path)), describe(err)


def link_errors(prompt):
    """Links whose source node is not in the workflow (the server fails on these too)."""
    for node_id, node in prompt.items():
        for name, value in node.get("inputs", {}).items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) \
                    and value[0] not in prompt:
                yield "%s/inputs/%s" % (node_id, name), "links to missing node '%s'" % value[0]


def check_file(validator, path):
    try:
        with open(path) as f:
            prompt = json.load(f)
    except (OSError, ValueError) as e:
        return [("", "cannot read JSON: %s" % e)]
    errors = list(schema_errors(validator, prompt))
    if not errors:  # the link pass assumes the structure is right
        errors = list(link_errors(prompt))
    return errors


def main(argv):
    schema_path = DEFAULT_SCHEMA
    if len(argv) >= 2 and argv[0] == "--schema":
        schema_path, argv = argv[1], argv[2:]
    if not argv:
        sys.exit(__doc__)
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    bad = 0
    for path in argv:
        errors = check_file(validator, path)
        bad += bool(errors)
        for where, msg in errors:
            print("%s: %s: %s" % (path, where or "(top)", msg))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
