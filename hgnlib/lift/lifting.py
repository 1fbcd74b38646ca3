"""Lifting: COCO-17 input converted and its gaps filled, normalised as the training data, fed to a trained model;
the result with its warnings (:class:`LiftResult`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import skeleton
from ..cameras import normalize_screen
from ..errors import DataError
from . import coco
from .model import _cached_lifter, resolve_model
from .reading import LAYOUTS, Keypoints, _error, read_keypoints

#: A frame with more filled joints than this is reported in the result's warnings (its 3D is largely a guess).
WARN_FILLED_JOINTS = 4


@dataclass
class PreparedInput:
    """What the model is fed: H36M-17 pixels (T, 17, 2) after conversion and filling, and the normalised inputs."""

    keypoints: np.ndarray
    confidence: np.ndarray
    filled: np.ndarray
    inputs: np.ndarray


def prepare_inputs(kp: Keypoints, min_score: float = coco.DEFAULT_MIN_SCORE,
                   max_missing: int = coco.DEFAULT_MAX_MISSING,
                   max_gap: int = coco.DEFAULT_MAX_GAP) -> PreparedInput:
    """Convert to H36M-17 (COCO input), apply the low-score policy, normalise with the image size.

    Missing keypoints (score below ``min_score``, NaN): with COCO input, the body's keypoints (shoulders to ankles)
    are first carried over from nearby frames in the COCO layout (:func:`hgnlib.lift.coco.fill_from_time`), so that
    one missed shoulder does not unmake the thorax, spine, nose and head, while the face points fall back on each
    other (:func:`hgnlib.lift.coco.coco_to_h36m`); what is still missing is filled in the H36M layout
    (:func:`hgnlib.lift.coco.fill_missing`). The H36M joints that the frame's own detections could not make are the
    ones reported as filled, and a frame with more than ``max_missing`` of them is refused.
    """
    try:
        if kp.layout == "coco17":
            raw, conf = coco.coco_to_h36m(kp.points, min_score)
            missing = ~np.isfinite(raw).all(-1)
            coco.check_missing(missing, max_missing)
            xy, score = coco._points_and_scores(kp.points, min_score)
            body = np.zeros(skeleton.NUM_JOINTS, dtype=bool)
            body[5:] = True
            carried = coco.fill_from_time(xy, ~np.isfinite(xy).all(-1) & body, max_gap)
            score = np.where(np.isfinite(carried).all(-1) & ~np.isfinite(xy).all(-1), 1.0, score)
            h36m, _ = coco.coco_to_h36m(np.concatenate([carried, score[..., None]], -1), min_score)
        elif kp.layout == "h36m17":
            h36m, conf = coco._points_and_scores(kp.points, min_score)
            missing = ~np.isfinite(h36m).all(-1)
        else:
            raise _error(kp.path, f"unknown layout {kp.layout!r}", f"use one of {list(LAYOUTS)}")
        filled_points, _ = coco.fill_missing(h36m, ~np.isfinite(h36m).all(-1), max_missing, max_gap)
    except DataError as exc:
        raise DataError(kp.path, exc.problem, exc.fix) from None
    inputs = normalize_screen(filled_points, kp.width, kp.height).astype(np.float32)
    return PreparedInput(filled_points, conf, missing, inputs)


@dataclass
class LiftResult:
    """The 3D poses of a lift and what they came from.

    ``joints`` (T, 17, 3): metres, camera axes (x right, y down, z forward), pelvis at the origin; ``meshes``: name ->
    (T, N, 3), same frame. ``keypoints`` (T, 17, 2): the H36M-17 pixels fed to the model (converted, filled);
    ``input_points`` (T, 17, 3): the input as read (its own layout, with scores); ``filled`` (T, 17): joints filled by
    the low-score policy; ``confidence`` (T, 17): per H36M joint, the smallest score it was made from.
    """

    joints: np.ndarray
    meshes: dict[str, np.ndarray]
    keypoints: np.ndarray
    input_points: np.ndarray
    layout: str
    confidence: np.ndarray
    filled: np.ndarray
    frame_ids: list
    width: float
    height: float
    model_name: str
    model_path: Path
    flip: bool = False
    min_score: float = coco.DEFAULT_MIN_SCORE
    input_path: Path | None = None
    extra: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.joints)

    def filled_names(self, frame: int) -> list[str]:
        """Names of the joints filled in ``frame``."""
        return [skeleton.H36M17_NAMES[j] for j in np.flatnonzero(self.filled[frame])]

    def summary(self) -> str:
        """One line: frames, layout, filled joints, model."""
        frames = int(self.filled.any(1).sum())
        joints = int(self.filled.sum())
        fill = f"{joints} joint(s) filled in {frames} frame(s)" if joints else "no joint filled"
        return (f"{len(self)} frame(s), {self.layout} input ({self.width:g} x {self.height:g} px), {fill}; model "
                f"{self.model_name}{' with test-time flip' if self.flip else ''}")


def lift_keypoints(kp: Keypoints, model: str | Path, profile: str = "quick", data: str = "embedded",
                   data_dir: str | Path | None = None, flip: bool = False,
                   min_score: float = coco.DEFAULT_MIN_SCORE, max_missing: int = coco.DEFAULT_MAX_MISSING,
                   max_gap: int = coco.DEFAULT_MAX_GAP, device: str = "cpu") -> LiftResult:
    """Lift keypoints that were read (and checked) by :func:`read_keypoints` with the model ``model``."""
    import torch

    from ..experiments.evaluate import predict, require_finite

    path = resolve_model(model, profile, data, data_dir)
    stat = Path(path).stat()
    net, info = _cached_lifter(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, str(device))
    prepared = prepare_inputs(kp, min_score, max_missing, max_gap)
    if not np.isfinite(prepared.inputs).all():
        raise _error(kp.path, "the keypoints could not be made finite after filling",
                     "check the file for broken values (NaN, inf or huge pixel coordinates)")
    outputs = predict(net, torch.from_numpy(prepared.inputs).to(device), flip_test=flip)
    outputs = {k: v.float().cpu().numpy() for k, v in outputs.items()}
    require_finite(outputs["joints"], path, info["model"]["name"])
    return LiftResult(joints=outputs.pop("joints"), meshes=outputs, keypoints=prepared.keypoints,
                      input_points=kp.points, layout=kp.layout, confidence=prepared.confidence,
                      filled=prepared.filled, frame_ids=list(kp.frame_ids), width=float(kp.width),
                      height=float(kp.height), model_name=info["model"]["name"], model_path=Path(path), flip=flip,
                      min_score=min_score, input_path=kp.path,
                      warnings=lift_warnings(kp, prepared.filled, min_score))


def _frames(frame_ids: list, mask: np.ndarray) -> str:
    """'N frame(s) (ids a, b, c ...)' for the frames of ``mask``."""
    ids = [frame_ids[t] for t in np.flatnonzero(mask)]
    return f"{len(ids)} frame(s) (ids {', '.join(map(str, ids[:5]))}{' ...' if len(ids) > 5 else ''})"


def lift_warnings(kp: Keypoints, filled: np.ndarray, min_score: float = coco.DEFAULT_MIN_SCORE) -> list[str]:
    """What the user should know about a lift that succeeded: people entirely or mostly outside the image (their
    keypoints scored at least ``min_score``), and frames with more than :data:`WARN_FILLED_JOINTS` filled joints."""
    xy, score = kp.points[..., :2], kp.points[..., 2]
    seen = np.isfinite(xy).all(-1) & ~(score < min_score)
    inside = seen & (xy >= 0).all(-1) & (xy <= np.array([kp.width, kp.height])).all(-1)
    count = np.maximum(seen.sum(1), 1)
    entirely = seen.any(1) & ~inside.any(1)
    mostly = ~entirely & (inside.sum(1) < count / 2)
    image = f"the {kp.width:g} x {kp.height:g} image"
    notes = []
    if entirely.any():
        notes.append(f"the person lies entirely outside {image} in {_frames(kp.frame_ids, entirely)}: check the "
                     "image size and the keypoints; the 3D of those frames is unreliable")
    if mostly.any():
        notes.append(f"most keypoints lie outside {image} in {_frames(kp.frame_ids, mostly)}")
    many = filled.sum(1) > WARN_FILLED_JOINTS
    if many.any():
        notes.append(f"more than {WARN_FILLED_JOINTS} of 17 joints were filled in {_frames(kp.frame_ids, many)}: "
                     "their 3D is largely a guess")
    return notes


def lift_file(path: str | Path, model: str | Path, layout: str | None = None, width: float | None = None,
              height: float | None = None, **kwargs) -> LiftResult:
    """Read a keypoint file and lift it: what ``hgn lift`` does (``kwargs``: those of :func:`lift_keypoints`)."""
    return lift_keypoints(read_keypoints(path, layout, width, height), model, **kwargs)
