"""The MPI-INF-3DHP test set (Table 7) when the user supplies it, and the scene test set format it shares with the
open stand-in (:mod:`hgnlib.synthetic.mocap`).

Files: ``<mpi_inf_3dhp_dir>/TS1/annot_data.mat`` ... ``TS6/annot_data.mat`` (MATLAB v7.3, i.e. HDF5). Keys read:
``annot2`` (2D, pixels), ``univ_annot3`` (the universal skeleton, camera space, mm; used for evaluation) and
``valid_frame``. MATLAB stores arrays column-major, so h5py shows their axes reversed: MATLAB's 2 x 17 x 1 x N
``annot2`` reads as (N, 1, 17, 2), ``univ_annot3`` as (N, 1, 17, 3) and ``valid_frame`` (1 x N) as (N, 1). The
reader expects these h5py shapes (the singleton axis may be absent).

The 17 test joints are, in file order: head_top, neck, right_shoulder, right_elbow, right_wrist, left_shoulder,
left_elbow, left_wrist, right_hip, right_knee, right_ankle, left_hip, left_knee, left_ankle, pelvis, spine, head
(the order of the dataset's evaluation code, as listed by mmpose's and mmhuman3d's MPI-INF-3DHP definitions). Each
is one of our 17 (:data:`MPI_NAME_OF`): head_top -> Head, neck -> Thorax, head -> Nose, spine -> Spine, pelvis ->
Pelvis, limbs by name. Scenes: TS1-TS2 green screen (GS), TS3-TS4 studio without (noGS), TS5-TS6 outdoor; images
2048 x 2048 (TS1-TS4) and 1920 x 1080 (TS5-TS6).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .. import metrics, paths, skeleton
from ..cameras import normalize_screen
from ..errors import DataError, HGNError, MissingFileError
from .dataset import PoseData

# ------------------------------------------------------------------------------------------- scene test sets


@dataclass
class ScenePiece:
    """One track of a scene test set: pixels (T, 17, 2), camera-space joints (T, 17, 3) in metres, the image size,
    the frame indices (T,) and the labels (indices into the set's name lists)."""

    uv: np.ndarray
    joints: np.ndarray
    width: int
    height: int
    frames: np.ndarray
    subject: int
    sequence: int
    camera: int
    scene: int


@dataclass
class SceneTestSet:
    """Test samples of a generalisation test (Table 7): a :class:`PoseData` plus the scene of every sample.

    ``data`` holds the tensors the models consume, made as :mod:`hgnlib.data.dataset` makes them (inputs normalised
    with :func:`hgnlib.cameras.normalize_screen`, pelvis-relative camera-space targets in metres). Its ``action`` is
    -1 (no Human3.6M action); ``camera`` indexes ``camera_names``; ``scene`` (N,) indexes ``scenes``.
    """

    data: PoseData
    scene: torch.Tensor
    scenes: list[str]
    camera_names: list[str]

    @classmethod
    def from_pieces(cls, pieces: Sequence[ScenePiece], subjects: list[str], sequences: list[tuple[str, str]],
                    scenes: list[str], camera_names: list[str]) -> "SceneTestSet":
        """Normalise, make pelvis-relative and stack the pieces into tensors (float32 coordinates, int64 labels)."""
        def cat(arrays: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
            return np.concatenate(arrays) if arrays else np.zeros(shape)

        joints = cat([p.joints for p in pieces], (0, skeleton.NUM_JOINTS, 3))
        inputs = cat([normalize_screen(p.uv, p.width, p.height) for p in pieces], (0, skeleton.NUM_JOINTS, 2))
        labels = {name: cat([np.full(len(p.frames), getattr(p, name)) for p in pieces], (0,))
                  for name in ("subject", "sequence", "camera", "scene")}
        labels["frame"] = cat([p.frames for p in pieces], (0,))
        labels["action"] = np.full(len(joints), -1)
        floats = {"inputs": inputs, "targets": joints - joints[:, :1], "root": joints[:, 0]}
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in floats.items()}
        tensors |= {k: torch.from_numpy(v.astype(np.int64)) for k, v in labels.items()}
        scene = tensors.pop("scene")
        return cls(PoseData(**tensors, subjects=subjects, sequences=sequences), scene, scenes, camera_names)

    def __len__(self) -> int:
        return len(self.data)

    def subset(self, index: torch.Tensor | np.ndarray | Sequence[int] | slice) -> "SceneTestSet":
        """The samples selected by a boolean mask, an index array or a slice (name lists unchanged)."""
        if not isinstance(index, slice):
            index = torch.as_tensor(np.asarray(index) if not isinstance(index, torch.Tensor) else index)
            index = index.to(self.scene.device)
        return replace(self, data=self.data.subset(index), scene=self.scene[index])

    def to(self, device: str | torch.device) -> "SceneTestSet":
        """The same samples on ``device``."""
        return replace(self, data=self.data.to(device), scene=self.scene.to(device))


def per_scene_metrics(pred: torch.Tensor, test: SceneTestSet) -> dict[str, dict[str, float]]:
    """Table 7's layout: per scene and for ``All`` samples, 3DPCK (%, 150 mm), AUC (%) and MPJPE (mm) of
    pelvis-relative predictions (N, 17, 3) in metres; 3DPCK and AUC over the standard 14 joints
    (:data:`hgnlib.metrics.PCK_JOINTS`), 'pck17' / 'auc17' over all 17."""
    pred, target, scene = pred.float().cpu(), test.data.targets.float().cpu(), test.scene.cpu()
    groups = {name: scene == i for i, name in enumerate(test.scenes)}
    groups["All"] = torch.ones_like(scene, dtype=torch.bool)
    return {name: {"pck": float(metrics.pck(pred[sel], target[sel])), "auc": float(metrics.auc(pred[sel], target[sel])),
                   "pck17": float(metrics.pck(pred[sel], target[sel], joints=metrics.ALL_JOINTS)),
                   "auc17": float(metrics.auc(pred[sel], target[sel], joints=metrics.ALL_JOINTS)),
                   "mpjpe": float(metrics.mpjpe(pred[sel], target[sel]).double().mean())}
            for name, sel in groups.items() if sel.any()}


# ------------------------------------------------------------------------------------------------ MPI-INF-3DHP

SEQUENCES: tuple[str, ...] = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
SCENES: tuple[str, ...] = ("GS", "noGS", "Outdoor")
SCENE_OF: dict[str, str] = {"TS1": "GS", "TS2": "GS", "TS3": "noGS", "TS4": "noGS", "TS5": "Outdoor", "TS6": "Outdoor"}
IMAGE_SIZE: dict[str, tuple[int, int]] = {"TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048),
                                          "TS4": (2048, 2048), "TS5": (1920, 1080), "TS6": (1920, 1080)}
ANNOT_FILE = "annot_data.mat"

#: The 17 joints of the test set's annotations, in file order.
MPI_TEST_JOINTS: tuple[str, ...] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "pelvis", "spine", "head",
)
#: The MPI-INF-3DHP joint that each of our 17 joints is.
MPI_NAME_OF: dict[str, str] = {
    "Pelvis": "pelvis", "RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle", "LHip": "left_hip",
    "LKnee": "left_knee", "LAnkle": "left_ankle", "Spine": "spine", "Thorax": "neck", "Nose": "head",
    "Head": "head_top", "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
    "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
}
#: Index in the file's joint order of each of our 17 joints: ``ours = theirs[..., MPI_TO_H36M17, :]``.
MPI_TO_H36M17: tuple[int, ...] = tuple(MPI_TEST_JOINTS.index(MPI_NAME_OF[n]) for n in skeleton.H36M17_NAMES)

