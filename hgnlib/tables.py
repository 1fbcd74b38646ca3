"""Our numbers next to the paper's: the tables the notebooks show and the summary page gathers.

Every table says in its heading which data and which profile produced our numbers; numbers from the embedded
synthetic data are never the paper's, and the paper's columns say so. Values are rounded to 0.1 mm (parameters to
0.01 M) so that stored notebook outputs stay stable.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from . import skeleton
from .experiments.config import ExperimentConfig
from .experiments.runs import RunResult, run_experiment, seed_spread
from .experiments.suite import Entry, entries
from .profiles import get_profile

#: Metric key -> column name.
METRIC_NAMES = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "mpvpe_mesh_c1": "MPVPE M^(C-1)",
                "mpvpe_mesh_c": "MPVPE M^C", "params_m": "Params (M)", "pck": "3DPCK", "auc": "AUC"}
MISSING = "–"


def data_note(data: str, profile: str) -> str:
    """Where our numbers come from, for table headings: data, profile, and the body and mesh targets of the
    mesh-branch models (the defaults of :class:`~hgnlib.experiments.ExperimentConfig` for this profile)."""
    what = ("the embedded synthetic dataset (anny bodies, real H36M cameras), NOT the paper's Human3.6M"
            if data == "embedded" else "real Human3.6M")
    mesh = ExperimentConfig("hgn-128", data=data, profile=profile)
    targets = {"fit": "fitted to the 3D joints", "authors_smpl": "the authors' SMPL parameters"}[mesh.mesh_targets]
    return (f"ours: {what}; profile '{profile}' ({get_profile(profile).description}); mesh graphs of {mesh.body} "
            f"({mesh.hem} matching), coarse-mesh targets {targets}")


def run_table(table: str, data: str, profile: str, progress: bool = True) -> list[tuple[Entry, RunResult]]:
    """The rows of ``table`` with their (cached, else trained) results."""
    return [(e, run_experiment(e.config, progress=progress)) for e in entries(table, data, profile)]


def variant_comparison(data: str, profile: str, progress: bool = True) -> pd.DataFrame:
    """Paper vs released-code settings (table 'release') over the seeds of the spread: per model and variant, the
    mean and sample std of MPJPE and PA-MPJPE; per model, the difference release - paper and its ratio to the
    larger of the two seed spreads."""
    from .experiments.suite import variant_configs

    runs: dict[str, list[RunResult]] = {}
    labels = {e.config.with_seed(0): e.label for e in entries("release", data, profile)}
    for config in variant_configs(data, profile):
        runs.setdefault(labels[config.with_seed(0)], []).append(run_experiment(config, progress=progress))
    rows = {}
    for label, results in runs.items():
        row = {}
        for metric in ("mpjpe", "pa_mpjpe"):
            spread = seed_spread(results, metric)
            row.update({f"{metric} mean": spread["mean"], f"{metric} std": spread["std"]})
        rows[label] = {**row, "seeds": len(results)}
    frame = pd.DataFrame(rows).T
    for model in dict.fromkeys(label.split(",")[0] for label in rows):
        paper, release = frame.loc[f"{model}, paper settings"], frame.loc[f"{model}, release settings"]
        diff = release["mpjpe mean"] - paper["mpjpe mean"]
        noise = max(paper["mpjpe std"], release["mpjpe std"])
        frame.loc[f"{model}: release - paper", ["mpjpe mean", "mpjpe std"]] = [diff, diff / noise if noise else None]
    return frame


def ours(result: RunResult, metric: str) -> float | None:
    """A summary metric of a run ('mpjpe', 'pa_mpjpe', 'mpvpe_<mesh>', 'pck', 'auc'), None when absent."""
    if metric.startswith("mpvpe_"):
        return result.metrics.get("mpvpe", {}).get(metric[len("mpvpe_"):])
    return result.metrics.get(metric)


def tidy(frame: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Rounded, with missing values shown as a dash."""
    rounded = frame.apply(pd.to_numeric, errors="coerce").round(digits).astype(object)
    return rounded.where(rounded.notna(), MISSING)


def comparison(rows: Iterable[tuple[Entry, RunResult]], metrics: Iterable[str] = ("mpjpe", "pa_mpjpe"),
               params: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per table row: for each metric, ours, the paper's and ours minus the paper's; ``params``: model
    name -> our parameter count in millions, shown next to the paper's."""
    records = []
    for entry, result in rows:
        record = {"row": entry.label, "model": entry.config.model}
        for metric in metrics:
            mine, theirs = ours(result, metric), entry.paper.get(metric)
            name = METRIC_NAMES.get(metric, metric)
            record[f"{name} ours"] = mine
            record[f"{name} paper"] = theirs
            record[f"{name} diff"] = None if mine is None or theirs is None else mine - theirs
        if params is not None:
            record["Params (M) ours"] = params.get(entry.config.model)
            record["Params (M) paper"] = entry.paper.get("params_m")
        records.append(record)
    frame = pd.DataFrame(records).set_index("row")
    numeric = [c for c in frame.columns if c != "model"]
    out = tidy(frame[numeric])
    out.insert(0, "model", frame["model"])
    if params is not None:
        out[["Params (M) ours", "Params (M) paper"]] = tidy(frame[["Params (M) ours", "Params (M) paper"]], 2)
    return out


def per_action(results: dict[str, RunResult], metric: str = "mpjpe") -> pd.DataFrame:
    """Per-action errors (mm) of several runs (column name -> run), with the mean over actions as the last row."""
    frame = pd.DataFrame({name: r.metrics["per_action"][metric] for name, r in results.items()})
    frame = frame.reindex([a for a in skeleton.ACTIONS if a in frame.index])
    frame.loc["Average"] = frame.mean()
    return frame


def published(table: str) -> pd.DataFrame:
    """The per-action rows the paper lists for Table 5 or 6 (method, venue, notes, 15 actions, average)."""
    from .paper import paper_results

    rows = paper_results()[f"table{table}"]["rows"]
    frame = pd.DataFrame([{"method": r["method"], "venue": r["reference"], "notes": r["notes"], **r["per_action"],
                           "Average": r["average"]} for r in rows]).set_index("method")
    return frame


def param_millions(models: Iterable[str], padded: bool = False) -> dict[str, float]:
    """Parameter counts (millions) of model configurations on the anny mesh graphs."""
    from .graphs import body_hierarchy
    from .models.registry import build_model, count_params, hierarchy_graphs

    graphs = hierarchy_graphs(body_hierarchy("anny", padded=padded))
    return {name: count_params(build_model(name, graphs)) / 1e6 for name in dict.fromkeys(models)}
