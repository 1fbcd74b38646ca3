"""COCO-17 keypoints (what most 2D detectors output) converted to the Human3.6M-17 layout the models take, and
the filling of missing joints: the conversion rules with their measured error, the low-score policy.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..skeleton import H36M17_NAMES, H36M17_PARENTS, NUM_JOINTS


#: The 17 keypoints of the COCO person layout (what most 2D detectors output), in their order.
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
COCO17_LEFT: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 13, 15)
COCO17_RIGHT: tuple[int, ...] = (2, 4, 6, 8, 10, 12, 14, 16)
COCO17_FLIP_PERMUTATION: tuple[int, ...] = tuple(
    {**{i: i for i in range(17)}, **dict(zip(COCO17_LEFT, COCO17_RIGHT)), **dict(zip(COCO17_RIGHT, COCO17_LEFT))}[i]
    for i in range(17)
)
#: Segments drawn for a COCO-17 pose (the usual COCO skeleton).
COCO17_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16),
)
#: H36M-17 joints that are COCO keypoints as they are (H36M index -> COCO index).
H36M_FROM_COCO_DIRECT: dict[int, int] = {
    2: 14, 3: 16, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10,
}

#: Keypoints scored below this are treated as missing (COCO results and any input with scores).
DEFAULT_MIN_SCORE = 0.3
#: Most joints (of 17, after the conversion) a frame may miss before the input is refused.
DEFAULT_MAX_MISSING = 6
#: Frames a missing joint may be carried over from (before or after it) by :func:`fill_missing`.
DEFAULT_MAX_GAP = 25

# Conversion constants (see coco_to_h36m), fitted by least squares on exact projections of the embedded training
# subjects (S1 S5 S6 S7 S8, every 10th frame, 4 cameras: 24,000 poses).
HIP_RAISE = 0.1041
HIP_WIDTH_RATIO = 0.7936
THORAX_RAISE = 0.1563
SPINE_FRACTION = 0.4624
#: Face rules: (alpha, beta) of ``X = C + alpha (C - Thorax) + beta (N - C)`` per anchor kind and H36M joint.
FACE_RULES: dict[str, dict[str, tuple[float, float]]] = {
    "eyes": {"Nose": (-0.2446, -0.3351), "Head": (0.1844, -2.0645)},
    "ears": {"Nose": (0.0342, 0.3403), "Head": (1.014, -0.0509)},
    "side": {"Nose": (-0.1108, 0.2505), "Head": (0.5826, -0.3189)},
    "nose": {"Nose": (-0.2225, 0.0), "Head": (0.2501, 0.0)},
}
#: Mean 2D error (pixels) of each H36M joint that :func:`coco_to_h36m` builds, against the true joint, on exact
#: projections of the embedded test subjects (S9 S11, every 10th frame, 4 cameras: 9,600 poses; 1,000 px images,
#: the trunk about 133 px long, so 1 px is about 3.7 mm at the body). The other 10 joints are exact (0 px). Face
#: anchor: both eyes visible. Next to it, the usual direct mapping (pelvis the hips' midpoint, hips as they are,
#: thorax the shoulders' midpoint, spine midway, nose the COCO nose, head the eyes' midpoint).
CONVERSION_ERROR_PX: dict[str, float] = {"Pelvis": 1.1, "RHip": 2.5, "LHip": 2.5, "Spine": 7.5, "Thorax": 2.8,
                                         "Nose": 0.8, "Head": 1.1}
DIRECT_MAPPING_ERROR_PX: dict[str, float] = {"Pelvis": 12.5, "RHip": 12.1, "LHip": 12.1, "Spine": 11.0,
                                             "Thorax": 18.9, "Nose": 15.6, "Head": 29.5}


def _points_and_scores(keypoints, min_score: float, joints: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """(..., J, 2|3) -> points (..., J, 2) with NaN where missing, scores (..., J) with 0 where missing."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-2] != joints or kp.shape[-1] not in (2, 3):
        raise ValueError(f"expected keypoints of shape (..., {joints}, 2) or (..., {joints}, 3) with scores, "
                         f"got {kp.shape}")
    xy = kp[..., :2].copy()
    score = kp[..., 2].copy() if kp.shape[-1] == 3 else np.ones(kp.shape[:-1])
    valid = np.isfinite(xy).all(-1) & np.isfinite(score) & (score >= min_score)
    xy[~valid] = np.nan
    return xy, np.where(valid, score, 0.0)


