"""The paper's experiments as named configurations: one definition per table and figure, shared by the notebooks,
``hgn reproduce`` (which trains them all first, in parallel) and the result cache.

:func:`entries` gives the rows of a table for a dataset and a profile; each row pairs a configuration with the
paper's values of that row; both come from the rows of :mod:`hgnlib.paper` (``resources/paper_results.json``). Rows of
different tables that are the same experiment (e.g. HGN with lambda_M = 0.01 in Tables 1, 2 and 4a and Figure 3)
have the same configuration, hence the same cache key, and are trained once.

The 2D input is the ground truth in the ablations (Tables 1-4, Figure 3; paper Sec. 4.2) and the detector's
(CPN on Human3.6M, the detector-like file on the embedded data) with flip augmentation and test-time flip in the
comparison with the state of the art (Tables 5-6; Sec. 4.3). Table 7 evaluates the ground-truth-2D models of Table 2
on unseen data (MPI-INF-3DHP, or motion capture through unseen cameras on the embedded data).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from ..paper import TABLE_KEYS, table_runs
from ..profiles import PAPER_RECIPE, get_profile
from .config import ExperimentConfig
from .variants import apply_variant

#: The seeds of the runs whose spread is reported, per profile.
SPREAD_SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0, 1), "quick": (0, 1, 2), "standard": (0, 1, 2),
                                            "full": (0, 1, 2), "paper": (0,)}
#: The experiments (their model configurations) whose seed-to-seed spread is measured in every profile (HGN and
#: SemGCN of Table 2).
SPREAD_MODELS = ("semgcn-128", "hgn-128")
#: The profiles that train every row a paper claim rests on (:mod:`hgnlib.claims`) at all of their seeds.
CLAIM_PROFILES = ("standard", "full", "paper")


@dataclass(frozen=True)
class Entry:
    """A row of a table: the paper's label, the configuration that reproduces it, the paper's values."""

    table: str
    label: str
    config: ExperimentConfig
    paper: dict


def entries(table: str, data: str = "embedded", profile: str = "quick", seed: int = 0) -> list[Entry]:
    """The rows of ``table`` ('1', '2', '3', '4a', '4b', 'figure3', '5', '7', 'train') as configurations: the rows of
    :mod:`hgnlib.paper`, plus for 'train' the probes of the profile's recipe."""
    def cfg(model: str, lambda_m: float = 0.01, **kw) -> ExperimentConfig:
        return ExperimentConfig(model, data=data, profile=profile, lambda_m=lambda_m, seed=seed, **kw)

    if table in TABLE_KEYS:
        return [Entry(table, run["label"], cfg(run["model"], run.get("lambda_m", 0.01),
                                               source_2d=run.get("source_2d", "gt"), flip_train=run.get("flip", False),
                                               flip_test=run.get("flip", False)), paper)
                for run, paper in table_runs(table)]
    if table == "train":
        rows = [Entry("train", "HGN", cfg("hgn-128"), {})]
        recipe, paper = get_profile(profile).recipe, PAPER_RECIPE
        choices = [(name, label) for name, label in RECIPE_CHOICES if getattr(recipe, name) != getattr(paper, name)]
        if choices:
            # the profile's choices against the paper's reading, one at a time, on SemGCN
            rows.append(Entry("train", "SemGCN, this profile's recipe", cfg("semgcn-128"), {}))
            rows += [Entry("train", f"SemGCN, {label}", cfg("semgcn-128", overrides=((name, getattr(paper, name)),)),
                           {}) for name, label in choices]
        return rows
    if table == "release":
        return [Entry("release", f"{name}, {variant} settings", apply_variant(cfg(model), variant), {})
                for name, model in (("SemGCN", "semgcn-128"), ("HGN", "hgn-128")) for variant in ("paper", "release")]
    raise ValueError(f"unknown table {table!r}; choose one of {TABLES}")


#: Recipe settings in which a profile may depart from the paper's reading, with the label of the paper's value.
RECIPE_CHOICES = (("output_init_scale", "output init x1 (paper)"), ("lr", "learning rate 1e-3 (paper)"),
                  ("init", "Xavier per weight matrix (paper's reading)"), ("loss", "Eq. 4 summed loss (paper)"))

#: Every table and figure that trains runs, in notebook order.
TABLES = ("train", "1", "2", "3", "4a", "4b", "figure3", "5", "7", "release")


def spread_groups(data: str = "embedded", profile: str = "quick") -> list[list[ExperimentConfig]]:
    """The runs whose seed spread is reported, at :data:`SPREAD_SEEDS`, in two groups: :data:`SPREAD_MODELS` (the
    learning curves and seed spread of notebook 03) and, in :data:`CLAIM_PROFILES`, the other rows a paper claim
    compares. ``hgn reproduce`` starts them in that order, before every other run (:func:`start_groups`)."""
    base = {e.config.model: e.config for e in entries("2", data, profile)}
    groups = [[base[m] for m in SPREAD_MODELS]]
    if profile in CLAIM_PROFILES:
        from ..claims import claim_configs

        groups.append([c for c in claim_configs(data, profile) if c not in groups[0]])
    return [[replace(c, seed=s) for c in group for s in SPREAD_SEEDS[profile]] for group in groups]


def start_groups(data: str = "embedded", profile: str = "quick") -> list[list[ExperimentConfig]]:
    """:func:`spread_groups`, each in the order that answers the paper's claims soonest given how far each run has
    trained (:func:`hgnlib.claims.answer_order`): the order in which ``hgn reproduce`` starts them, before every
    other run, and ``hgn status`` lists them."""
    from ..claims import answer_order
    from .parallel import remaining_cost

    return [answer_order(group, data, profile, remaining_cost) for group in spread_groups(data, profile)]


def spread_configs(data: str = "embedded", profile: str = "quick") -> list[ExperimentConfig]:
    """The extra-seed runs whose spread is reported (:func:`spread_groups`, one list)."""
    return list(dict.fromkeys(c for group in spread_groups(data, profile) for c in group))


def variant_configs(data: str = "embedded", profile: str = "quick") -> list[ExperimentConfig]:
    """The rows of the paper-vs-release comparison (table 'release') at every seed of :data:`SPREAD_SEEDS`."""
    return [replace(e.config, seed=s) for e in entries("release", data, profile) for s in SPREAD_SEEDS[profile]]


def all_configs(data: str = "embedded", profile: str = "quick") -> list[ExperimentConfig]:
    """Every distinct run the notebooks need, for ``hgn reproduce`` to train up front."""
    configs = ([e.config for t in TABLES for e in entries(t, data, profile)] + spread_configs(data, profile)
               + variant_configs(data, profile))
    return list(dict.fromkeys(configs))


def label_matches(label: str, patterns: Sequence[str]) -> bool:
    """Whether a run's label matches one of the shell-style ``patterns`` (``*``, ``?``, ``[...]``; case-sensitive),
    e.g. ``'hgn-wo-mesh-c-128 *'`` for the three seeds of HGN without G_M^C; no patterns match every label."""
    return not patterns or any(fnmatch.fnmatchcase(label, pattern) for pattern in patterns)


def unmatched_patterns(labels: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The shell-style ``patterns`` that match none of ``labels`` (a typo would otherwise choose nothing)."""
    labels = list(labels)
    return [p for p in patterns if not any(label_matches(label, (p,)) for label in labels)]
