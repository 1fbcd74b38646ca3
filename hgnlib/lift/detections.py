"""COCO-layout keypoints made from poses whose 3D truth is known (the embedded data, the motion-capture clips), with
detector-like noise and scores, written as COCO results: the inputs of notebook 11's checks."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..fileio import save_json
from . import coco
from .writing import _plain

#: Where the COCO hips are assumed to be (the synthetic COCO points of :func:`coco_from_h36m`): this far outward along
#: the hip axis and down along the pelvis' vertical from the Human3.6M hip centres (metres). An assumption about
#: where annotators click (the side of the hip, lower than the centre of the femoral head), not a measured fact.
SYNTH_HIP_OUT_M = 0.03
SYNTH_HIP_DOWN_M = 0.05
#: The face points (nose, left eye, right eye, left ear, right ear) in a head frame built from Thorax, Nose and Head
#: (top) (see :func:`coco_from_h36m`), in units of the thorax-to-head-top distance: (left, up, forward). Measured on the
#: anny mesh at rest (default shape): nose tip, eyeball centres, centres of the ears.
FACE_IN_HEAD_FRAME = np.array([[-0.0004, 0.4984, 0.5389], [0.1182, 0.6194, 0.348], [-0.1187, 0.6192, 0.3477],
                               [0.3222, 0.4969, 0.0376], [-0.3232, 0.4994, 0.0344]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def head_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(origin Thorax, left, up, forward unit vectors, scale |Head - Thorax|) of H36M-17 joints (..., 17, 3)."""
    thorax, nose, top = joints[..., 8, :], joints[..., 9, :], joints[..., 10, :]
    scale = np.linalg.norm(top - thorax, axis=-1, keepdims=True)
    up = (top - thorax) / scale
    ahead = nose - (thorax + top) / 2
    forward = _unit(ahead - (ahead * up).sum(-1, keepdims=True) * up)
    left = np.cross(up, forward)
    return thorax, left, up, forward, scale


def coco_from_h36m(joints: np.ndarray, face: np.ndarray | None = None) -> np.ndarray:
    """Synthetic COCO-17 3D points (..., 17, 3) from H36M-17 joints (..., 17, 3), in the same frame and units.

    Shoulders, elbows, wrists, knees and ankles are the Human3.6M joints. Hips: the hip centres moved
    :data:`SYNTH_HIP_OUT_M` outward (along RHip -> LHip) and :data:`SYNTH_HIP_DOWN_M` down (along the pelvis'
    vertical: Pelvis -> Spine, made orthogonal to the hip axis), rigid with the pelvis. Face (nose, eyes, ears):
    ``face`` (..., 5, 3) when given (e.g. :func:`anny_face_points` of the true mesh), else the points of
    :data:`FACE_IN_HEAD_FRAME` placed in the head frame of :func:`head_frame` (an approximation that follows the
    head's position and orientation, not the person's face shape).
    """
    j = np.asarray(joints, dtype=np.float64)
    out = np.zeros(j.shape[:-2] + (17, 3))
    for h, c in coco.H36M_FROM_COCO_DIRECT.items():
        out[..., c, :] = j[..., h, :]
    across = _unit(j[..., 4, :] - j[..., 1, :])
    vertical = j[..., 7, :] - j[..., 0, :]
    vertical = _unit(vertical - (vertical * across).sum(-1, keepdims=True) * across)
    out[..., 11, :] = j[..., 4, :] + SYNTH_HIP_OUT_M * across - SYNTH_HIP_DOWN_M * vertical
    out[..., 12, :] = j[..., 1, :] - SYNTH_HIP_OUT_M * across - SYNTH_HIP_DOWN_M * vertical
    if face is None:
        origin, left, up, forward, scale = head_frame(j)
        c = FACE_IN_HEAD_FRAME
        face = origin[..., None, :] + scale[..., None, :] * (
            c[:, 0:1] * left[..., None, :] + c[:, 1:2] * up[..., None, :] + c[:, 2:3] * forward[..., None, :])
    out[..., :5, :] = face
    return out


def anny_face_vertices(body) -> dict[str, np.ndarray]:
    """Vertex indices of the face points of the anny mesh, found on the rest mesh (default shape): ``nose`` (the tip:
    the most forward vertex of the body's midline between mouth and eyes), ``left_eye`` / ``right_eye`` (every vertex
    of each eyeball: its centre), ``left_ear`` / ``right_ear`` (the vertices of the head that stick out sideways
    beyond 90% of the head's half-width, between 5 cm below and 2 cm above the eyes: the ears' centres)."""
    import torch

    from ..body.base import _component_labels

    pose, betas = body.zero_params(1)
    with torch.no_grad():
        rest = body(pose, betas).vertices[0].cpu().numpy()
    main = body.main_component()
    labels = _component_labels(body.faces, len(rest))
    small = [c for c in np.unique(labels) if c != labels[main[0]]]
    # Eyeballs: the two small components highest up, left (x > 0) and right (anny: x = the body's left, -y forward).
    eyes = sorted(small, key=lambda c: -rest[labels == c, 2].mean())[:2]
    eyes = sorted(eyes, key=lambda c: -rest[labels == c, 0].mean())
    left_eye, right_eye = (np.flatnonzero(labels == c) for c in eyes)
    eye_z = rest[left_eye, 2].mean()
    body_v = main
    near_mid = body_v[(np.abs(rest[body_v, 0]) < 0.01) & (rest[body_v, 2] > eye_z - 0.06) & (rest[body_v, 2] < eye_z)]
    nose = near_mid[[np.argmin(rest[near_mid, 1])]]
    head = body_v[(rest[body_v, 2] > eye_z - 0.05) & (rest[body_v, 2] < eye_z + 0.02)]
    half = np.abs(rest[head, 0]).max()
    left_ear = head[rest[head, 0] > 0.9 * half]
    right_ear = head[rest[head, 0] < -0.9 * half]
    return {"nose": nose, "left_eye": left_eye, "right_eye": right_eye, "left_ear": left_ear, "right_ear": right_ear}


