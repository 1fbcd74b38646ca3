"""Reading 2D keypoints (COCO results JSON, .npz, .csv) and telling their layout (COCO-17 or H36M-17); the rules
are in :mod:`hgnlib.lift`'s docstring."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import skeleton
from ..errors import DataError, MissingFileError
from . import coco

LAYOUTS = ("coco17", "h36m17")
#: A keypoint farther than this many image sizes from the origin is refused as a broken value.
FAR_LIMIT = 100.0
NPZ_KEY = "keypoints"
_NAMES = {"coco17": coco.COCO17_NAMES, "h36m17": skeleton.H36M17_NAMES}
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
                     f"expected {columns}, joints named as {list(coco.COCO17_NAMES[:2])} ... (COCO) or "
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
