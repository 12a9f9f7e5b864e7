"""Service behaviour: sd_notify messages on a NOTIFY_SOCKET, watchdog pings, socket
activation, clean exit 0 on SIGTERM and SIGINT."""
import os
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import BINARY, Daemon, free_port


def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    return s, path


def messages_until(sock, wanted, timeout=10):
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            break
        if any(wanted in m for m in got):
            return got
    raise AssertionError(f"no {wanted!r} in {got}")


def test_ready_status_and_stopping(tmp_path):
    sock, path = notify_socket(tmp_path)
    d = Daemon(env={"NOTIFY_SOCKET": path})
    msgs = messages_until(sock, "READY=1")
    ready = next(m for m in msgs if "READY=1" in m)
    assert f"STATUS=Listening on http://127.0.0.1:{d.port}" in ready
    assert any(m.startswith("STATUS=") for m in msgs)
    # READY comes after the socket listens.
    assert urllib.request.urlopen(d.url + "/api/features", timeout=5).status == 200
    d.proc.send_signal(signal.SIGTERM)
    assert any("STOPPING=1" in m for m in messages_until(sock, "STOPPING=1"))
    assert d.proc.wait(30) == 0
    d.stop()


def test_watchdog_pings(tmp_path):
    sock, path = notify_socket(tmp_path)
    d = Daemon(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    msgs = messages_until(sock, "READY=1")
    pings = sum("WATCHDOG=1" in m for m in msgs + messages_until(sock, "WATCHDOG=1"))
    pings += sum("WATCHDOG=1" in m for m in messages_until(sock, "WATCHDOG=1"))
    assert pings >= 2
    assert d.stop() == 0


def test_sigint_exits_0(start_daemon):
    d = start_daemon()
    assert d.stop(signal.SIGINT) == 0
    assert "SIGINT" in d.output()


def test_sigterm_exits_0_and_cleans_temp(start_daemon):
    d = start_daemon()
    temp = os.path.join(d.base, "temp")
    open(os.path.join(temp, "preview.png"), "wb").write(b"x")
    assert d.stop() == 0
    assert not os.path.exists(os.path.join(temp, "preview.png"))


def test_socket_activation(tmp_path):
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    fd = listener.fileno()
    log = open(tmp_path / "log", "wb")
    # systemd passes the socket as fd 3 and names the receiving pid in LISTEN_PID.
    proc = subprocess.Popen(
        ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', BINARY, "--port", "1",
         "--base-directory", str(tmp_path / "base")],
        preexec_fn=lambda: os.dup2(fd, 3), close_fds=False, stdout=log, stderr=subprocess.STDOUT)
    listener.close()
    try:
        deadline = time.time() + 20
        while True:
            try:
                r = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/features", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, open(tmp_path / "log").read()
                time.sleep(0.1)
        assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert "passed by systemd" in open(tmp_path / "log").read()


def test_port_in_use_is_a_clear_error(start_daemon):
    d = start_daemon()
    other = Daemon(port=d.port)
    assert other.proc.wait(30) == 1
    assert f"port {d.port}" in other.output()
    other.stop()