_SOURCE = ("the MPI-INF-3DHP test set (mpi_inf_3dhp_test_set from the dataset's site, "
           "gvv.mpi-inf.mpg.de/3dhp-dataset, under its licence)")


@dataclass
class MpiSequence:
    """One test sequence in our joint order: ``annot2`` (T, 17, 2) pixels, ``univ_annot3`` (T, 17, 3) camera-space
    millimetres, ``valid`` (T,) bool."""

    annot2: np.ndarray
    univ_annot3: np.ndarray
    valid: np.ndarray


def annot_path(folder: str | Path, sequence: str) -> Path:
    """``<folder>/<sequence>/annot_data.mat``."""
    return Path(folder) / sequence / ANNOT_FILE


def _dataset(path: Path, f, key: str, shape: str) -> np.ndarray:
    """The array of HDF5 dataset ``key``; a DataError naming the key and the expected shape when absent."""
    if key not in f or not hasattr(f[key], "shape"):
        raise DataError(path, f"no '{key}' array; keys found: {sorted(f.keys())}",
                        f"expected '{key}' of h5py shape {shape} (MATLAB v7.3 annot_data.mat of the test set)")
    return np.asarray(f[key][()])


def _joints(path: Path, array: np.ndarray, key: str, dim: int) -> np.ndarray:
    """(N, 1, 17, dim) or (N, 17, dim) -> (N, 17, dim) float64 in our joint order."""
    n, found = len(MPI_TEST_JOINTS), array.shape
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (n, dim) or not np.issubdtype(array.dtype, np.number):
        raise DataError(path, f"'{key}' has shape {found} and dtype {array.dtype}",
                        f"expected '{key}' of h5py shape (frames, 1, {n}, {dim}) (MATLAB: {dim} x {n} x 1 x frames)")
    return array.astype(np.float64)[:, MPI_TO_H36M17]


