"""HTTP basics against the real daemon: /system_stats, routing, /api aliasing, 404/405,
HEAD, cache headers, CORS and the same-origin guard, model folder routes."""
import os
import re

import pytest


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v.split()[0]) * 1024
    return out


def test_system_stats_shape_and_figures(daemon):
    for path in ("/system_stats", "/api/system_stats"):
        r = daemon.get(path)
        assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
        s = r.json()
        assert set(s) == {"system", "devices"}
        sys = s["system"]
        for key, typ in [("os", str), ("ram_total", int), ("ram_free", int), ("comfyui_version", str),
                         ("python_version", str), ("pytorch_version", str), ("embedded_python", bool),
                         ("argv", list), ("required_frontend_version", str)]:
            assert isinstance(sys[key], typ), key
        assert sys["os"] == "linux"
        mem = meminfo()
        assert sys["ram_total"] == mem["MemTotal"]
        assert 0 < sys["ram_free"] <= sys["ram_total"]
        assert abs(sys["ram_free"] - mem["MemAvailable"]) < 0.2 * mem["MemTotal"]
        assert "--base-directory" in sys["argv"]
        assert len(s["devices"]) >= 1
        dev = s["devices"][0]
        assert set(dev) == {"name", "type", "index", "vram_total", "vram_free", "torch_vram_total", "torch_vram_free"}
        if dev["type"] == "cpu":
            assert dev["index"] is None and dev["vram_total"] == mem["MemTotal"]
            assert dev["name"].startswith("cpu")
        else:
            assert dev["type"] == "xpu" and dev["vram_total"] > 0


def test_unknown_route_is_plain_404(daemon):
    for path in ("/nope", "/api/nope", "/jobs", "/api/internal/logs", "/models/clip", "/models/unet"):
        r = daemon.get(path)
        assert r.status == 404, path
    r = daemon.get("/api/nope")
    assert r.headers["Content-Type"].startswith("text/plain") and r.text == "404: Not Found"


def test_wrong_method_is_405_with_allow(daemon):
    r = daemon.request("DELETE", "/api/system_stats")
    assert r.status == 405
    assert "GET" in r.headers["Allow"] and "HEAD" in r.headers["Allow"]
    r = daemon.request("PUT", "/prompt")
    assert r.status == 405 and "POST" in r.headers["Allow"]


def test_head_answers_like_get_without_body(daemon):
    g = daemon.get("/api/features")
    h = daemon.request("HEAD", "/api/features")
    assert h.status == 200 and h.body == b""
    assert int(h.headers["Content-Length"]) == len(g.body)


def test_features_extensions_and_fixed_routes(daemon):
    f = daemon.get("/api/features").json()
    assert f == {"supports_preview_metadata": True, "max_upload_size": 104857600,
                 "extension": {"manager": {"supports_v4": True}}, "node_replacements": True, "assets": False}
    assert daemon.get("/api/extensions").json() == []
    assert daemon.get("/api/i18n").json() == {}
    assert daemon.get("/api/workflow_templates").json() == {}
    assert daemon.get("/api/global_subgraphs").json() == {}
    assert daemon.get("/api/global_subgraphs/abc").json() is None
    assert daemon.get("/api/node_replacements").json() == {}


def test_assets_are_disabled(daemon):
    for method, path in [("GET", "/api/assets"), ("POST", "/api/assets/seed"), ("GET", "/api/tags")]:
        r = daemon.request(method, path)
        assert r.status == 503 and r.json()["error"]["code"] == "SERVICE_DISABLED"
    assert daemon.get("/assets").status == 404


