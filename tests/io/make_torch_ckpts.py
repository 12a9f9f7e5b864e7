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


def save(path, obj, protocol=2, compression=zipfile.ZIP_STORED, byteorder=b"little",
         truncate=None):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=protocol).dump(obj)
    storages = {}
    collect(obj, storages)
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", byteorder)
        for key, s in storages.items():
            z.writestr("archive/data/" + key, s.raw())
        z.writestr("archive/version", b"3\n")
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
    save(f"{out}/ema.pth", {"params_ema": {"conv.weight": Tensor(flt, 0, [2, 2, 1, 1], [2, 1, 1, 1])},
                            "params": {"other": Tensor(flt, 0, [1], [1])}})
    save(f"{out}/single.bin", {"module": {"x": Tensor(flt, 0, [8], [1])}})
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
