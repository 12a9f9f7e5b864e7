"""The tokenizer download fallback through the daemon: with no tokenizer anywhere, the
first checkpoint load fetches vocab.json and merges.txt from --tokenizer-url (here a
local http.server standing in for Hugging Face), checks their sha256, stores them in
BASE/models/tokenizers/sd1 and encodes the prompt; a tampered file is refused with a
clear error and leaves nothing behind; --no-download names the folders and the reason.
The good run is ComfyUI's default graph at 64x64, one step (about 90 s on two cores,
mostly loading the synthetic checkpoint)."""
import functools
import hashlib
import http.server
import json
import os
import shutil
import tempfile
import threading
import uuid

import pytest
import websocket

from conftest import BUILD, ROOT, SHARED
from test_graph_sd import default_graph

CKPT = os.path.join(ROOT, BUILD, "sd15-synth.safetensors")
TOKENIZER = os.path.join(SHARED, "tokenizer", "sd1")
FILES = ("vocab.json", "merges.txt")


@pytest.fixture
def mirror():
    """A local HTTP server over a folder holding copies of the two tokenizer files."""
    root = tempfile.mkdtemp(prefix="ci-mirror-")
    for f in FILES:
        shutil.copy(os.path.join(TOKENIZER, f), root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    shutil.rmtree(root)


def run_graph(d, seed):
    sid = uuid.uuid4().hex
    ws = websocket.create_connection(d.ws_url(f"/ws?clientId={sid}"), timeout=900)
    ws.recv()
    r = d.post("/prompt", {"prompt": default_graph(seed), "client_id": sid})
    assert r.status == 200, r.text
    try:
        while True:
            m = ws.recv()
            if isinstance(m, bytes):
                continue
            m = json.loads(m)
            if m["type"] == "execution_error":
                return m["data"]["exception_message"]
            if m["type"] == "execution_success":
                return None
    finally:
        ws.close()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.skipif(not os.path.exists(CKPT), reason="the synthetic checkpoint is built by `make test`")
def test_download_verifies_rejects_tampered_then_encodes(start_daemon, mirror):
    root, url = mirror
    with open(os.path.join(root, "vocab.json"), "r+b") as f:   # one byte changed
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    d = start_daemon("--tokenizer-url", url)
    os.symlink(CKPT, os.path.join(d.base, "models", "checkpoints", "sd15-synth.safetensors"))
    dest = os.path.join(d.base, "models", "tokenizers", "sd1")

    msg = run_graph(d, 1)
    assert msg is not None and "vocab.json: sha256" in msg and "tampered" in msg, msg
    assert sorted(os.listdir(dest)) == ["merges.txt"]   # verified; the bad file is gone
    assert "tokenizer: downloading " + url + "vocab.json" in d.output()

    shutil.copy(os.path.join(TOKENIZER, "vocab.json"), root)
    assert run_graph(d, 2) is None
    for f in FILES:
        assert sha256(os.path.join(dest, f)) == sha256(os.path.join(TOKENIZER, f))
    assert sorted(os.listdir(dest)) == sorted(FILES)
    assert "tokenizer: sd1 saved in " + dest + " (sha256 verified)" in d.output()
    png = os.path.join(d.base, "output", "ComfyUI_00001_.png")
    assert os.path.exists(png)


@pytest.mark.skipif(not os.path.exists(CKPT), reason="the synthetic checkpoint is built by `make test`")
def test_no_download_names_the_reason(start_daemon, mirror):
    d = start_daemon("--tokenizer-url", mirror[1], "--no-download")
    os.symlink(CKPT, os.path.join(d.base, "models", "checkpoints", "sd15-synth.safetensors"))
    msg = run_graph(d, 1)
    assert msg is not None and "download: downloads are off" in msg, msg
    assert "--tokenizer-dir" in msg
    assert not os.path.exists(os.path.join(d.base, "models", "tokenizers", "sd1"))
