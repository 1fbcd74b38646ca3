"""Judging a paper claim against the seed spread: the verdicts from hand-made seed values."""
import math

import pytest

from hgnlib.claims import VERDICTS, compared_profiles, verdict


@pytest.mark.parametrize("better, worse, expected", [
    ([50.0, 51.0, 52.0], [60.0, 61.0, 62.0], "holds"),
    ([60.0, 61.0, 62.0], [50.0, 51.0, 52.0], "reversed"),
    ([50.0, 55.0, 60.0], [51.0, 56.0, 61.0], "within spread"),
    ([50.0], [60.0, 61.0], "holds (1 seed)"),
    ([60.0, 61.0], [50.0], "reversed (1 seed)"),
    ([], [50.0], "not trained"),
])
def test_verdicts(better, worse, expected):
    name, gap, spread = verdict(better, worse)
    assert name == expected and name in VERDICTS
    if better and worse:
        assert gap == pytest.approx(sum(worse) / len(worse) - sum(better) / len(better))


def test_spread_combines_the_two_rows_seed_deviations():
    _, gap, spread = verdict([50.0, 52.0], [55.0, 59.0])
    assert gap == pytest.approx(6.0)
    assert spread == pytest.approx(math.hypot(math.sqrt(2.0), math.sqrt(8.0)))
    assert verdict([50.0, 52.0], [54.0, 56.0])[0] == "holds"  # gap 4 mm, spread 2 mm
    assert verdict([50.0, 54.0], [51.0, 55.0])[0] == "within spread"  # gap 1 mm, spread 4 mm


def test_smoke_profile_compares_with_no_other_profile():
    assert compared_profiles("smoke") == ()
    assert compared_profiles("quick") == ("standard",)
    assert compared_profiles("standard") == ("quick",)


def test_other_profile_column_reads_its_reports_or_its_suite_so_far(tmp_path, monkeypatch):
    """Next to a profile's own verdicts: the other profile's recorded with its reports (claims.json), else those its
    status file recorded from the runs finished so far (with the seeds per row), else 'no reports'."""
    import json

    from hgnlib import claims, paths

    def row(claim, gap, spread, verdict, seeds):
        return {"claim": claim.text, "table": claim.table, "paper_gap": 1.0, "gap": gap, "spread": spread,
                "seeds": seeds, "verdict": verdict}

    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    monkeypatch.setattr(claims, "judge", lambda data, profile: [row(c, None, None, "not trained", [0, 0])
                                                                 for c in claims.CLAIMS])
    folder = tmp_path / "reports" / "embedded-standard"
    folder.mkdir(parents=True)
    assert set(claims.claims_table("embedded", "quick")["ours, standard"]) == {"no reports"}
    so_far = [row(c, 5.2, 2.3, "holds", [3, 3]) if i == 0 else row(c, None, None, "not trained", [3, 0])
              for i, c in enumerate(claims.CLAIMS)]
    (folder / claims.STATUS_FILE).write_text(json.dumps({"runs": [], "claims": so_far}))
    column = claims.claims_table("embedded", "quick")["ours, standard (runs finished so far)"]
    assert list(column)[:2] == ["+5.2 ± 2.3 mm: holds (3/3)", "not trained (3/0)"]
    (folder / claims.CLAIMS_FILE).write_text(json.dumps([row(c, 4.0, 1.0, "holds", [3, 3]) for c in claims.CLAIMS]))
    assert set(claims.claims_table("embedded", "quick")["ours, standard"]) == {"+4.0 ± 1.0 mm: holds"}
