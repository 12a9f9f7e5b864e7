"""External node packs: a shared object in $COMFYUI_IPEX_NODES_DIR is loaded at start,
its node appears in /object_info and runs; a broken .so is skipped, not fatal."""
import os
import subprocess

from conftest import ROOT

import test_graph_nodes


def build_pack(out_dir):
    src = os.path.join(ROOT, "tests", "integration", "packs", "example_pack.c")
    cflags = subprocess.run(["pkg-config", "--cflags", "libcjson"], capture_output=True, text=True).stdout.split()
    so = os.path.join(out_dir, "example.so")
    subprocess.run(["cc", "-std=c11", "-shared", "-fPIC", "-Wall", "-Werror", "-I" + os.path.join(ROOT, "include"),
                    *cflags, src, "-o", so, "-lcjson"], check=True)
    with open(os.path.join(out_dir, "broken.so"), "wb") as f:
        f.write(b"not an ELF file")
    return so


def test_external_pack_registers_and_runs(start_daemon, tmp_path):
    build_pack(str(tmp_path))
    d = start_daemon(env={"COMFYUI_IPEX_NODES_DIR": str(tmp_path)})
    info = d.get("/object_info/AddInts").json()["AddInts"]
    assert info["input"]["required"]["a"] == ["INT", {"default": 0}]
    assert info["output_name"] == ["sum"] and info["python_module"] == "custom_nodes.example"
    assert "EmptyLatentImage" in d.get("/object_info").json()     # the core pack is still there
    prompt = {"1": {"class_type": "AddInts", "inputs": {"a": 40, "b": 2}},
              "2": {"class_type": "EmptyLatentImage", "inputs": {"width": ["1", 0], "height": 64, "batch_size": 1}},
              "3": {"class_type": "SaveLatent", "inputs": {"samples": ["2", 0], "filename_prefix": "ext"}}}
    h = test_graph_nodes.run(d, prompt)
    assert h["status"]["status_str"] == "success"
    assert "broken.so" in d.output()
