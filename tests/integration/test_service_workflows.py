"""The example workflows (workflows/*.json) against the daemon's own validator.

The JSON Schema checks them offline (tests/nix/run.sh); here POST /prompt must accept each
one, and must reject the broken samples both agree are broken. A workflow whose node
classes the daemon does not register yet is skipped, naming them, so the test starts to
count as soon as the node packs exist. The base directory holds what the examples name:
an (empty) models/checkpoints/sd15-synth.safetensors for the ckpt_name combo and an RGBA
input/example.png for LoadImage; running the prompts is not part of the test.
"""
import glob
import json
import os

import pytest
from PIL import Image

from conftest import ROOT

EXAMPLES = sorted(p for p in glob.glob(os.path.join(ROOT, "workflows", "*.json"))
                  if not p.endswith("schema.json"))
BROKEN = os.path.join(ROOT, "tests", "workflows", "broken")
# Broken samples the server rejects too. The schema is stricter: the server converts "20"
# and 512.5 for INT inputs as ComfyUI does, and ComfyUI's validator indexes a link's output
# with Python indexing, so a negative index ([node, -1]: the last output) is valid to it.
SERVER_REJECTS = ["steps-below-min", "cfg-above-max", "sampler-not-in-list",
                  "required-input-missing", "no-class-type", "link-to-missing-node",
                  "link-three-items", "empty-prompt"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("workflows")
    (base / "models" / "checkpoints").mkdir(parents=True)
    (base / "models" / "checkpoints" / "sd15-synth.safetensors").write_bytes(b"")
    (base / "input").mkdir()
    im = Image.new("RGBA", (64, 64), (120, 80, 40, 255))
    im.paste((0, 0, 0, 0), (16, 16, 48, 48))  # the transparent square is the inpaint mask
    im.save(base / "input" / "example.png")
    from conftest import Daemon
    d = Daemon(base=str(base)).wait_ready()
    classes = set(d.get("/object_info").json())
    yield d, classes
    d.stop()


def load(path):
    with open(path) as f:
        return json.load(f)


def skip_unless_registered(workflow, classes):
    missing = sorted({n["class_type"] for n in workflow.values()
                      if isinstance(n, dict) and "class_type" in n} - classes)
    if missing:
        pytest.skip("node classes not registered yet: " + ", ".join(missing))


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_is_accepted(served, path):
    d, classes = served
    workflow = load(path)
    skip_unless_registered(workflow, classes)
    r = d.post("/prompt", {"prompt": workflow})
    assert r.status == 200, r.text
    assert r.json()["node_errors"] == {}


@pytest.mark.parametrize("name", SERVER_REJECTS)
def test_broken_sample_is_rejected(served, name):
    d, classes = served
    workflow = load(os.path.join(BROKEN, name + ".json"))
    skip_unless_registered(workflow, classes)
    r = d.post("/prompt", {"prompt": workflow})
    assert r.status == 400, r.text
    assert "error" in r.json()
