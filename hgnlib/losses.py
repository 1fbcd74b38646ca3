"""The training loss of the paper, Eq. (4): lambda_P x 3D pose loss + lambda_M x the two coarse-mesh losses.

Each term is a sum over joints (vertices) of squared Euclidean errors, averaged over the batch, as Eq. (4)
writes it. ``reduction="mse"`` instead averages over every coordinate of each term (``torch.nn.MSELoss``, the
convention of SemGCN-style code), which changes the relative weight of the terms by their sizes (17 joints
against 48 and 96 vertices). Fake (padding) vertices of a coarse mesh are masked out of its term, and samples
can be left out of the mesh terms (``mesh_samples``; the training loop leaves out horizontally flipped samples,
whose coarse meshes have no exact left/right counterpart); a mesh term then averages over the samples kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

LAMBDA_P = 1.0
LAMBDA_M = 0.01


@dataclass(frozen=True)
class LossWeights:
    """lambda_P and lambda_M of Eq. (4) (paper: 1 and 0.01) and the reduction (``"sum"`` = Eq. (4), or ``"mse"``)."""

    pose: float = LAMBDA_P
    mesh: float = LAMBDA_M
    reduction: str = "sum"


def point_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
               reduction: str = "sum", samples: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error of (B, N, 3) point sets: sum over points (``"sum"``) or mean over coordinates (``"mse"``),
    averaged over the batch; ``mask`` (N,) keeps the real points, ``samples`` (B,) bool the samples averaged
    (a batch with none kept gives 0)."""
    if reduction not in ("sum", "mse"):
        raise ValueError(f"reduction must be 'sum' or 'mse', got {reduction!r}")
    sq = ((pred - target) ** 2).sum(-1)
    if mask is not None:
        sq = sq * mask.to(sq.dtype)
    per_sample = sq.sum(-1)
    if samples is None:
        loss = per_sample.mean()
    else:
        keep = samples.to(per_sample.dtype)
        loss = (per_sample * keep).sum() / keep.sum().clamp_min(1)
    if reduction == "mse":
        count = mask.sum() if mask is not None else torch.tensor(sq.shape[-1])
        loss = loss / (3 * count.to(sq.dtype))
    return loss


def hgn_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
             masks: dict[str, torch.Tensor] | None = None,
             weights: LossWeights = LossWeights(),
             mesh_samples: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. (4) over the outputs a model has: ``"pose"`` always, coarse meshes (any other key) when present.

    ``mesh_samples`` (B,) bool: the samples that enter the mesh terms (all when None). Returns the total and its
    terms (floats, for logging). With ``weights.mesh == 0`` the mesh terms are skipped.
    """
    masks = masks or {}
    total = weights.pose * point_loss(outputs["pose"], targets["pose"], reduction=weights.reduction)
    terms = {"pose": float(total.detach()) / max(weights.pose, 1e-12)}
    if weights.mesh > 0:
        for key, pred in outputs.items():
            if key == "pose" or key not in targets:
                continue
            term = point_loss(pred, targets[key], masks.get(key), weights.reduction, mesh_samples)
            terms[key] = float(term.detach())
            total = total + weights.mesh * term
    return total, terms