def test_model_routes_follow_the_disk(daemon):
    keys = daemon.get("/api/models").json()
    assert keys[:4] == ["checkpoints", "configs", "loras", "vae"] and "detection" in keys
    assert daemon.get("/api/models/checkpoints").json() == []
    ck = os.path.join(daemon.base, "models", "checkpoints")
    os.makedirs(os.path.join(ck, "sub"), exist_ok=True)
    for name in ("b.safetensors", "a.ckpt", "sub/c.SFT", "notes.txt", ".git/x.pt"):
        os.makedirs(os.path.dirname(os.path.join(ck, name)), exist_ok=True)
        open(os.path.join(ck, name), "wb").write(b"12345")
    assert daemon.get("/models/checkpoints").json() == ["a.ckpt", "b.safetensors", "sub/c.SFT"]
    exp = daemon.get("/api/experiment/models/checkpoints").json()
    names = sorted(e["name"] for e in exp)
    assert names == ["a.ckpt", "b.safetensors", "sub/c.SFT"]
    assert all(e["pathIndex"] == 0 and e["size"] == 5 and isinstance(e["modified"], float) for e in exp)
    folders = {e["name"]: e["folders"] for e in daemon.get("/api/experiment/models").json()}
    assert "configs" not in folders and "custom_nodes" not in folders and ck in folders["checkpoints"]
    assert daemon.get("/api/experiment/models/nope").status == 404
    emb = os.path.join(daemon.base, "models", "embeddings")
    open(os.path.join(emb, "easyneg.pt"), "wb").write(b"x")
    assert daemon.get("/api/embeddings").json() == ["easyneg"]
    paths = daemon.get("/internal/folder_paths").json()
    assert paths["text_encoders"][:2] == [os.path.join(daemon.base, "models", "text_encoders"),
                                          os.path.join(daemon.base, "models", "clip")]


def test_model_preview_is_confined(daemon):
    lor = os.path.join(daemon.base, "models", "loras")
    open(os.path.join(lor, "style.safetensors"), "wb").write(b"x")
    open(os.path.join(lor, "style.png"), "wb").write(b"\x89PNG fake")
    r = daemon.get("/api/experiment/models/preview/loras/0/style.safetensors")
    assert r.status == 200 and r.body == b"\x89PNG fake"
    assert daemon.get("/api/experiment/models/preview/loras/0/other.safetensors").status == 404
    assert daemon.get("/api/experiment/models/preview/loras/x/style.safetensors").status == 400
    assert daemon.get("/api/experiment/models/preview/loras/9/style.safetensors").status == 404
    assert daemon.get("/api/experiment/models/preview/loras/0/..%2F..%2F..%2Fetc%2Fpasswd").status == 403


def test_view_metadata(daemon):
    ck = os.path.join(daemon.base, "models", "checkpoints")
    header = b'{"__metadata__":{"ss_name":"x","format":"pt"},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    with open(os.path.join(ck, "meta.safetensors"), "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")
    r = daemon.get("/api/view_metadata/checkpoints?filename=meta.safetensors")
    assert r.status == 200 and r.json() == {"ss_name": "x", "format": "pt"}
    assert daemon.get("/api/view_metadata/checkpoints?filename=missing.safetensors").status == 404
    assert daemon.get("/api/view_metadata/checkpoints").status == 404
    assert daemon.get("/api/view_metadata/checkpoints?filename=a.ckpt").status == 404
    with open(os.path.join(ck, "broken.safetensors"), "wb") as f:
        f.write(b"\xff" * 16)
    assert daemon.get("/api/view_metadata/checkpoints?filename=broken.safetensors").status == 404


