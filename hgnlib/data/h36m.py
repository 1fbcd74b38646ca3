"""Readers and writers of the standard Human3.6M files, and their validation: the one place for the format.

Two families of files (see ``shared/REFERENCE.md``):

- The npz files of the 2D-to-3D lifting literature: ``data_3d_h36m.npz`` (key ``positions_3d``: subject ->
  sequence -> (T, 32, 3) world metres) and ``data_2d_h36m_<source>.npz`` (key ``positions_2d``: subject ->
  sequence -> 4 arrays (T, 17, 2) pixels, one per camera; key ``metadata``). The embedded synthetic dataset
  is written in exactly this format by the writers below.
- The authors' per-subject JSON annotations (the I2L-MeshNet / Pose2Mesh release):
  ``Human36M_subject{N}_{data,camera,joint_3d,smpl_param}.json``.

Every problem raises :class:`~hgnlib.errors.DataError` (or :class:`~hgnlib.errors.MissingFileError`) naming the
file, what was found, what was expected and the fix.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .. import paths, skeleton
from ..cameras import Camera
from ..errors import DataError, HGNError, MissingFileError
from ..fileio import save_npz
from ..safeload import load_npz

THREE_D_FILE = "data_3d_h36m.npz"

#: 2D sources and their file names. ``detected`` (see :func:`two_d_path`) picks ``cpn``, else ``synthdet``.
TWO_D_FILES: dict[str, str] = {
    "gt": "data_2d_h36m_gt.npz",
    "cpn": "data_2d_h36m_cpn_ft_h36m_dbb.npz",
    "sh": "data_2d_h36m_sh_ft_h36m.npz",
    "sh_pt": "data_2d_h36m_sh_pt_mpii.npz",
    "synthdet": "data_2d_h36m_synthdet.npz",
}
DETECTED_ORDER: tuple[str, ...] = ("cpn", "synthdet")

#: The files that ``hgn data synth`` writes (the others exist only as licensed downloads).
EMBEDDED_FILES = frozenset({THREE_D_FILE, TWO_D_FILES["gt"], TWO_D_FILES["synthdet"]})

#: The metadata of every 17-joint Human3.6M 2D file.
H36M_METADATA: dict[str, Any] = {
    "layout_name": "h36m",
    "num_joints": skeleton.NUM_JOINTS,
    "keypoints_symmetry": [list(skeleton.LEFT_JOINTS), list(skeleton.RIGHT_JOINTS)],
}
NUM_CAMERAS = 4
NUM_JOINTS_3D = 32

Positions3D = dict[str, dict[str, np.ndarray]]
Positions2D = dict[str, dict[str, list[np.ndarray]]]


# ---------------------------------------------------------------------------------------------------- npz files


def missing_file_error(path: str | Path, what: str) -> MissingFileError:
    """The error for an absent file: where the licensed file belongs, or that ``hgn data synth`` makes it."""
    path = Path(path)
    licensed = f"put the licensed Human3.6M file {path.name} in {paths.h36m_dir()} (`hgn data where` lists them)"
    synth = f"`hgn data synth --out {path.parent}` makes it for the embedded synthetic dataset"
    if path.name == TWO_D_FILES["synthdet"]:
        fix = synth
    elif path.name in EMBEDDED_FILES:
        fix = f"{licensed}; or {synth}"
    else:
        fix = licensed
    return MissingFileError(path, f"{what} not found", fix)


def _read_npz(path: Path, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """The values of ``keys`` of an npz archive (pickled dicts through the allow-list of
    :func:`hgnlib.safeload.load_npz`), with clear errors for a missing, unreadable, refused or incomplete file."""
    if not path.exists():
        raise missing_file_error(path, what)
    if path.is_dir():
        raise DataError(path, f"a folder, not a {what}", f"pass the npz file itself (or its folder as --dir)")
    expected = f"an npz archive with keys {list(keys)}"
    archive = load_npz(path, f"{what} ({expected})", "download or regenerate it")
    missing = [k for k in keys if k not in archive]
    if missing:
        raise DataError(path, f"missing key(s) {missing}; keys found: {list(archive)}",
                        f"expected a {what} ({expected}); is this the right file?")
    return {k: archive[k] for k in keys}


def _nested_dict(path: Path, value: Any, key: str, leaf: str) -> dict[str, dict[str, Any]]:
    """Check that ``value`` is a dict subject -> dict sequence -> leaf."""
    expected = f"'{key}' must be a dict subject -> sequence name -> {leaf}"
    if not isinstance(value, dict):
        raise DataError(path, f"'{key}' holds a {type(value).__name__}, not a dict", expected)
    if not value:
        raise DataError(path, f"'{key}' holds no subject", expected)
    for subject, seqs in value.items():
        if not isinstance(subject, str):
            raise DataError(path, f"'{key}' has the subject key {subject!r}, not a name", expected + " (names: S1 ...)")
        if not isinstance(seqs, dict) or not seqs:
            found = "no sequence" if isinstance(seqs, dict) else f"a {type(seqs).__name__}, not a dict"
            raise DataError(path, f"'{key}'[{subject!r}] holds {found}", expected)
        names = [n for n in seqs if not isinstance(n, str)]
        if names:
            raise DataError(path, f"'{key}'[{subject!r}] has the sequence key {names[0]!r}, not a name", expected)
    return value


def _check_array(path: Path, array: Any, where: str, shape_tail: tuple[int, ...], expected: str) -> np.ndarray:
    """A numeric (T, *shape_tail) array without NaN or inf, else a DataError naming ``where``."""
    try:
        array = np.asarray(array)
    except (ValueError, TypeError) as exc:  # ragged nesting, or elements numpy cannot hold
        raise DataError(path, f"{where} is not an array ({exc})",
                        f"expected {expected}: a numeric array of shape (frames >= 1, "
                        f"{', '.join(map(str, shape_tail))})") from None
    numeric = array.dtype != object and np.issubdtype(array.dtype, np.number)
    if not numeric or array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail or len(array) == 0:
        raise DataError(path, f"{where} has shape {array.shape} and dtype {array.dtype}",
                        f"expected {expected}: a numeric array of shape (frames >= 1, "
                        f"{', '.join(map(str, shape_tail))})")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise DataError(path, f"{where} holds {bad} NaN or infinite value(s)",
                        "expected finite coordinates everywhere; fill or drop the broken frames and rewrite the file")
    return array


def load_3d(path: str | Path) -> Positions3D:
    """Read ``data_3d_h36m.npz``: subject -> sequence name -> (T, 32, 3) world joints in metres."""
    path = Path(path)
    positions = _nested_dict(path, _read_npz(path, ("positions_3d",), "3D pose file")["positions_3d"],
                             "positions_3d", "(frames, 32, 3) array")
    return {subject: {name: _check_array(path, array, f"positions_3d[{subject!r}][{name!r}]", (NUM_JOINTS_3D, 3),
                                         "world joints in metres in the 32-joint motion-capture layout")
                      for name, array in seqs.items()}
            for subject, seqs in positions.items()}


def save_3d(path: str | Path, positions: Positions3D) -> None:
    """Write ``positions`` (subject -> sequence -> (T, 32, 3) metres) as a ``data_3d_h36m.npz`` file, atomically."""
    save_npz(path, positions_3d={s: {n: np.asarray(a, dtype=np.float32) for n, a in seqs.items()}
                                 for s, seqs in positions.items()})


def _check_metadata(path: Path, metadata: Any) -> dict:
    """The metadata must describe the 17-joint Human3.6M layout."""
    fix = f"expected the 17-joint Human3.6M layout, metadata {H36M_METADATA}; use a 2D file in that layout"
    if not isinstance(metadata, dict):
        raise DataError(path, f"'metadata' holds a {type(metadata).__name__}, not a dict", fix)
    if metadata.get("num_joints") != skeleton.NUM_JOINTS:
        raise DataError(path, f"metadata num_joints is {metadata.get('num_joints')!r} "
                              f"(layout {metadata.get('layout_name')!r})", fix)
    try:
        symmetry = [[int(j) for j in side] for side in metadata.get("keypoints_symmetry")]
    except (TypeError, ValueError):
        symmetry = metadata.get("keypoints_symmetry")
    if symmetry != H36M_METADATA["keypoints_symmetry"]:
        raise DataError(path, f"metadata keypoints_symmetry is {symmetry!r} "
                              f"(layout {metadata.get('layout_name')!r})", fix)
    return metadata


def load_2d(path: str | Path) -> tuple[Positions2D, dict]:
    """Read a ``data_2d_h36m_*.npz`` file: (subject -> sequence -> 4 arrays (T, 17, 2) pixels, metadata)."""
    path = Path(path)
    values = _read_npz(path, ("positions_2d", "metadata"), "2D pose file")
    metadata = _check_metadata(path, values["metadata"])
    positions = _nested_dict(path, values["positions_2d"], "positions_2d",
                             f"list of {NUM_CAMERAS} (frames, 17, 2) arrays")
    out: Positions2D = {}
    for subject, seqs in positions.items():
        out[subject] = {}
        for name, views in seqs.items():
            where = f"positions_2d[{subject!r}][{name!r}]"
            if not isinstance(views, (list, tuple)) or len(views) != NUM_CAMERAS:
                found = f"{len(views)} cameras" if isinstance(views, (list, tuple)) else f"a {type(views).__name__}"
                raise DataError(path, f"{where} holds {found}",
                                f"expected a list of {NUM_CAMERAS} arrays, one per camera in the standard order")
            out[subject][name] = [_check_array(path, v, f"{where} camera {c}", (skeleton.NUM_JOINTS, 2),
                                               "pixel coordinates of the 17 Human3.6M joints")
                                  for c, v in enumerate(views)]
    return out, metadata


def save_2d(path: str | Path, positions: Positions2D, metadata: dict | None = None) -> None:
    """Write 2D poses (subject -> sequence -> 4 arrays (T, 17, 2) pixels) as a ``data_2d_h36m_*.npz`` file."""
    save_npz(path, positions_2d={s: {n: [np.asarray(v, dtype=np.float32) for v in views] for n, views in seqs.items()}
                                 for s, seqs in positions.items()},
             metadata=H36M_METADATA if metadata is None else metadata)


def two_d_path(folder: str | Path, source: str) -> Path:
    """The 2D file of ``source`` in ``folder``; ``detected`` means ``cpn`` if present, else ``synthdet``."""
    folder = Path(folder)
    if source == "detected":
        present = [s for s in DETECTED_ORDER if (folder / TWO_D_FILES[s]).exists()]
        source = present[0] if present else DETECTED_ORDER[-1]
    if source not in TWO_D_FILES:
        raise HGNError(f"unknown 2D source {source!r}; choose one of {sorted(TWO_D_FILES) + ['detected']}")
    return folder / TWO_D_FILES[source]


def check_pair(positions_3d: Positions3D, positions_2d: Positions2D, path2d: str | Path) -> None:
    """Check that 3D and 2D files hold the same subjects and sequences and enough 2D frames.

    The real 2D files are sometimes a few frames longer than the motion capture: 2D >= 3D frames is accepted
    (the dataset builder trims the 2D to the 3D length); fewer 2D frames is an error.
    """
    fix = "use the 2D file made from the same recordings as the 3D file (or regenerate both with `hgn data synth`)"
    if set(positions_3d) != set(positions_2d):
        raise DataError(path2d, f"subjects differ: 3D has {sorted(positions_3d)}, 2D has {sorted(positions_2d)}", fix)
    for subject, seqs in positions_3d.items():
        if set(seqs) != set(positions_2d[subject]):
            names_2d = set(positions_2d[subject])
            only_3d, only_2d = sorted(set(seqs) - names_2d), sorted(names_2d - set(seqs))
            raise DataError(path2d, f"{subject}: sequences only in 3D {only_3d}, only in 2D {only_2d}", fix)
        for name, world in seqs.items():
            for c, view in enumerate(positions_2d[subject][name]):
                if len(view) < len(world):
                    raise DataError(path2d, f"{subject} {name!r} camera {c}: {len(view)} frames of 2D for "
                                            f"{len(world)} frames of 3D", f"expected at least as many 2D frames; {fix}")


# -------------------------------------------------------------------------------------- the authors' JSON files

#: The actions of the authors' files; ``action_idx`` = position + 2 (the original Human3.6M numbering).
AUTHORS_ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
    "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether",
)
FIRST_ACTION_IDX = 2

#: The joint order of ``Human36M_subject{N}_joint_3d.json``.
AUTHORS_JOINT_NAMES: tuple[str, ...] = (
    "Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso", "Neck", "Nose", "Head_top",
    "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist",
)
#: The authors' name of each of our 17 joints (same topology: Torso = Spine, Neck = Thorax, Head_top = Head).
_AUTHORS_NAME: dict[str, str] = {
    "Pelvis": "Pelvis", "RHip": "R_Hip", "RKnee": "R_Knee", "RAnkle": "R_Ankle", "LHip": "L_Hip",
    "LKnee": "L_Knee", "LAnkle": "L_Ankle", "Spine": "Torso", "Thorax": "Neck", "Nose": "Nose",
    "Head": "Head_top", "LShoulder": "L_Shoulder", "LElbow": "L_Elbow", "LWrist": "L_Wrist",
    "RShoulder": "R_Shoulder", "RElbow": "R_Elbow", "RWrist": "R_Wrist",
}
#: Index in the authors' order of each joint of our 17-joint order.
AUTHORS_TO_H36M17: tuple[int, ...] = tuple(AUTHORS_JOINT_NAMES.index(_AUTHORS_NAME[n]) for n in skeleton.H36M17_NAMES)

#: The Human3.6M camera ids of the authors' cam_idx 1..4 (the order of ``h36m_cameras.json``).
AUTHORS_CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")

SMPL_SIZES: dict[str, int] = {"pose": 72, "shape": 10, "trans": 3}

SequenceKey = tuple[str, int]  # (action name, subaction_idx)


@dataclass
class SmplParams:
    """SMPL parameters of the fitted frames of one sequence, as in the authors' files (``trans`` in metres)."""

    frames: np.ndarray  # (T,) frame_idx
    pose: np.ndarray  # (T, 72) axis-angle
    shape: np.ndarray  # (T, 10)
    trans: np.ndarray  # (T, 3)


