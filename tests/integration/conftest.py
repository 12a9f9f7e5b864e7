"""Shared fixtures: the real daemon, started on a free port with a fresh base directory.

    def test_x(daemon):                 # one daemon per test module, default flags
        r = daemon.get("/system_stats")

    def test_y(start_daemon):           # a daemon of your own, with extra flags
        d = start_daemon("--enable-cors-header", env={"NOTIFY_SOCKET": path})

Daemons are stopped with SIGTERM (and must exit 0); their stderr is kept in
<base>/daemon.log and printed when a test fails to start one. BUILD (default
"build") picks the build folder, SHARED the ground-truth folder (tests/run.sh
exports both).
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
BINARY = os.path.join(ROOT, BUILD, "comfyui-ipex")
SHARED = os.environ.get("SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


class Daemon:
    """A running comfyui-ipex process and a small HTTP client for it."""

    def __init__(self, args=(), env=None, base=None, port=None):
        self.base = base or tempfile.mkdtemp(prefix="ci-daemon-")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.base, "daemon.log")
        cmd = [BINARY, "--port", str(self.port), "--base-directory", self.base, *args]
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.ready = False
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    self.ready = True
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"daemon did not listen on {self.port}:\n{self.output()}")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the daemon and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def request(self, method, path, body=None, headers=None, timeout=30):
        data = body
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)):
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body if body is not None else b"", **kw)

    def ws_url(self, path="/ws"):
        return "ws://127.0.0.1:%d%s" % (self.port, path)


@pytest.fixture
def start_daemon():
    """Factory: start_daemon(*args, env=None, base=None, ready=True) -> Daemon."""
    started = []

    def start(*args, env=None, base=None, ready=True):
        d = Daemon(args, env=env, base=base)
        started.append(d)
        if ready:
            d.wait_ready()
        return d

    yield start
    for d in started:
        was_running = d.ready and d.proc.poll() is None
        rc = d.stop()
        if was_running:
            assert rc == 0, f"daemon exited {rc} on SIGTERM:\n{d.output()}"


@pytest.fixture(scope="module")
def daemon():
    """One daemon per test module with default flags."""
    d = Daemon().wait_ready()
    yield d
    rc = d.stop()
    assert rc == 0, f"daemon exited {rc} on SIGTERM:\n{d.output()}"
