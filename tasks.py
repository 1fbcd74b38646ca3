#!/usr/bin/env python3
"""Set-up and the project's two entry points; needs only Python 3.10+ and the package registries.

    python3 tasks.py reproduce   # the main job: every notebook on the embedded data, reports rendered
    python3 tasks.py test        # the test suite: pytest, plus nbval over the stored notebooks

Both create the virtual environment ``.venv`` on first use (or reuse it) and install the project into it.
For maintainers, ``python3 tasks.py notebooks [GLOB]`` re-executes the notebooks in place with their default
(smoke) parameters after removing the cached smoke-profile runs, so that every run trains inside the notebook as in
the test command's nbval run: it refreshes the stored outputs that nbval compares against.
PyTorch: a CPU build is pinned by default (``torch==2.13.0``); set ``HGN_TORCH`` to the requirement you want
(e.g. ``HGN_TORCH="torch==2.5.1"`` with ``PIP_INDEX_URL`` pointing at a CUDA wheel index) to choose your own.
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
    if stamp.exists() and stamp.read_text() == stamp_text and _bin("hgn").exists():
        return
    if not _bin("python").exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    pip = (_bin("python"), "-m", "pip", "install", "--disable-pip-version-check")
    _run(*pip, torch_req)
    _run(*pip, "-e", f"{ROOT}[dev]")
    stamp.write_text(stamp_text)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("reproduce", "test", "setup", "notebooks"):
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    ensure_env()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if task == "setup":
        return 0
    if task == "notebooks":
        import json
        import shutil

        runs = Path(os.environ.get("HGN_DATA_DIR", ROOT / "data")) / "cache" / "runs"
        for config in runs.glob("*/config.json"):
            if json.loads(config.read_text())["config"]["profile"] == "smoke":
                shutil.rmtree(config.parent)
        for nb in sorted((ROOT / "notebooks").glob(rest[0] if rest else "*.ipynb")):
            cmd = [str(_bin("papermill")), str(nb), str(nb), "--cwd", str(nb.parent), "--no-progress-bar"]
            print("+", " ".join(cmd), flush=True)
            if subprocess.run(cmd, cwd=ROOT, env=env).returncode:
                return 1
        return 0
    if task == "reproduce":
        cmd = [str(_bin("hgn")), "reproduce", "--data", "embedded", "--profile", "quick", *rest]
    else:
        # nbval runs over the notebooks with their stored (smoke-profile) outputs.
        cmd = [str(_bin("python")), "-m", "pytest", "tests", "--nbval", "notebooks", "--nbval-sanitize-with",
               "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider", *rest]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
