"""The graph layer through the real daemon: priorities, interrupt, history bounds and
paging, the jobs view, exact big integers in /queue and /history, partial execution.
A chain of latent resizes (no model needed) keeps the worker busy for a moment."""
import json
import time
import uuid

import websocket


def slow_chain(n, prefix, width):
    """EmptyLatentImage (width/8 cells square) resized x4 and back n times, about
    0.2 s a step at width 1024 on one core; distinct widths keep chains out of each
    other's cache. Tests that only need the worker busy interrupt it when done."""
    g = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": 1024, "batch_size": 1}}}
    for i in range(n):
        g[str(i + 2)] = {"class_type": "LatentUpscaleBy",
                         "inputs": {"samples": [str(i + 1), 0], "upscale_method": "bicubic",
                                    "scale_by": 4.0 if i % 2 == 0 else 0.25}}
    g["99"] = {"class_type": "SaveLatent", "inputs": {"samples": [str(n + 1), 0], "filename_prefix": prefix}}
    return g


def quick(value, prefix="q"):
    return {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": value}},
            "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": prefix}}}


def connect(daemon):
    sid = uuid.uuid4().hex
    ws = websocket.create_connection(daemon.ws_url(f"/ws?clientId={sid}"), timeout=60)
    ws.recv()
    return sid, ws


def next_event(ws, types):
    while True:
        msg = ws.recv()
        if isinstance(msg, bytes):
            continue
        m = json.loads(msg)
        if m["type"] in types:
            return m["type"], m["data"]


def wait_done(ws, pid):
    while True:
        t, d = next_event(ws, ("executing",))
        if d["node"] is None and d.get("prompt_id") == pid:
            return


def test_front_runs_before_earlier_prompts(daemon):
    sid, ws = connect(daemon)
    slow = daemon.post("/prompt", {"prompt": slow_chain(16, "p0", 1024), "client_id": sid}).json()["prompt_id"]
    t, d = next_event(ws, ("execution_start",))
    assert d["prompt_id"] == slow
    a = daemon.post("/prompt", {"prompt": quick(1, "pa"), "client_id": sid}).json()
    b = daemon.post("/prompt", {"prompt": quick(2, "pb"), "client_id": sid, "front": True}).json()
    c = daemon.post("/prompt", {"prompt": quick(3, "pc"), "client_id": sid, "number": -1000}).json()
    assert c["number"] == -1000.0 and isinstance(c["number"], float)
    q = daemon.get("/queue").json()
    assert [item[1] for item in q["queue_running"]] == [slow]
    pending = sorted(q["queue_pending"], key=lambda it: it[0])
    assert [it[1] for it in pending] == [c["prompt_id"], b["prompt_id"], a["prompt_id"]]
    assert daemon.get("/prompt").json() == {"exec_info": {"queue_remaining": 4}}
    assert daemon.post("/interrupt", {"prompt_id": slow}).status == 200   # done with the blocker
    order = []
    while len(order) < 3:
        t, d = next_event(ws, ("execution_start",))
        order.append(d["prompt_id"])
    assert order == [c["prompt_id"], b["prompt_id"], a["prompt_id"]]
    wait_done(ws, a["prompt_id"])
    ws.close()


def test_interrupt_stops_at_the_next_node(daemon):
    sid, ws = connect(daemon)
    pid = daemon.post("/prompt", {"prompt": slow_chain(8, "int", 1032), "client_id": sid}).json()["prompt_id"]
    while True:
        t, d = next_event(ws, ("executing",))
        if d["node"] == "3":
            break
    assert daemon.post("/interrupt", {}).status == 200
    t, d = next_event(ws, ("execution_interrupted", "execution_success"))
    assert t == "execution_interrupted"
    assert d["prompt_id"] == pid and "2" in d["executed"]
    wait_done(ws, pid)
    h = daemon.get(f"/history/{pid}").json()[pid]
    assert h["status"]["status_str"] == "error" and h["status"]["completed"] is False
    assert [m[0] for m in h["status"]["messages"]] == ["execution_start", "execution_cached", "execution_interrupted"]
    job = daemon.get(f"/api/jobs/{pid}").json()
    assert job["status"] == "cancelled"
    # the nodes that finished stay cached: the same prompt again skips them
    pid2 = daemon.post("/prompt", {"prompt": slow_chain(8, "int", 1032), "client_id": sid}).json()["prompt_id"]
    t, d = next_event(ws, ("execution_cached",))
    assert d["prompt_id"] == pid2 and {"1", "2"} <= set(d["nodes"])
    wait_done(ws, pid2)
    ws.close()


