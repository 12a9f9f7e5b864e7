#!/usr/bin/python3
"""Time and peak RSS of one txt2img prompt through the API (README.md, "txt2img, img2img, inpaint and hires fix").

    /usr/bin/python3 scripts/e2e-measure.py [--size 512] [--steps 20] [--ckpt build/sd15-synth.safetensors]

Starts build/comfyui-ipex on a fresh base directory with the checkpoint linked in,
queues workflows/txt2img.json at that size and step count, waits on the WebSocket
for the end, and prints the prompt's wall time (cold: it includes loading the
checkpoint), the sampling time between the first and last progress message, and the
daemon's peak RSS (VmHWM).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import websocket  # noqa: E402
from conftest import Daemon, SHARED  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--ckpt", default=os.path.join(ROOT, "build", "sd15-synth.safetensors"))
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="ci-measure-")
    os.makedirs(os.path.join(base, "models", "checkpoints"))
    os.symlink(os.path.abspath(a.ckpt), os.path.join(base, "models", "checkpoints", "sd15-synth.safetensors"))
    d = Daemon(["--tokenizer-dir", os.path.join(SHARED, "tokenizer", "sd1")], base=base).wait_ready()
    with open(os.path.join(ROOT, "workflows", "txt2img.json")) as f:
        p = json.load(f)
    p["5"]["inputs"]["width"] = p["5"]["inputs"]["height"] = a.size
    p["3"]["inputs"]["steps"] = a.steps
    cid = uuid.uuid4().hex
    ws = websocket.create_connection(d.ws_url("/ws?clientId=" + cid), timeout=7200)
    t0 = time.time()
    r = d.post("/prompt", {"prompt": p, "client_id": cid})
    assert r.status == 200, r.text
    first = last = None
    while True:
        op, data = ws.recv_data()
        if op != websocket.ABNF.OPCODE_TEXT:
            continue
        m = json.loads(data)
        if m["type"] == "progress":
            last = time.time()
            first = first or last
            print(f"step {m['data']['value']}/{m['data']['max']} {last - t0:.1f} s", flush=True)
        if m["type"] == "execution_error":
            sys.exit(json.dumps(m["data"]))
        if m["type"] == "executing" and m["data"]["node"] is None:
            break
    total = time.time() - t0
    with open(f"/proc/{d.proc.pid}/status") as f:
        hwm = next(line.split()[1] for line in f if line.startswith("VmHWM"))
    d.stop()
    shutil.rmtree(base)
    print(f"txt2img {a.size}x{a.size}, {a.steps} steps: prompt {total:.1f} s (cold, incl. checkpoint load), "
          f"steps 1..{a.steps} {last - first:.1f} s, peak RSS {int(hwm) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
