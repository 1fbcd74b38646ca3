"""Runs carried between result caches: a profile's runs exported to a folder, and such a folder imported.

A CPU suite of the ``standard`` profile takes days of training; this lets it span machines and sessions (export
where it stopped, import elsewhere, ``hgn reproduce`` resumes), and lets anyone render a profile's reports from
runs trained elsewhere instead of training them again. ``hgn reproduce`` imports ``reports/<data>-<profile>/runs/``
by itself when the folder is there (the runs the project ships with its reports).

An export folder holds one folder per run, named by its cache key, and the index ``runs.json`` (each run's key,
label, state, steps done, and every file with its size and SHA-256):

- a finished run: ``config.json``, ``history.json``, ``model.pt`` and ``metrics.json``; its ``predictions.npz`` (a
  few MB for a model with mesh outputs) is not carried but written again on import, by the same evaluation of the
  same weights on the same test sample (:func:`restore_predictions`);
- a started run (``partial``): ``config.json``, ``history.json``, ``checkpoint.pt`` (and ``continued_from.json`` where
  it has one): enough to resume it. A run resumed on another machine is not bit-for-bit the uninterrupted run (the
  floating-point kernels differ between processors), only statistically the same.

An import checks everything before a file reaches the cache, and skips a run (saying why) that fails a check:
folder and file names as an export writes them, plain files (no links), sizes and SHA-256 as indexed, JSON that
parses, and the key recomputed from ``config.json`` with this code and this machine's data equal to the folder's
name (a run trained by other code or on other data would otherwise be reported as this code's). ``.pt`` files are
read later only through the allow-listed loader (:mod:`hgnlib.safeload`). A run finished in the cache is kept; a
started one is replaced only by a copy with more steps; a run being trained here now (its lock held) is left alone.
Files are copied atomically, the file whose presence decides the state (``checkpoint.pt``, ``metrics.json``) last.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
from pathlib import Path
from typing import Sequence

import filelock

from .. import paths
from ..errors import DataError
from ..fileio import atomic_path, save_json
from .config import ExperimentConfig
from .evaluate import evenly_spaced, predict, save_predictions
from .runs import (CONFIG_FILE, CONTINUED_FILE, METRICS_FILE, MODEL_FILE, PREDICTIONS_FILE, RUNS_DIR, coarse_targets,
                   load_data, model_graphs, prepare, resolve_data)
from .suite import label_matches
from .train import CHECKPOINT, HISTORY

INDEX = "runs.json"
#: The files of a run, by state; the last one is written last (its presence makes the state).
RUN_FILES = {"finished": (CONFIG_FILE, HISTORY, MODEL_FILE, METRICS_FILE),
             "started": (CONFIG_FILE, HISTORY, CONTINUED_FILE, CHECKPOINT)}
KEY_PATTERN = re.compile(r"[0-9a-f]{16}")


def shipped_runs_dir(data: str, profile: str) -> Path:
    """Where the project keeps the runs behind a profile's reports: ``reports/<data>-<profile>/runs``."""
    return paths.repo_root() / "reports" / f"{data}-{profile}" / "runs"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_state(folder: Path) -> str | None:
    """'finished' (``metrics.json``), 'started' (``checkpoint.pt``) or None."""
    if (folder / METRICS_FILE).is_file():
        return "finished"
    return "started" if (folder / CHECKPOINT).is_file() else None


def _steps(folder: Path) -> int:
    history = _read_json(folder / HISTORY)
    return int(history[-1]["step"]) if isinstance(history, list) and history else 0


def _config_of(folder: Path) -> tuple[ExperimentConfig, str]:
    """The configuration and data fingerprint a run folder's ``config.json`` records (ValueError if unreadable)."""
    stored = _read_json(folder / CONFIG_FILE)
    try:
        config = dict(stored["config"])
        config["overrides"] = tuple(tuple(o) for o in config["overrides"])
        return ExperimentConfig(**config), str(stored["data"]["fingerprint"])
    except (TypeError, KeyError, ValueError) as err:
        raise ValueError(f"{CONFIG_FILE} does not hold a run configuration ({err})") from None


