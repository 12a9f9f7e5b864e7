"""WebSocket /ws: RFC 6455 handshake and framing, status on connect, feature flags."""
import base64
import json
import os
import re
import socket
import struct

import websocket


def test_status_on_connect_with_given_sid(daemon):
    ws = websocket.create_connection(daemon.ws_url("/ws?clientId=abc123"), timeout=10)
    msg = json.loads(ws.recv())
    assert msg["type"] == "status" and msg["data"]["sid"] == "abc123"
    assert "queue_remaining" in msg["data"]["status"]["exec_info"]
    ws.close()


def test_generated_sid_and_api_alias(daemon):
    ws = websocket.create_connection(daemon.ws_url("/api/ws"), timeout=10)
    sid = json.loads(ws.recv())["data"]["sid"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    ws.close()


def test_feature_flags_exchange_only_first_message(daemon):
    ws = websocket.create_connection(daemon.ws_url("/ws?clientId=ff"), timeout=10)
    ws.recv()
    ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    reply = json.loads(ws.recv())
    assert reply["type"] == "feature_flags"
    assert reply["data"]["max_upload_size"] == 104857600 and reply["data"]["node_replacements"] is True
    ws.send(json.dumps({"type": "feature_flags", "data": {}}))     # second message: ignored
    ws.ping(b"after")
    op, frame = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_PONG and frame.data == b"after"
    ws.close()


def test_ping_pong_and_close(daemon):
    ws = websocket.create_connection(daemon.ws_url("/ws"), timeout=10)
    ws.recv()
    ws.ping(b"hello")
    op, frame = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_PONG and frame.data == b"hello"
    ws.send_close(1000, b"bye")
    op, frame = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", frame.data[:2])[0] == 1000


def raw_ws(port, path="/ws?clientId=raw"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return s, key, head.decode()


def read_frame(s):
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b
    h = exact(2)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    return h[0] & 0x0F, exact(n)


def frame(opcode, payload, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    key = os.urandom(4)
    n = len(payload)
    head = bytes([b0, (0x80 if mask else 0) | (n if n < 126 else 126)])
    if n >= 126:
        head += struct.pack("!H", n)
    if not mask:
        return head + payload
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def test_handshake_accept_key(daemon):
    import hashlib
    s, key, head = raw_ws(daemon.port)
    assert head.startswith("HTTP/1.1 101")
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    assert f"Sec-WebSocket-Accept: {accept}" in head
    op, data = read_frame(s)
    assert op == 1 and json.loads(data)["data"]["sid"] == "raw"
    s.close()


def test_fragmented_feature_flags_message(daemon):
    s, _, _ = raw_ws(daemon.port)
    read_frame(s)
    msg = json.dumps({"type": "feature_flags", "data": {}}).encode()
    s.sendall(frame(1, msg[:10], fin=False) + frame(9, b"mid") + frame(0, msg[10:20], fin=False) + frame(0, msg[20:]))
    op, data = read_frame(s)
    assert op == 0xA and data == b"mid"          # control frame answered mid-message
    op, data = read_frame(s)
    assert op == 1 and json.loads(data)["type"] == "feature_flags"
    s.close()


def test_protocol_errors_close_1002(daemon):
    for bad in (frame(1, b"{}", mask=False),               # clients must mask
                frame(0, b"x"),                             # continuation with nothing to continue
                bytes([0x83, 0x80]) + b"\0\0\0\0",          # reserved opcode
                frame(9, b"p", fin=False)):                 # fragmented control frame
        s, _, _ = raw_ws(daemon.port)
        read_frame(s)
        s.sendall(bad)
        op, data = read_frame(s)
        assert op == 8 and struct.unpack("!H", data[:2])[0] == 1002
        s.close()


def test_oversized_message_closes_1009(daemon):
    s, _, _ = raw_ws(daemon.port)
    read_frame(s)
    s.sendall(bytes([0x81, 0xFF]) + struct.pack("!Q", 64 << 20) + b"\0\0\0\0")
    op, data = read_frame(s)
    assert op == 8 and struct.unpack("!H", data[:2])[0] == 1009
    s.close()


def test_plain_get_on_ws_is_400(daemon):
    assert daemon.get("/ws").status == 400
    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {'A' * 22}==\r\n\r\n".encode())
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()


def test_clients_survive_shutdown(start_daemon):
    d = start_daemon()
    ws = websocket.create_connection(d.ws_url("/ws"), timeout=10)
    ws.recv()
    assert d.stop() == 0
    op, frame_ = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", frame_.data[:2])[0] == 1001


def test_log_subscription(start_daemon):
    d = start_daemon("--verbose")            # DEBUG: every request is logged
    ws = websocket.create_connection(d.ws_url("/ws?clientId=logs"), timeout=10)
    ws.recv()
    assert d.request("PATCH", "/internal/logs/subscribe", {"clientId": "logs", "enabled": True}).status == 200
    d.get("/api/features?marker=xyzzy")
    deadline = 50
    while deadline:
        m = json.loads(ws.recv())
        if m["type"] == "logs" and any("xyzzy" in e["m"] for e in m["data"]["entries"]):
            break
        deadline -= 1
    assert deadline, "no logs message with the request line"
    assert d.request("PATCH", "/internal/logs/subscribe", {"clientId": "logs", "enabled": False}).status == 200
    assert d.request("PATCH", "/internal/logs/subscribe", b"{}").status == 400
    ws.close()