def coco_to_h36m(keypoints, min_score: float = DEFAULT_MIN_SCORE) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints (..., 17, 2) or (..., 17, 3) with scores -> H36M-17 points (..., 17, 2) and confidences.

    A keypoint is *missing* when its score is below ``min_score`` or it is not finite (NaN). Each H36M joint is
    built from COCO points as below; its confidence is the smallest score of the points used, and it is NaN with
    confidence 0 when a point it needs is missing (:func:`fill_missing` then fills it). With ``H`` the midpoint of
    the COCO hips, ``S`` the midpoint of the shoulders and ``t = S - H`` (the trunk):

    - knees, ankles, shoulders, elbows, wrists: the COCO points of the same names, unchanged;
    - Pelvis ``= H + HIP_RAISE t``; RHip / LHip ``= Pelvis + HIP_WIDTH_RATIO (hip - H)``. COCO-annotated hips sit
      lower and more lateral than Human3.6M's hip joint centres (annotators mark the side of the hip, motion
      capture the centre of the femoral head), so the hips are moved up along the trunk and toward the midline;
      without the shoulders (``t`` unknown) the raise is skipped;
    - Thorax ``= S + THORAX_RAISE t`` (the base of the neck; without the hips the raise is skipped);
      Spine ``= Pelvis + SPINE_FRACTION (Thorax - Pelvis)``;
    - Nose and Head (top): COCO has no head top. A face anchor ``C`` is taken, in this order of preference: the
      midpoint of the eyes ('eyes'), of the ears ('ears'), of one visible eye and one visible ear ('side', a
      profile view), or the COCO nose ('nose'); with one eye or one ear alone and no nose, Nose and Head are
      missing. ``N`` is the COCO nose (``N = C`` when it is missing). Then ``X = C + alpha (C - Thorax) +
      beta (N - C)`` with ``(alpha, beta)`` per anchor kind in :data:`FACE_RULES`: the head top is extrapolated
      from the thorax through the face and pushed back from the nose, i.e. the head is assumed to sit on the neck
      in the usual way (a person's own head shape and an unusual neck flexion are not seen). Human3.6M's "Nose"
      joint lies inside the head, below and behind the tip of the nose, so it is made the same way.

    The constants were fitted by least squares on the embedded training subjects, whose COCO points come from the
    anny mesh (nose tip, eyeball centres, ear centres) and, for the hips, from an assumption
    (:func:`hgnlib.lift.detections.coco_from_h36m`: 3 cm outward and 5 cm down from the hip centres, rigid with the pelvis).
    Measured error on exact projections of the test subjects (S9, S11, 4 cameras, 9,600 poses; 1,000 px images,
    1 px about 3.7 mm at the body), mean 2D distance to the true joint (:data:`CONVERSION_ERROR_PX`): Pelvis
    1.1 px, hips 2.5, Spine 7.5 (the spine bends; COCO has no point on it), Thorax 2.8, Nose 0.8, Head 1.1 with
    both eyes visible (2.0 with the ears only; about 19 with a single eye and ear, 42 with the nose alone); the mean
    over all 17 joints is 1.1 px (about 4 mm). The direct mapping most lifting demos use (pelvis = hips' midpoint,
    hips as they are, head = eyes' midpoint) is 12-30 px off on those joints (:data:`DIRECT_MAPPING_ERROR_PX`).
    Notebook 11 measures what the conversion costs in 3D. A detector whose hips sit elsewhere than assumed moves
    the pelvis and hips by the difference.
    """
    xy, score = _points_and_scores(keypoints, min_score)
    out = np.full(xy.shape[:-2] + (NUM_JOINTS, 2), np.nan)
    conf = np.zeros(xy.shape[:-2] + (NUM_JOINTS,))
    for h, c in H36M_FROM_COCO_DIRECT.items():
        out[..., h, :], conf[..., h] = xy[..., c, :], score[..., c]

    def pair(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        return (xy[..., a, :] + xy[..., b, :]) / 2, np.minimum(score[..., a], score[..., b])

    hips, hips_conf = pair(11, 12)
    shoulders, shoulders_conf = pair(5, 6)
    trunk = shoulders - hips
    has_trunk = np.isfinite(trunk).all(-1, keepdims=True)
    trunk_conf = np.minimum(hips_conf, shoulders_conf)
    pelvis = hips + HIP_RAISE * np.where(has_trunk, trunk, 0.0)
    pelvis_conf = np.where(has_trunk[..., 0], trunk_conf, hips_conf)
    out[..., 0, :], conf[..., 0] = pelvis, pelvis_conf
    for h, c in ((1, 12), (4, 11)):
        out[..., h, :] = pelvis + HIP_WIDTH_RATIO * (xy[..., c, :] - hips)
        conf[..., h] = pelvis_conf
    thorax = shoulders + THORAX_RAISE * np.where(has_trunk, trunk, 0.0)
    thorax_conf = np.where(has_trunk[..., 0], trunk_conf, shoulders_conf)
    out[..., 8, :], conf[..., 8] = thorax, thorax_conf
    out[..., 7, :] = pelvis + SPINE_FRACTION * (thorax - pelvis)
    conf[..., 7] = np.minimum(pelvis_conf, thorax_conf)
    anchor, anchor_conf, kind = _face_anchor(xy, score)
    nose_ok = np.isfinite(xy[..., 0, :]).all(-1)
    face = np.where(nose_ok[..., None], xy[..., 0, :], anchor)
    face_conf = np.where(nose_ok, np.minimum(anchor_conf, score[..., 0]), anchor_conf)
    for name in ("Nose", "Head"):
        j = H36M17_NAMES.index(name)
        value = np.full(anchor.shape, np.nan)
        for k, rule in FACE_RULES.items():
            alpha, beta = rule[name]
            made = anchor + alpha * (anchor - thorax) + beta * (face - anchor)
            value = np.where((kind == k)[..., None], made, value)
        out[..., j, :] = value
        conf[..., j] = np.where(np.isfinite(value).all(-1), np.minimum(face_conf, thorax_conf), 0.0)
    missing = ~np.isfinite(out).all(-1)
    out[missing] = np.nan
    conf[missing] = 0.0
    return out, conf


def _face_anchor(xy: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face anchor C of :func:`coco_to_h36m`, its confidence and its kind (a key of :data:`FACE_RULES`, or '')."""
    ok = np.isfinite(xy).all(-1)
    anchor = np.full(xy.shape[:-2] + (2,), np.nan)
    conf = np.zeros(xy.shape[:-2])
    kind = np.full(xy.shape[:-2], "", dtype=object)
    # One visible eye and one visible ear (a profile view): the first visible of each.
    eye = np.where(ok[..., 1], 1, 2)
    ear = np.where(ok[..., 3], 3, 4)
    take = lambda i: np.take_along_axis(xy, i[..., None, None], axis=-2)[..., 0, :]  # noqa: E731
    take_score = lambda i: np.take_along_axis(score, i[..., None], axis=-1)[..., 0]  # noqa: E731
    side = (take(eye) + take(ear)) / 2
    side_conf = np.minimum(take_score(eye), take_score(ear))
    # From the least to the most preferred, each overriding the previous ones where it is available.
    options = (
        ("nose", ok[..., 0], xy[..., 0, :], score[..., 0]),
        ("side", (ok[..., 1] | ok[..., 2]) & (ok[..., 3] | ok[..., 4]), side, side_conf),
        ("ears", ok[..., 3] & ok[..., 4], (xy[..., 3, :] + xy[..., 4, :]) / 2, np.minimum(score[..., 3], score[..., 4])),
        ("eyes", ok[..., 1] & ok[..., 2], (xy[..., 1, :] + xy[..., 2, :]) / 2, np.minimum(score[..., 1], score[..., 2])),
    )
    for name, have, value, c in options:
        anchor = np.where(have[..., None], value, anchor)
        conf = np.where(have, c, conf)
        kind = np.where(have, name, kind)
    return anchor, conf, kind


def check_missing(missing, max_missing: int = DEFAULT_MAX_MISSING, joints: int = NUM_JOINTS) -> None:
    """Refuse (:class:`~hgnlib.errors.DataError`, naming the frames) frames that miss more than ``max_missing`` joints:
    a model fed half-invented poses says nothing about the person."""
    counts = np.asarray(missing, dtype=bool).sum(-1).reshape(-1)
    bad = np.flatnonzero(counts > max_missing)
    if len(bad):
        shown = ", ".join(f"{t} ({counts[t]} joints)" for t in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise DataError(None, f"{len(bad)} of {len(counts)} frames miss more than {max_missing} of {joints} joints "
                              f"(low score or NaN): frame {shown}",
                        "drop those frames, lower the score threshold (--min-score) or allow more (--max-missing)")


def fill_from_time(points, missing, max_gap: int = DEFAULT_MAX_GAP) -> np.ndarray:
    """Fill missing points (T, J, 2) of consecutive frames from the nearest frame where the point is present, at most
    ``max_gap`` frames away (the previous one preferred over the next), moved by the mean displacement between the
    two frames of the points present in both (the person may have moved on). Points with no such frame stay NaN."""
    pts = np.array(points, dtype=np.float64)
    gone = np.asarray(missing, dtype=bool) | ~np.isfinite(pts).all(-1)
    pts[gone] = np.nan
    present = ~gone
    frames = np.arange(len(pts))
    source_pts = pts.copy()
    for j in np.flatnonzero(gone.any(0)):
        have = frames[present[:, j]]
        for t in frames[gone[:, j]]:
            before, after = have[have < t], have[have > t]
            if len(before) and t - before[-1] <= max_gap:
                source = before[-1]
            elif len(after) and after[0] - t <= max_gap:
                source = after[0]
            else:
                continue
            common = present[source] & present[t]
            shift = (source_pts[t, common] - source_pts[source, common]).mean(0) if common.any() else 0.0
            pts[t, j] = source_pts[source, j] + shift
    return pts


def fill_missing(points, missing, max_missing: int = DEFAULT_MAX_MISSING,
                 max_gap: int = DEFAULT_MAX_GAP) -> tuple[np.ndarray, np.ndarray]:
    """Fill the missing joints of H36M-17 points (T, 17, 2) of consecutive frames; returns (filled, filled_mask).

    ``missing`` (T, 17) marks the joints to fill (low score, NaN, or not made by :func:`coco_to_h36m`); NaN
    points are missing whatever ``missing`` says. The policy, in this order:

    1. a frame missing more than ``max_missing`` joints is refused (:func:`check_missing`);
    2. from time (:func:`fill_from_time`): the joint's value in the nearest frame where it was present, at most
       ``max_gap`` frames away, moved with the rest of the body;
    3. from the other joints, when no frame is near enough (single images): Pelvis the midpoint of the hips,
       Thorax of the shoulders, Spine of Pelvis and Thorax, any other joint its parent's position (a collapsed
       bone: the pose stays plausible, but that limb's 3D is a guess); a joint with none of those, the mean of
       the joints present.

    ``filled_mask`` marks what was filled, so callers can report it.
    """
    pts = np.array(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"expected points of shape (frames, {NUM_JOINTS}, 2), got {pts.shape}")
    gone = np.asarray(missing, dtype=bool) | ~np.isfinite(pts).all(-1)
    check_missing(gone, max_missing)
    if not gone.any():
        return pts, gone
    pts = fill_from_time(pts, gone, max_gap)
    left = ~np.isfinite(pts).all(-1)
    rules = {0: (1, 4), 8: (11, 14), 7: (0, 8)}
    for t in np.flatnonzero(left.any(1)):
        for j in np.flatnonzero(left[t]):  # parents first: every parent has a smaller index
            parent = H36M17_PARENTS[j]
            a, b = rules.get(j, (parent, parent))
            if a >= 0 and np.isfinite(pts[t, [a, b]]).all():
                pts[t, j] = (pts[t, a] + pts[t, b]) / 2
            elif parent >= 0 and np.isfinite(pts[t, parent]).all():
                pts[t, j] = pts[t, parent]
            else:
                pts[t, j] = pts[t, np.isfinite(pts[t]).all(-1)].mean(0)
    return pts, gone
