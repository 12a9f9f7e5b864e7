#!/usr/bin/python3
"""Time and peak RSS of one txt2img prompt through the API (README.md, "txt2img, img2img, inpaint and hires fix").

    /usr/bin/python3 scripts/e2e-measure.py [--size 512] [--steps 20] [--prompts 2]
        [--ckpt build/sd15-synth.safetensors] [--tokenizer-dir DIR] [-- DAEMON ARGS...]

Starts build/comfyui-ipex on a fresh base directory with the checkpoint linked in,
queues workflows/txt2img.json at that size and step count `--prompts` times (each with
a new seed, so every prompt samples and decodes again), waits on the WebSocket for each
to end, and prints per prompt its wall time (the first is cold: it includes loading the
checkpoint), the sampling time between the first and last progress message, and at the
end the daemon's peak RSS (VmHWM). Arguments after `--` go to the daemon
(`-- --precision bf16 --opt-level O3`).
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


def run_prompt(d, ws, cid, prompt):
    """Queues one prompt and waits for its end: (wall s, first to last progress s)."""
    t0 = time.time()
    r = d.post("/prompt", {"prompt": prompt, "client_id": cid})
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
        if m["type"] == "execution_error":
            sys.exit(json.dumps(m["data"]))
        if m["type"] == "executing" and m["data"]["node"] is None:
            return time.time() - t0, (last - first) if first else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--ckpt", default=os.path.join(ROOT, "build", "sd15-synth.safetensors"))
    ap.add_argument("--tokenizer-dir", default=os.path.join(SHARED, "tokenizer", "sd1"))
    ap.add_argument("daemon_args", nargs="*")
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="ci-measure-")
    os.makedirs(os.path.join(base, "models", "checkpoints"))
    os.symlink(os.path.abspath(a.ckpt), os.path.join(base, "models", "checkpoints", "sd15-synth.safetensors"))
    d = Daemon(["--tokenizer-dir", a.tokenizer_dir, *a.daemon_args], base=base).wait_ready()
    with open(os.path.join(ROOT, "workflows", "txt2img.json")) as f:
        p = json.load(f)
    p["5"]["inputs"]["width"] = p["5"]["inputs"]["height"] = a.size
    p["3"]["inputs"]["steps"] = a.steps
    cid = uuid.uuid4().hex
    ws = websocket.create_connection(d.ws_url("/ws?clientId=" + cid), timeout=7200)
    for n in range(a.prompts):
        p["3"]["inputs"]["seed"] = n
        total, steps = run_prompt(d, ws, cid, p)
        print(f"txt2img {a.size}x{a.size}, {a.steps} steps, prompt {n + 1}"
              f"{' (cold, incl. checkpoint load)' if n == 0 else ''}: {total:.1f} s, "
              f"steps 1..{a.steps} {steps:.1f} s", flush=True)
    with open(f"/proc/{d.proc.pid}/status") as f:
        hwm = next(line.split()[1] for line in f if line.startswith("VmHWM"))
    d.stop()
    shutil.rmtree(base)
    print(f"daemon peak RSS {int(hwm) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
