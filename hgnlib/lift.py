"""Lift your own 2D keypoints to 3D with a trained model: ``hgn lift``.

**Input** (:func:`read_keypoints`): the 2D keypoints of one person per frame, in pixels, from any detector:

- a COCO results JSON (``.json``): a list of ``{"image_id", "category_id", "keypoints": [51 numbers], "score"}``,
  the 51 numbers being (x, y, s) for the 17 COCO keypoints (:data:`hgnlib.skeleton.COCO17_NAMES`). Detections whose
  ``category_id`` is not 1 (person) are ignored; per ``image_id`` the detection with the highest ``score`` (the mean
  keypoint score when there is none) is kept, the others (other people) are dropped; frames are ordered by
  ``image_id`` (numerically when every id is a number, else as text). The third number of a triple is read as the
  keypoint's score; in a COCO *annotation* file (a dict with ``"annotations"``, also accepted, with the image size
  taken from ``"images"`` when all images have one) it is the visibility flag, 0 (not labelled) reading as missing.
- an ``.npz`` with key :data:`NPZ_KEY` (``"keypoints"``): (frames, 17, 2) pixels, or (frames, 17, 3) with a score
  per keypoint; optional keys ``scores`` (frames, 17), ``width`` and ``height`` (the image size), ``layout``
  (``"coco17"`` or ``"h36m17"``) and ``frame_ids`` (frames,).
- a ``.csv``: one row per frame, a header naming the columns: an optional ``frame`` column, then ``<joint>_x``,
  ``<joint>_y`` and optionally ``<joint>_score`` for the 17 joints of one layout, joints named as in
  :data:`hgnlib.skeleton.COCO17_NAMES` (``left_shoulder_x`` ...) or :data:`hgnlib.skeleton.H36M17_NAMES`
  (``LShoulder_x`` ...); the names give the layout. Without a header: 34 numbers (x, y per joint) or 51 (x, y, score)
  per row, in the order of the layout passed with ``layout``.

**Layout** (``coco17`` | ``h36m17``): given, stored in the file, or detected from the geometry
(:func:`detect_layout`). COCO-17 is converted to the Human3.6M-17 layout the models take
(:func:`hgnlib.skeleton.coco_to_h36m`, with the conversion rules and their measured error).

**Low scores, NaN** (:func:`prepare_inputs`): keypoints scored below ``min_score`` (default 0.3) and non-finite ones
are missing. A frame whose own keypoints cannot make more than ``max_missing`` (default 6) of the 17 H36M joints is
refused with an error naming the frames. Otherwise: with COCO input, missing body keypoints are carried over from the
nearest frame (at most ``max_gap`` frames away, moved with the body) and missing face points fall back on the others;
any H36M joint still missing is filled from the nearest frame, else from the other joints
(:func:`hgnlib.skeleton.fill_missing`). The joints that were filled are reported per frame (``filled``). Frames whose
person lies entirely or mostly outside the image, or with more than :data:`WARN_FILLED_JOINTS` filled joints, are
listed in the result's ``warnings`` (in the JSON and on stderr, :func:`lift_warnings`); predictions that are not
finite are an error naming the model.

**Normalisation**: exactly as the training data, :func:`hgnlib.cameras.normalize_screen` with the image's width and
height (``u' = 2u/w - 1, v' = 2v/w - h/w``), so the image size is required.

**Model**: a ``model.pt`` (:mod:`hgnlib.experiments.artifacts`: the weights, the graphs and the input convention
travel in the file) or a configuration name of the result cache (``hgn-128`` -> the cached run of
``ExperimentConfig("hgn-128", profile=..., data=...)``), or a run key. Optional test-time flip.

**Output** (:class:`LiftResult`, :func:`write_result`: JSON or ``.npz``): per frame the 17 Human3.6M joints in
metres, in the axes of the camera that took the picture (x right, y down, z away from the camera), relative to the
pelvis (the model was trained to put the pelvis at the origin, so its pelvis output is near zero, not exactly; the
distance to the camera is not estimated), and the coarse meshes of the models that predict them (same frame and units; fake nodes of padded graphs are zero). What this means physically:
the network sees normalised 2D points only, and it learned from Human3.6M's cameras (focal length about 1,145 px
for 1,000 px wide images, people 4-6 m away). It therefore answers with the pose that such a camera would have
seen. For a camera with a much wider or narrower field of view, or a person much nearer or farther, the
perspective differs from what it learned, and the depth extent of the pose (how far limbs reach toward or away
from the camera) is only as good as that assumption; sizes in metres come from what the model learned about human
bodies, not from the image.

**Rendering** (:func:`render`): one PNG per frame, an animated GIF (matplotlib + pillow) or an MP4 (ffmpeg
required) of the 2D input beside the 3D skeleton.

**Checks on known poses**: :func:`coco_from_h36m`, :func:`anny_face_points`, :func:`coco_detections` and
:func:`write_coco_results` make COCO-layout keypoints (with detector-like noise and scores) from poses whose 3D truth
is known (the embedded data, the motion-capture clips): notebook 11 lifts them and measures the error.
"""
from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import skeleton
from .cameras import normalize_screen
from .errors import DataError, HGNError, MissingFileError
from .fileio import atomic_path, save_json, save_npz

