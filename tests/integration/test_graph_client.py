"""A published ComfyUI API client from npm, @stable-canvas/comfyui-client 1.5.9, drives
the daemon (tests/client/drive.mjs): queue a graph, follow its WebSocket events to
completion, queue it again by polling, fetch the output image through the client."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT


CLIENT = os.path.join(ROOT, "tests", "client")


def ensure_client():
    if os.path.isdir(os.path.join(CLIENT, "node_modules", "@stable-canvas", "comfyui-client")):
        return
    if not shutil.which("npm"):
        pytest.skip("npm is not installed")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT, check=True, timeout=300)


def test_npm_client_round_trip(daemon):
    ensure_client()
    from PIL import Image
    Image.new("RGB", (24, 16), (30, 60, 90)).save(os.path.join(daemon.base, "input", "npm.png"))
    r = subprocess.run(["node", os.path.join(CLIENT, "drive.mjs"), f"127.0.0.1:{daemon.port}", "npm.png"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["nodes"] > 10
    for key in ("ws", "poll"):
        assert report[key]["images"] == 1 and report[key]["status"] == 200 and report[key]["bytes"] > 0, report
    assert "npmws_00001_.png" in report["ws"]["url"] and "npmpoll_00001_.png" in report["poll"]["url"]
    assert report["queue"] == {"running": 0, "pending": 0}
    h = daemon.get(f"/history/{report['ws']['prompt_id']}").json()
    assert h[report["ws"]["prompt_id"]]["status"]["status_str"] == "success"