def anny_face_points(vertices: np.ndarray, groups: dict[str, np.ndarray]) -> np.ndarray:
    """The five COCO face points (..., 5, 3) of meshes (..., V, 3): the mean of each group of
    :func:`anny_face_vertices`, in COCO order (nose, left eye, right eye, left ear, right ear)."""
    order = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    return np.stack([vertices[..., groups[name], :].mean(-2) for name in order], axis=-2)


#: The Human3.6M-17 slot of :func:`hgnlib.synthetic.synth.detector_like` whose noise each COCO keypoint gets (limbs: the
#: same joint; face points: slots with face-like noise levels).
_NOISE_SLOT = (0, 7, 8, 9, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)
#: An eye or an ear this much farther from the camera than its counterpart (m) is taken as hidden by the head (the
#: face turned away by about 45 degrees for the eyes, 50 for the ears).
HIDDEN_FACE_DEPTH_M = {"eyes": 0.045, "ears": 0.12}


def coco_detections(uv: np.ndarray, camera_points: np.ndarray, rng: np.random.Generator,
                    camera=None) -> np.ndarray:
    """Detector-like COCO keypoints (T, 17, 3): pixels and scores, from exact projections ``uv`` (T, 17, 2) of COCO
    points whose camera-space positions are ``camera_points`` (T, 17, 3).

    Noise: :func:`hgnlib.synthetic.synth.detector_like` (the embedded data's detector: per-joint jitter, larger at wrists
    and ankles, correlated over time, scaled by 5 m / depth; outliers; short left/right swaps of the limbs), each COCO
    keypoint taking the noise level of the Human3.6M joint it matches (:data:`_NOISE_SLOT`). Scores: ``1 / (1 + (e /
    2.5 sigma)^2)`` of each point's error ``e`` (so outliers score low; for a point swapped with its left/right
    counterpart ``e`` is the distance to that counterpart: swaps are confidently wrong, as detectors' are), times a
    uniform factor in [0.85, 1]; an eye or ear hidden behind the head (:data:`HIDDEN_FACE_DEPTH_M` farther than its
    counterpart) scores in [0.05, 0.25].
    """
    from ..synthetic.synth import DETECTOR_SIGMA_PX, detector_like

    uv = np.asarray(uv, dtype=np.float64)
    T = len(uv)
    slots = np.empty((T, 17, 2))
    slots[:, list(_NOISE_SLOT)] = uv
    depth = camera_points[:, :, 2]
    # detector_like scales the noise by 5 m / pelvis depth; a camera at the origin with identity axes gives that.
    fake_world = np.zeros((T, 17, 3))
    fake_world[:, 0, 2] = depth.mean(1)

    class _Identity:
        def world_to_camera(self, x):
            return x

    noisy_slots = detector_like(slots.astype(np.float32), _Identity(), fake_world, rng)
    noisy = noisy_slots[:, list(_NOISE_SLOT)].astype(np.float64)
    sigma = DETECTOR_SIGMA_PX[list(_NOISE_SLOT)][None, :] * (5.0 / depth.mean(1))[:, None]
    # A left/right swap is confidently wrong, as detectors are: the error is taken to the nearer of the two sides.
    error = np.minimum(np.linalg.norm(noisy - uv, axis=-1),
                       np.linalg.norm(noisy - uv[:, list(coco.COCO17_FLIP_PERMUTATION)], axis=-1))
    score = 1.0 / (1.0 + (error / (2.5 * sigma)) ** 2) * rng.uniform(0.85, 1.0, (T, 17))
    for part, (a, b) in (("eyes", (1, 2)), ("ears", (3, 4))):
        for hidden, other in ((a, b), (b, a)):
            behind = depth[:, hidden] > depth[:, other] + HIDDEN_FACE_DEPTH_M[part]
            score[behind, hidden] = rng.uniform(0.05, 0.25, int(behind.sum()))
    return np.concatenate([noisy, score[..., None]], axis=-1)


def write_coco_results(path: str | Path, points: np.ndarray, image_ids: Sequence | None = None,
                       scores: Sequence[float] | None = None) -> Path:
    """Write (T, 17, 3) keypoints (x, y, score) as a COCO results JSON, one person detection per image."""
    points = np.asarray(points, dtype=np.float64)
    ids = list(range(len(points))) if image_ids is None else list(image_ids)
    dets = []
    for i, (image, kp) in enumerate(zip(ids, points)):
        score = float(np.mean(kp[:, 2])) if scores is None else float(scores[i])
        dets.append({"image_id": _plain(image), "category_id": 1,
                     "keypoints": [round(float(v), 3) for v in kp.reshape(-1)], "score": round(score, 4)})
    save_json(path, dets, indent=None)
    return Path(path)
