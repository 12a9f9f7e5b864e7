"""Users, settings and per-user files, confined to the user directory."""
import json
import os


def test_users_single_user(daemon):
    assert daemon.get("/api/users").json() == {"storage": "server", "migrated": False}
    daemon.post("/api/settings/Comfy.TutorialCompleted", b"true")
    assert daemon.get("/api/users").json() == {"storage": "server", "migrated": True}


def test_settings_round_trip(daemon):
    assert daemon.post("/api/settings", {"Comfy.ColorPalette": "dark", "n": 3}).status == 200
    assert daemon.post("/api/settings/Comfy.Locale", "en").status == 200
    assert daemon.post("/api/settings", {"n": 4}).status == 200
    s = daemon.get("/api/settings").json()
    assert s["Comfy.ColorPalette"] == "dark" and s["n"] == 4 and s["Comfy.Locale"] == "en"
    assert daemon.get("/settings/Comfy.Locale").json() == "en"
    assert daemon.get("/settings/Unset").json() is None
    path = os.path.join(daemon.base, "user", "default", "comfy.settings.json")
    assert json.load(open(path))["n"] == 4
    assert daemon.post("/api/settings", b"[1, 2]").status == 400


def test_userdata_write_read_list_move_delete(daemon):
    r = daemon.post("/api/userdata/workflows%2Fmy%20flow.json", b'{"a": 1}')
    assert r.status == 200 and r.json() == "workflows/my flow.json"
    assert daemon.get("/api/userdata/workflows%2Fmy%20flow.json").body == b'{"a": 1}'
    g = daemon.get("/api/userdata/workflows%2Fmy%20flow.json")
    assert g.headers["Content-Disposition"] == "attachment" and g.headers["X-Content-Type-Options"] == "nosniff"
    daemon.post("/api/userdata/workflows%2Fsub%2Fb.json", b"{}")
    daemon.post("/api/userdata/workflows%2F.index.json", b"{}")
    assert sorted(daemon.get("/api/userdata?dir=workflows&recurse=true").json()) == ["my flow.json", "sub/b.json"]
    assert daemon.get("/api/userdata?dir=workflows").json() == ["my flow.json"]
    full = daemon.get("/api/userdata?dir=workflows&recurse=true&split=false&full_info=true").json()
    assert {f["path"] for f in full} == {"my flow.json", "sub/b.json"}
    assert all(isinstance(f["modified"], int) and f["size"] >= 2 for f in full)
    split = daemon.get("/api/userdata?dir=workflows&recurse=true&split=true").json()
    assert ["sub/b.json", "sub", "b.json"] in split
    assert daemon.get("/api/userdata?dir=nothing").status == 404
    assert daemon.get("/api/userdata").status == 400

    assert daemon.post("/api/userdata/workflows%2Fsub%2Fb.json?overwrite=false", b"{}").status == 409
    assert daemon.post("/api/userdata/workflows%2Fsub%2Fb.json?overwrite=undefined", b"[]").status == 200
    info = daemon.post("/api/userdata/workflows%2Fc.json?full_info=true", b"12345").json()
    assert info["path"] == "workflows/c.json" and info["size"] == 5

    m = daemon.post("/api/userdata/workflows%2Fc.json/move/workflows%2Fd.json")
    assert m.status == 200 and m.json() == "workflows/d.json"
    assert daemon.get("/api/userdata/workflows%2Fc.json").status == 404
    assert daemon.post("/api/userdata/workflows%2Fd.json/move/workflows%2Fsub%2Fb.json?overwrite=false").status == 409
    assert daemon.post("/api/userdata/workflows%2Fnope.json/move/workflows%2Fe.json").status == 404

    assert daemon.request("DELETE", "/api/userdata/workflows%2Fd.json").status == 204
    assert daemon.request("DELETE", "/api/userdata/workflows%2Fd.json").status == 404

    v2 = daemon.get("/api/v2/userdata").json()
    assert v2[0]["type"] == "directory"
    paths = {e["path"]: e for e in v2}
    assert paths["workflows"]["type"] == "directory" and paths["workflows/my flow.json"]["type"] == "file"
    assert isinstance(paths["workflows/my flow.json"]["modified"], float)
    assert [e["path"] for e in daemon.get("/api/v2/userdata?path=workflows/sub").json()] == ["workflows/sub/b.json"]
    assert daemon.get("/api/v2/userdata?path=missing").status == 404
    assert daemon.get("/api/v2/userdata?path=comfy.settings.json").status in (400, 404)


def test_userdata_confined(daemon):
    secret = os.path.join(daemon.base, "secret.json")
    open(secret, "w").write("{}")
    for path in ("/api/userdata/..%2F..%2Fsecret.json", "/api/userdata/%2e%2e%2F%2e%2e%2Fsecret.json",
                 "/api/userdata/%2Fetc%2Fpasswd"):
        assert daemon.get(path).status == 403, path
        assert daemon.post(path, b"x").status == 403, path
        assert daemon.request("DELETE", path).status == 403, path
    assert daemon.post("/api/userdata/a.json/move/..%2F..%2Fstolen.json", b"").status in (403, 404)
    assert daemon.get("/api/userdata?dir=..%2F..").status == 403
    assert daemon.get("/api/userdata?dir=/etc").status == 403
    assert daemon.get("/api/v2/userdata?path=../..").status == 400
    root = os.path.join(daemon.base, "user", "default")
    os.makedirs(root, exist_ok=True)
    os.symlink(daemon.base, os.path.join(root, "escape"))
    assert daemon.get("/api/userdata/escape%2Fsecret.json").status == 403
    assert daemon.post("/api/userdata/escape%2Fnew.json", b"x").status == 403
    assert not os.path.exists(os.path.join(daemon.base, "new.json"))
    assert open(secret).read() == "{}"


def test_multi_user(start_daemon):
    d = start_daemon("--multi-user")
    assert d.get("/api/users").json() == {"storage": "server", "users": {}}
    uid = d.post("/api/users", {"username": "Alice B."}).json()
    assert uid.startswith("Alice-B-_") and len(uid) == len("Alice-B-_") + 36
    assert d.post("/api/users", {"username": "Alice B."}).json() == {"error": "Duplicate username."}
    assert d.post("/api/users", {"username": "__x"}).status == 400
    assert d.get("/api/users").json()["users"] == {uid: "Alice B."}
    assert d.get("/api/settings").status == 401
    assert d.post("/api/settings/k", b"1", headers={"Comfy-User": uid}).status == 200
    assert d.get("/api/settings", headers={"Comfy-User": uid}).json() == {"k": 1}
    assert d.get("/api/settings", headers={"Comfy-User": "nobody"}).status == 401
