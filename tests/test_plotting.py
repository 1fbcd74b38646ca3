"""The comparison chart: ours and the paper's as gaps to one reference row, on one axis."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hgnlib.plotting import gap_chart  # noqa: E402


def test_gap_chart_draws_differences_on_one_axis():
    fig, ax = plt.subplots()
    gap_chart(ax, ["base", "a", "b"], [300.0, 295.0, 310.0], [40.0, 38.0, 41.5], spread=2.0)
    heights = [round(bar.get_height(), 6) for bars in ax.containers for bar in bars]
    assert heights == [0.0, -5.0, 10.0, 0.0, -2.0, 1.5]
    assert len(fig.axes) == 1 and "ours 300.0 mm, paper 40.00 mm" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()][0].startswith("ours: +- 1 seed std")
    fig, ax = plt.subplots()
    gap_chart(ax, ["base", "a"], [1.0, 2.0], [3.0, 1.0], spread=float("nan"), lines=True)
    assert np.allclose(ax.lines[1].get_ydata(), [0.0, -2.0]) and len(ax.get_legend().get_texts()) == 2
    plt.close("all")