def _copy(src: Path, dst: Path) -> None:
    """Copy a file atomically."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def export_runs(dest: str | Path, data: str, profile: str, partial: bool = True,
                select: Sequence[str] = ()) -> list[dict]:
    """Copy the cache's runs of ``data`` and ``profile`` (finished ones; started ones too with ``partial``; only
    those whose labels match the shell-style patterns ``select``, when given) into ``dest`` and rewrite its index;
    returns one row per exported run (key, label, state, steps)."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise DataError(dest, "is a file, not a folder", "pass a folder to export the runs into")
    rows = []
    for folder in sorted((paths.cache_dir() / RUNS_DIR).glob("*")):
        state = run_state(folder) if folder.is_dir() and KEY_PATTERN.fullmatch(folder.name) else None
        if state is None or (state == "started" and not partial):
            continue
        try:
            config, fingerprint = _config_of(folder)
        except ValueError:
            continue
        if config.data != data or config.profile != profile or config.key(fingerprint) != folder.name:
            continue  # another profile's run, or one that older code or settings trained (no longer used)
        if not label_matches(config.label, select):
            continue
        target = dest / folder.name
        target.mkdir(parents=True, exist_ok=True)
        names = [n for n in RUN_FILES[state] if (folder / n).is_file()]
        for name in names:
            _copy(folder / name, target / name)
        for stale in set(p.name for p in target.iterdir()) - set(names):  # e.g. the checkpoint of a now-finished run
            (target / stale).unlink()
        rows.append({"key": folder.name, "label": config.label, "state": state, "steps": _steps(folder)})
    write_index(dest)
    return rows


def write_index(dest: Path) -> dict:
    """Rewrite ``dest/runs.json`` from the run folders in ``dest``."""
    runs = []
    for folder in sorted(p for p in dest.glob("*") if p.is_dir() and KEY_PATTERN.fullmatch(p.name)):
        state = run_state(folder)
        if state is None:
            continue
        config, _ = _config_of(folder)
        runs.append({"key": folder.name, "label": config.label, "state": state, "steps": _steps(folder),
                     "files": {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                               for p in sorted(folder.iterdir())}})
    index = {"format": 1, "runs": runs}
    save_json(dest / INDEX, index)
    return index


def _check_files(folder: Path, entry: dict) -> str | None:
    """Why the run folder ``folder`` of an export does not match its index ``entry`` (None: it does)."""
    state, files = entry.get("state"), entry.get("files")
    if state not in RUN_FILES or not isinstance(files, dict):
        return f"its index entry has no valid state or file list (state {state!r})"
    unexpected = sorted(set(files) - set(RUN_FILES[state]))
    if unexpected:
        return f"files {unexpected} do not belong to a {state} run (expected some of {list(RUN_FILES[state])})"
    if RUN_FILES[state][-1] not in files or CONFIG_FILE not in files:
        return f"a {state} run needs {CONFIG_FILE} and {RUN_FILES[state][-1]}"
    for name, meta in files.items():
        path = folder / name
        try:
            info = path.lstat()
        except OSError:
            return f"{name} is missing"
        if not stat.S_ISREG(info.st_mode):
            return f"{name} is not a plain file (a link or a folder)"
        if not isinstance(meta, dict) or info.st_size != meta.get("bytes") or _sha256(path) != meta.get("sha256"):
            return f"{name} does not have the size and SHA-256 of the index (damaged or changed after export)"
    for name in (CONFIG_FILE, HISTORY, METRICS_FILE):
        if name in files and _read_json(folder / name) is None:
            return f"{name} is not valid JSON"
    return None


