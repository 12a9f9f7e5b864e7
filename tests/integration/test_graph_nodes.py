"""Core image nodes through the daemon, checked against what ComfyUI computes:
lanczos is PIL's (ComfyUI resizes through PIL), so PIL is the reference here."""
import io
import json
import os
import uuid

import numpy as np
import websocket
from PIL import Image


def comfy_u8(a):
    """ComfyUI's float image -> uint8: x255 in float32, clip, truncate."""
    return np.clip(np.float32(255.0) * a, 0, 255).astype(np.uint8)


def run(daemon, prompt):
    sid = uuid.uuid4().hex
    ws = websocket.create_connection(daemon.ws_url(f"/ws?clientId={sid}"), timeout=60)
    ws.recv()
    r = daemon.post("/prompt", {"prompt": prompt, "client_id": sid})
    assert r.status == 200, r.text
    pid = r.json()["prompt_id"]
    while True:
        m = ws.recv()
        if isinstance(m, bytes):
            continue
        m = json.loads(m)
        if m["type"] == "execution_error":
            raise AssertionError(m["data"])
        if m["type"] == "executing" and m["data"]["node"] is None and m["data"]["prompt_id"] == pid:
            break
    ws.close()
    return daemon.get(f"/history/{pid}").json()[pid]


def saved(daemon, hist, node):
    img = hist["outputs"][node]["images"][0]
    path = os.path.join(daemon.base, "output", img["subfolder"], img["filename"])
    return np.asarray(Image.open(path).convert("RGB"))


def test_lanczos_matches_pil(daemon):
    rng = np.random.default_rng(7)
    src = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    Image.fromarray(src).save(os.path.join(daemon.base, "input", "lz.png"))
    as_float = src.astype(np.float32) / np.float32(255.0)
    for w, h in ((20, 15), (101, 80), (53, 90)):
        prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "lz.png"}},
                  "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "lanczos",
                                                                "width": w, "height": h, "crop": "disabled"}},
                  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"lz{w}"}}}
        got = saved(daemon, run(daemon, prompt), "3")
        ref = np.asarray(Image.fromarray(comfy_u8(as_float)).resize((w, h), Image.Resampling.LANCZOS))
        want = comfy_u8(ref.astype(np.float32) / np.float32(255.0))
        assert got.shape == (h, w, 3)
        assert np.array_equal(got, want), np.abs(got.astype(int) - want).max()


def test_invert_scale_by_and_batch(daemon):
    src = np.zeros((8, 12, 3), dtype=np.uint8)
    src[:, :6] = 255
    Image.fromarray(src).save(os.path.join(daemon.base, "input", "half.png"))
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "half.png"}},
              "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["2", 0], "upscale_method": "nearest-exact", "scale_by": 2.0}},
              "4": {"class_type": "ImageBatch", "inputs": {"image1": ["3", 0], "image2": ["1", 0]}},
              "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "inv"}}}
    h = run(daemon, prompt)
    imgs = h["outputs"]["5"]["images"]
    assert [i["filename"] for i in imgs] == ["inv_00001_.png", "inv_00002_.png"]
    first = np.asarray(Image.open(os.path.join(daemon.base, "output", "inv_00001_.png")))
    assert first.shape == (16, 24, 3)
    assert (first[:, :12] == 0).all() and (first[:, 12:] == 255).all()
    second = np.asarray(Image.open(os.path.join(daemon.base, "output", "inv_00002_.png")))
    assert second.shape == (16, 24, 3)   # image2 resized to image1's size


def test_exif_rotation_and_gif_frames(daemon):
    from PIL import ImageOps
    img = Image.new("RGB", (64, 32), (255, 0, 0))
    img.paste((0, 0, 255), (32, 0, 64, 32))            # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6                                     # rotate 270 (clockwise) to display
    img.save(os.path.join(daemon.base, "input", "rot.jpg"), quality=95, exif=exif)
    h = run(daemon, {"1": {"class_type": "LoadImage", "inputs": {"image": "rot.jpg"}},
                     "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "rot"}}})
    got = saved(daemon, h, "2").astype(int)
    want = np.asarray(ImageOps.exif_transpose(Image.open(os.path.join(daemon.base, "input", "rot.jpg")))).astype(int)
    assert got.shape == want.shape == (64, 32, 3)
    assert np.abs(got[4:28, 4:28] - want[4:28, 4:28]).max() <= 8   # away from the seam
    assert np.abs(got[36:60, 4:28] - want[36:60, 4:28]).max() <= 8

    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(os.path.join(daemon.base, "input", "anim.gif"), save_all=True, append_images=frames[1:], duration=50)
    h = run(daemon, {"1": {"class_type": "LoadImage", "inputs": {"image": "anim.gif"}},
                     "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "anim"}}})
    names = [i["filename"] for i in h["outputs"]["2"]["images"]]
    assert names == ["anim_00001_.png", "anim_00002_.png", "anim_00003_.png"]
    greens = [np.asarray(Image.open(os.path.join(daemon.base, "output", n)))[8, 8, 1] for n in names]
    assert greens == [0, 255, 0]
