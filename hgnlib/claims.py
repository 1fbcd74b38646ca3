"""The paper's claims as orderings of two rows, judged on our runs against their seed-to-seed spread.

Each :class:`Claim` says that one row of a table has a lower MPJPE than another (e.g. HGN beats HGN without the
G_M^{C-1} branch). :func:`judge` reads both rows' runs over the seeds the profile trains (``hgn reproduce`` trains
them; :func:`hgnlib.experiments.suite.spread_configs`) and gives a verdict:

- ``holds``: ours orders the rows as the paper does, by more than the spread of the difference;
- ``reversed``: ours orders them the other way, by more than that spread;
- ``within spread``: the difference is smaller than the spread;
- with a single seed on either side there is no spread: ``holds (1 seed)`` / ``reversed (1 seed)``.

The spread of the difference of two runs is ``sqrt(s_a^2 + s_b^2)`` with the sample standard deviations of the two
rows over their seeds.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from . import paths
from .experiments.config import ExperimentConfig
from .experiments.runs import cached_result
from .experiments.suite import entries, spread_configs


@dataclass(frozen=True)
class Claim:
    """``better`` (a row of ``table``, by label) has a lower MPJPE than ``worse``; ``text`` says what it shows."""

    text: str
    table: str
    better: str
    worse: str


CLAIMS: tuple[Claim, ...] = (
    Claim("the mesh constraint helps (lambda_M = 0.01 vs 0)", "1", "lambda_M = 0.01", "lambda_M = 0"),
    Claim("lambda_M = 0.01 beats a heavier mesh loss (0.1)", "1", "lambda_M = 0.01", "lambda_M = 0.1"),
    Claim("HGN beats the SemGCN baseline", "2", "HGN", "SemGCN (Baseline)"),
    Claim("the G_M^{C-1} branch helps", "2", "HGN", "HGN w/o G_M^{C-1}"),
    Claim("the G_M^C branch helps", "2", "HGN", "HGN w/o G_M^C"),
    Claim("HGN w/o G_M^C beats the SemGCN baseline", "2", "HGN w/o G_M^C", "SemGCN (Baseline)"),
    Claim("HGN w/o G_M^{C-1} beats the SemGCN baseline", "2", "HGN w/o G_M^{C-1}", "SemGCN (Baseline)"),
    Claim("HGN-64 beats GraphSH at fewer parameters", "4a", "Ours (64 ch.)", "GraphSH (64 ch.)"),
    Claim("HGN-64 beats SeqRes at fewer parameters", "4a", "Ours (64 ch.)", "SeqRes (128 ch.)"),
)

VERDICTS = ("holds", "reversed", "within spread", "holds (1 seed)", "reversed (1 seed)", "not trained")


def claim_configs(data: str, profile: str) -> list[ExperimentConfig]:
    """The configurations (seed 0) of every row that a claim compares."""
    configs = []
    for claim in CLAIMS:
        rows = {e.label: e.config for e in entries(claim.table, data, profile)}
        for label in (claim.better, claim.worse):
            if label not in rows:
                raise KeyError(f"claim {claim.text!r}: table {claim.table} has no row {label!r}; rows: {sorted(rows)}")
            configs.append(rows[label])
    return list(dict.fromkeys(configs))


def _spread_seeds(data: str, profile: str) -> dict[ExperimentConfig, set[int]]:
    """The seeds each row is trained with beyond seed 0 (the profile's spread runs), by its seed-0 configuration."""
    seeds: dict[ExperimentConfig, set[int]] = {}
    for config in spread_configs(data, profile):
        seeds.setdefault(config.with_seed(0), set()).add(config.seed)
    return seeds


def _row_runs(config: ExperimentConfig, seeds: dict[ExperimentConfig, set[int]]) -> list[ExperimentConfig]:
    return [config.with_seed(s) for s in sorted(seeds.get(config.with_seed(0), set()) | {config.seed})]


def answer_order(configs: list[ExperimentConfig], data: str, profile: str,
                 remaining: Callable[[ExperimentConfig], float]) -> list[ExperimentConfig]:
    """``configs`` in the order that answers the claims soonest when runs are trained one after another (sessions,
    time limits): again and again the claim whose rows need the least training not yet scheduled (``remaining``: a
    run's cost-weighted steps still to train), its runs nearest to their end first; runs of no claim last, as given."""
    wanted, seeds = set(configs), _spread_seeds(data, profile)
    claim_runs = []
    for claim in CLAIMS:
        rows = {e.label: e.config for e in entries(claim.table, data, profile)}
        claim_runs.append([r for label in (claim.better, claim.worse) for r in _row_runs(rows[label], seeds)
                           if r in wanted])
    cost = {c: remaining(c) for c in configs}
    order: list[ExperimentConfig] = []
    while claim_runs:
        todo = [[r for r in runs if r not in order] for runs in claim_runs]
        cheapest = min(range(len(todo)), key=lambda i: sum(cost[r] for r in todo[i]))
        order += sorted(dict.fromkeys(todo[cheapest]), key=lambda r: cost[r])
        del claim_runs[cheapest]
    return order + [c for c in configs if c not in order]


def _seed_values(config: ExperimentConfig, seeds: dict[ExperimentConfig, set[int]]) -> list[float]:
    values = []
    for run in _row_runs(config, seeds):
        result = cached_result(run)
        if result is not None:
            values.append(result.metrics["mpjpe"])
    return values


def verdict(better: list[float], worse: list[float]) -> tuple[str, float | None, float | None]:
    """(verdict, difference worse - better of the means, spread of that difference) of two rows' seed values."""
    if not better or not worse:
        return "not trained", None, None
    gap = statistics.fmean(worse) - statistics.fmean(better)
    if min(len(better), len(worse)) < 2:
        return ("holds (1 seed)" if gap > 0 else "reversed (1 seed)"), gap, None
    spread = math.hypot(statistics.stdev(better), statistics.stdev(worse))
    return ("holds" if gap > spread else "reversed" if gap < -spread else "within spread"), gap, spread


def judge(data: str = "embedded", profile: str = "quick") -> list[dict]:
    """Every claim with the paper's difference, ours (mean over seeds), its spread, seed counts and the verdict,
    from the runs in the cache (a claim whose runs are missing is 'not trained')."""
    seeds = _spread_seeds(data, profile)
    out = []
    for claim in CLAIMS:
        rows = {e.label: e for e in entries(claim.table, data, profile)}
        better, worse = rows[claim.better], rows[claim.worse]
        ours_better, ours_worse = _seed_values(better.config, seeds), _seed_values(worse.config, seeds)
        name, gap, spread = verdict(ours_better, ours_worse)
        out.append({"claim": claim.text, "table": claim.table, "better": claim.better, "worse": claim.worse,
                    "paper_gap": worse.paper.get("mpjpe") - better.paper.get("mpjpe"), "gap": gap, "spread": spread,
                    "seeds": [len(ours_better), len(ours_worse)], "verdict": name})
    return out


#: The file of a report folder that records its profile's verdicts (``hgn reproduce`` writes it).
CLAIMS_FILE = "claims.json"


#: The file ``hgn status --json`` writes beside a suite in progress (``reports/<data>-<profile>/status.json``): its
#: "claims" are the verdicts of the runs finished so far.
STATUS_FILE = "status.json"


def _folder(data: str, profile: str, reports: str | Path | None) -> Path:
    return Path(reports) if reports else paths.repo_root() / "reports" / f"{data}-{profile}"


def recorded(data: str, profile: str, reports: str | Path | None = None) -> list[dict] | None:
    """The verdicts recorded with the reports of ``profile`` (None when those reports have none)."""
    path = _folder(data, profile, reports) / CLAIMS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def recorded_so_far(data: str, profile: str, reports: str | Path | None = None) -> list[dict] | None:
    """The verdicts of the runs finished so far, as ``hgn status --json`` recorded them beside a suite still training
    (None without such a file, or one from before status files held claims)."""
    path = _folder(data, profile, reports) / STATUS_FILE
    return json.loads(path.read_text()).get("claims") if path.exists() else None


def _cell(row: dict) -> str:
    if row["gap"] is None:
        return row["verdict"]
    spread = "" if row["spread"] is None else f" ± {row['spread']:.1f}"
    return f"{row['gap']:+.1f}{spread} mm: {row['verdict']}"


def compared_profiles(profile: str) -> tuple[str, ...]:
    """The profiles whose recorded verdicts stand next to ``profile``'s: the quick and standard profiles, except for
    the smoke profile, whose numbers mean nothing (and whose stored outputs must not depend on committed reports)."""
    return () if profile == "smoke" else tuple(p for p in ("quick", "standard") if p != profile)


def _seed_counts(row: dict) -> str:
    return f"({'/'.join(map(str, row['seeds']))})"


def claims_table(data: str, profile: str, others: tuple[str, ...] | None = None,
                 mine: list[dict] | None = None) -> pd.DataFrame:
    """The claims with the paper's gap (worse minus better row, mm), ours in ``profile`` (gap ± spread: verdict) and
    the verdicts of the ``others`` profiles (default :func:`compared_profiles`) as their reports recorded them, or,
    for a suite still training, as its status file recorded them from the runs finished then (with the seeds per
    row; 'no reports' when neither is there). ``mine``: :func:`judge`'s rows when the caller has them already."""
    mine = judge(data, profile) if mine is None else mine
    others = compared_profiles(profile) if others is None else others
    columns = {"claim": [r["claim"] for r in mine], "table": [r["table"] for r in mine],
               "paper (Human3.6M)": [f"{r['paper_gap']:+.2f} mm" for r in mine],
               f"ours, {profile} (seeds)": [f"{_cell(r)} {_seed_counts(r)}" for r in mine]}
    for other in others:
        rows, so_far = recorded(data, other), None
        if rows is None:
            rows = so_far = recorded_so_far(data, other)
        label = f"ours, {other}" + (" (runs finished so far)" if so_far else "")
        columns[label] = ["no reports"] * len(mine) if not rows or len(rows) != len(mine) else \
            [_cell(r) + (f" {_seed_counts(r)}" if so_far else "") for r in rows]
    return pd.DataFrame(columns).set_index("claim")
