"""The paper's experiments as named configurations: one definition per table and figure, shared by the notebooks,
``hgn reproduce`` (which trains them all first, in parallel) and the result cache.

:func:`entries` gives the rows of a table for a dataset and a profile; each row pairs a configuration with the
paper's values of that row (:func:`paper_results`, from ``hgnlib/resources/paper_results.json``). Rows of
different tables that are the same experiment (e.g. HGN with lambda_M = 0.01 in Tables 1, 2 and 4a and Figure 3)
have the same configuration, hence the same cache key, and are trained once.

The 2D input is the ground truth in the ablations (Tables 1-4, Figure 3; paper Sec. 4.2) and the detector's
(CPN on Human3.6M, the detector-like file on the embedded data) with flip augmentation and test-time flip in the
comparison with the state of the art (Tables 5-6; Sec. 4.3). Table 7 evaluates the ground-truth-2D models of Table 2
on unseen data (MPI-INF-3DHP, or motion capture through unseen cameras on the embedded data).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from importlib import resources

from ..profiles import PAPER_RECIPE, get_profile
from .config import ExperimentConfig
from .variants import apply_variant

#: The seeds of the runs whose spread is reported (HGN and SemGCN of Table 2), per profile.
SPREAD_SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0, 1), "quick": (0, 1, 2), "full": (0, 1, 2), "paper": (0,)}
#: The experiments (their model configurations) whose seed-to-seed spread is measured.
SPREAD_MODELS = ("semgcn-128", "hgn-128")


@dataclass(frozen=True)
class Entry:
    """A row of a table: the paper's label, the configuration that reproduces it, the paper's values."""

    table: str
    label: str
    config: ExperimentConfig
    paper: dict


@functools.lru_cache(maxsize=1)
def paper_results() -> dict:
    """The paper's tables (and the other methods' published numbers it lists), as a dict per table."""
    return json.loads(resources.files("hgnlib").joinpath("resources/paper_results.json").read_text())


def _rows(table: str) -> list[dict]:
    return paper_results()[table]["rows"]


def entries(table: str, data: str = "embedded", profile: str = "quick", seed: int = 0) -> list[Entry]:
    """The rows of ``table`` ('1', '2', '3', '4a', '4b', 'figure3', '5', '7', 'train') as configurations."""
    def cfg(model: str, lambda_m: float = 0.01, **kw) -> ExperimentConfig:
        return ExperimentConfig(model, data=data, profile=profile, lambda_m=lambda_m, seed=seed, **kw)

    if table == "1":
        return [Entry("1", f"lambda_M = {r['lambda_m']:g}", cfg("hgn-128", r["lambda_m"]), r) for r in _rows("table1")]
    if table == "2":
        models = ("semgcn-128", "hgn-wo-mesh-c-128", "hgn-wo-mesh-c1-128", "hgn-128")
        return [Entry("2", r["label"], cfg(m), r) for m, r in zip(models, _rows("table2"))]
    if table == "3":
        models = ("semgcn-128", "hgn-wo-mesh-c-128", "hgn-wo-mesh-c1-128", "hgn-128", "hgn-wo-mesh-c-91",
                  "hgn-wo-mesh-c1-92", "hgn-79")
        return [Entry("3", f"{r['label']} ({r['channels']} ch.)", cfg(m, 0.0), r) for m, r in zip(models, _rows("table3"))]
    if table in ("4a", "4b"):
        models = (("semgcn-128", "graphsh-64", "hgn-64", "hgn-128") if table == "4a" else
                  ("semgcn-vanilla-128", "graphsh-vanilla-64", "hgn-vanilla-64", "hgn-vanilla-128"))
        return [Entry(table, f"{r['label']} ({r['channels']} ch.)", cfg(m), r)
                for m, r in zip(models, _rows(f"table{table}"))]
    if table == "figure3":
        return [Entry("figure3", "SemGCN", cfg("semgcn-128"), {}), Entry("figure3", "HGN", cfg("hgn-128"), {})]
    if table == "5":
        ours = next(r for r in _rows("table5") if r["method"].startswith("HGN"))
        detected = dict(source_2d="detected", flip_train=True, flip_test=True)
        return [Entry("5", "Martinez et al. (retrained here)", cfg("martinez", **detected), {}),
                Entry("5", "SemGCN (retrained here)", cfg("semgcn-128", **detected), {}),
                Entry("5", "HGN", cfg("hgn-128", **detected), ours)]
    if table == "7":
        return [Entry("7", "Martinez et al.", cfg("martinez"), {}), Entry("7", "SemGCN", cfg("semgcn-128"), {}),
                Entry("7", "HGN", cfg("hgn-128"), {})]
    if table == "train":
        rows = [Entry("train", "HGN", cfg("hgn-128"), {})]
        recipe, paper = get_profile(profile).recipe, PAPER_RECIPE
        if (recipe.output_init_scale, recipe.lr) != (paper.output_init_scale, paper.lr):
            # the short recipes' choices against the paper's, one at a time, on SemGCN
            rows.append(Entry("train", "SemGCN, this profile's recipe", cfg("semgcn-128"), {}))
            for name, value, label in (("output_init_scale", paper.output_init_scale, "output init x1 (paper)"),
                                       ("lr", paper.lr, "learning rate 1e-3 (paper)")):
                if getattr(recipe, name) != value:
                    rows.append(Entry("train", f"SemGCN, {label}", cfg("semgcn-128", overrides=((name, value),)), {}))
        return rows
    if table == "release":
        return [Entry("release", f"{name}, {variant} settings", apply_variant(cfg(model), variant), {})
                for name, model in (("SemGCN", "semgcn-128"), ("HGN", "hgn-128")) for variant in ("paper", "release")]
    raise ValueError(f"unknown table {table!r}; choose one of {TABLES}")


#: Every table and figure that trains runs, in notebook order.
TABLES = ("train", "1", "2", "3", "4a", "4b", "figure3", "5", "7", "release")


def spread_configs(data: str = "embedded", profile: str = "quick") -> list[ExperimentConfig]:
    """The extra-seed runs whose spread is reported (:data:`SPREAD_MODELS` at :data:`SPREAD_SEEDS`)."""
    base = {e.config.model: e.config for e in entries("2", data, profile)}
    return [replace(base[m], seed=s) for m in SPREAD_MODELS for s in SPREAD_SEEDS[profile]]


def variant_configs(data: str = "embedded", profile: str = "quick") -> list[ExperimentConfig]:
    """The rows of the paper-vs-release comparison (table 'release') at every seed of :data:`SPREAD_SEEDS`."""
    return [replace(e.config, seed=s) for e in entries("release", data, profile) for s in SPREAD_SEEDS[profile]]


def all_configs(data: str = "embedded", profile: str = "quick") -> list[ExperimentConfig]:
    """Every distinct run the notebooks need, for ``hgn reproduce`` to train up front."""
    configs = ([e.config for t in TABLES for e in entries(t, data, profile)] + spread_configs(data, profile)
               + variant_configs(data, profile))
    return list(dict.fromkeys(configs))