def test_internal_files_newest_first(daemon):
    inp = os.path.join(daemon.base, "input")
    for i, name in enumerate(["old.png", "new.png"]):
        p = os.path.join(inp, name)
        open(p, "wb").write(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    open(os.path.join(inp, ".hidden.png"), "wb").write(b"x")
    files = daemon.get("/internal/files/input").json()
    assert files[:2] == ["new.png [input]", "old.png [input]"] and ".hidden.png [input]" not in files
    r = daemon.get("/internal/files/models")
    assert r.status == 400 and r.json() == {"error": "Invalid directory type"}


def test_internal_logs(daemon):
    raw = daemon.get("/internal/logs/raw").json()
    assert raw["size"] == {"cols": 80, "rows": 24}
    assert any("comfyui-ipex" in e["m"] for e in raw["entries"])
    assert all(re.match(r"\d{4}-\d\d-\d\dT", e["t"]) for e in raw["entries"])
    text = daemon.get("/internal/logs").json()
    assert isinstance(text, str) and "comfyui-ipex" in text


def test_cache_headers(daemon):
    assert daemon.get("/missing.js").headers["Cache-Control"] == "no-store"
    assert daemon.get("/sub/index.en.json").headers["Cache-Control"] == "no-store"
    assert daemon.get("/missing.PNG").headers["Cache-Control"] == "public, max-age=3600"
    assert daemon.get("/view?filename=x.png").headers.get("Cache-Control") is None


def test_same_origin_guard(daemon):
    host = f"127.0.0.1:{daemon.port}"
    assert daemon.get("/api/features", headers={"Origin": "http://evil.example"}).status == 403
    assert daemon.post("/api/settings/x", b"1", headers={"Origin": "http://evil.example"}).status == 403
    assert daemon.get("/api/features", headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    assert daemon.get("/api/features", headers={"Origin": f"http://{host}"}).status == 200
    assert daemon.get("/api/features", headers={"Origin": "http://127.0.0.1"}).status == 200   # no port
    assert daemon.get("/api/features", headers={"Origin": "http://127.0.0.1:1"}).status == 403
    assert daemon.get("/api/features", headers={"Sec-Fetch-Site": "same-origin"}).status == 200
    r = daemon.request("OPTIONS", "/api/prompt")
    assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_cors_mode(start_daemon):
    d = start_daemon("--enable-cors-header")
    r = d.get("/api/features", headers={"Origin": "http://evil.example"})
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "POST, GET, DELETE, PUT, OPTIONS, PATCH"
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    o = d.request("OPTIONS", "/api/prompt", headers={"Origin": "http://a.example"})
    assert o.status == 200 and o.body == b"" and o.headers["Access-Control-Allow-Origin"] == "*"
    d2 = start_daemon("--enable-cors-header", "http://ui.example", "--disable-api-nodes")
    r = d2.get("/api/features")
    assert r.headers["Access-Control-Allow-Origin"] == "http://ui.example"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_listen_list_binds_every_address(start_daemon):
    d = start_daemon("--listen", "127.0.0.1,::1")
    import urllib.request
    with urllib.request.urlopen(f"http://[::1]:{d.port}/api/features", timeout=10) as r:
        assert r.status == 200
    assert d.get("/api/features").status == 200


def test_static_frontend(start_daemon, tmp_path):
    ui = tmp_path / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text("<html>hi</html>")
    (ui / "assets" / "app.js").write_text("console.log(1)")
    d = start_daemon("--front-end-root", str(ui))
    r = d.get("/")
    assert r.status == 200 and r.body == b"<html>hi</html>"
    assert r.headers["Cache-Control"] == "no-store, must-revalidate"
    assert d.get("/api/").body == b"<html>hi</html>"
    r = d.get("/assets/app.js")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
    assert r.headers["Cache-Control"] == "no-store"
    assert d.get("/assets/../../etc/passwd").status == 404
    assert d.get("/assets/%2e%2e/%2e%2e/etc/passwd").status == 404
    assert d.get("/assets/").status == 404


def test_tls(start_daemon, tmp_path):
    import shutil
    import ssl
    import subprocess
    import urllib.request

    import pytest
    import websocket
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    d = start_daemon("--tls-keyfile", str(key), "--tls-certfile", str(cert))
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    with urllib.request.urlopen(f"https://127.0.0.1:{d.port}/api/features", context=ctx, timeout=10) as r:
        assert r.status == 200
    ws = websocket.create_connection(f"wss://127.0.0.1:{d.port}/ws?clientId=tls", timeout=10,
                                     sslopt={"cert_reqs": ssl.CERT_NONE})
    import json
    assert json.loads(ws.recv())["type"] == "status"
    ws.close()
