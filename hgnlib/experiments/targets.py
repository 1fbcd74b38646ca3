"""Coarse-mesh targets of samples: the pseudo-ground truth aligned to (subject, sequence, frame), in camera space."""
from __future__ import annotations

import numpy as np
import torch

from ..cameras import Camera
from ..data.dataset import PoseData
from ..data.pseudo_gt import PseudoGT
from ..errors import DataError


def mesh_targets(data: PoseData, pgt: PseudoGT, cameras: dict[str, list[Camera]],
                 levels: dict[str, str]) -> dict[str, torch.Tensor]:
    """For each output name -> pseudo-GT level name of ``levels``: (N, n, 3) float32 camera-space targets.

    Every sample's frame must be among the pseudo-ground truth's frames of its sequence (same stride).
    """
    offsets, rows_of, chunks = [], [], {name: [] for name in levels}
    total = 0
    for subject, sequence in data.sequences:
        try:
            frames = pgt.frames[subject][sequence]
        except KeyError:
            raise DataError(None, f"no pseudo-ground truth for {subject} {sequence!r}",
                            "compute it for the same subjects as the samples") from None
        lookup = np.full(int(frames.max()) + 1 if len(frames) else 0, -1, dtype=np.int64)
        lookup[frames] = np.arange(len(frames))
        rows_of.append(lookup)
        offsets.append(total)
        total += len(frames)
        for name, level in levels.items():
            chunks[name].append(pgt.coarse[subject][sequence][level])
    seq = data.sequence.cpu().numpy()
    frame = data.frame.cpu().numpy()
    rows = np.full(len(seq), -1, dtype=np.int64)
    for s, lookup in enumerate(rows_of):
        sel = np.flatnonzero(seq == s)
        known = frame[sel] < len(lookup)
        rows[sel[known]] = lookup[frame[sel[known]]]
        rows[sel[rows[sel] >= 0]] += offsets[s]
    if (rows < 0).any():
        raise DataError(None, f"{int((rows < 0).sum())} samples have no pseudo-ground-truth frame",
                        "compute the pseudo-ground truth at the samples' stride")
    rotations = torch.from_numpy(np.stack([[cam.R for cam in cameras[s]] for s in data.subjects])).float()
    R = rotations[data.subject.cpu(), data.camera.cpu()]  # (N, 3, 3): X_cam = X_world @ R
    index = torch.from_numpy(rows)
    return {name: torch.einsum("nvi,nij->nvj", torch.from_numpy(np.concatenate(chunks[name]))[index], R)
            for name in levels}
