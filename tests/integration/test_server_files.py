"""Files: uploads (de-duplication, overwrite, subfolders, size limit) and /view, with
the path tricks that must not escape input/output/temp."""
import os
import socket
import uuid


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for name, (filename, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(d, filename, data, route="/api/upload/image", **fields):
    body, headers = multipart(fields, {"image": (filename, data)})
    return d.post(route, body, headers=headers)


def test_upload_then_view(daemon):
    r = upload(daemon, "cat.png", b"\x89PNG one")
    assert r.status == 200 and r.json() == {"name": "cat.png", "subfolder": "", "type": "input"}
    assert open(os.path.join(daemon.base, "input", "cat.png"), "rb").read() == b"\x89PNG one"
    v = daemon.get("/api/view?filename=cat.png&type=input&rand=0.5")
    assert v.status == 200 and v.body == b"\x89PNG one"
    assert v.headers["Content-Type"] == "image/png"
    assert v.headers["Content-Disposition"] == 'filename="cat.png"'
    assert v.headers["X-Content-Type-Options"] == "nosniff"
    assert daemon.get("/view?filename=cat.png%20%5Binput%5D").status == 200     # annotation picks the folder
    assert daemon.get("/view?filename=cat.png").status == 404               # default type is output


def test_upload_deduplicates_by_content(daemon):
    assert upload(daemon, "dup.png", b"AAA").json()["name"] == "dup.png"
    assert upload(daemon, "dup.png", b"AAA").json()["name"] == "dup.png"          # identical: reused
    assert upload(daemon, "dup.png", b"BBB").json()["name"] == "dup (1).png"
    assert upload(daemon, "dup.png", b"CCC").json()["name"] == "dup (2).png"
    assert upload(daemon, "dup.png", b"BBB").json()["name"] == "dup (1).png"
    r = upload(daemon, "dup.png", b"DDD", overwrite="true")
    assert r.json()["name"] == "dup.png"
    assert open(os.path.join(daemon.base, "input", "dup.png"), "rb").read() == b"DDD"


def test_upload_subfolder_and_type(daemon):
    r = upload(daemon, "p.png", b"x", subfolder="pasted", type="temp")
    assert r.json() == {"name": "p.png", "subfolder": "pasted", "type": "temp"}
    assert os.path.exists(os.path.join(daemon.base, "temp", "pasted", "p.png"))
    assert daemon.get("/view?filename=p.png&subfolder=pasted&type=temp").body == b"x"


def test_upload_refuses_escapes_and_bad_forms(daemon):
    assert upload(daemon, "x.png", b"x", subfolder="../../etc").status == 400
    assert upload(daemon, "x.png", b"x", subfolder="/etc").status == 400
    assert upload(daemon, "../evil.png", b"x").status == 400
    assert upload(daemon, "x.png", b"x", type="models").status == 400
    body, headers = multipart({"type": "input"}, {})
    assert daemon.post("/api/upload/image", body, headers=headers).status == 400
    assert daemon.post("/api/upload/image", b"garbage", headers={"Content-Type": "multipart/form-data; boundary=zz"}).status == 400
    assert not os.path.exists(os.path.join(daemon.base, "evil.png"))


def test_view_refuses_path_tricks(daemon):
    open(os.path.join(daemon.base, "secret.txt"), "w").write("secret")
    os.makedirs(os.path.join(daemon.base, "output", "sub"), exist_ok=True)
    open(os.path.join(daemon.base, "output", "sub", "ok.png"), "wb").write(b"ok")
    assert daemon.get("/view?filename=ok.png&subfolder=sub").body == b"ok"
    assert daemon.get("/view?filename=../secret.txt").status == 400
    assert daemon.get("/view?filename=%2e%2e%2fsecret.txt").status == 400
    assert daemon.get("/view?filename=/etc/passwd").status == 400
    assert daemon.get("/view?filename=%2Fetc%2Fpasswd").status == 400
    assert daemon.get("/view?filename=secret.txt&subfolder=..").status == 403
    assert daemon.get("/view?filename=secret.txt&subfolder=%2e%2e").status == 403
    assert daemon.get("/view?filename=passwd&subfolder=/etc").status == 403
    assert daemon.get("/view?filename=x.png&type=bogus").status == 400
    assert daemon.get("/view").status == 404
    assert daemon.get("/view?filename=").status == 400
    # A symlink inside the output folder that points out of it (ComfyUI's #12285).
    os.symlink(daemon.base, os.path.join(daemon.base, "output", "escape"))
    assert daemon.get("/view?filename=secret.txt&subfolder=escape").status == 403
    os.symlink(os.path.join(daemon.base, "secret.txt"), os.path.join(daemon.base, "output", "link.txt"))
    assert daemon.get("/view?filename=link.txt").status == 403


def test_view_never_renders_active_content_inline(daemon):
    for name, data in [("page.html", b"<script>alert(1)</script>"), ("img.svg", b"<svg onload=alert(1)/>"),
                       ("app.js", b"alert(1)"), ("x.xml", b"<x/>")]:
        open(os.path.join(daemon.base, "output", name), "wb").write(data)
        r = daemon.get(f"/view?filename={name}")
        assert r.status == 200 and r.body == data
        assert r.headers["Content-Type"] == "application/octet-stream", name
        assert r.headers["Content-Disposition"].startswith("attachment;"), name
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_view_range_requests(daemon):
    open(os.path.join(daemon.base, "output", "clip.mp4"), "wb").write(b"0123456789")
    r = daemon.get("/view?filename=clip.mp4", headers={"Range": "bytes=2-5"})
    assert r.status == 206 and r.body == b"2345" and r.headers["Content-Range"] == "bytes 2-5/10"
    r = daemon.get("/view?filename=clip.mp4", headers={"Range": "bytes=-3"})
    assert r.status == 206 and r.body == b"789"
    assert daemon.get("/view?filename=clip.mp4", headers={"Range": "bytes=20-"}).status == 416


def raw_post(port, path, headers, body=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    s.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ")[1])


def test_body_limit_is_413(start_daemon):
    d = start_daemon("--max-upload-size", "1")
    assert d.get("/api/features").json()["max_upload_size"] == 1048576
    # Announced too large: refused before the body is read.
    assert raw_post(d.port, "/api/upload/image", {"Content-Length": str(2 << 20),
                                                  "Content-Type": "multipart/form-data; boundary=x"}) == 413
    # Chunked without a length: counted while it arrives.
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"
    assert raw_post(d.port, "/api/settings", {"Transfer-Encoding": "chunked"}, body) == 413
    # Under the limit still works.
    r = upload(d, "small.png", b"x" * 1000)
    assert r.status == 200
    assert d.get("/api/features").status == 200


def png_bytes(mode, size, color, text=None):
    import io
    from PIL import Image, PngImagePlugin
    im = Image.new(mode, size, color)
    buf = io.BytesIO()
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    im.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_view_channels_and_preview(daemon):
    import io
    from PIL import Image
    open(os.path.join(daemon.base, "output", "rgba.png"), "wb").write(png_bytes("RGBA", (8, 4), (10, 20, 30, 40)))
    r = daemon.get("/view?filename=rgba.png&channel=rgb")
    im = Image.open(io.BytesIO(r.body))
    assert r.headers["Content-Type"] == "image/png" and im.mode == "RGB" and im.getpixel((0, 0)) == (10, 20, 30)
    r = daemon.get("/view?filename=rgba.png&channel=a")
    im = Image.open(io.BytesIO(r.body))
    assert im.mode == "RGBA" and im.getpixel((3, 2)) == (0, 0, 0, 40)
    r = daemon.get("/view?filename=rgba.png&preview=webp;50")
    im = Image.open(io.BytesIO(r.body))          # a PNG: no WEBP/JPEG encoder in the stack
    assert r.headers["Content-Type"] == "image/png" and im.mode == "RGB" and im.size == (8, 4)
    assert daemon.get("/view?filename=rgba.png&channel=rgba").body == png_bytes("RGBA", (8, 4), (10, 20, 30, 40))


def test_upload_mask_composites_alpha_and_keeps_text(daemon):
    import io
    from PIL import Image
    original = png_bytes("RGB", (4, 4), (200, 100, 50), text={"prompt": "{\"1\": {}}", "workflow": "{}"})
    assert upload(daemon, "orig.png", original).status == 200
    mask = png_bytes("RGBA", (4, 4), (0, 0, 0, 77))
    ref = '{"filename": "orig.png", "subfolder": "", "type": "input"}'
    body, headers = multipart({"original_ref": ref, "type": "input", "subfolder": "clipspace"},
                              {"image": ("clipspace-mask.png", mask)})
    r = daemon.post("/api/upload/mask", body, headers=headers)
    assert r.status == 200 and r.json() == {"name": "clipspace-mask.png", "subfolder": "clipspace", "type": "input"}
    im = Image.open(os.path.join(daemon.base, "input", "clipspace", "clipspace-mask.png"))
    assert im.mode == "RGBA" and im.getpixel((1, 1)) == (200, 100, 50, 77)
    assert im.text == {"prompt": "{\"1\": {}}", "workflow": "{}"}
    # A missing original writes nothing but still answers with the name.
    body, headers = multipart({"original_ref": '{"filename": "gone.png", "type": "input"}'},
                              {"image": ("m2.png", mask)})
    r = daemon.post("/api/upload/mask", body, headers=headers)
    assert r.status == 200 and r.json()["name"] == "m2.png"
    assert not os.path.exists(os.path.join(daemon.base, "input", "m2.png"))
    # An original reference that escapes is ignored the same way.
    body, headers = multipart({"original_ref": '{"filename": "../../x.png", "type": "input"}'},
                              {"image": ("m3.png", mask)})
    assert daemon.post("/api/upload/mask", body, headers=headers).status == 200
    assert not os.path.exists(os.path.join(daemon.base, "input", "m3.png"))
