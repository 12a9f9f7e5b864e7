"""ComfyUI's default txt2img graph through the daemon with the synthetic SD1.5
checkpoint (BUILD/sd15-synth.safetensors, made by `make test`): the events of spec 3.5
in order, the saved PNG with its metadata, a repeat that runs nothing, and a new seed
that re-runs only the sampler and what follows it (with combined conditioning), and the
--jit warm-up in the log. 64x64, one step: about 90 s on two cores, nearly all of it
loading and the first UNet call."""
import io
import json
import os
import re
import struct
import uuid

import numpy as np

import pytest
import websocket
from PIL import Image

from conftest import BUILD, ROOT, SHARED

CKPT = os.path.join(ROOT, BUILD, "sd15-synth.safetensors")


def default_graph(seed):
    return {
        "3": {"inputs": {"seed": seed, "steps": 1, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                         "latent_image": ["5", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
        "4": {"inputs": {"ckpt_name": "sd15-synth.safetensors"}, "class_type": "CheckpointLoaderSimple"},
        "5": {"inputs": {"width": 64, "height": 64, "batch_size": 1}, "class_type": "EmptyLatentImage"},
        "6": {"inputs": {"text": "a bottle", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
        "7": {"inputs": {"text": "text, watermark", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
        "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
        "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"}}


def run(d, ws, sid, seed, preview="none", combine=False):
    g = default_graph(seed)
    if combine:   # positive = ConditioningCombine(positive, negative)
        g["10"] = {"inputs": {"conditioning_1": ["6", 0], "conditioning_2": ["7", 0]}, "class_type": "ConditioningCombine"}
        g["3"]["inputs"]["positive"] = ["10", 0]
    body = {"prompt": g, "client_id": sid,
            "extra_data": {"extra_pnginfo": {"workflow": {"id": "wf-1", "nodes": []}}, "preview_method": preview}}
    r = d.post("/prompt", body)
    assert r.status == 200, r.text
    pid = r.json()["prompt_id"]
    seen = []
    while True:
        m = ws.recv()
        if isinstance(m, bytes):
            seen.append(("binary", m))
            continue
        m = json.loads(m)
        if m["type"] != "progress_state":
            seen.append((m["type"], m["data"]))
        if m["type"] == "execution_error":
            raise AssertionError(m["data"]["exception_message"])
        if m["type"] == "executing" and m["data"]["node"] is None:
            return pid, seen


def write_taesd_decoder(path):
    """A taesd_decoder.safetensors with TAESD's real key layout and small random weights."""
    rng = np.random.default_rng(7)
    shapes = {"1.weight": (64, 4, 3, 3), "1.bias": (64,), "19.weight": (3, 64, 3, 3), "19.bias": (3,)}
    for i in [3, 4, 5, 8, 9, 10, 13, 14, 15, 18]:
        for k in (0, 2, 4):
            shapes[f"{i}.conv.{k}.weight"] = (64, 64, 3, 3)
            shapes[f"{i}.conv.{k}.bias"] = (64,)
    for i in (7, 12, 17):
        shapes[f"{i}.weight"] = (64, 64, 3, 3)
    header, blobs, off = {}, [], 0
    for name, shape in sorted(shapes.items()):
        b = (rng.standard_normal(shape) * 0.05).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


@pytest.mark.skipif(not os.path.exists(CKPT), reason="the synthetic checkpoint is built by `make test`")
def test_default_graph_events_cache_and_reseed(start_daemon):
    d = start_daemon("--tokenizer-dir", os.path.join(SHARED, "tokenizer", "sd1"), "--preview-size", "48")
    os.symlink(CKPT, os.path.join(d.base, "models", "checkpoints", "sd15-synth.safetensors"))
    info = d.get("/object_info/CheckpointLoaderSimple").json()["CheckpointLoaderSimple"]
    assert info["input"]["required"]["ckpt_name"][0] == ["sd15-synth.safetensors"]
    sid = uuid.uuid4().hex
    ws = websocket.create_connection(d.ws_url(f"/ws?clientId={sid}"), timeout=900)
    ws.recv()

    pid, seen = run(d, ws, sid, 156680208700286)
    types = [t for t, _ in seen]
    assert types[:4] == ["status", "status", "execution_start", "execution_cached"], types
    assert types[-4:] == ["executed", "execution_success", "status", "executing"], types
    ran = [x["node"] for t, x in seen if t == "executing" and x["node"]]
    assert sorted(ran) == ["3", "4", "5", "6", "7", "8", "9"] and ran.index("4") < ran.index("3") < ran.index("8")
    assert [(x["value"], x["max"]) for t, x in seen if t == "progress"] == [(1, 1)]
    out = next(x for t, x in seen if t == "executed")["output"]
    assert out == {"images": [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}
    png = Image.open(os.path.join(d.base, "output", "ComfyUI_00001_.png"))
    assert png.size == (64, 64)
    assert json.loads(png.text["prompt"])["3"]["inputs"]["seed"] == 156680208700286
    assert json.loads(png.text["workflow"]) == {"id": "wf-1", "nodes": []}
    # --jit (the default) planned the sampler's UNet call and the decode before step 1
    planned = re.findall(r"jit: planned the UNet and VAE decode for a 8x8 latent, batch 1: "
                         r"(\d+) primitives created", d.output())
    assert len(planned) == 1 and int(planned[0]) > 0, d.output()

    # the identical prompt: everything cached, nothing runs, the saved image is re-sent
    pid2, seen = run(d, ws, sid, 156680208700286)
    cached = next(x for t, x in seen if t == "execution_cached")["nodes"]
    assert sorted(cached) == ["3", "4", "5", "6", "7", "8", "9"]
    assert not [x for t, x in seen if t == "executing" and x["node"]]
    assert next(x for t, x in seen if t == "executed")["output"] == out

    # a new seed and combined conditioning: the loader and the encoders stay cached;
    # latent2rgb previews (type 1 frames for this client, which did not announce
    # preview metadata; format 2 = PNG)
    pid3, seen = run(d, ws, sid, 18446744073709551615, preview="latent2rgb", combine=True)
    frames = [x for t, x in seen if t == "binary"]
    assert len(frames) == 1 and frames[0][:8] == b"\x00\x00\x00\x01\x00\x00\x00\x02"
    # one pixel per latent cell (8x8), enlarged to --preview-size as ImageOps.contain does
    assert Image.open(io.BytesIO(frames[0][8:])).size == (48, 48)
    cached = next(x for t, x in seen if t == "execution_cached")["nodes"]
    assert sorted(cached) == ["4", "5", "6", "7"]
    ran = [x["node"] for t, x in seen if t == "executing" and x["node"]]
    assert ran == ["10", "3", "8", "9"]
    h = d.get(f"/history/{pid3}").json()[pid3]
    assert h["outputs"]["9"]["images"][0]["filename"] == "ComfyUI_00002_.png"
    assert '"seed": 18446744073709551615' in d.get(f"/history/{pid3}").body.decode()

    # TAESD without its decoder falls back to latent2rgb; once the decoder is added to
    # models/vae_approx, the next prompt previews a full-size picture (64x64), shrunk to
    # fit --preview-size 48
    _, seen = run(d, ws, sid, 5, preview="taesd")
    frames = [x for t, x in seen if t == "binary"]
    assert len(frames) == 1 and Image.open(io.BytesIO(frames[0][8:])).size == (48, 48)
    assert "no TAESD decoder in models/vae_approx; using latent2rgb" in d.output()
    assert "previews: TAESD decoder from" not in d.output()
    os.makedirs(os.path.join(d.base, "models", "vae_approx"), exist_ok=True)
    write_taesd_decoder(os.path.join(d.base, "models", "vae_approx", "taesd_decoder.safetensors"))
    _, seen = run(d, ws, sid, 7, preview="taesd")
    frames = [x for t, x in seen if t == "binary"]
    assert len(frames) == 1 and frames[0][:8] == b"\x00\x00\x00\x01\x00\x00\x00\x02"
    assert Image.open(io.BytesIO(frames[0][8:])).size == (48, 48)
    assert "previews: TAESD decoder from" in d.output()
    ws.close()
