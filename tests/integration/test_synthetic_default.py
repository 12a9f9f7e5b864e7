"""--synthetic-default (what `make run` passes): a first start with no checkpoint writes
the synthetic SD1.5 checkpoint into models/checkpoints before listening, from our own
model code (no key list file), bit-identical to the reference; its metadata is what the
UI's "noise by design" banner reads; a second start finds it and writes nothing. Writes
2.1 GB (about 35 s on the 2-core build machine) and removes it afterwards."""
import hashlib
import os

from conftest import Daemon

# shared/fixtures/sd15/README.md: the synthetic SD1.5 file's size and sha256.
SIZE = 2132625974
SHA256 = "00cfed1f924a4730bb4d2492e1a3741fb728181e800bde4caff63de894d520c6"


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def test_first_start_writes_the_synthetic_checkpoint_once():
    d = Daemon(["--synthetic-default"])
    path = os.path.join(d.base, "models", "checkpoints", "sd15-synth.safetensors")
    try:
        d.wait_ready(timeout=300)
        assert os.path.getsize(path) == SIZE
        assert os.listdir(os.path.dirname(path)) == ["sd15-synth.safetensors"]   # no .part left
        assert "its pictures are noise by design" in d.output()
        r = d.get("/object_info/CheckpointLoaderSimple").json()
        assert r["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == ["sd15-synth.safetensors"]
        meta = d.get("/view_metadata/checkpoints?filename=sd15-synth.safetensors").json()
        assert meta["synthetic"] == "synthetic-ckpt v1" and meta["seed"] == "20261126"
        assert d.stop() == 0
        assert file_sha256(path) == SHA256

        mtime = os.stat(path).st_mtime_ns
        again = Daemon(["--synthetic-default"], base=d.base).wait_ready(timeout=30)
        assert again.stop() == 0
        assert os.stat(path).st_mtime_ns == mtime
        assert "writing the synthetic" not in again.output()
    finally:
        d.stop()
        if os.path.exists(path):
            os.remove(path)