@dataclass
class AuthorsSubject:
    """One subject of the authors' JSON annotations.

    ``joints``: (action, subaction_idx) -> (frame_idx array (T,), (T, 17, 3) world joints in metres, our order).
    ``smpl``: same keys -> :class:`SmplParams`, or None when the SMPL file is absent.
    ``images``: one int64 column per field (id, cam_idx, action_idx, subaction_idx, frame_idx, width, height).
    """

    subject: str
    cameras: list[Camera]
    joints: dict[SequenceKey, tuple[np.ndarray, np.ndarray]]
    smpl: dict[SequenceKey, SmplParams] | None
    images: dict[str, np.ndarray]


IMAGE_FIELDS: tuple[str, ...] = ("id", "cam_idx", "action_idx", "subaction_idx", "frame_idx", "width", "height")


def authors_file(folder: str | Path, subject: int, kind: str) -> Path:
    """``Human36M_subject{N}_{kind}.json`` in ``folder`` (kind: data, camera, joint_3d, smpl_param)."""
    return Path(folder) / f"Human36M_subject{subject}_{kind}.json"


def _read_json(path: Path) -> Any:
    """Parse an authors' JSON file; clear errors when it is absent or not JSON."""
    if not path.exists():
        raise MissingFileError(path, "annotation file not found",
                               f"put the authors' Human3.6M annotations (I2L-MeshNet / Pose2Mesh release, under the "
                               f"Human3.6M licence) in {paths.h36m_dir()}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})", "download the annotation file again") from None


