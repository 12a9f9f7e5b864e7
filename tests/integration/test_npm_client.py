"""A published ComfyUI API client from npm (@stable-canvas/comfyui-client 1.5.9) drives
the daemon: queue a graph, follow its WebSocket events to completion, fetch the image.
The client's packages are installed from tests/client/package-lock.json on first use."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

CLIENT = os.path.join(ROOT, "tests", "client")


@pytest.fixture(scope="module")
def node_client():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed (scripts/deps.sh installs nodejs)")
    if not os.path.isdir(os.path.join(CLIENT, "node_modules", "@stable-canvas", "comfyui-client")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT, check=True,
                       timeout=300)
    return os.path.join(CLIENT, "comfyui_client.mjs")


def test_stable_canvas_client(node_client, start_daemon):
    import io

    from PIL import Image
    d = start_daemon()
    Image.new("RGB", (16, 8), (1, 2, 3)).save(os.path.join(d.base, "input", "in.png"))
    r = subprocess.run(["node", node_client, f"127.0.0.1:{d.port}", "in.png"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr + d.output()
    assert "npm client: ok" in r.stdout
    saved = os.path.join(d.base, "output", "npm", "client_00001_.png")
    assert Image.open(saved).getpixel((0, 0)) == (254, 253, 252)