LAYOUTS = ("coco17", "h36m17")
#: A keypoint farther than this many image sizes from the origin is refused as a broken value.
FAR_LIMIT = 100.0
#: A frame with more filled joints than this is reported in the result's warnings (its 3D is largely a guess).
WARN_FILLED_JOINTS = 4
NPZ_KEY = "keypoints"
RESULT_FORMAT = "hgn-lift/1"
RENDER_KINDS = ("png", "gif", "mp4")
_NAMES = {"coco17": skeleton.COCO17_NAMES, "h36m17": skeleton.H36M17_NAMES}
_LAYOUT_HELP = ("17 joints per frame in the COCO-17 layout (nose, eyes, ears, shoulders, elbows, wrists, hips, "
                "knees, ankles) or the Human3.6M-17 layout (Pelvis, RHip, ... RWrist)")


@dataclass
class Keypoints:
    """2D keypoints as read from a file: ``points`` (T, 17, 3) pixels and score (1 where the file gives none)."""

    points: np.ndarray
    frame_ids: list
    layout: str | None = None
    width: float | None = None
    height: float | None = None
    path: Path | None = None
    has_scores: bool = False

    def __len__(self) -> int:
        return len(self.points)


def _error(path: Path | None, problem: str, fix: str | None = None) -> DataError:
    return DataError(path, problem, fix)


def _check_layout(layout: str | None, path: Path | None = None) -> str | None:
    if layout in (None, "auto"):
        return None
    if layout not in LAYOUTS:
        raise _error(path, f"unknown layout {layout!r}", f"use one of {list(LAYOUTS)}")
    return layout