def _int_key(path: Path, key: Any, what: str, where: str) -> int:
    """A JSON key that must hold an integer (``what``: action_idx, subaction_idx, frame_idx)."""
    try:
        return int(key)
    except (TypeError, ValueError):
        raise DataError(path, f"{where}: {what} key {key!r} is not an integer",
                        f"expected integer {what} keys (as strings)") from None


def _as_dict(path: Path, value: Any, where: str, expected: str) -> dict:
    """``value`` if it is a dict, else a DataError saying what ``where`` holds."""
    if not isinstance(value, dict):
        raise DataError(path, f"{where} holds a {type(value).__name__}, not a dict", f"expected {expected}")
    return value


def _walk_sequences(path: Path, tree: Any) -> Iterator[tuple[SequenceKey, list[int], list[Any]]]:
    """Iterate ``{action_idx: {subaction_idx: {frame_idx: value}}}``: ((action, sub), sorted frames, values)."""
    expected = "a dict action_idx -> subaction_idx -> frame_idx -> value"
    for action_key, subs in _as_dict(path, tree, "the file", expected).items():
        action_idx = _int_key(path, action_key, "action_idx", "top level")
        if not FIRST_ACTION_IDX <= action_idx < FIRST_ACTION_IDX + len(AUTHORS_ACTIONS):
            raise DataError(path, f"action_idx {action_idx} is out of range",
                            f"expected action_idx in {FIRST_ACTION_IDX}..{FIRST_ACTION_IDX + len(AUTHORS_ACTIONS) - 1}")
        action = AUTHORS_ACTIONS[action_idx - FIRST_ACTION_IDX]
        for sub_key, frames in _as_dict(path, subs, f"action {action_key}", expected).items():
            where = f"action {action_key} subaction {sub_key}"
            sub = _int_key(path, sub_key, "subaction_idx", f"action {action_key}")
            frames = _as_dict(path, frames, where, expected)
            order = sorted((_int_key(path, k, "frame_idx", where), k) for k in frames)
            yield (action, sub), [i for i, _ in order], [frames[k] for _, k in order]


