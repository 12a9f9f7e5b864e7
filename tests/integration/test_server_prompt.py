"""Prompts end to end through the server: POST /prompt over HTTP, events over the
WebSocket to the right client, history and /view of the result. Uses only cheap core
nodes (LoadImage -> ImageInvert -> SaveImage), so no model is needed."""
import io
import json
import os
import uuid

import websocket
from PIL import Image


def png(color=(10, 200, 30)):
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), color).save(buf, "PNG")
    return buf.getvalue()


def graph(image="in.png", prefix="test"):
    return {"1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}}


def events_until_done(ws, prompt_id, limit=200):
    seen = []
    for _ in range(limit):
        msg = ws.recv()
        if isinstance(msg, bytes):
            seen.append(("binary", msg))
            continue
        m = json.loads(msg)
        seen.append((m["type"], m["data"]))
        if m["type"] == "executing" and m["data"]["node"] is None and m["data"].get("prompt_id") == prompt_id:
            return seen
    raise AssertionError(f"no completion in {seen}")


def test_prompt_round_trip(daemon):
    open(os.path.join(daemon.base, "input", "in.png"), "wb").write(png())
    sid = uuid.uuid4().hex
    ws = websocket.create_connection(daemon.ws_url(f"/ws?clientId={sid}"), timeout=30)
    assert json.loads(ws.recv())["data"]["sid"] == sid
    other = websocket.create_connection(daemon.ws_url("/ws?clientId=bystander"), timeout=30)
    other.recv()

    r = daemon.post("/prompt", {"prompt": graph(), "client_id": sid})
    assert r.status == 200, r.text
    body = r.json()
    pid = body["prompt_id"]
    assert body["node_errors"] == {}
    events = events_until_done(ws, pid)
    types = [t for t, _ in events]
    for t in ("execution_start", "execution_cached", "executing", "executed", "execution_success"):
        assert t in types, types
    assert types.index("execution_success") < len(types) - 1          # executing null comes last
    executed = next(d for t, d in events if t == "executed")
    img = executed["output"]["images"][0]
    assert executed["node"] == "3" and img["type"] == "output" and img["filename"].startswith("test_")

    hist = daemon.get(f"/history/{pid}").json()[pid]
    assert hist["status"]["status_str"] == "success" and hist["outputs"]["3"]["images"][0] == img
    v = daemon.get(f"/view?filename={img['filename']}&subfolder={img['subfolder']}&type=output")
    assert v.status == 200
    px = Image.open(io.BytesIO(v.body)).getpixel((0, 0))
    assert all(abs(a - b) <= 1 for a, b in zip(px, (245, 55, 225)))     # inverted (float32 truncation)
    assert daemon.get("/api/history?max_items=1").json().keys() == {pid}
    assert daemon.get("/history?max_items=x").status == 500

    # The bystander saw the queue status broadcasts, not this client's execution events.
    other.settimeout(1)
    got = []
    try:
        while True:
            got.append(json.loads(other.recv())["type"])
    except websocket.WebSocketTimeoutException:
        pass
    assert "executed" not in got and "execution_start" not in got
    ws.close()
    other.close()


def test_second_identical_prompt_is_cached(daemon):
    open(os.path.join(daemon.base, "input", "in2.png"), "wb").write(png((1, 2, 3)))
    sid = "cache-client"
    ws = websocket.create_connection(daemon.ws_url(f"/ws?clientId={sid}"), timeout=30)
    ws.recv()
    p = graph("in2.png", "cached")
    first = daemon.post("/api/prompt", {"prompt": p, "client_id": sid}).json()["prompt_id"]
    events_until_done(ws, first)
    second = daemon.post("/api/prompt", {"prompt": p, "client_id": sid}).json()["prompt_id"]
    events = events_until_done(ws, second)
    cached = next(d for t, d in events if t == "execution_cached")
    assert sorted(cached["nodes"]) == ["1", "2", "3"]
    assert not any(t == "executing" and d["node"] is not None for t, d in events)
    ws.close()


def test_validation_errors_pass_through(daemon):
    r = daemon.post("/api/prompt", {"client_id": "x"})
    assert r.status == 400 and r.json()["error"]["type"] == "no_prompt"
    r = daemon.post("/api/prompt", {"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
    assert r.status == 400 and r.json()["error"]["type"] == "missing_node_type"
    r = daemon.post("/api/prompt", {"prompt": graph("missing.png")})
    assert r.status == 400 and "1" in r.json()["node_errors"]


def test_queue_jobs_and_object_info_routes(daemon):
    assert daemon.get("/prompt").json() == {"exec_info": {"queue_remaining": 0}}
    q = daemon.get("/api/queue").json()
    assert q == {"queue_running": [], "queue_pending": []}
    assert daemon.post("/api/queue", {"clear": True}).status == 200
    assert daemon.post("/api/interrupt", b"").status == 200
    assert daemon.post("/api/free", {"unload_models": True}).status == 200
    jobs = daemon.get("/api/jobs?status=completed&limit=5").json()
    assert "jobs" in jobs and jobs["pagination"]["limit"] == 5
    assert daemon.get("/api/api/jobs").status == 200
    assert daemon.get("/jobs").status == 404
    assert daemon.get("/api/jobs/00000000-0000-4000-8000-000000000000").status == 404
    r = daemon.post("/api/jobs/cancel", {"job_ids": ["00000000-0000-4000-8000-000000000000"]})
    assert r.status == 200 and r.json() == {"cancelled": False}
    info = daemon.get("/api/object_info").json()
    assert "SaveImage" in info and info["SaveImage"]["output_node"] is True
    assert daemon.get("/object_info/ImageInvert").json().keys() == {"ImageInvert"}
    assert daemon.get("/object_info/Nope").json() == {}
    assert daemon.post("/api/history", {"clear": True}).status == 200
    assert daemon.get("/api/history").json() == {}


def test_seed_2_64_minus_1_survives_the_server(daemon):
    # The server hands raw bytes to the graph, so big integers are not rounded on the way.
    body = b'{"prompt": {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, ' \
           b'"batch_size": 1}}, "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], ' \
           b'"filename_prefix": "latents/x"}}}, "extra_data": {"seed": 18446744073709551615}}'
    r = daemon.post("/api/prompt", body)
    assert r.status == 200, r.text
    pid = r.json()["prompt_id"]
    for _ in range(100):
        h = daemon.get(f"/api/history/{pid}").json()
        if h:
            break
        import time
        time.sleep(0.05)
    assert b"18446744073709551615" in daemon.get(f"/api/history/{pid}").body


def test_posting_client_hears_nothing_before_the_answer(daemon):
    """A cached prompt finishes before the HTTP answer is written; the posting client's
    result messages are held until the answer is out plus a grace period (routes_graph.c)."""
    import threading
    import time
    open(os.path.join(daemon.base, "input", "in3.png"), "wb").write(png((9, 9, 9)))
    p = graph("in3.png", "order")
    daemon.post("/api/prompt", {"prompt": p})            # warm the cache: the next run is instant
    time.sleep(0.3)
    ws = websocket.create_connection(daemon.ws_url("/ws?clientId=order"), timeout=30)
    ws.recv()
    arrivals = []

    def reader():
        while True:
            m = json.loads(ws.recv())
            arrivals.append((time.monotonic(), m))
            if m["type"] == "executing" and m["data"]["node"] is None:
                return

    t = threading.Thread(target=reader)
    t.start()
    r = daemon.post("/api/prompt", {"prompt": p, "client_id": "order"})
    answered = time.monotonic()
    t.join(30)
    ws.close()
    assert r.status == 200 and arrivals[-1][1]["data"]["prompt_id"] == r.json()["prompt_id"]
    done = next(ts for ts, m in arrivals if m["type"] == "executed")
    assert done >= answered + 0.05, f"executed {1000 * (done - answered):.1f} ms after the answer"
    types = [m["type"] for _, m in arrivals]
    assert types.index("execution_start") < types.index("executed") < types.index("execution_success")


def test_cache_none_flag_reaches_the_graph(start_daemon):
    d = start_daemon("--cache-none")
    open(os.path.join(d.base, "input", "in4.png"), "wb").write(png((4, 4, 4)))
    ws = websocket.create_connection(d.ws_url("/ws?clientId=nocache"), timeout=30)
    ws.recv()
    p = graph("in4.png", "nocache")
    for _ in range(2):
        pid = d.post("/api/prompt", {"prompt": p, "client_id": "nocache"}).json()["prompt_id"]
        events = events_until_done(ws, pid)
        assert next(e for t, e in events if t == "execution_cached")["nodes"] == []
        assert sum(1 for t, e in events if t == "executing" and e["node"]) == 3
    ws.close()
