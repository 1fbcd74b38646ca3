#!/usr/bin/env python3
"""Set-up and the project's two entry points; needs only Python 3.11+ and the package registries.

    python3 tasks.py reproduce   # the main job: every notebook on the embedded data, reports rendered
    python3 tasks.py test        # the test suite: pytest, plus nbval over the stored notebooks

Both create the virtual environment ``.venv`` on first use (or reuse it) and install the project into it.
On a machine with an NVIDIA GPU, ``python3 tasks.py reproduce-gpu`` is the one prepared GPU script: it installs, checks
that torch sees the GPU, benchmarks (``reports/bench/bench-cuda.json``) and runs the ``standard`` profile's suite with
``HGN_GPU_JOBS`` (default 8) worker processes sharing the GPU, writing ``reports/embedded-standard/``. On a GPU lent
for a limited time, ``HGN_GPU_MINUTES`` stops the training at checkpoints after that many minutes and exports the
suite as far as it trained into ``reports/embedded-standard/runs/`` (with ``status.json`` and ``progress.png``), for
the next machine to resume from; ``HGN_GPU_BENCH=0`` skips the benchmark; ``HGN_SYSTEM_PYTHON=1`` uses the Python
that runs this script, with the packages it has, instead of installing ``.venv`` (machines without a package
registry).
The set-up also registers the Jupyter kernel ``hgn`` (this environment) for JupyterLab, and (``setup``, ``test``)
obtains a headless Chromium for the report pages' browser test (``hgnlib/browser.py``: Debian's package or
Playwright's download).
Which file holds which execution is defined in ``hgnlib/notebook_files.py``: ``notebooks/*.ipynb`` store the
embedded-quick outputs (``reproduce`` copies them back); ``tests/notebooks/*.ipynb`` hold smoke-profile executions
that nbval re-runs. For maintainers, ``python3 tasks.py notebooks [GLOB]`` refreshes those smoke executions (after
removing the cached smoke-profile runs, so that every run trains inside the notebook as in the nbval run).
PyTorch: a CPU build is pinned by default (``torch==2.13.0``); set ``HGN_TORCH`` to the requirement you want
(e.g. ``HGN_TORCH="torch==2.5.1"`` with ``PIP_INDEX_URL`` pointing at a CUDA wheel index) to choose your own.
The tests run in pytest-xdist workers, one per core (2 to 4; ``HGN_TEST_WORKERS`` chooses), each on one thread.
Extra arguments after the task are passed on (to ``hgn reproduce`` or to ``pytest``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from hgnlib.browser import INSTALL_HINT, install as install_browser  # noqa: E402  (standard library only)
from hgnlib.notebook_files import KERNELSPEC, SMOKE_DIR  # noqa: E402  (standard library only)

VENV = Path(os.environ.get("HGN_VENV", ROOT / ".venv"))
DEFAULT_TORCH = "torch==2.13.0"


def _bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def ensure_env() -> None:
    """Create or reuse ``.venv``; reinstall only when pyproject.toml or the torch requirement changed."""
    torch_req = os.environ.get("HGN_TORCH", DEFAULT_TORCH)
    stamp_text = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + torch_req.encode()).hexdigest()
    stamp = VENV / ".hgn-installed"
    kernel = VENV / "share" / "jupyter" / "kernels" / KERNELSPEC["name"] / "kernel.json"
    if stamp.exists() and stamp.read_text() == stamp_text and _bin("hgn").exists() and kernel.exists():
        return
    if not _bin("python").exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    pip = (_bin("python"), "-m", "pip", "install", "--disable-pip-version-check")
    _run(*pip, torch_req)
    _run(*pip, "-e", f"{ROOT}[dev]")
    _run(_bin("python"), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNELSPEC["name"],
         "--display-name", KERNELSPEC["display_name"])
    stamp.write_text(stamp_text)


def reproduce_gpu(env: dict, rest: list[str], python: str) -> int:
    """Benchmark on the GPU, then train and report the standard profile's suite with workers sharing the GPU
    (within ``HGN_GPU_MINUTES`` when set, exporting the runs as far as they trained)."""
    check = subprocess.run([python, "-c", "import torch; print(torch.cuda.is_available())"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    if check.stdout.strip() != "True":
        print("reproduce-gpu: torch sees no CUDA device here (a CPU build of torch, or no GPU). Set HGN_TORCH (and "
              "PIP_INDEX_URL) to a CUDA build before the first run, or use `python3 tasks.py reproduce` on CPU.",
              file=sys.stderr)
        return 2
    hgn = [python, "-m", "hgnlib.cli"]
    jobs = os.environ.get("HGN_GPU_JOBS", "8")  # 8 processes shared an H200 5.8x as fast as one
    minutes = os.environ.get("HGN_GPU_MINUTES")
    suite = ["--data", "embedded", "--profile", "standard"]
    steps = [] if os.environ.get("HGN_GPU_BENCH") == "0" else \
        [[*hgn, "bench", "--device", "cuda", "--suite", "standard", "--jobs", jobs]]
    steps.append([*hgn, "reproduce", *suite, "--device", "cuda", "--jobs", jobs,
                  *(["--stop-after", minutes] if minutes else []), *rest])
    if minutes:
        reports = ROOT / "reports" / "embedded-standard"
        steps += [[*hgn, "runs", "export", *suite],
                  [*hgn, "status", *suite, "--json", str(reports / "status.json"), "--plot",
                   str(reports / "progress.png")]]
    for cmd in steps:
        print("+", " ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=ROOT, env=env).returncode:
            return 1
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("reproduce", "reproduce-gpu", "test", "setup", "notebooks"):
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if task == "reproduce-gpu" and os.environ.get("HGN_SYSTEM_PYTHON") == "1":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return reproduce_gpu(env, rest, sys.executable)
    ensure_env()
    if task in ("setup", "test") and not install_browser(_bin("python")):
        print(f"no headless Chromium for the report pages' browser test; {INSTALL_HINT}", flush=True)
    if task == "setup":
        return 0
    if task == "notebooks":
        cmd = [str(_bin("python")), "-m", "hgnlib.notebook_files", "smoke", *rest]
        print("+", " ".join(cmd), flush=True)
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if task == "reproduce-gpu":
        return reproduce_gpu(env, rest, str(_bin("python")))
    if task == "reproduce":
        cmd = [str(_bin("hgn")), "reproduce", "--data", "embedded", "--profile", "quick", *rest]
    else:
        # nbval re-runs the smoke-profile executions and compares their outputs; the slowest tests are listed, so
        # that a test that grows is seen before the suite passes its 20 minutes on 2 cores. pytest-xdist runs one
        # worker per core (at most 4), each file (a notebook's cells, a module's tests) in one worker.
        workers = os.environ.get("HGN_TEST_WORKERS", str(min(4, max(2, os.cpu_count() or 2))))
        cmd = [str(_bin("python")), "-m", "pytest", "tests", "--nbval", SMOKE_DIR, "--nbval-current-env",
               "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider", "--durations=15",
               "-n", workers, "--dist", "loadfile", *rest]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
