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