def import_runs(src: str | Path) -> list[dict]:
    """Copy the runs of an export folder into this cache, after the checks of the module docstring; one row per run
    of the index: key, label, state, steps and ``action`` ('imported', 'kept: ...' or 'skipped: ...')."""
    src = Path(src)
    index = _read_json(src / INDEX)
    if not isinstance(index, dict) or not isinstance(index.get("runs"), list):
        raise DataError(src / INDEX, "is missing or not an index of exported runs (a JSON object with 'runs')",
                        "pass a folder written by `hgn runs export`")
    rows = []
    for entry in index["runs"]:
        entry = entry if isinstance(entry, dict) else {}
        key = str(entry.get("key"))
        row = {"key": key, "label": str(entry.get("label")), "state": entry.get("state"),
               "steps": entry.get("steps")}
        row["action"] = _import_one(src, key, entry) if KEY_PATTERN.fullmatch(key) else \
            "skipped: the key is not 16 hexadecimal digits"
        rows.append(row)
    return rows


def _import_one(src: Path, key: str, entry: dict) -> str:
    folder = src / key
    if folder.is_symlink() or not folder.is_dir():
        return f"skipped: {folder} is not a folder"
    problem = _check_files(folder, entry)
    if problem:
        return f"skipped: {problem}"
    try:
        config, fingerprint = _config_of(folder)
    except ValueError as err:
        return f"skipped: {err}"
    if config.key(fingerprint) != key:
        return "skipped: trained by other code or settings (its configuration gives another key with this code)"
    if resolve_data(config)[1] != fingerprint:
        return "skipped: trained on other data than this machine's dataset of its profile"
    out = paths.cache_dir() / RUNS_DIR / key
    lock = filelock.FileLock(str(out) + ".lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return "kept: the run is training here now"
    try:
        here = run_state(out)
        if here == "finished":
            return "kept: finished here already"
        if here == "started" and entry["state"] == "started" and _steps(out) >= _steps(folder):
            return "kept: started here with as many steps or more"
        names = [n for n in RUN_FILES[entry["state"]] if n in entry["files"]]
        for name in names[:-1]:
            _copy(folder / name, out / name)
        if entry["state"] == "finished":
            restore_predictions(out, config)
        for stale in set(RUN_FILES["started"]) - set(names):  # this cache's partial state, replaced by the import
            (out / stale).unlink(missing_ok=True)
        _copy(folder / names[-1], out / names[-1])
        return "imported"
    finally:
        lock.release()


def import_shipped(data: str, profile: str) -> str | None:
    """Import the runs the project ships for ``data`` and ``profile`` (``reports/<data>-<profile>/runs/``), as
    ``hgn reproduce`` and ``hgn runs train`` do first; returns a line saying what was imported (None: none shipped)."""
    shipped = shipped_runs_dir(data, profile)
    if not (shipped / INDEX).exists():
        return None
    return f"runs shipped in {shipped}: {import_summary(import_runs(shipped))}"


def import_summary(rows: list[dict]) -> str:
    """One line: runs imported, kept and skipped, with each skipped run's reason."""
    counts = {kind: sum(r["action"].startswith(kind) for r in rows) for kind in ("imported", "kept", "skipped")}
    skipped = "; ".join(f"{r['label']}: {r['action'][len('skipped: '):]}" for r in rows
                        if r["action"].startswith("skipped"))
    return ", ".join(f"{n} {kind}" for kind, n in counts.items()) + (f" ({skipped})" if skipped else "")


def restore_predictions(out: Path, config: ExperimentConfig) -> None:
    """Write ``out/predictions.npz`` of a finished run from its ``model.pt``: the run's fixed sample of test frames
    through the trained weights, as the run's own evaluation did (same sample, flips, mesh targets)."""
    from .artifacts import load_model

    prepare(config)
    folder, _, test = load_data(config)
    graphs, hierarchy = model_graphs(config)
    meshes = coarse_targets(config, folder, hierarchy, test, config.strides[1]) if hierarchy is not None else {}
    model, _ = load_model(out / MODEL_FILE)
    outputs = predict(model, test.inputs, config.flip_test)
    save_predictions(out / PREDICTIONS_FILE, test, outputs, evenly_spaced(len(test), config.recipe.prediction_samples),
                     meshes)