def _as_points(array: np.ndarray, path: Path, what: str, scores: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """(T, J, 2|3) or (J, 2|3) numbers -> (T, 17, 3) with scores, checked."""
    raw = np.asarray(array)
    if raw.dtype.kind not in "iuf":
        raise _error(path, f"{what} are not real numbers (dtype {raw.dtype})",
                     "expected an array (frames, 17, 2) of pixels, or (frames, 17, 3) with scores")
    a = raw.astype(np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] not in (2, 3) or a.shape[1] == 0:
        raise _error(path, f"{what} have shape {a.shape}",
                     "expected (frames, 17, 2) pixels or (frames, 17, 3) with a score per keypoint")
    if len(a) == 0:
        raise _error(path, f"{what} hold no frame", "expected at least one frame of 2D keypoints")
    if a.shape[1] != skeleton.NUM_JOINTS:
        hint = {18: " (OpenPose's COCO-18 layout?)", 25: " (OpenPose BODY_25?)", 133: " (COCO-WholeBody?)",
                32: " (the Human3.6M 32-joint mocap layout?)", 16: " (the MPII layout?)"}.get(a.shape[1], "")
        raise _error(path, f"{what} have {a.shape[1]} joints per frame{hint}",
                     f"expected {_LAYOUT_HELP}; convert other layouts to one of them first")
    has_scores = a.shape[-1] == 3 or scores is not None
    if a.shape[-1] == 2:
        s = np.ones(a.shape[:2]) if scores is None else _as_scores(scores, a.shape[:2], path)
        a = np.concatenate([a, s[..., None]], axis=-1)
    return a, has_scores


def _as_scores(scores: Any, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """The ``scores`` of an npz as a (frames, 17) array of numbers, else a DataError."""
    s = np.asarray(scores)
    s = s.astype(np.float64) if s.dtype.kind in "iuf" else None
    if s is None or s.shape != tuple(shape):
        found = "not numbers" if s is None else f"shape {s.shape}"
        raise _error(path, f"'scores' are {found}", f"expected a score per keypoint: numbers of shape {tuple(shape)}")
    return s


def _size(value: Any, path: Path, where: str) -> float:
    """An image size read from a file: a positive finite number, else a DataError."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise _error(path, f"{where} is {value!r}, not a positive number of pixels",
                     f"fix {where} in the file, or pass --width and --height")
    return float(value)


def _image_id(value: Any, path: Path, i: int) -> int | float | str:
    """A detection's ``image_id``: a number or a string, else a DataError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or \
            (isinstance(value, float) and not math.isfinite(value)):
        raise _error(path, f"detection {i} has image_id {value!r}",
                     "expected a number or a string per image (COCO results: \"image_id\": 42)")
    return value


def read_coco_results(path: str | Path, size_given: bool = False) -> Keypoints:
    """Read a COCO results JSON (or a COCO annotation file); see the module docstring for the rules. With
    ``size_given`` the image sizes of an annotation file are not read (the caller has them)."""
    path = Path(path)
    expected = ("a COCO results JSON: a list of {\"image_id\", \"category_id\": 1, \"keypoints\": [51 numbers: x, y, "
                "score for each of the 17 COCO keypoints], \"score\"}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _error(path, f"not valid JSON ({exc})", f"expected {expected}") from None
    width = height = None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        images = data.get("images", [])
        if not size_given and isinstance(images, list):
            sizes = {(_size(im.get("width"), path, f"images[{i}].width"),
                      _size(im.get("height"), path, f"images[{i}].height"))
                     for i, im in enumerate(images) if isinstance(im, dict) and "width" in im and "height" in im}
            if len(sizes) == 1:
                width, height = next(iter(sizes))
        data = data["annotations"]
    if not isinstance(data, list):
        raise _error(path, f"a JSON {type(data).__name__}, not a list of detections", f"expected {expected}")
    if not data:
        raise _error(path, "the file holds no detection (an empty list)", f"expected {expected}")
    best: dict[Any, tuple[float, np.ndarray]] = {}
    for i, det in enumerate(data):
        if not isinstance(det, dict) or "image_id" not in det or "keypoints" not in det:
            raise _error(path, f"detection {i} is not an object with 'image_id' and 'keypoints'", f"expected {expected}")
        if det.get("category_id", 1) != 1:
            continue
        try:
            kp = np.asarray(det["keypoints"], dtype=np.float64)
        except (TypeError, ValueError):
            raise _error(path, f"detection {i}: keypoints are not numbers", f"expected {expected}") from None
        if kp.ndim != 1 or kp.size != 3 * skeleton.NUM_JOINTS:
            hint = {54: " (18 keypoints: OpenPose COCO-18?)", 75: " (25 keypoints: BODY_25?)",
                    399: " (133 keypoints: COCO-WholeBody?)", 34: " (x, y without scores?)"}.get(kp.size, "")
            raise _error(path, f"detection {i} (image_id {det['image_id']!r}) has {kp.size} keypoint numbers{hint}",
                         f"expected 51 numbers; {expected}")
        kp = kp.reshape(skeleton.NUM_JOINTS, 3)
        score = det.get("score")
        if score is None:
            score = float(np.nanmean(kp[:, 2])) if np.isfinite(kp[:, 2]).any() else 0.0
        elif isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise _error(path, f"detection {i} has score {score!r}", f"expected a number; {expected}")
        image = _image_id(det["image_id"], path, i)
        if image not in best or score > best[image][0]:
            best[image] = (score, kp)
    if not best:
        raise _error(path, "no person detection (category_id 1) in the file", f"expected {expected}")
    ids = list(best)
    numeric = all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in ids)
    ids.sort(key=(lambda i: float(i)) if numeric else str)
    points = np.stack([best[i][1] for i in ids])
    return Keypoints(points, ids, "coco17", width, height, path, has_scores=True)


def read_npz(path: str | Path, size_given: bool = False) -> Keypoints:
    """Read an ``.npz`` of keypoints (key ``keypoints``; optional ``scores``, ``width``, ``height`` (not read with
    ``size_given``), ``layout``, ``frame_ids``)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:
        raise _error(path, f"not an .npz numpy archive ({type(exc).__name__}: {exc})",
                     f"expected an .npz with key '{NPZ_KEY}' (frames, 17, 2|3)") from None
    if NPZ_KEY not in arrays:
        raise _error(path, f"no key '{NPZ_KEY}'; found keys {sorted(arrays) or 'none'}",
                     f"save the keypoints as np.savez(path, {NPZ_KEY}=array) with array (frames, 17, 2) pixels "
                     "or (frames, 17, 3) with scores")
    points, has_scores = _as_points(arrays[NPZ_KEY], path, f"'{NPZ_KEY}'", arrays.get("scores"))
    width, height = (None if size_given or k not in arrays else _size(arrays[k], path, f"'{k}'")
                     for k in ("width", "height"))
    layout = str(arrays["layout"]) if "layout" in arrays else None
    ids = list(range(len(points)))
    if "frame_ids" in arrays:
        given = arrays["frame_ids"]
        if given.ndim != 1 or len(given) != len(points) or given.dtype.kind not in "iuUS":
            raise _error(path, f"'frame_ids' has shape {given.shape} and dtype {given.dtype}",
                         f"expected one integer or string id per frame: shape ({len(points)},)")
        ids = given.tolist()
    return Keypoints(points, ids, _check_layout(layout, path), width, height, path, has_scores)


def read_csv(path: str | Path, layout: str | None = None) -> Keypoints:
    """Read a ``.csv`` of keypoints (columns in the module docstring)."""
    path = Path(path)
    try:
        rows = [r for r in csv.reader(path.read_text().splitlines()) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _error(path, f"not a readable CSV ({exc})", "expected a text CSV, one row per frame") from None
    columns = "an optional 'frame' column, then <joint>_x, <joint>_y[, <joint>_score] for the 17 joints"
    if not rows:
        raise _error(path, "the file is empty", f"expected a header ({columns}) and one row per frame")
    header = [c.strip() for c in rows[0]]
    try:
        [float(c) for c in header]
        numeric_header = True
    except ValueError:
        numeric_header = False
    if numeric_header:
        body, names = rows, None
    else:
        body, names = rows[1:], header
    if not body:
        raise _error(path, "a header but no frame", f"expected one row per frame after the header ({columns})")
    if len({len(r) for r in body}) != 1:
        raise _error(path, "rows of different lengths", f"expected the same columns on every row ({columns})")
    try:
        table = np.array([[float(c) if c.strip() not in ("", "nan", "NaN") else np.nan for c in r] for r in body])
    except ValueError as exc:
        raise _error(path, f"a cell is not a number ({exc})", f"expected {columns}") from None
    if names is None:
        if table.shape[1] not in (34, 51):
            raise _error(path, f"rows of {table.shape[1]} numbers and no header",
                         f"expected 34 (x, y) or 51 (x, y, score) numbers per row for 17 joints, or a header "
                         f"({columns})")
        per = table.shape[1] // skeleton.NUM_JOINTS
        points, has_scores = _as_points(table.reshape(len(table), skeleton.NUM_JOINTS, per), path, "the rows")
        return Keypoints(points, list(range(len(points))), _check_layout(layout, path), path=path,
                         has_scores=has_scores)
    if len(names) != table.shape[1]:
        raise _error(path, f"{len(names)} header names for rows of {table.shape[1]} numbers", f"expected {columns}")
    index = {n: i for i, n in enumerate(names)}
    found = None
    for kind, joint_names in _NAMES.items():
        if all(f"{n}_x" in index and f"{n}_y" in index for n in joint_names):
            found = kind
            break
    if found is None:
        raise _error(path, f"the header names neither the 17 COCO nor the 17 Human3.6M joints: {header[:6]} ...",
                     f"expected {columns}, joints named as {list(skeleton.COCO17_NAMES[:2])} ... (COCO) or "
                     f"{list(skeleton.H36M17_NAMES[:2])} ... (Human3.6M)")
    joint_names = _NAMES[found]
    has_scores = all(f"{n}_score" in index for n in joint_names)
    cols = [[index[f"{n}_x"], index[f"{n}_y"]] + ([index[f"{n}_score"]] if has_scores else []) for n in joint_names]
    points, _ = _as_points(table[:, np.array(cols)], path, "the rows")
    ids = _frame_column(table[:, index["frame"]], path) if "frame" in index else list(range(len(points)))
    given = _check_layout(layout, path)
    if given is not None and given != found:
        raise _error(path, f"the header names the {found} joints but layout {given} was asked for",
                     "drop --layout (the header decides) or fix the header")
    return Keypoints(points, ids, found, path=path, has_scores=has_scores)


def _frame_column(values: np.ndarray, path: Path) -> list[int]:
    """The ``frame`` column of a CSV as integers, else a DataError naming the first bad row."""
    bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > 2**53) | (values != np.round(values)))
    if len(bad):
        raise _error(path, f"the 'frame' column holds {float(values[bad[0]])!r} on data row {bad[0] + 1}",
                     "expected whole frame numbers (or drop the column: frames are then numbered 0, 1, ...)")
    return values.astype(np.int64).tolist()


def read_keypoints(path: str | Path, layout: str | None = None, width: float | None = None,
                   height: float | None = None) -> Keypoints:
    """Read any of the three input kinds (by extension), apply the given layout and image size, check them.

    Raises :class:`~hgnlib.errors.DataError` (naming the file, what was found and what was expected) for a missing
    or empty file, another layout or joint count, a missing image size, or keypoints that are not pixels.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "no keypoint file here", "pass a COCO results .json, an .npz or a .csv")
    if path.is_dir():
        raise _error(path, "a folder, not a keypoint file", "pass a COCO results .json, an .npz or a .csv file")
    if path.stat().st_size == 0:
        raise _error(path, "the file is empty", "expected 2D keypoints: a COCO results .json, an .npz or a .csv")
    layout = _check_layout(layout, path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        kp = read_coco_results(path, size_given=width is not None and height is not None)
        if layout == "h36m17":
            raise _error(path, "a COCO results JSON holds COCO-17 keypoints, but layout h36m17 was asked for",
                         "drop --layout or pass --layout coco17")
    elif suffix == ".npz":
        kp = read_npz(path, size_given=width is not None and height is not None)
        if layout is not None:
            kp.layout = layout
    elif suffix == ".csv":
        kp = read_csv(path, layout)
    else:
        raise _error(path, f"unknown file type {path.suffix!r}", "expected a COCO results .json, an .npz or a .csv")
    kp.width = width if width is not None else kp.width
    kp.height = height if height is not None else kp.height
    if kp.width is None or kp.height is None:
        raise _error(path, "the image width and height are not known",
                     "pass --width and --height (pixels of the images the keypoints were detected in): the "
                     "keypoints are normalised with them exactly as the training data (u' = 2u/w - 1, "
                     "v' = 2v/w - h/w)")
    if not (kp.width > 0 and kp.height > 0 and math.isfinite(kp.width) and math.isfinite(kp.height)):
        raise _error(path, f"image size {kp.width} x {kp.height}", "pass a positive --width and --height in pixels")
    xy = kp.points[..., :2]
    finite = xy[np.isfinite(xy).all(-1)]
    if len(finite) == 0:
        raise _error(path, "every keypoint is NaN", "expected 2D keypoints in pixels")
    if kp.width > 16 and np.abs(finite).max() <= 1.5:
        raise _error(path, f"the keypoints lie within [-1.5, 1.5] for a {kp.width:g} x {kp.height:g} image: they "
                           "look normalised", "pass pixel coordinates (the normalisation is done here)")
    size = np.array([kp.width, kp.height])
    far = np.abs(finite).max() / size.max()
    if far > FAR_LIMIT:
        raise _error(path, f"a keypoint lies {far:.3g} image sizes from the image ({kp.width:g} x {kp.height:g})",
                     "check the file for broken values (pixels expected) and --width / --height")
    outside = ((finite < -size) | (finite > 2 * size)).any(-1).mean()
    if outside > 0.5:
        raise _error(path, f"{outside:.0%} of the keypoints lie more than an image size outside a {kp.width:g} x "
                           f"{kp.height:g} image", "check --width and --height (pixels)")
    detected = detect_layout(kp.points[..., :2])
    if kp.layout is None:
        if detected is None:
            raise _error(path, "cannot tell the layout from the points",
                         "pass --layout coco17 or --layout h36m17")
        kp.layout = detected
    elif detected is not None and detected != kp.layout:
        raise _error(path, f"the points look like the {detected} layout (see hgnlib.lift.detect_layout), but the "
                           f"layout is {kp.layout}", f"pass --layout {detected} if that is right, else check the "
                                                     f"joint order ({_LAYOUT_HELP})")
    return kp


def detect_layout(points: np.ndarray) -> str | None:
    """'coco17', 'h36m17' or None (undecided) from the geometry of (T, 17, 2) points.

    Joints 0-4 are the face in COCO-17 (nose, eyes, ears: a small cluster) and the pelvis, the right leg and the left
    hip in H36M-17 (they span the leg). The median over frames of their extent relative to the whole body's decides:
    below 0.2 COCO, above 0.3 Human3.6M, in between undecided.
    """
    pts = np.asarray(points, dtype=np.float64)[..., :2]
    ratios = []
    for frame in pts:
        ok = np.isfinite(frame).all(-1)
        head = frame[:5][ok[:5]]
        if ok.sum() < 8 or len(head) < 3:
            continue
        body = np.ptp(frame[ok], axis=0).max()
        if body > 0:
            ratios.append(np.ptp(head, axis=0).max() / body)
    if not ratios:
        return None
    ratio = float(np.median(ratios))
    return "coco17" if ratio < 0.2 else "h36m17" if ratio > 0.3 else None


# ------------------------------------------------------------------------------------------------ preparation


@dataclass
class PreparedInput:
    """What the model is fed: H36M-17 pixels (T, 17, 2) after conversion and filling, and the normalised inputs."""

    keypoints: np.ndarray
    confidence: np.ndarray
    filled: np.ndarray
    inputs: np.ndarray


def prepare_inputs(kp: Keypoints, min_score: float = skeleton.DEFAULT_MIN_SCORE,
                   max_missing: int = skeleton.DEFAULT_MAX_MISSING,
                   max_gap: int = skeleton.DEFAULT_MAX_GAP) -> PreparedInput:
    """Convert to H36M-17 (COCO input), apply the low-score policy, normalise with the image size.

    Missing keypoints (score below ``min_score``, NaN): with COCO input, the body's keypoints (shoulders to ankles)
    are first carried over from nearby frames in the COCO layout (:func:`hgnlib.skeleton.fill_from_time`), so that
    one missed shoulder does not unmake the thorax, spine, nose and head, while the face points fall back on each
    other (:func:`hgnlib.skeleton.coco_to_h36m`); what is still missing is filled in the H36M layout
    (:func:`hgnlib.skeleton.fill_missing`). The H36M joints that the frame's own detections could not make are the
    ones reported as filled, and a frame with more than ``max_missing`` of them is refused.
    """
    try:
        if kp.layout == "coco17":
            raw, conf = skeleton.coco_to_h36m(kp.points, min_score)
            missing = ~np.isfinite(raw).all(-1)
            skeleton.check_missing(missing, max_missing)
            xy, score = skeleton._points_and_scores(kp.points, min_score)
            body = np.zeros(skeleton.NUM_JOINTS, dtype=bool)
            body[5:] = True
            carried = skeleton.fill_from_time(xy, ~np.isfinite(xy).all(-1) & body, max_gap)
            score = np.where(np.isfinite(carried).all(-1) & ~np.isfinite(xy).all(-1), 1.0, score)
            h36m, _ = skeleton.coco_to_h36m(np.concatenate([carried, score[..., None]], -1), min_score)
        elif kp.layout == "h36m17":
            h36m, conf = skeleton._points_and_scores(kp.points, min_score)
            missing = ~np.isfinite(h36m).all(-1)
        else:
            raise _error(kp.path, f"unknown layout {kp.layout!r}", f"use one of {list(LAYOUTS)}")
        filled_points, _ = skeleton.fill_missing(h36m, ~np.isfinite(h36m).all(-1), max_missing, max_gap)
    except DataError as exc:
        raise DataError(kp.path, exc.problem, exc.fix) from None
    inputs = normalize_screen(filled_points, kp.width, kp.height).astype(np.float32)
    return PreparedInput(filled_points, conf, missing, inputs)


# ------------------------------------------------------------------------------------------------------ model


def resolve_model(model: str | Path, profile: str = "quick", data: str = "embedded",
                  data_dir: str | Path | None = None) -> Path:
    """The ``model.pt`` of ``model``: a file (or a run folder holding one), a configuration name of the cache (the run
    of ``ExperimentConfig(model, profile=profile, data=data)``) or a run key."""
    from . import paths
    from .models.registry import CONFIGS

    path = Path(model)
    if path.is_dir() and (path / "model.pt").exists():
        return path / "model.pt"
    if path.exists():
        return path
    name = str(model)
    if name in CONFIGS:
        from .experiments.config import ExperimentConfig
        from .experiments.runs import cached_result
        from .profiles import get_profile

        train = f"hgn train --model {name} --profile {profile} --data {data}"
        try:
            config = ExperimentConfig(name, profile=profile, data=data)
        except ValueError as exc:
            raise HGNError(str(exc)) from None
        folder = data_dir
        if folder is None and data == "embedded":
            folder = paths.embedded_dir(get_profile(profile).synth_size)
        try:
            result = cached_result(config, folder)
        except MissingFileError:
            result = None
        if result is None or not result.model_path.exists():
            raise MissingFileError(None, f"configuration {name} is not trained for profile {profile} on {data} data",
                                   f"train it with `{train}` (or pass a model.pt)")
        return result.model_path
    key_path = paths.cache_dir() / "runs" / name / "model.pt"
    if not path.suffix and key_path.exists():
        return key_path
    raise MissingFileError(path, "neither a model file nor a configuration name",
                           f"pass a model.pt, a run key of the cache, or one of {sorted(CONFIGS)}")


def load_lifter(path: str | Path, device: str = "cpu"):
    """The model of a ``model.pt`` (eval mode) and its metadata, checked to take H36M-17 screen-normalised input."""
    from .experiments.artifacts import INPUT_CONVENTION, load_model

    model, info = load_model(path, device)
    convention = info.get("input") or {}
    nodes = (info.get("output") or {}).get("nodes", {})
    if convention.get("layout") != INPUT_CONVENTION["layout"] or convention.get("normalization") != "screen" \
            or nodes.get("joints") != skeleton.NUM_JOINTS:
        raise DataError(path, f"a model of another kind: input {convention.get('layout')!r} "
                              f"({convention.get('normalization')!r}), outputs {nodes}",
                        "expected a 2D-to-3D lifting model of hgn: Human3.6M-17 input, screen-normalised, "
                        "17 joints out")
    return model, info


@functools.lru_cache(maxsize=2)
def _cached_lifter(path: str, mtime_ns: int, size: int, device: str):
    """:func:`load_lifter`, reused while the file is unchanged (lifting many files with one model)."""
    return load_lifter(path, device)


# ------------------------------------------------------------------------------------------------------- lift


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
    min_score: float = skeleton.DEFAULT_MIN_SCORE
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
                   min_score: float = skeleton.DEFAULT_MIN_SCORE, max_missing: int = skeleton.DEFAULT_MAX_MISSING,
                   max_gap: int = skeleton.DEFAULT_MAX_GAP, device: str = "cpu") -> LiftResult:
    """Lift keypoints that were read (and checked) by :func:`read_keypoints` with the model ``model``."""
    import torch

    from .experiments.evaluate import predict, require_finite

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


def lift_warnings(kp: Keypoints, filled: np.ndarray, min_score: float = skeleton.DEFAULT_MIN_SCORE) -> list[str]:
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


# ---------------------------------------------------------------------------------------------------- writers


def _metadata(result: LiftResult) -> dict:
    return {"format": RESULT_FORMAT,
            "model": {"name": result.model_name, "file": str(result.model_path)},
            "input": {"file": None if result.input_path is None else str(result.input_path), "layout": result.layout,
                      "width": result.width, "height": result.height, "min_score": result.min_score,
                      "test_time_flip": result.flip},
            "units": "metres",
            "frame": "camera axes of the input's camera (x right, y down, z forward), pelvis at the origin; the "
                     "model assumes a camera like Human3.6M's (see hgnlib.lift)",
            "joint_names": list(skeleton.H36M17_NAMES),
            "meshes": {k: int(v.shape[1]) for k, v in result.meshes.items()},
            "warnings": list(result.warnings)}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def write_result(result: LiftResult, path: str | Path) -> Path:
    """Write the 3D poses as JSON (``.json``) or numpy arrays (``.npz``), atomically.

    JSON: the metadata (format, model, input, units, frame, joint names) and ``frames``: per frame ``id``,
    ``joints`` (17 x [x, y, z] m), ``keypoints_2d`` (the H36M-17 pixels fed to the model), ``filled`` (joint names)
    and each coarse mesh (N x [x, y, z] m). NPZ: ``joints`` (T, 17, 3), ``keypoints_2d``, ``confidence``, ``filled``,
    ``frame_ids``, ``joint_names``, one array per mesh, ``meta`` (the metadata as a JSON string).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        frames = []
        for t in range(len(result)):
            entry = {"id": _plain(result.frame_ids[t]),
                     "joints": np.round(result.joints[t].astype(float), 6).tolist(),
                     "keypoints_2d": np.round(result.keypoints[t], 3).tolist(),
                     "filled": result.filled_names(t)}
            entry.update({k: np.round(v[t].astype(float), 6).tolist() for k, v in result.meshes.items()})
            frames.append(entry)
        save_json(path, {**_metadata(result), "frames": frames}, indent=None)
    elif suffix == ".npz":
        ids = np.asarray([_plain(i) for i in result.frame_ids])
        save_npz(path, joints=result.joints.astype(np.float32), keypoints_2d=result.keypoints.astype(np.float32),
                 confidence=result.confidence.astype(np.float32), filled=result.filled, frame_ids=ids,
                 joint_names=np.array(skeleton.H36M17_NAMES), meta=np.array(json.dumps(_metadata(result))),
                 **{k: v.astype(np.float32) for k, v in result.meshes.items()})
    else:
        raise HGNError(f"{path}: unknown output type {path.suffix!r}; use a .json or .npz file name")
    return path


# -------------------------------------------------------------------------------------------------- rendering


def render(result: LiftResult, out: str | Path, kind: str = "gif", fps: float = 10.0, progress: bool = True,
           dpi: int = 72, frames: Sequence[int] | None = None) -> Path:
    """Draw the 2D input beside the 3D skeleton for each frame: ``png`` (one file per frame in the folder ``out``),
    ``gif`` (pillow) or ``mp4`` (ffmpeg, refused with a clear error when it is not installed). Returns ``out``."""
    import matplotlib.pyplot as plt
    from matplotlib import animation
    from tqdm import tqdm

    from .plotting import draw_skeleton_2d, draw_skeleton_3d

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
            for a, b in skeleton.COCO17_BONES:
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


# --------------------------------------------------------------------------- COCO keypoints from known 3D poses

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
    for h, c in skeleton.H36M_FROM_COCO_DIRECT.items():
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

    from .body.base import _component_labels

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


#: The Human3.6M-17 slot of :func:`hgnlib.data.synth.detector_like` whose noise each COCO keypoint gets (limbs: the
#: same joint; face points: slots with face-like noise levels).
_NOISE_SLOT = (0, 7, 8, 9, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)
#: An eye or an ear this much farther from the camera than its counterpart (m) is taken as hidden by the head (the
#: face turned away by about 45 degrees for the eyes, 50 for the ears).
HIDDEN_FACE_DEPTH_M = {"eyes": 0.045, "ears": 0.12}


def coco_detections(uv: np.ndarray, camera_points: np.ndarray, rng: np.random.Generator,
                    camera=None) -> np.ndarray:
    """Detector-like COCO keypoints (T, 17, 3): pixels and scores, from exact projections ``uv`` (T, 17, 2) of COCO
    points whose camera-space positions are ``camera_points`` (T, 17, 3).

    Noise: :func:`hgnlib.data.synth.detector_like` (the embedded data's detector: per-joint jitter, larger at wrists
    and ankles, correlated over time, scaled by 5 m / depth; outliers; short left/right swaps of the limbs), each COCO
    keypoint taking the noise level of the Human3.6M joint it matches (:data:`_NOISE_SLOT`). Scores: ``1 / (1 + (e /
    2.5 sigma)^2)`` of each point's error ``e`` (so outliers score low; for a point swapped with its left/right
    counterpart ``e`` is the distance to that counterpart: swaps are confidently wrong, as detectors' are), times a
    uniform factor in [0.85, 1]; an eye or ear hidden behind the head (:data:`HIDDEN_FACE_DEPTH_M` farther than its
    counterpart) scores in [0.05, 0.25].
    """
    from .data.synth import DETECTOR_SIGMA_PX, detector_like

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
                       np.linalg.norm(noisy - uv[:, list(skeleton.COCO17_FLIP_PERMUTATION)], axis=-1))
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
