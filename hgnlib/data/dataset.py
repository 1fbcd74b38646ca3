"""The tensor dataset that training consumes: one sample per (frame, camera), built once, vectorised.

A sample is the 17 joints of one frame seen by one camera:

- ``inputs`` (N, 17, 2): pixels normalised with :func:`hgnlib.cameras.normalize_screen`;
- ``targets`` (N, 17, 3): camera-space joints in metres minus the pelvis (pelvis at the origin);
- ``root`` (N, 3): the camera-space pelvis, so absolute poses can be rebuilt;
- labels: ``subject``, ``action`` (index into :data:`hgnlib.skeleton.ACTIONS`), ``camera``, ``frame``, ``sequence``.

Also here: the standard split (train S1 S5 S6 S7 S8, test S9 S11) read from a dataset folder, and the flip
augmentation (mirror x, swap left and right) with its test-time average.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
import torch

from .. import skeleton
from ..cameras import Camera, load_h36m_cameras, normalize_screen
from ..errors import DataError
from .h36m import THREE_D_FILE, Positions2D, Positions3D, check_pair, load_2d, load_3d, two_d_path

TRAIN_SUBJECTS = skeleton.TRAIN_SUBJECTS
TEST_SUBJECTS = skeleton.TEST_SUBJECTS

_COORDINATES = ("inputs", "targets", "root")
_LABELS = ("subject", "action", "camera", "frame", "sequence")


@dataclass
class PoseData:
    """Samples as tensors (float32 coordinates, int64 labels) plus the names the labels index."""

    inputs: torch.Tensor  # (N, 17, 2) normalised screen coordinates
    targets: torch.Tensor  # (N, 17, 3) camera space, metres, pelvis-relative
    root: torch.Tensor  # (N, 3) camera-space pelvis, metres
    subject: torch.Tensor  # (N,) index into ``subjects``
    action: torch.Tensor  # (N,) index into skeleton.ACTIONS
    camera: torch.Tensor  # (N,) 0..3
    frame: torch.Tensor  # (N,) frame index in the sequence
    sequence: torch.Tensor  # (N,) index into ``sequences``
    subjects: list[str]
    sequences: list[tuple[str, str]]  # (subject, sequence name)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "PoseData":
        return replace(self, **{f.name: fn(getattr(self, f.name)) for f in fields(self)
                                if f.name in _COORDINATES + _LABELS})

    def to(self, device: str | torch.device) -> "PoseData":
        """The same samples on ``device``."""
        return self._map(lambda t: t.to(device))

    def subset(self, index: torch.Tensor | np.ndarray | Sequence[int] | slice) -> "PoseData":
        """The samples selected by a boolean mask, an index array or a slice (name lists unchanged)."""
        if not isinstance(index, slice):
            index = torch.as_tensor(np.asarray(index) if not isinstance(index, torch.Tensor) else index)
            index = index.to(self.inputs.device)
        return self._map(lambda t: t[index])


def _as_17(where: str, world: np.ndarray) -> np.ndarray:
    """World joints (T, 32 or 17, 3) to (T, 17, 3)."""
    world = np.asarray(world, dtype=np.float64)
    if world.ndim == 3 and world.shape[1:] == (32, 3):
        return skeleton.to_17(world)
    if world.ndim == 3 and world.shape[1:] == (skeleton.NUM_JOINTS, 3):
        return world
    raise DataError(None, f"{where}: 3D joints of shape {world.shape}", "expected (frames, 32, 3) or (frames, 17, 3)")


def _sequence_samples(world: np.ndarray, views: list[np.ndarray], cameras: list[Camera], stride: int,
                      where: str) -> list[dict[str, np.ndarray]]:
    """One chunk of samples per camera of one sequence (every ``stride``-th frame); 2D trimmed to the 3D length."""
    if len(views) != len(cameras):
        raise DataError(None, f"{where}: {len(views)} 2D views for {len(cameras)} cameras",
                        "expected one 2D array per camera, in the camera order")
    frames = np.arange(0, len(world), stride)
    chunks = []
    for c, (uv, cam) in enumerate(zip(views, cameras)):
        if len(uv) < len(world):
            raise DataError(None, f"{where} camera {c}: {len(uv)} 2D frames for {len(world)} 3D frames",
                            "expected at least as many 2D frames as 3D frames (see h36m.check_pair)")
        joints = cam.world_to_camera(world[frames])
        chunks.append({"inputs": normalize_screen(np.asarray(uv)[frames], cam.width, cam.height),
                       "targets": joints - joints[:, :1], "root": joints[:, 0],
                       "camera": np.full(len(frames), c), "frame": frames})
    return chunks


def _assemble(chunks: list[dict[str, np.ndarray]], subjects: list[str],
              sequences: list[tuple[str, str]]) -> PoseData:
    """Concatenate chunks into tensors (empty tensors of the right shapes when there is no sample)."""
    empty = {"inputs": (0, skeleton.NUM_JOINTS, 2), "targets": (0, skeleton.NUM_JOINTS, 3), "root": (0, 3)}
    tensors = {}
    for name in _COORDINATES:
        array = np.concatenate([c[name] for c in chunks]) if chunks else np.zeros(empty[name])
        tensors[name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    for name in _LABELS:
        array = np.concatenate([c[name] for c in chunks]) if chunks else np.zeros(0)
        tensors[name] = torch.from_numpy(array.astype(np.int64))
    return PoseData(**tensors, subjects=subjects, sequences=sequences)


def build_pose_data(positions_3d: Positions3D, positions_2d: Positions2D, cameras: dict[str, list[Camera]],
                    subjects: Iterable[str], stride: int = 1, actions: Iterable[str] | None = None) -> PoseData:
    """Samples of ``subjects`` (every ``stride``-th frame, every camera), optionally only of some ``actions``.

    ``positions_3d``: world metres, 32 joints (as in ``data_3d_h36m.npz``) or 17. ``positions_2d``: pixels, one
    array per camera; longer 2D tracks are trimmed to the 3D length.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    wanted = None if actions is None else {skeleton.action_of(a) for a in actions}
    subjects = list(subjects)
    sequences: list[tuple[str, str]] = []
    chunks: list[dict[str, np.ndarray]] = []
    for s, subject in enumerate(subjects):
        for source, table in (("3D", positions_3d), ("2D", positions_2d), ("camera", cameras)):
            if subject not in table:
                raise DataError(None, f"subject {subject} has no {source} data; found {sorted(table)}",
                                f"choose subjects among {sorted(table)}")
        for name, world in positions_3d[subject].items():
            action = skeleton.action_of(name)
            if wanted is not None and action not in wanted:
                continue
            where = f"{subject} {name!r}"
            if name not in positions_2d[subject]:
                raise DataError(None, f"{where} has 3D but no 2D poses", "use 3D and 2D files of the same recordings")
            labels = {"subject": s, "action": skeleton.ACTIONS.index(action), "sequence": len(sequences)}
            for chunk in _sequence_samples(_as_17(where, world), positions_2d[subject][name], cameras[subject],
                                           stride, where):
                chunks.append(chunk | {k: np.full(len(chunk["frame"]), v) for k, v in labels.items()})
            sequences.append((subject, name))
    return _assemble(chunks, subjects, sequences)


