#!/usr/bin/python3
"""Writes small PyTorch-style zip checkpoints for test_torchzip, without torch.

torch.save pickles tensors as REDUCE(torch._utils._rebuild_tensor_v2, (storage,
offset, size, stride, requires_grad, hooks)) with storages as persistent ids
('storage', torch.<T>Storage, key, location, numel), and stores each storage's raw
bytes as <root>/data/<key> in a zip of stored entries. Stand-in modules named
torch / torch._utils make Python's own pickler emit exactly those opcodes.

usage: make_torch_ckpts.py OUTDIR
"""
import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
torch._utils = torch_utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


def _fake(module, name):
    def fn(*args):
        raise RuntimeError("never called")
    fn.__module__, fn.__name__, fn.__qualname__ = module.__name__, name, name
    setattr(module, name, fn)
    return fn


rebuild_tensor_v2 = _fake(torch_utils, "_rebuild_tensor_v2")
rebuild_parameter = _fake(torch_utils, "_rebuild_parameter")
STORAGE_TYPES = {}
for name, fmt in [("HalfStorage", "e"), ("FloatStorage", "f"), ("LongStorage", "q"),
                  ("BFloat16Storage", "H")]:
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch, name, cls)
    STORAGE_TYPES[name] = (cls, fmt)


class Storage:
    def __init__(self, key, kind, values, declared=None):
        self.key, self.kind, self.values = key, kind, values
        self.numel = len(values) if declared is None else declared

    def raw(self):
        return struct.pack("<%d%s" % (len(self.values), STORAGE_TYPES[self.kind][1]), *self.values)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce_ex__(self, proto):
        return (rebuild_tensor_v2, (self.storage, self.offset, tuple(self.size),
                                    tuple(self.stride), False, collections.OrderedDict()))


class Parameter:
    def __init__(self, t):
        self.t = t

    def __reduce_ex__(self, proto):
        return (rebuild_parameter, (self.t, True, collections.OrderedDict()))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/io-test-pwned",))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", STORAGE_TYPES[obj.kind][0], obj.key, "cpu", obj.numel)
        return None


def collect(obj, out):
    if isinstance(obj, Storage):
        out[obj.key] = obj
    elif isinstance(obj, Tensor):
        collect(obj.storage, out)
    elif isinstance(obj, Parameter):
        collect(obj.t, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            collect(v, out)


def write_zip64(path, entries):
    """A stored zip whose central directory uses zip64 for every size and offset, as
    torch writes archives over 4 GiB (Python's zipfile only does so when it must)."""
    out, central = bytearray(), bytearray()
    for name, data in entries:
        n, crc, off = name.encode(), zipfile.crc32(data), len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data),
                           len(n), 0) + n + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra), 0, 0, 0, 0,
                               0xFFFFFFFF) + n + extra
    cd_off, count = len(out), len(entries)
    out += central
    eocd64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_off)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(out)


def save(path, obj, protocol=2, compression=zipfile.ZIP_STORED, byteorder=b"little",
         truncate=None, zip64=False):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=protocol).dump(obj)
    storages = {}
    collect(obj, storages)
    entries = [("archive/data.pkl", buf.getvalue()), ("archive/byteorder", byteorder)]
    entries += [("archive/data/" + key, s.raw()) for key, s in storages.items()]
    entries.append(("archive/version", b"3\n"))
    if zip64:
        write_zip64(path, entries)
    else:
        with zipfile.ZipFile(path, "w", compression) as z:
            for name, data in entries:
                z.writestr(name, data)
    if truncate:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // truncate)


def main(out):
    os.makedirs(out, exist_ok=True)
    half = Storage("0", "HalfStorage", [0.5, -1.0, 2.0, 3.5, -0.25, 8.0])
    flt = Storage("1", "FloatStorage", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    ids = Storage("2", "LongStorage", list(range(5)))
    bf = Storage("3", "BFloat16Storage", [0x3F80, 0xC000])
    sd = collections.OrderedDict()
    sd["model.w"] = Tensor(half, 0, [2, 3], [3, 1])
    sd["model.wT"] = Tensor(half, 0, [3, 2], [1, 3])          # strided: gathered copy
    sd["model.tail"] = Tensor(flt, 5, [3], [1])              # offset view
    sd["model.p"] = Parameter(Tensor(flt, 0, [2, 2], [2, 1]))
    sd["model.ids"] = Tensor(ids, 0, [1, 5], [5, 1])
    sd["model.bf"] = Tensor(bf, 0, [2], [1])
    sd["model.scalar"] = Tensor(flt, 7, [], [])
    sd._metadata = collections.OrderedDict(model={"version": 1})   # pickled with BUILD
    save(f"{out}/lightning.ckpt", {"epoch": 3, "global_step": 1000, "state_dict": sd})
    save(f"{out}/plain.pt", sd, protocol=4)                  # STACK_GLOBAL, MEMOIZE, FRAME
    save(f"{out}/zip64.ckpt", {"state_dict": sd}, zip64=True)
    save(f"{out}/ema.pth", {"params_ema": {"conv.weight": Tensor(flt, 0, [2, 2, 1, 1], [2, 1, 1, 1])},
                            "params": {"other": Tensor(flt, 0, [1], [1])}})
    save(f"{out}/single.bin", {"module": {"x": Tensor(flt, 0, [8], [1])}})
    save(f"{out}/embedding.pt", {"string_to_token": {"*": 265},       # A1111 textual inversion
                                 "string_to_param": {"*": Tensor(flt, 0, [2, 4], [4, 1])},
                                 "name": "emb", "step": 100, "sd_checkpoint": None})
    save(f"{out}/evil.ckpt", {"state_dict": {"x": Evil()}})
    save(f"{out}/evil4.ckpt", {"state_dict": {"x": Evil()}}, protocol=4)
    save(f"{out}/deflate.ckpt", {"state_dict": sd}, compression=zipfile.ZIP_DEFLATED)
    save(f"{out}/truncated.ckpt", {"state_dict": sd}, truncate=2)
    save(f"{out}/bigendian.ckpt", {"state_dict": sd}, byteorder=b"big")
    save(f"{out}/short_storage.ckpt",
         {"state_dict": {"x": Tensor(Storage("0", "FloatStorage", [1.0, 2.0], declared=4), 0, [4], [1])}})
    save(f"{out}/view_outside.ckpt", {"state_dict": {"x": Tensor(flt, 6, [4], [1])}})
    save(f"{out}/no_tensors.ckpt", {"state_dict": {"epoch": 1}})
    with open(f"{out}/legacy.pt", "wb") as f:      # torch < 1.6: magic number, then pickles
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump({"x": 1}, f, protocol=2)


if __name__ == "__main__":
    main(sys.argv[1])
