"""The GPU script (``python3 tasks.py reproduce-gpu``): what it runs, and what it says where there is no GPU."""
import importlib.util
import subprocess
import sys
from types import SimpleNamespace

from hgnlib.cli import build_parser
from hgnlib.paths import repo_root


def _tasks():
    spec = importlib.util.spec_from_file_location("tasks", repo_root() / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(monkeypatch, **env):
    tasks = _tasks()
    ran = []

    def run(cmd, **kwargs):
        ran.append(cmd)
        return SimpleNamespace(stdout="True\n", returncode=0)  # torch sees a GPU; every step succeeds

    monkeypatch.setattr(tasks.subprocess, "run", run)
    for name in ("HGN_GPU_MINUTES", "HGN_GPU_BENCH", "HGN_GPU_JOBS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tasks.reproduce_gpu({}, [], "python") == 0
    return [cmd[3:] for cmd in ran[1:]]  # after the CUDA check; without "python -m hgnlib.cli"


def test_gpu_script_benchmarks_then_trains_the_standard_suite(monkeypatch):
    bench, reproduce = _commands(monkeypatch)
    assert bench[:3] == ["bench", "--device", "cuda"] and "--suite" in bench
    assert reproduce[:5] == ["reproduce", "--data", "embedded", "--profile", "standard"]
    assert "--stop-after" not in reproduce


def test_gpu_script_within_a_time_limit_stops_at_checkpoints_and_exports(monkeypatch):
    commands = _commands(monkeypatch, HGN_GPU_MINUTES="8", HGN_GPU_BENCH="0", HGN_GPU_JOBS="4")
    assert [c[0] for c in commands] == ["reproduce", "runs", "status"]
    reproduce, export, status = commands
    assert reproduce[reproduce.index("--stop-after") + 1] == "8" and reproduce[reproduce.index("--jobs") + 1] == "4"
    assert export[:2] == ["runs", "export"] and "--json" in status and "--plot" in status
    parser = build_parser()
    for cmd in commands:  # every command is one the CLI has
        parser.parse_args(cmd)


def test_gpu_script_says_when_torch_sees_no_gpu(tmp_path):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this check is for machines without a GPU")
    done = subprocess.run([sys.executable, str(repo_root() / "tasks.py"), "reproduce-gpu"], capture_output=True,
                          text=True, env={"HGN_SYSTEM_PYTHON": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                          timeout=300)
    assert done.returncode == 2 and "torch sees no CUDA device" in done.stderr
