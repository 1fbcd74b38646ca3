"""Figures: skeletons in 2D and 3D, meshes, and our numbers against the paper's. Matplotlib only, no state."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import ScalarFormatter

from .skeleton import BONES, LEFT_JOINTS, RIGHT_JOINTS

LEFT_COLOR, RIGHT_COLOR, CENTER_COLOR = "tab:blue", "tab:red", "0.25"


def _bone_color(child: int) -> str:
    if child in LEFT_JOINTS:
        return LEFT_COLOR
    if child in RIGHT_JOINTS:
        return RIGHT_COLOR
    return CENTER_COLOR


def draw_skeleton_2d(ax, uv: np.ndarray, color: str | None = None, lw: float = 2.0, label: str | None = None) -> None:
    """Draw a (17, 2) pixel skeleton; left blue, right red unless ``color`` is given (image axes: v down)."""
    for p, c in BONES:
        ax.plot(uv[[p, c], 0], uv[[p, c], 1], color=color or _bone_color(c), lw=lw)
    ax.scatter(uv[:, 0], uv[:, 1], s=8, color=color or "k", zorder=3, label=label)


def draw_skeleton_3d(ax, joints: np.ndarray, color: str | None = None, lw: float = 2.0, label: str | None = None,
                     up_axis: int = 2) -> None:
    """Draw a (17, 3) skeleton on a 3D axis; ``up_axis`` is the coordinate that points up (2 for world, -1 camera y)."""
    xyz = _upright(joints, up_axis)
    for i, (p, c) in enumerate(BONES):
        ax.plot(xyz[[p, c], 0], xyz[[p, c], 1], xyz[[p, c], 2], color=color or _bone_color(c), lw=lw,
                label=label if i == 0 else None)


def _upright(points: np.ndarray, up_axis: int) -> np.ndarray:
    """Reorder coordinates so that the third one points up (camera space: y points down, z forward)."""
    if up_axis == 2:
        return points
    if up_axis == -1:  # camera coordinates: x right, y down, z forward -> x, z, -y
        return np.stack([points[..., 0], points[..., 2], -points[..., 1]], -1)
    raise ValueError(f"up_axis must be 2 (z up) or -1 (camera), got {up_axis}")


def set_equal_3d(ax, points: np.ndarray, up_axis: int = 2, margin: float = 0.03, zoom: float = 1.3) -> None:
    """Equal aspect ratio around the given points (``margin`` in their unit), the box enlarged to fill the panel."""
    xyz = _upright(points.reshape(-1, 3), up_axis)
    center = (xyz.max(0) + xyz.min(0)) / 2
    half = (xyz.max(0) - xyz.min(0)).max() / 2 + margin
    ax.set_xlim(center[0] - half, center[0] + half)
    ax.set_ylim(center[1] - half, center[1] + half)
    ax.set_zlim(center[2] - half, center[2] + half)
    ax.set_box_aspect((1, 1, 1), zoom=zoom)


def draw_mesh(ax, vertices: np.ndarray, faces: np.ndarray, color: str = "lightsteelblue", alpha: float = 0.45,
              up_axis: int = 2) -> None:
    """Draw a triangle mesh as a shaded surface."""
    xyz = _upright(vertices, up_axis)
    ax.plot_trisurf(xyz[:, 0], xyz[:, 1], xyz[:, 2], triangles=faces, color=color, alpha=alpha, linewidth=0,
                    shade=True)


def draw_graph_3d(ax, points: np.ndarray, adjacency, color: str = "tab:orange", node_size: float = 10,
                  lw: float = 0.8, up_axis: int = 2) -> None:
    """Draw a graph in 3D: ``points`` (N, 3) as nodes, every non-zero of ``adjacency`` (dense or sparse) as an edge."""
    from mpl_toolkits.mplot3d.art3d import Line3DCollection
    import scipy.sparse as sp

    xyz = _upright(points, up_axis)
    coo = sp.coo_matrix(adjacency)
    keep = coo.row < coo.col
    segments = np.stack([xyz[coo.row[keep]], xyz[coo.col[keep]]], axis=1)
    ax.add_collection3d(Line3DCollection(segments, colors=color, linewidths=lw))
    ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], s=node_size, color=color, depthshade=False)


def plot_learning_curves(ax, summary: dict, metric: str = "mpjpe") -> None:
    """Validation error against training steps (log-log) of every run of a convergence study
    (:func:`hgnlib.experiments.convergence.study_summary`), one colour per model, the plateau steps marked."""
    colors = {}
    for run in summary["runs"]:
        if not run["steps"]:
            continue
        color = colors.setdefault(run["model"], f"C{len(colors)}")
        ax.plot(run["steps"], run[metric], color=color, lw=1.2, alpha=0.85,
                label=f"{run['model']} seed {run['seed']}")
        if run["plateau_step"] is not None:
            ax.axvline(run["plateau_step"], color=color, ls=":", lw=1)
    _learning_curve_axes(ax, metric)
    ax.legend(fontsize=8)


def _learning_curve_axes(ax, metric: str) -> None:
    """Log-log axes of validation error against training steps."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training steps (batch 64)")
    ax.set_ylabel(f"validation {metric.upper().replace('_', '-')} (mm)")


