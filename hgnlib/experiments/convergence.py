"""The convergence study: how many steps each model needs before its validation error plateaus.

The ``standard`` profile's models are trained far longer than the profile's own epochs (``hgn converge``), validating
often; :func:`plateau_step` reads each learning curve and :func:`study_summary` gathers the curves, the plateau of
every run and the data and recipe they come from into one JSON file (``reports/convergence/``), which notebook 03
plots; ``hgn converge --suite`` summarises the profile's own runs of the same models instead (those that ``hgn
reproduce`` trains). The learning rate schedule is counted in epochs, so the first epochs of a long run are exactly
a run of fewer epochs: the plateau step read here is the training length a profile can adopt, and a study run with
more epochs continues the finished shorter one (:func:`hgnlib.experiments.runs.shorter_run`) instead of starting
over.

Plateau: the first validated step S from which on, at every later validated step too, the best error so far improved
by less than ``tolerance`` (2 %) over the last quarter of the steps (from 0.75 S to S).
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import paths
from ..fileio import save_json
from ..profiles import get_profile
from .config import ExperimentConfig, code_fingerprint
from .runs import run_dir
from .train import HISTORY

#: The models whose learning curves set the standard profile's length (the suite's largest and its baseline).
STUDY_MODELS = ("hgn-128", "semgcn-128")
PLATEAU_TOLERANCE = 0.02


def study_configs(models: tuple[str, ...] = STUDY_MODELS, seeds: tuple[int, ...] = (0, 1), epochs: int = 60,
                  profile: str = "standard", evals_per_epoch: int = 8) -> list[ExperimentConfig]:
    """The long runs of the study: ``profile``'s data and recipe with ``epochs`` epochs and frequent validation."""
    overrides = (("epochs", epochs), ("evals_per_epoch", evals_per_epoch))
    return [ExperimentConfig(m, profile=profile, seed=s, overrides=overrides) for m in models for s in seeds]


def suite_study_configs(profile: str = "standard") -> list[ExperimentConfig]:
    """The profile's own runs of the seed-spread models (HGN-128 and SemGCN-128 at every seed of the profile), as
    ``hgn reproduce`` trains them: once a profile's length is set, its suite checks its own plateau."""
    from .suite import spread_groups

    return spread_groups(get_profile(profile).data, profile)[0]


def best_so_far(values: list[float]) -> list[float]:
    """The running minimum of a curve."""
    out, best = [], float("inf")
    for v in values:
        best = min(best, v)
        out.append(best)
    return out


def plateau_step(steps: list[int], errors: list[float], tolerance: float = PLATEAU_TOLERANCE) -> int | None:
    """The first validated step from which on the best error improves by less than ``tolerance`` over the last
    quarter of the steps (see the module doc); None when the curve has not plateaued."""
    if len(steps) != len(errors):
        raise ValueError(f"{len(steps)} steps but {len(errors)} errors")
    best = best_so_far(errors)

    def flat(i: int) -> bool:
        earlier = [k for k in range(i + 1) if steps[k] <= 0.75 * steps[i]]
        return bool(earlier) and best[earlier[-1]] - best[i] < tolerance * best[earlier[-1]]

    found = None
    for i in range(len(steps)):
        found = (found if found is not None else steps[i]) if flat(i) else None
    return found


def read_curve(config: ExperimentConfig) -> list[dict]:
    """The validation history of a run so far (finished or still training; empty when it has not started)."""
    path = run_dir(config) / HISTORY
    return json.loads(path.read_text()) if path.exists() else []


#: Where a summary's runs come from: longer study runs (``hgn converge``) or the profile's own suite (``--suite``).
SOURCES = ("study", "suite")


def study_summary(configs: list[ExperimentConfig], tolerance: float = PLATEAU_TOLERANCE, source: str = "study") -> dict:
    """The curves and plateaus of the study's runs, with where they come from (:data:`SOURCES`), the fingerprint of
    the code that trained them (:func:`~hgnlib.experiments.config.code_fingerprint`) and the data, profile and recipe
    they ran with."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    runs = []
    for config in configs:
        curve = read_curve(config)
        steps = [h["step"] for h in curve]
        errors = [h["mpjpe"] for h in curve]
        runs.append({"model": config.model, "seed": config.seed, "label": config.label,
                     "epochs_planned": config.recipe.epochs, "steps": steps, "mpjpe": errors,
                     "pa_mpjpe": [h["pa_mpjpe"] for h in curve], "lr": [h["lr"] for h in curve],
                     "loss": [h["loss"] for h in curve],
                     "plateau_step": plateau_step(steps, errors, tolerance) if curve else None})
    profile = get_profile(configs[0].profile)
    return {"source": source, "code": code_fingerprint(), "data": configs[0].data, "profile": profile.name, "train_stride": profile.train_stride,
            "test_stride": profile.test_stride, "recipe": configs[0].recipe.to_dict(), "tolerance": tolerance,
            "runs": runs}


def write_summary(configs: list[ExperimentConfig], out: str | Path, source: str = "study") -> dict:
    """:func:`study_summary` written (atomically) as JSON to ``out``."""
    summary = study_summary(configs, source=source)
    save_json(Path(out), summary)
    return summary


def study_path(data: str = "embedded", profile: str = "standard") -> Path:
    """Where the study of ``profile`` on ``data`` is kept: ``reports/convergence/<data>-<profile>.json``."""
    return paths.repo_root() / "reports" / "convergence" / f"{data}-{profile}.json"


def load_study(data: str = "embedded", profile: str = "standard") -> dict | None:
    """The stored study (None when it has not been run)."""
    path = study_path(data, profile)
    return json.loads(path.read_text()) if path.exists() else None


def plateau_rows(summary: dict) -> list[dict]:
    """One row per run of a study: model, seed, steps trained, best and last validation MPJPE, plateau step, and
    whether the profile's own training length reaches it."""
    profile = get_profile(summary["profile"])
    rows = []
    for run in summary["runs"]:
        per_epoch = summary["recipe"]["evals_per_epoch"]  # the last validation of the first epoch is its last step
        profile_steps = (int(profile.recipe.epochs * run["steps"][per_epoch - 1]) if len(run["steps"]) >= per_epoch
                         else None)
        plateau = run["plateau_step"]
        rows.append({"model": run["model"], "seed": run["seed"], "steps trained": run["steps"][-1] if run["steps"] else 0,
                     "best MPJPE": min(run["mpjpe"]) if run["mpjpe"] else None,
                     "last MPJPE": run["mpjpe"][-1] if run["mpjpe"] else None, "plateau step": plateau,
                     f"{profile.name} profile steps": profile_steps,
                     "profile reaches plateau": None if plateau is None or profile_steps is None
                     else profile_steps >= plateau})
    return rows