def test_cancel_pending_job_and_queue_delete(daemon):
    sid, ws = connect(daemon)
    slow = daemon.post("/prompt", {"prompt": slow_chain(16, "c0", 1040), "client_id": sid}).json()["prompt_id"]
    next_event(ws, ("execution_start",))
    a = daemon.post("/prompt", {"prompt": quick(4, "ca"), "client_id": sid}).json()["prompt_id"]
    b = daemon.post("/prompt", {"prompt": quick(5, "cb"), "client_id": sid}).json()["prompt_id"]
    r = daemon.post(f"/api/jobs/{a}/cancel")
    assert r.status == 200 and r.json() == {"cancelled": True}
    assert daemon.post(f"/api/jobs/{a}/cancel").json() == {"cancelled": False}
    assert daemon.post("/queue", {"delete": [b]}).status == 200
    assert daemon.get("/queue").json()["queue_pending"] == []
    assert daemon.post("/interrupt", {}).status == 200
    wait_done(ws, slow)
    jobs = daemon.get("/api/jobs?status=pending,in_progress").json()
    assert jobs["jobs"] == [] and jobs["pagination"]["total"] == 0
    ws.close()


def test_history_bound_and_paging(start_daemon):
    d = start_daemon("--max-history", "3")
    sid, ws = connect(d)
    ids = []
    for i in range(5):
        pid = d.post("/prompt", {"prompt": quick(i + 1, f"h{i}"), "client_id": sid}).json()["prompt_id"]
        ids.append(pid)
    wait_done(ws, ids[-1])
    h = d.get("/history").json()
    assert list(h) == ids[2:]
    assert list(d.get("/history?max_items=1").json()) == ids[4:]
    assert list(d.get("/history?offset=1&max_items=1").json()) == ids[3:4]
    assert d.get(f"/history/{ids[0]}").json() == {}
    jobs = d.get("/api/jobs?sort_order=asc&limit=2&offset=1").json()
    assert [j["id"] for j in jobs["jobs"]] == ids[3:5]
    assert jobs["pagination"] == {"offset": 1, "limit": 2, "total": 3, "has_more": False}
    assert d.post("/history", {"delete": [ids[3]]}).status == 200
    assert list(d.get("/history").json()) == [ids[2], ids[4]]
    assert d.post("/history", {"clear": True}).status == 200
    assert d.get("/history").json() == {}
    ws.close()


def test_big_integers_stay_exact_in_queue_and_history(daemon):
    sid, ws = connect(daemon)
    slow = daemon.post("/prompt", {"prompt": slow_chain(16, "b0", 1048), "client_id": sid}).json()["prompt_id"]
    next_event(ws, ("execution_start",))
    g = quick(1, "big")
    g["1"]["_meta"] = {"title": "seed 18446744073709551615"}
    body = ('{"client_id": "%s", "prompt": %s, "extra_data": {"n": 18446744073709551615, "m": -9223372036854775809}}'
            % (sid, json.dumps(g)))
    r = daemon.post("/prompt", body.encode())
    assert r.status == 200, r.text
    pid = r.json()["prompt_id"]
    q = daemon.get("/queue").body.decode()
    assert '"n": 18446744073709551615, "m": -9223372036854775809' in q
    assert daemon.post("/interrupt", {"prompt_id": slow}).status == 200
    wait_done(ws, pid)
    raw = daemon.get(f"/history/{pid}").body.decode()
    assert '"n": 18446744073709551615' in raw and '"m": -9223372036854775809' in raw
    ws.close()


def test_partial_execution_targets(daemon):
    sid, ws = connect(daemon)
    g = quick(1, "pt1")
    g["3"] = {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "pt2"}}
    r = daemon.post("/prompt", {"prompt": g, "client_id": sid, "partial_execution_targets": ["3"]}).json()
    wait_done(ws, r["prompt_id"])
    h = daemon.get(f"/history/{r['prompt_id']}").json()[r["prompt_id"]]
    assert h["prompt"][4] == ["3"]
    assert list(h["outputs"]) == ["3"]
    ws.close()
