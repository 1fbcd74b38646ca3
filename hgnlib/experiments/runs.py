"""The result cache: one folder per experiment, keyed by its configuration, trained once and reused everywhere.

``cache_dir()/runs/<key>/`` (key: :meth:`ExperimentConfig.key`, which hashes the configuration, the model's
definition, the profile with its recipe, the data's fingerprint and the engine's code version) holds:

- ``config.json``: what the key hashes, readable;
- ``checkpoint.pt``: the resumable training state (rewritten atomically every epoch);
- ``history.json``: loss, learning rate and validation MPJPE / PA-MPJPE at every validation point;
- ``model.pt``: the trained model, self-contained (:mod:`hgnlib.experiments.artifacts`);
- ``predictions.npz``: the predictions on a fixed, evenly spaced sample of test frames
  (:func:`hgnlib.experiments.evaluate.save_predictions`);
- ``metrics.json``: written last, so its presence means the run is complete: the test metrics (mm), the history,
  the training time and where it ran.

:func:`run_experiment` returns the cached result when ``metrics.json`` is there, resumes an interrupted run from
its checkpoint, continues the finished run of the same configuration with the most epochs below its own (see
:func:`shorter_run`), or trains from scratch. Every file is written atomically: a crash leaves whole files only. A run
holds ``runs/<key>.lock`` (filelock) while it trains, so a second identical run started meanwhile waits and then
returns the first one's result.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import filelock
import torch

from .. import paths
from ..body import load_body_model
from ..cameras import load_h36m_cameras
from ..data.dataset import PoseData, Split, load_split
from ..data.folders import dataset_folder
from ..data.h36m import THREE_D_FILE, two_d_path
from ..data.h36m import authors_file
from ..data.pseudo_gt import load_pseudo_gt, make_pseudo_gt
from ..synthetic.synth import read_manifest
from ..body.smpl import find_model_file
from ..errors import HGNError, MissingFileError
from ..fileio import atomic_path, save_json
from ..graphs import load_or_build_hierarchy
from ..graphs.hierarchy import body_defaults
from ..models.graph import Graph
from ..models.registry import hierarchy_graphs, prepare_graphs, get_config
from ..profiles import get_profile
from ..skeleton import TRAIN_SUBJECTS, TEST_SUBJECTS
from . import distributed
from .artifacts import save_model
from .config import ExperimentConfig
from .evaluate import evaluate, evenly_spaced, load_predictions, save_predictions
from .targets import mesh_targets
from .train import CHECKPOINT, HISTORY, TrainingData, train_model

RUNS_DIR = "runs"
#: Written in a run's folder when it started from a shorter run's checkpoint (:func:`continue_shorter_run`).
CONTINUED_FILE = "continued_from.json"
CONFIG_FILE, MODEL_FILE, PREDICTIONS_FILE, METRICS_FILE = "config.json", "model.pt", "predictions.npz", "metrics.json"


class InterruptedRunError(HGNError):
    """An interrupted run of the configuration exists and resuming was not asked for."""


@dataclass
class RunResult:
    """A finished run: its key, configuration, test metrics (mm), history and where its files are."""

    key: str
    config: ExperimentConfig
    metrics: dict
    history: list[dict]
    seconds: float
    info: dict
    path: Path

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def predictions(self) -> dict:
        """The stored predictions of the fixed test sample."""
        return load_predictions(self.path / PREDICTIONS_FILE)


def load_result(path: str | Path) -> RunResult:
    """Read a finished run folder."""
    path = Path(path)
    payload = json.loads((path / METRICS_FILE).read_text())
    stored = dict(payload["config"], overrides=tuple(tuple(o) for o in payload["config"]["overrides"]))
    return RunResult(key=payload["key"], config=ExperimentConfig(**stored), metrics=payload["metrics"],
                     history=payload["history"], seconds=payload["seconds"], info=payload["info"], path=path)


def resolve_data(config: ExperimentConfig, data_folder: str | Path | None = None) -> tuple[Path, str]:
    """The dataset folder (the embedded one is generated when absent) and its fingerprint."""
    folder = dataset_folder(config.data, config.profile, data_folder, generate=True)
    if config.data == "embedded":
        manifest = read_manifest(folder)
        return folder, json.dumps([manifest["generator"], manifest["size"], manifest["seed"]])
    stamps = [[p.name, p.stat().st_size, p.stat().st_mtime_ns]
              for p in (folder / THREE_D_FILE, two_d_path(folder, config.source_2d)) if p.exists()]
    return folder, json.dumps(stamps)


def run_dir(config: ExperimentConfig, data_folder: str | Path | None = None) -> Path:
    """Where the run of ``config`` is cached."""
    return paths.cache_dir() / RUNS_DIR / config.key(resolve_data(config, data_folder)[1])


def cached_result(config: ExperimentConfig, data_folder: str | Path | None = None) -> RunResult | None:
    """The finished run of ``config``, or None."""
    out = run_dir(config, data_folder)
    return load_result(out) if (out / METRICS_FILE).exists() else None


@functools.lru_cache(maxsize=2)
def _body(name: str):
    """A body model, loaded once per process (graphs and pseudo-ground truth)."""
    return load_body_model(name)


def missing_mesh_inputs(config: ExperimentConfig, data_folder: str | Path | None = None) -> list[Path]:
    """The licensed files the run's mesh settings need and that are not there (SMPL, the authors' parameters)."""
    if not config.mesh_outputs:
        return []
    missing = []
    if config.body == "smpl":
        try:
            find_model_file(None)
        except MissingFileError:
            missing.append(paths.smpl_dir() / "SMPL_NEUTRAL.pkl")
    if config.mesh_targets == "authors_smpl":
        folder = Path(data_folder) if data_folder is not None else paths.h36m_dir()
        subjects = TEST_SUBJECTS if config.lambda_m == 0 else (*TRAIN_SUBJECTS, *TEST_SUBJECTS)
        missing += [p for p in (authors_file(folder, int(s[1:]), "smpl_param") for s in subjects) if not p.exists()]
    return missing


def check_mesh_inputs(config: ExperimentConfig, data_folder: str | Path | None = None) -> None:
    """Stop with one message naming the missing files when the run's body or mesh targets are not available."""
    missing = missing_mesh_inputs(config, data_folder)
    if missing:
        names = ", ".join(str(p) for p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise MissingMeshInputsError(
            f"{config.label} trains on {config.body} meshes with {config.mesh_targets} targets, but {names} "
            f"{'is' if len(missing) == 1 else 'are'} missing; fix: put the licensed files there (see data/README.md), "
            "or ask for the anny stand-in explicitly (--body anny --mesh-targets fit)")


class MissingMeshInputsError(HGNError):
    """The licensed files of a run's body model or mesh targets are not there."""


@functools.lru_cache(maxsize=2)
def _split(folder: str, source: str, train_stride: int, test_stride: int) -> Split:
    return load_split(folder, source, train_stride=train_stride, test_stride=test_stride)


def load_data(config: ExperimentConfig, data_folder: str | Path | None = None) -> tuple[Path, PoseData, PoseData]:
    """The dataset folder and the training and test samples of ``config`` (training capped at the recipe's
    ``train_limit``)."""
    folder, _ = resolve_data(config, data_folder)
    split = _split(str(folder), config.source_2d, *config.strides)
    train = split.train
    if config.recipe.train_limit is not None and len(train) > config.recipe.train_limit:
        train = train.subset(evenly_spaced(len(train), config.recipe.train_limit))
    return folder, train, split.test


def model_graphs(config: ExperimentConfig) -> tuple[dict[str, Graph], object | None]:
    """The prepared graphs of the model and the mesh hierarchy they come from (None without mesh branches)."""
    if not config.mesh_outputs:
        return prepare_graphs(None, get_config(config.model).graphs), None
    hierarchy = load_or_build_hierarchy(_body(config.body), padded=config.padded, hem=config.hem,
                                        levels=body_defaults(config.body)[1])
    return (prepare_graphs(hierarchy_graphs(hierarchy, config.padding), get_config(config.model).graphs),
            hierarchy)


def coarse_targets(config: ExperimentConfig, folder: Path, hierarchy, data: PoseData,
                   stride: int) -> dict[str, torch.Tensor]:
    """Camera-space coarse-mesh pseudo-ground truth of ``data`` for the model's mesh outputs (cached fit)."""
    cache = make_pseudo_gt(folder, hierarchy.mesh_mappings(config.mesh_outputs), body=_body(config.body), subjects=data.subjects, stride=stride,
                           source=config.mesh_targets, config=config.recipe.fit, progress=False)
    return mesh_targets(data, load_pseudo_gt(cache), load_h36m_cameras(), {n: n for n in config.mesh_outputs})


def prepare(config: ExperimentConfig, data_folder: str | Path | None = None) -> None:
    """Make what the run needs and several runs share (data, graphs, pseudo-ground truth), so that parallel
    workers do not compute it twice."""
    check_mesh_inputs(config, data_folder)
    folder, train, test = load_data(config, data_folder)
    _, hierarchy = model_graphs(config)
    if hierarchy is not None:
        train_stride, test_stride = config.strides
        if config.lambda_m > 0:
            coarse_targets(config, folder, hierarchy, train, train_stride)
        coarse_targets(config, folder, hierarchy, test, test_stride)


def run_experiment(config: ExperimentConfig, data_folder: str | Path | None = None, progress: bool = True,
                   device: str | torch.device | None = None, resume: bool = True,
                   restart: bool = False) -> RunResult:
    """Train (or resume, or load the cached result of) ``config`` and evaluate it on the whole test split.

    ``resume=False`` refuses to continue an interrupted run (:class:`InterruptedRunError`); ``restart`` deletes it
    first. ``data_folder`` overrides the profile's dataset folder (used as is). Under ``torchrun`` every process
    calls this; rank 0 writes the files.
    """
    folder, fingerprint = resolve_data(config, data_folder)
    out = paths.cache_dir() / RUNS_DIR / config.key(fingerprint)
    check_mesh_inputs(config, data_folder)
    with run_lock(out):
        return _run_locked(config, data_folder, out, folder, fingerprint, progress, device, resume, restart)


def with_epochs(config: ExperimentConfig, epochs: int) -> ExperimentConfig:
    """``config`` trained for ``epochs`` epochs (no ``epochs`` override when that is the profile's own count)."""
    rest = tuple((k, v) for k, v in config.overrides if k != "epochs")
    default = get_profile(config.profile).recipe.epochs
    return replace(config, overrides=rest + ((("epochs", epochs),) if epochs != default else ()))


def shorter_run(config: ExperimentConfig, fingerprint: str) -> tuple[Path, int] | None:
    """The folder and epochs of the finished run of ``config`` with fewer epochs, the most of them (None: none).

    The learning-rate schedule, the shuffling and the validation points are counted in epochs, never in the run's
    length, so the first E epochs of a longer run are exactly an E-epoch run, and its last checkpoint (written at
    the end of its last epoch) is where the longer run would be after E epochs."""
    for epochs in range(config.recipe.epochs - 1, 0, -1):
        folder = paths.cache_dir() / RUNS_DIR / with_epochs(config, epochs).key(fingerprint)
        if (folder / METRICS_FILE).exists() and (folder / CHECKPOINT).exists():
            return folder, epochs
    return None


def continue_shorter_run(config: ExperimentConfig, fingerprint: str, out: Path) -> tuple[Path, int] | None:
    """Start ``out`` from the checkpoint and history of :func:`shorter_run` (copied atomically) and note where from
    in ``out/`` :data:`CONTINUED_FILE` (the run's ``metrics.json`` repeats it); what :func:`shorter_run` returned."""
    found = shorter_run(config, fingerprint)
    if found is not None:
        save_json(out / CONTINUED_FILE, {"run": found[0].name, "epochs": found[1]})
        for name in (HISTORY, CHECKPOINT):  # the checkpoint last: its presence is what resumes
            with atomic_path(out / name) as tmp:
                shutil.copyfile(found[0] / name, tmp)
    return found


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``<out>.lock`` (a second process with the same run waits, then finds the first one's result).
    Processes of one ``torchrun`` job do not lock: they train the run together."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(out) + ".lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        print(f"hgn: waiting for another process that trains the same run ({out.name})", file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _run_locked(config: ExperimentConfig, data_folder: str | Path | None, out: Path, folder: Path, fingerprint: str,
                progress: bool, device: str | torch.device | None, resume: bool, restart: bool) -> RunResult:
    """:func:`run_experiment` once the run's lock is held."""
    if restart and out.exists():
        shutil.rmtree(out)
    if (out / METRICS_FILE).exists():
        return load_result(out)
    if (out / CHECKPOINT).exists() and not resume:
        raise InterruptedRunError(f"an interrupted run of {config.label} is in {out}: pass --resume to continue it "
                                  "or --restart to start it over")
    ctx = distributed.setup(device)
    if ctx.is_main:
        prepare(config, data_folder)
        if not restart and not (out / CHECKPOINT).exists():
            continue_shorter_run(config, fingerprint, out)
    ctx.barrier()
    profile = get_profile(config.profile)
    folder, train, test = load_data(config, data_folder)
    graphs, hierarchy = model_graphs(config)
    train_meshes, test_meshes, masks = {}, {}, {}
    if hierarchy is not None:
        masks = {name: g.mask.to(ctx.device) for name, g in graphs.items()
                 if name in config.mesh_outputs and g.mask is not None}
        if config.lambda_m > 0:
            train_meshes = coarse_targets(config, folder, hierarchy, train, config.strides[0])
        test_meshes = coarse_targets(config, folder, hierarchy, test, config.strides[1])
    validation = test.subset(evenly_spaced(len(test), config.recipe.val_samples))
    data = TrainingData(train.to(ctx.device), {k: v.to(ctx.device) for k, v in train_meshes.items()}, masks,
                        validation.to(ctx.device))
    if ctx.is_main:
        save_json(out / CONFIG_FILE, {"config": config.to_dict(), "label": config.label,
                                      "profile": profile.to_dict(), "data": {"folder": str(folder),
                                                                             "fingerprint": fingerprint}})
    model, history, timing = train_model(config, graphs, data, out, ctx, progress)
    if ctx.is_main:
        started = time.perf_counter()
        result, outputs = evaluate(model, test.to(ctx.device), config.flip_test,
                                   {k: v.to(ctx.device) for k, v in test_meshes.items()}, masks)
        sample = evenly_spaced(len(test), config.recipe.prediction_samples)
        save_predictions(out / PREDICTIONS_FILE, test, outputs, sample, test_meshes)
        save_model(out / MODEL_FILE, model, config.model_config, graphs, config.to_dict(), out.name,
                   {k: result[k] for k in ("mpjpe", "pa_mpjpe")})
        seconds = timing["total_seconds"]
        info = {"device": str(ctx.device), "processes": ctx.world_size, "threads": torch.get_num_threads(),
                "torch": torch.__version__, "train_samples": len(train), "test_samples": len(test),
                "data_folder": str(folder), "fingerprint": fingerprint,
                "samples_per_second": (round(timing["epochs"] * len(train) / timing["seconds"], 1)
                                       if timing["seconds"] else None),
                "eval_seconds": round(time.perf_counter() - started, 2),
                "continued_from": (json.loads((out / CONTINUED_FILE).read_text())
                                   if (out / CONTINUED_FILE).exists() else None)}
        save_json(out / METRICS_FILE, {"key": out.name, "config": config.to_dict(), "metrics": result,
                                       "history": history, "seconds": seconds, "info": info})
    ctx.barrier()
    return load_result(out)


def run_seeds(config: ExperimentConfig, seeds: list[int] | tuple[int, ...], **kwargs) -> list[RunResult]:
    """The runs of ``config`` with each seed (cached like any run)."""
    return [run_experiment(config.with_seed(seed), **kwargs) for seed in seeds]


def seed_spread(results: list[RunResult], metric: str = "mpjpe") -> dict[str, float]:
    """Mean, sample standard deviation (0 for one run), min, max and count of a summary metric over runs."""
    values = [r.metrics[metric] for r in results]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}
