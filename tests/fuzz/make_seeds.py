#!/usr/bin/python3
"""Seed corpora for the fuzz targets: small valid and broken checkpoints.

usage: make_seeds.py CKPT_DIR PICKLE_DIR
CKPT_DIR gets safetensors files and the torch zips of tests/io/make_torch_ckpts.py;
PICKLE_DIR gets the data.pkl programs inside those zips.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile


def safetensors(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def main(ckpt_dir, pickle_dir):
    os.makedirs(ckpt_dir, exist_ok=True)
    os.makedirs(pickle_dir, exist_ok=True)
    seeds = {
        "st_valid": safetensors({"__metadata__": {"format": "pt"},
                                 "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}},
                                bytes(range(16))),
        "st_overlap": safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                   "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}},
                                  bytes(6)),
        "st_bf16_f8": safetensors({"x": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]},
                                   "y": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [2, 4]}},
                                  bytes(4)),
    }
    for name, blob in seeds.items():
        with open(os.path.join(ckpt_dir, name), "wb") as f:
            f.write(blob)
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(here, "..", "io", "make_torch_ckpts.py"), tmp],
                       check=True)
        for name in sorted(os.listdir(tmp)):
            path = os.path.join(tmp, name)
            with open(path, "rb") as f:
                blob = f.read()
            with open(os.path.join(ckpt_dir, "torch_" + name), "wb") as f:
                f.write(blob)
            try:
                with zipfile.ZipFile(path) as z:
                    pkl = z.read("archive/data.pkl")
            except (zipfile.BadZipFile, KeyError):
                continue
            with open(os.path.join(pickle_dir, name + ".pkl"), "wb") as f:
                f.write(pkl)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
