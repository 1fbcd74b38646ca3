"""Atomic file writing: write to a temporary name beside the target, then rename.

A crash or an interrupt never leaves a half-written file under the final name.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name keeps the extension (tools such as papermill check it) and is hidden and marked .tmp.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_npz(path: str | Path, **arrays: Any) -> None:
    """``np.savez_compressed`` to ``path`` atomically (objects such as dicts are pickled, as in the H36M files)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def save_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent))


def check_output_path(path: str | Path, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    """``path`` if it can receive an output of one of ``suffixes`` (checked before any work), else a DataError."""
    from .errors import DataError

    path = Path(path)
    kinds = " or ".join(suffixes)
    if path.is_dir():
        raise DataError(path, f"{option} is a folder, not a file", f"pass a file name ending in {kinds}")
    if path.suffix.lower() not in suffixes:
        raise DataError(path, f"{option} has the extension {path.suffix or '(none)'!r}",
                        f"pass a file name ending in {kinds}")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise DataError(path, f"{option} lies under {parent}, which is a file", "pass a path in a folder")
    return path
