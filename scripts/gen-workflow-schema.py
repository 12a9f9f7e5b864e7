#!/usr/bin/python3
"""gen-workflow-schema.py -- writes workflows/schema.json, the JSON Schema of API-format workflows.

The schema has two layers. The structural one is what any prompt must be (spec section 5.1):
an object of node ids to {"class_type", "inputs", "_meta"}, where an input is a link
["<node id>", <output index>], a constant, or a {"__value__": ...} wrapper. The per-node layer
is derived from the node registry dump (../shared/spec/comfyui-core-nodes.json, the core nodes'
/object_info): for a known class_type, its required inputs must be present and each constant
must have the declared type, lie within min/max and, for fixed combos, be one of the options.
Unknown class_types (custom node packs) get only the structural checks.

Deliberately stricter than the server in one way: constants must already have their JSON type
(the server would also convert "20" to the INT 20); the schema describes workflows as the
frontend writes them, and an editor flagging "20" is a help. Combos that list files on the
server (loader nodes, upload widgets) accept any non-empty string, since the files differ per
installation.

Usage: gen-workflow-schema.py [--check] NODES_JSON SCHEMA_OUT
  --check  compare with SCHEMA_OUT instead of writing it (exit 1 when it differs).
"""
import json
import sys

SCHEMA_ID = "https://comfyui-ipex.invalid/workflows/schema.json"


def is_file_combo(node, spec_opts):
    """Combos whose options are files on the server, so any name may be right elsewhere."""
    return node.get("category", "").endswith("/loaders") or spec_opts.get("image_upload", False)


def combo_options(kind, opts):
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        return opts.get("options", [])
    return None


def constant_schema(node, kind, opts):
    """Schema for a constant value of one declared input, or None for link-only types."""
    options = combo_options(kind, opts)
    if options is not None:
        if is_file_combo(node, opts) or not options:
            s = {"type": "string", "minLength": 1}
        else:
            s = {"enum": options}
    elif kind in ("INT", "FLOAT"):
        s = {"type": "integer" if kind == "INT" else "number"}
        if "min" in opts:
            s["minimum"] = opts["min"]
        if "max" in opts:
            s["maximum"] = opts["max"]
    elif kind == "STRING":
        s = {"type": "string"}
    elif kind == "BOOLEAN":
        s = {"type": "boolean"}
    else:
        return None
    if "default" in opts:
        s["default"] = opts["default"]
    return s


def input_schema(node, spec):
    kind = spec[0]
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    const = constant_schema(node, kind, opts)
    if const is None:
        s = {"$ref": "#/definitions/link"}
        s["description"] = "link to a %s output" % kind
    else:
        # A widget may also be turned into a socket, so a link is always accepted.
        s = {"anyOf": [{"$ref": "#/definitions/link"}, const,
                       {"$ref": "#/definitions/wrapped"}]}
    if "tooltip" in opts:
        s["description"] = opts["tooltip"]
    return s


def node_inputs_schema(node):
    props, required = {}, []
    for section in ("required", "optional"):
        specs = node.get("input", {}).get(section, {})
        order = node.get("input_order", {}).get(section, list(specs))
        for name in order:
            props[name] = input_schema(node, specs[name])
            if section == "required":
                required.append(name)
    return {"type": "object", "properties": props, "required": required}


def class_rule(name):
    return {"if": {"properties": {"class_type": {"const": name}}, "required": ["class_type"]},
            "then": {"properties": {"inputs": {"$ref": "#/definitions/inputs/%s" % name}}}}


def build(nodes):
    names = list(nodes)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "ComfyUI API-format workflow (prompt)",
        "description": "A prompt as POST /prompt takes it in its \"prompt\" field and as the "
                       "frontend exports it with \"Export (API)\": node id -> node. Generated "
                       "by scripts/gen-workflow-schema.py; do not edit by hand.",
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"minLength": 1},
        "additionalProperties": {"$ref": "#/definitions/node"},
        "definitions": {
            "link": {
                "description": "[source node id, output index]",
                "type": "array", "minItems": 2, "maxItems": 2,
                "items": [{"type": "string", "minLength": 1},
                          {"type": "integer", "minimum": 0}]},
            "wrapped": {
                "description": "an array-valued widget value, as the frontend wraps it",
                "type": "object", "required": ["__value__"],
                "properties": {"__value__": {}, "__type__": {"type": "string"}}},
            "node": {
                "type": "object",
                "required": ["class_type", "inputs"],
                "properties": {
                    "class_type": {"type": "string", "minLength": 1,
                                   "examples": names},
                    "inputs": {"type": "object",
                               "additionalProperties": {
                                   "description": "a link, or a constant",
                                   "type": ["array", "string", "number", "boolean",
                                            "object"]}},
                    "_meta": {"type": "object",
                              "properties": {"title": {"type": "string"}}}},
                "allOf": [class_rule(n) for n in names]},
            "inputs": {n: dict(node_inputs_schema(nodes[n]),
                               title=nodes[n].get("display_name", n))
                       for n in names},
        },
    }


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0]) as f:
        text = json.dumps(build(json.load(f)), indent=1) + "\n"
    if check:
        with open(args[1]) as f:
            if f.read() != text:
                sys.exit("%s is stale: rerun scripts/gen-workflow-schema.py" % args[1])
        return
    with open(args[1], "w") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
