"""The paper's tables as data, defined once in ``resources/paper_results.json``: its published numbers and, for every
row we reproduce, the run that reproduces it.

Each row of Tables 1-4 carries a ``run``: our label for the row, the model configuration
(:data:`hgnlib.models.registry.CONFIGS`), lambda_M and, where it is not the ground truth, the 2D source and flips;
the paper's parameter count is the row's ``params_m``. Tables 5 and 7 and Figure 3, whose published rows are other
methods', list our ``runs`` separately (``paper_row`` names the published row a run stands next to). The registry's
parameter checks, the experiment suite and the notebooks all read these rows: adding a row to a table is one edit
of the JSON file.
"""
from __future__ import annotations

import functools
import json
from importlib import resources

#: Table name (as the suite and the notebooks call it) -> key in the JSON file.
TABLE_KEYS = {"1": "table1", "2": "table2", "3": "table3", "4a": "table4a", "4b": "table4b", "5": "table5",
              "7": "table7", "figure3": "figure3"}


@functools.lru_cache(maxsize=1)
def paper_results() -> dict:
    """The paper's tables (and the other methods' published numbers it lists), as a dict per table."""
    return json.loads(resources.files("hgnlib").joinpath("resources/paper_results.json").read_text())


def table_runs(table: str) -> list[tuple[dict, dict]]:
    """The rows of ``table`` that we reproduce, as (run, the paper's values of that row) pairs."""
    if table not in TABLE_KEYS:
        raise ValueError(f"unknown table {table!r}; choose one of {sorted(TABLE_KEYS)}")
    spec = paper_results()[TABLE_KEYS[table]]
    if "runs" in spec:
        published = {r.get("method"): r for r in spec.get("rows", [])}
        return [(run, published.get(run.get("paper_row"), {})) for run in spec["runs"]]
    return [(row["run"], row) for row in spec["rows"]]
