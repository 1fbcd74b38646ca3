"""Drawing a lift: the 2D input beside the 3D skeleton, as PNGs, a GIF or an MP4."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import HGNError
from ..fileio import atomic_path
from . import coco
from .lifting import LiftResult

RENDER_KINDS = ("png", "gif", "mp4")


def render(result: LiftResult, out: str | Path, kind: str = "gif", fps: float = 10.0, progress: bool = True,
           dpi: int = 72, frames: Sequence[int] | None = None) -> Path:
    """Draw the 2D input beside the 3D skeleton for each frame: ``png`` (one file per frame in the folder ``out``),
    ``gif`` (pillow) or ``mp4`` (ffmpeg, refused with a clear error when it is not installed). Returns ``out``."""
    import matplotlib.pyplot as plt
    from matplotlib import animation
    from tqdm import tqdm

    from ..plotting import draw_skeleton_2d, draw_skeleton_3d

    if kind not in RENDER_KINDS:
        raise HGNError(f"unknown render kind {kind!r}; use one of {list(RENDER_KINDS)}")
    if kind == "mp4" and not animation.writers.is_available("ffmpeg"):
        raise HGNError("an MP4 needs ffmpeg, which is not installed: install it (e.g. `apt-get install ffmpeg`) or "
                       "render a GIF instead (--render gif)")
    out = Path(out)
    index = list(range(len(result))) if frames is None else list(frames)
    if not index:
        raise HGNError("nothing to render: no frame")
    joints = result.joints[index]
    seen = result.keypoints[index].reshape(-1, 2)
    low, high = seen.min(0), seen.max(0)
    pad = 0.15 * (high - low).max() + 10
    low, high = low - pad, high + pad
    upright = np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], -1)
    centre = (upright.reshape(-1, 3).max(0) + upright.reshape(-1, 3).min(0)) / 2
    half = (upright.reshape(-1, 3).max(0) - upright.reshape(-1, 3).min(0)).max() / 2 + 0.1
    fig = plt.figure(figsize=(9, 4.5))
    ax2 = fig.add_subplot(1, 2, 1)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    def draw(t: int) -> None:
        ax2.cla()
        ax3.cla()
        pts = result.input_points[t]
        if result.layout == "coco17":
            ok = np.isfinite(pts[:, :2]).all(-1) & (pts[:, 2] >= result.min_score)
            for a, b in coco.COCO17_BONES:
                if ok[a] and ok[b]:
                    ax2.plot(pts[[a, b], 0], pts[[a, b], 1], color="0.65", lw=4, zorder=1)
        draw_skeleton_2d(ax2, result.keypoints[t])
        if result.filled[t].any():
            f = result.keypoints[t][result.filled[t]]
            ax2.scatter(f[:, 0], f[:, 1], marker="x", s=60, color="tab:orange", zorder=4, label="filled")
            ax2.legend(loc="lower right", fontsize=7)
        ax2.add_patch(plt.Rectangle((0, 0), result.width, result.height, fill=False, color="0.8", lw=1))
        ax2.set_xlim(low[0], high[0])
        ax2.set_ylim(high[1], low[1])
        ax2.set_aspect("equal")
        ax2.set_title(f"2D input ({result.layout}{', grey: as given' if result.layout == 'coco17' else ''})",
                      fontsize=8)
        ax2.tick_params(labelsize=6)
        draw_skeleton_3d(ax3, result.joints[t], up_axis=-1)
        ax3.set_xlim(centre[0] - half, centre[0] + half)
        ax3.set_ylim(centre[1] - half, centre[1] + half)
        ax3.set_zlim(centre[2] - half, centre[2] + half)
        ax3.set_box_aspect((1, 1, 1))
        ax3.set_xlabel("x (m)", fontsize=7)
        ax3.set_ylabel("depth z (m)", fontsize=7)
        ax3.set_zlabel("up -y (m)", fontsize=7)
        ax3.tick_params(labelsize=6)
        ax3.set_title(f"3D, camera axes, pelvis-relative ({result.model_name})", fontsize=8)
        fig.suptitle(f"frame {result.frame_ids[t]}", fontsize=9)

    bar = tqdm(index, desc=f"rendering {kind}", unit="frame", disable=not progress)
    try:
        if kind == "png":
            out.mkdir(parents=True, exist_ok=True)
            for t in bar:
                draw(t)
                with atomic_path(out / f"frame_{t:06d}.png") as tmp:
                    fig.savefig(tmp, dpi=dpi)
        else:
            writer = animation.PillowWriter(fps=fps) if kind == "gif" else animation.FFMpegWriter(fps=fps)
            with atomic_path(out) as tmp:
                with writer.saving(fig, str(tmp), dpi):
                    for t in bar:
                        draw(t)
                        writer.grab_frame()
    finally:
        bar.close()
        plt.close(fig)
    return out