def _stack(path: Path, values: list[Any], shape: tuple[int, ...], where: str, expected: str) -> np.ndarray:
    """Stack per-frame values into a (T, *shape) float array, with a clear error for a bad shape."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(path, f"{where}: ragged or non-numeric values",
                        f"expected {expected}, shape {shape} per frame") from None
    if array.shape[1:] != shape:
        raise DataError(path, f"{where}: values of shape {array.shape[1:]} per frame",
                        f"expected {expected}, shape {shape} per frame")
    return array


def _read_images(path: Path) -> dict[str, np.ndarray]:
    """The image table of ``Human36M_subject{N}_data.json``, one int64 column per field of ``IMAGE_FIELDS``."""
    data = _as_dict(path, _read_json(path), "the file", "a COCO-style dict with an 'images' list")
    images = data.get("images")
    if not isinstance(images, list):
        raise DataError(path, f"no 'images' list; keys found: {sorted(data)}",
                        "expected a COCO-style dict with 'images' and 'annotations'")
    try:
        return {f: np.array([int(im[f]) for im in images], dtype=np.int64) for f in IMAGE_FIELDS}
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(path, f"an image entry lacks or mangles field {exc}",
                        f"expected every image to have integer fields {list(IMAGE_FIELDS)}") from None


def _read_cameras(path: Path, images: dict[str, np.ndarray], images_path: Path) -> list[Camera]:
    """The 4 cameras of ``..._camera.json``, cam_idx order; image sizes come from the image table."""
    data = _as_dict(path, _read_json(path), "the file", 'a dict "1".."4" -> {R, t, f, c}')
    cameras = []
    for cam_idx, cam_id in enumerate(AUTHORS_CAMERA_IDS, start=1):
        entry = data.get(str(cam_idx))
        if not isinstance(entry, dict) or not {"R", "t", "f", "c"} <= set(entry):
            raise DataError(path, f"camera {cam_idx}: found {entry if entry is None else sorted(entry)}; "
                                  f"keys found: {sorted(data)}",
                            'expected a dict "1".."4" -> {"R": 3x3, "t": 3 (mm), "f": [fx, fy], "c": [cx, cy]}')
        shot = np.flatnonzero(images["cam_idx"] == cam_idx)
        if len(shot) == 0:
            raise DataError(images_path, f"no image of camera {cam_idx}", "expected images of the 4 cameras")
        try:
            cameras.append(Camera.from_world_to_camera(cam_id, entry["R"], entry["t"], entry["f"], entry["c"],
                                                       images["width"][shot[0]], images["height"][shot[0]]))
        except ValueError as exc:
            raise DataError(path, f"camera {cam_idx}: bad parameter shape ({exc})",
                            "expected R 3x3, t of 3, f of 2, c of 2") from None
    return cameras


def _read_joints(path: Path) -> dict[SequenceKey, tuple[np.ndarray, np.ndarray]]:
    """``..._joint_3d.json``: (action, sub) -> (frame indices, (T, 17, 3) world metres in our joint order)."""
    joints = {}
    for key, frames, values in _walk_sequences(path, _read_json(path)):
        world_mm = _stack(path, values, (skeleton.NUM_JOINTS, 3), f"{key[0]} subaction {key[1]}",
                          "17 joints x 3 world millimetres")
        joints[key] = (np.array(frames, dtype=np.int64), world_mm[:, AUTHORS_TO_H36M17] / 1000.0)
    return joints


def _read_smpl(path: Path) -> dict[SequenceKey, SmplParams]:
    """``..._smpl_param.json``: (action, sub) -> stacked SMPL parameters (``fitted_3d_pose`` is not read)."""
    smpl = {}
    for key, frames, values in _walk_sequences(path, _read_json(path)):
        where = f"{key[0]} subaction {key[1]}"
        for frame, value in zip(frames, values):
            if not isinstance(value, dict) or not set(SMPL_SIZES) <= set(value):
                found = sorted(value) if isinstance(value, dict) else type(value).__name__
                raise DataError(path, f"{where} frame {frame}: found {found}",
                                f"expected a dict with keys {list(SMPL_SIZES)}")
        arrays = {k: _stack(path, [v[k] for v in values], (n,), f"{where} '{k}'", f"SMPL {k}")
                  for k, n in SMPL_SIZES.items()}
        smpl[key] = SmplParams(frames=np.array(frames, dtype=np.int64), **arrays)
    return smpl


def load_authors_subject(folder: str | Path, subject: int) -> AuthorsSubject:
    """Read the authors' JSON annotations of subject ``subject`` (e.g. 1 for S1); the SMPL file is optional."""
    images_path = authors_file(folder, subject, "data")
    images = _read_images(images_path)
    smpl_path = authors_file(folder, subject, "smpl_param")
    return AuthorsSubject(
        subject=f"S{subject}",
        cameras=_read_cameras(authors_file(folder, subject, "camera"), images, images_path),
        joints=_read_joints(authors_file(folder, subject, "joint_3d")),
        smpl=_read_smpl(smpl_path) if smpl_path.exists() else None,
        images=images,
    )


def sequence_name(action: str, subaction_idx: int) -> str:
    """Our sequence name of an authors' (action, subaction_idx): ('Directions', 1) -> 'Directions 1'."""
    return f"{action} {subaction_idx}"


def authors_to_positions_3d(subjects: Iterable[AuthorsSubject]) -> dict[str, dict[str, np.ndarray]]:
    """Positions in the layout of :func:`load_3d` but with 17 joints, not 32: 'S1' -> 'Directions 1' -> (T, 17, 3).

    Frames are in frame_idx order (``AuthorsSubject.joints`` keeps the frame indices); world metres.
    """
    return {s.subject: {sequence_name(action, sub): joints.astype(np.float32)
                        for (action, sub), (_, joints) in s.joints.items()}
            for s in subjects}
