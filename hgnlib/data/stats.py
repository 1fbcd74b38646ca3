"""Dataset statistics that tell whether data look like Human3.6M: bone lengths, camera distances, image extents.

``H36M_REFERENCE`` holds the figures we compare against. Bone lengths are those of subject S1's skeleton in
the standard Human3.6M processing (mm); the band we accept around them (``BONE_BAND``) is our own choice, wide
enough for subjects from about 1.55 m to 1.90 m and for the small differences in where a body model puts a
joint. Camera distances and image extents are those of the real capture set-up (cameras about 4-6 m from the
centre of a volume a few metres across, 1000 x 1000 px images).
"""
from __future__ import annotations

import numpy as np

from .. import skeleton
from ..cameras import Camera

#: Bone lengths (mm) of Human3.6M subject S1's skeleton, in the order of :func:`skeleton.bone_names`.
H36M_S1_BONES_MM = np.array([132.9, 442.9, 454.2, 132.9, 442.9, 454.2, 233.4, 257.1, 121.1, 115.0,
                             151.0, 278.9, 251.7, 151.0, 278.9, 251.7])
BONE_BAND = (0.7, 1.35)
H36M_REFERENCE = {
    "camera_distance_m": (3.0, 7.5),  # depth of the pelvis in camera coordinates
    "image_size_px": (1000, 1002),
}


def bone_table(positions_3d: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per subject: mean, min and max length (mm) of each of the 16 bones over all frames."""
    out = {}
    for subject, seqs in positions_3d.items():
        lengths = np.concatenate([skeleton.bone_lengths(_as17(a)) for a in seqs.values()]) * 1000
        out[subject] = {"mean": lengths.mean(0), "min": lengths.min(0), "max": lengths.max(0)}
    return out


def bone_report(positions_3d: dict) -> list[dict]:
    """One row per bone: the dataset's range of per-subject means next to S1's length and the accepted band."""
    table = bone_table(positions_3d)
    means = np.stack([t["mean"] for t in table.values()])
    spread = np.stack([t["max"] - t["min"] for t in table.values()]).max(0)
    rows = []
    for i, name in enumerate(skeleton.bone_names()):
        lo, hi = H36M_S1_BONES_MM[i] * BONE_BAND[0], H36M_S1_BONES_MM[i] * BONE_BAND[1]
        rows.append({"bone": name, "min_subject_mean_mm": float(means[:, i].min()),
                     "max_subject_mean_mm": float(means[:, i].max()),
                     "max_within_subject_variation_mm": float(spread[i]), "h36m_s1_mm": float(H36M_S1_BONES_MM[i]),
                     "in_band": bool(lo <= means[:, i].min() and means[:, i].max() <= hi)})
    return rows


def camera_report(positions_3d: dict, positions_2d: dict, cameras: dict[str, list[Camera]]) -> list[dict]:
    """Per camera: pelvis depth range (m), 2D extents (px), % of joints inside the image, person height (px)."""
    rows = []
    for c in range(4):
        depth, uv, heights = [], [], []
        for subject, seqs in positions_3d.items():
            cam = cameras[subject][c]
            for name, a in seqs.items():
                j = _as17(a)
                depth.append(cam.world_to_camera(j[:, 0])[:, 2])
                p = np.asarray(positions_2d[subject][name][c])[: len(j)]
                uv.append(p.reshape(-1, 2))
                heights.append(p[..., 1].max(1) - p[..., 1].min(1))
        depth, uv, heights = np.concatenate(depth), np.concatenate(uv), np.concatenate(heights)
        cam = next(iter(cameras.values()))[c]
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
        rows.append({"camera": cam.id, "depth_min_m": float(depth.min()), "depth_max_m": float(depth.max()),
                     "u_min": float(uv[:, 0].min()), "u_max": float(uv[:, 0].max()), "v_min": float(uv[:, 1].min()),
                     "v_max": float(uv[:, 1].max()), "inside_pct": float(100 * inside.mean()),
                     "person_height_px_median": float(np.median(heights))})
    return rows


def _as17(a: np.ndarray) -> np.ndarray:
    return skeleton.to_17(a) if a.shape[-2] == 32 else a