class Split(NamedTuple):
    """Training and test samples."""

    train: PoseData
    test: PoseData


def load_split(folder: str | Path, source_2d: str = "gt", train_subjects: Iterable[str] = TRAIN_SUBJECTS,
               test_subjects: Iterable[str] = TEST_SUBJECTS, train_stride: int = 1, test_stride: int = 1,
               cameras: dict[str, list[Camera]] | None = None, actions: Iterable[str] | None = None) -> Split:
    """Read ``data_3d_h36m.npz`` and the ``source_2d`` 2D file from ``folder`` (real or embedded); build both splits.

    ``test_stride=1`` keeps every test frame (the standard protocol). Cameras default to the packaged H36M ones.
    """
    folder = Path(folder)
    positions_3d = load_3d(folder / THREE_D_FILE)
    path_2d = two_d_path(folder, source_2d)
    positions_2d, _ = load_2d(path_2d)
    check_pair(positions_3d, positions_2d, path_2d)
    cameras = load_h36m_cameras() if cameras is None else cameras
    actions = None if actions is None else list(actions)
    return Split(build_pose_data(positions_3d, positions_2d, cameras, train_subjects, train_stride, actions),
                 build_pose_data(positions_3d, positions_2d, cameras, test_subjects, test_stride, actions))


# ------------------------------------------------------------------------------------------------------ flip


def _mirror(x: torch.Tensor, permutation: Sequence[int]) -> torch.Tensor:
    """Negate the first coordinate and reorder the joints (dimension -2) by ``permutation``."""
    if x.shape[-2] != len(permutation):
        raise ValueError(f"expected {len(permutation)} joints in dimension -2, got shape {tuple(x.shape)}")
    swapped = x[..., list(permutation), :]
    return torch.cat([-swapped[..., :1], swapped[..., 1:]], dim=-1)


def flip_inputs(x2d: torch.Tensor, permutation: Sequence[int] = skeleton.FLIP_PERMUTATION) -> torch.Tensor:
    """Mirror normalised 2D poses (..., J, 2) about the image's vertical centre line (x -> -x), swapping left/right.

    In normalised coordinates ``u' = 2u/w - 1`` the mirror ``u -> w - u`` is ``u' -> -u'``.
    """
    return _mirror(x2d, permutation)


def flip_targets(x3d: torch.Tensor, permutation: Sequence[int] = skeleton.FLIP_PERMUTATION) -> torch.Tensor:
    """Mirror camera-space 3D poses (..., J, 3) about the camera's y-z plane (x -> -x), swapping left/right."""
    return _mirror(x3d, permutation)


def flip_batch(inputs: torch.Tensor, targets: torch.Tensor,
               mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip every sample of a batch, or only those where the boolean ``mask`` (B,) is true."""
    flipped_in, flipped_out = flip_inputs(inputs), flip_targets(targets)
    if mask is None:
        return flipped_in, flipped_out
    m = mask.reshape(-1, *([1] * (inputs.dim() - 1)))
    return torch.where(m, flipped_in, inputs), torch.where(m, flipped_out, targets)


def flip_average(model_fn: Callable[[torch.Tensor], torch.Tensor], x2d: torch.Tensor,
                 permutation: Sequence[int] = skeleton.FLIP_PERMUTATION) -> torch.Tensor:
    """Test-time flip: the mean of the prediction on ``x2d`` and the flipped-back prediction on flipped ``x2d``.

    ``x2d`` holds the 17 joints; ``permutation`` is the left/right swap of the model's output nodes.
    """
    return 0.5 * (model_fn(x2d) + flip_targets(model_fn(flip_inputs(x2d)), permutation))
