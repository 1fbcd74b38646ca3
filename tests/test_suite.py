"""The paper's experiments as configurations, the paper's values, and the comparison tables."""
import pandas as pd
import pytest

from hgnlib import skeleton
from hgnlib.experiments import ExperimentConfig, RunResult
from hgnlib.experiments.suite import TABLES, all_configs, entries, spread_configs
from hgnlib.paper import paper_results
from hgnlib.tables import MISSING, comparison, data_note, per_action, published


def test_shared_experiments_have_one_configuration():
    hgn = {t: next(e.config for e in entries(t) if e.config.model == "hgn-128") for t in ("train", "2", "4a", "figure3")}
    assert len(set(hgn.values())) == 1 and hgn["2"] == entries("1")[2].config  # lambda_M = 0.01 row of Table 1
    semgcn2 = next(e.config for e in entries("2") if e.config.model == "semgcn-128")
    semgcn3 = next(e.config for e in entries("3") if e.config.model == "semgcn-128")
    assert semgcn2 == semgcn3  # lambda_M does not matter without a mesh output
    assert entries("3")[3].config == entries("1")[0].config  # HGN at lambda_M = 0
    configs = all_configs("embedded", "quick")
    assert len(configs) == len(set(configs)) and all(c.profile == "quick" for c in configs)
    assert len(configs) < sum(len(entries(t)) for t in TABLES) + len(spread_configs())


def test_entries_follow_the_paper():
    assert [e.config.lambda_m for e in entries("1")] == [0.0, 0.001, 0.01, 0.1, 1.0]
    assert {e.config.lambda_m for e in entries("3")} == {0.0}
    assert [e.config.model for e in entries("4b")] == ["semgcn-vanilla-128", "graphsh-vanilla-64", "hgn-vanilla-64",
                                                       "hgn-vanilla-128"]
    detected = entries("5")
    assert all(e.config.source_2d == "detected" and e.config.flip_train and e.config.flip_test for e in detected)
    assert detected[-1].paper["average"] == 51.8
    assert all(e.config.source_2d == "gt" for t in ("1", "2", "3", "4a", "4b", "figure3", "7") for e in entries(t))
    with pytest.raises(ValueError, match="unknown table"):
        entries("8")


def test_paper_values_are_transcribed_consistently():
    results = paper_results()
    for table in ("table5", "table6"):
        for row in results[table]["rows"]:
            assert list(row["per_action"]) == list(skeleton.ACTIONS)
            mean = sum(row["per_action"].values()) / 15
            assert abs(mean - row["average"]) < 0.5, row["method"]  # as published, rounding and all
    assert results["table2"]["rows"][3]["mpjpe"] == results["table1"]["rows"][2]["mpjpe"] == 37.32
    assert results["table3"]["rows"][3]["mpjpe"] == results["table1"]["rows"][0]["mpjpe"] == 38.31


def _fake_run(config: ExperimentConfig, mpjpe: float, mesh: dict | None = None) -> RunResult:
    metrics = {"mpjpe": mpjpe, "pa_mpjpe": mpjpe * 0.8,
               "per_action": {"mpjpe": {a: mpjpe + i for i, a in enumerate(skeleton.ACTIONS)},
                              "pa_mpjpe": {a: mpjpe for a in skeleton.ACTIONS}}}
    if mesh:
        metrics["mpvpe"] = mesh
    return RunResult(key="k", config=config, metrics=metrics, history=[], seconds=0.0, info={}, path=None)


def test_comparison_puts_ours_next_to_the_paper():
    rows = [(e, _fake_run(e.config, 50.0 + i, {"mesh_c": 70.04} if e.config.mesh_outputs else None))
            for i, e in enumerate(entries("2"))]
    table = comparison(rows, ("mpjpe", "mpvpe_mesh_c"), {"semgcn-128": 0.4351})
    assert table.loc["SemGCN (Baseline)", "MPJPE ours"] == 50.0
    assert table.loc["SemGCN (Baseline)", "MPJPE paper"] == 40.8  # 40.78 rounded
    assert table.loc["HGN", "MPJPE diff"] == pytest.approx(53.0 - 37.32, abs=0.05)
    assert table.loc["SemGCN (Baseline)", "MPVPE M^C ours"] == MISSING  # no mesh output
    assert table.loc["HGN w/o G_M^{C-1}", "MPVPE M^C ours"] == 70.0
    assert table.loc["SemGCN (Baseline)", "Params (M) ours"] == 0.44 and table.loc["HGN", "Params (M) ours"] == MISSING


def test_per_action_and_published_tables():
    frame = per_action({"a": _fake_run(ExperimentConfig("semgcn-128"), 10.0)})
    assert list(frame.index) == list(skeleton.ACTIONS) + ["Average"] and frame.loc["Average", "a"] == 17.0
    table5 = published("5")
    assert isinstance(table5, pd.DataFrame) and table5.loc["HGN (Li et al.)", "Average"] == 51.8
    assert "NOT the paper's" in data_note("embedded", "quick") and "real Human3.6M" in data_note("h36m", "paper")