def read_annot(path: str | Path) -> MpiSequence:
    """Read one ``annot_data.mat`` (MATLAB v7.3 / HDF5) into our joint order."""
    try:
        import h5py
    except ImportError:
        raise MissingFileError(None, "reading MATLAB v7.3 files needs the `h5py` package, which is not installed",
                               "`pip install h5py`") from None
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "MPI-INF-3DHP annotation file not found", f"put {_SOURCE} in {path.parent.parent}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(path, f"not a MATLAB v7.3 (HDF5) file ({exc})",
                        "use annot_data.mat as distributed with the test set (MATLAB v7.3); "
                        "re-save an older .mat file in MATLAB with save(..., '-v7.3')") from None
    with f:
        annot2 = _joints(path, _dataset(path, f, "annot2", "(frames, 1, 17, 2)"), "annot2", 2)
        univ = _joints(path, _dataset(path, f, "univ_annot3", "(frames, 1, 17, 3)"), "univ_annot3", 3)
        valid = _dataset(path, f, "valid_frame", "(frames, 1)")
    if valid.size != len(annot2) or len(univ) != len(annot2):
        raise DataError(path, f"frame counts differ: annot2 {len(annot2)}, univ_annot3 {len(univ)}, "
                              f"valid_frame {valid.size} (shape {valid.shape})",
                        "expected one entry per frame in each; valid_frame of h5py shape (frames, 1)")
    valid = valid.reshape(-1) != 0
    bad = ~(np.isfinite(annot2).all((1, 2)) & np.isfinite(univ).all((1, 2))) & valid
    if bad.any():
        raise DataError(path, f"{int(bad.sum())} valid frame(s) with NaN or infinite coordinates, "
                              f"first {int(np.flatnonzero(bad)[0])}",
                        "expected finite annot2 and univ_annot3 wherever valid_frame is 1")
    return MpiSequence(annot2, univ, valid)


def load_mpi_inf_3dhp_test(folder: str | Path | None = None, sequences: Iterable[str] = SEQUENCES,
                           valid_only: bool = True, stride: int = 1) -> SceneTestSet:
    """The MPI-INF-3DHP test set as a :class:`SceneTestSet` (default folder: :func:`hgnlib.paths.mpi_inf_3dhp_dir`).

    Scenes GS / noGS / Outdoor; ``data.subject``, ``data.sequence`` and ``data.camera`` index the sequences (one
    performer and one camera each); ``data.frame`` is the frame index in the sequence. Targets: ``univ_annot3``
    minus its pelvis, in metres. ``valid_only`` keeps the frames with ``valid_frame`` = 1 (the standard protocol);
    then every ``stride``-th of them.
    """
    folder = Path(folder) if folder is not None else paths.mpi_inf_3dhp_dir()
    sequences = list(sequences)
    unknown = [s for s in sequences if s not in SEQUENCES]
    if unknown:
        raise HGNError(f"unknown MPI-INF-3DHP test sequence(s) {unknown}; choose among {list(SEQUENCES)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    missing = [f"{s}/{ANNOT_FILE}" for s in sequences if not annot_path(folder, s).exists()]
    if missing:
        raise MissingFileError(folder, f"MPI-INF-3DHP test annotations missing: {', '.join(missing)}",
                               f"put {_SOURCE} here, one folder per sequence: "
                               f"{', '.join(f'{s}/{ANNOT_FILE}' for s in sequences)}")
    pieces = []
    for i, name in enumerate(sequences):
        seq = read_annot(annot_path(folder, name))
        frames = (np.flatnonzero(seq.valid) if valid_only else np.arange(len(seq.valid)))[::stride]
        width, height = IMAGE_SIZE[name]
        pieces.append(ScenePiece(uv=seq.annot2[frames], joints=seq.univ_annot3[frames] / 1000.0, width=width,
                                 height=height, frames=frames, subject=i, sequence=i, camera=i,
                                 scene=SCENES.index(SCENE_OF[name])))
    return SceneTestSet.from_pieces(pieces, subjects=sequences, sequences=[(s, s) for s in sequences],
                                    scenes=list(SCENES), camera_names=[f"{s} camera" for s in sequences])
