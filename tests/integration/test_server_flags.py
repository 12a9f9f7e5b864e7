"""Command line and --config: good flags start, bad ones exit 2 with a clear message,
and the command line wins over the config file."""
import json
import os
import subprocess

from conftest import BINARY, Daemon


def run(*args, timeout=30):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_flags_and_exits_0():
    r = run("--help")
    assert r.returncode == 0
    for flag in ("--listen", "--port", "--base-directory", "--extra-model-paths-config", "--enable-cors-header",
                 "--max-upload-size", "--acceleration", "--opt-level", "--precision", "--jit", "--config"):
        assert flag in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("comfyui-ipex ")


def test_unknown_flag_exits_2():
    r = run("--no-such-flag")
    assert r.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in r.stderr


def test_positional_argument_exits_2():
    assert run("stray").returncode == 2


def test_malformed_values_exit_2():
    for args, words in [(("--port", "abc"), "invalid int value"), (("--port",), "expected one argument"),
                        (("--acceleration", "gpu"), "invalid choice"), (("--opt-level", "O9"), "invalid choice"),
                        (("--precision", "fp8"), "invalid choice"), (("--preview-method", "x"), "invalid choice"),
                        (("--max-upload-size", "-1"), "invalid float"), (("--verbose", "LOUD"), "invalid choice"),
                        (("--cpu=yes",), "ignored explicit argument"), (("--tls-keyfile", "k"), "--tls-certfile")]:
        r = run(*args)
        assert r.returncode == 2, args
        assert words in r.stderr, (args, r.stderr)


def test_bad_config_file_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run("--config", str(bad)).returncode == 2
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"no-such-option": 1}')
    r = run("--config", str(unknown))
    assert r.returncode == 2 and "no-such-option" in r.stderr
    assert run("--config", str(tmp_path / "missing.json")).returncode == 2


def test_good_flags_start_and_comfyui_only_flags_are_accepted(start_daemon):
    d = start_daemon("--cpu", "--highvram", "--fp16-unet", "--use-pytorch-cross-attention", "--cache-lru", "4",
                     "--fast", "fp16_accumulation", "autotune", "--opt-level", "O2", "--precision", "bf16",
                     "--no-jit", "--verbose", "WARNING", "--preview-method", "auto", "--disable-metadata")
    assert d.get("/system_stats").status == 200


def test_quick_test_for_ci_starts_and_exits_0(tmp_path):
    r = run("--quick-test-for-ci", "--port", "0", "--base-directory", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for folder in ("input", "output", "user", "models/checkpoints", "models/loras", "models/vae"):
        assert os.path.isdir(tmp_path / folder)


def test_config_file_applies_and_command_line_wins(start_daemon, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"max-upload-size": 5, "feature_flag": "from_config=1",
                               "preview-method": "latent2rgb", "cpu": True}))
    d = start_daemon("--config", str(cfg), "--max-upload-size", "7")
    f = d.get("/features").json()
    assert f["max_upload_size"] == 7 * 1048576
    assert d.get("/features").text.count("7340032.0") == 1      # a float, as ComfyUI
    assert f["from_config"] == "1"


def test_config_file_alone(start_daemon, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"max-upload-size": 3}))
    d = start_daemon("--config", str(cfg))
    assert d.get("/features").json()["max_upload_size"] == 3 * 1048576


def test_feature_flags_cannot_override_core_keys(start_daemon):
    d = start_daemon("--feature-flag", "assets=true", "--feature-flag", "show_signin_button=false",
                     "--feature-flag", "bare")
    f = d.get("/features").json()
    assert f["assets"] is False and f["show_signin_button"] is False and f["bare"] == "true"


def test_extra_model_paths_yaml(start_daemon, tmp_path):
    extra = tmp_path / "elsewhere"
    (extra / "ckpts").mkdir(parents=True)
    (extra / "ckpts" / "far.safetensors").write_bytes(b"x")
    (extra / "mine").mkdir()
    (extra / "mine" / "thing.bin").write_bytes(b"x")
    (extra / "more").mkdir()
    (extra / "more" / "b.pt").write_bytes(b"x")
    yaml = tmp_path / "extra_model_paths.yaml"
    yaml.write_text(f"""# comment
comfyui:
    base_path: {extra}
    is_default: true
    checkpoints: ckpts/
    my_models: |
        mine
        more
other:
    base_path: ./elsewhere
    loras: "ckpts"
""")
    d = start_daemon("--extra-model-paths-config", str(yaml))
    assert "my_models" in d.get("/models").json()
    assert d.get("/models/my_models").json() == ["b.pt", "thing.bin"]
    assert d.get("/models/checkpoints").json() == ["far.safetensors"]
    assert d.get("/models/loras").json() == ["far.safetensors"]
    paths = d.get("/internal/folder_paths").json()
    assert paths["checkpoints"][0] == str(extra / "ckpts")        # is_default: first


def test_missing_extra_model_paths_file_fails_cleanly(tmp_path):
    d = Daemon(["--extra-model-paths-config", str(tmp_path / "nope.yaml")])
    assert d.proc.wait(30) != 0
    assert "nope.yaml" in d.output()
    d.stop()