def plot_suite_progress(ax, summary: dict, total_steps: int | None = None, reference: dict | None = None,
                        metric: str = "mpjpe") -> None:
    """A suite in progress: the validation curves its runs have so far (``summary``: a
    :func:`~hgnlib.experiments.convergence.study_summary` of the suite's runs; runs without a curve are left out),
    one colour per configuration (its seeds share it: ``hgn-128 lM=0`` and ``lM=0.01`` differ) and one line style
    per seed, the profile's length ``total_steps`` as a dashed line, and the
    curves of a ``reference`` summary (the convergence study) in thin grey behind them. A reference summarising the
    suite's own runs (source ``suite``, what ``hgn converge --suite`` writes) would repeat them and is not drawn."""
    if reference is not None and reference["source"] == "suite":
        reference = None
    if reference is not None:
        for k, run in enumerate(r for r in reference["runs"] if r["steps"]):
            ax.plot(run["steps"], run[metric], color="0.6", lw=0.8, alpha=0.8, zorder=1,
                    label=f"convergence study ({reference['source']})" if k == 0 else None)
            ax.annotate(f"{run['model']} s{run['seed']}", (run["steps"][-1], run[metric][-1]), fontsize=6,
                        color="0.4", xytext=(2, 0), textcoords="offset points", va="center")
    styles, colors = ("-", "--", ":", "-."), {}
    for run in summary["runs"]:
        if not run["steps"]:
            continue
        setting = run["label"].rsplit(" seed", 1)[0]  # the configuration, whatever its seed
        color = colors.setdefault(setting, f"C{len(colors) % 10}")
        ax.plot(run["steps"], run[metric], color=color, lw=1.3, ls=styles[run["seed"] % len(styles)], zorder=2,
                label=run["label"])
    if total_steps:
        ax.axvline(total_steps, color="k", ls="--", lw=0.8, label=f"profile length ({total_steps:,} steps)")
    _learning_curve_axes(ax, metric)
    if reference is not None:
        ax.set_xlim(right=ax.get_xlim()[1] * 1.6)  # room for the study curves' labels
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.legend(fontsize=7)


def gap_chart(ax, labels: list[str], ours: list[float], paper: list[float], reference: int = 0,
              ours_label: str = "ours", spread: float | None = None, metric: str = "MPJPE", lines: bool = False) -> None:
    """Ours and the paper's on one axis as differences from the row ``reference`` (mm; below zero: better).

    The two sets of numbers come from different data, so their absolute levels cannot be compared; their gaps to
    the same reference row can. ``spread`` (ours' seed-to-seed standard deviation) is drawn as a band around zero:
    gaps inside it are within training noise.
    """
    import textwrap

    x = np.arange(len(labels))
    ours_gap = np.asarray(ours, dtype=float) - ours[reference]
    paper_gap = np.asarray(paper, dtype=float) - paper[reference]
    if spread and np.isfinite(spread):
        ax.axhspan(-spread, spread, color="tab:red", alpha=0.12, lw=0, label=f"ours: +- 1 seed std ({spread:.1f} mm)")
    if lines:
        ax.plot(x, ours_gap, marker="o", color="tab:red", label=ours_label)
        ax.plot(x, paper_gap, marker="s", ls="--", color="0.35", label="paper (Human3.6M)")
    else:
        ax.bar(x - 0.2, ours_gap, 0.4, color="tab:red", label=ours_label)
        ax.bar(x + 0.2, paper_gap, 0.4, color="0.55", label="paper (Human3.6M)")
    ax.axhline(0, color="k", lw=0.8)
    wrap = max(9, 64 // len(labels))  # characters per line, so that neighbouring labels never touch
    ax.set_xticks(x, [textwrap.fill(label, wrap, break_long_words=False) for label in labels], fontsize=7)
    ax.set_ylabel(f"{metric} minus {textwrap.shorten(labels[reference], 24)} (mm)", fontsize=8)
    ax.set_title(f"reference {labels[reference]}: ours {ours[reference]:.1f} mm, paper {paper[reference]:.2f} mm",
                 fontsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, fontsize=7, frameon=False)
