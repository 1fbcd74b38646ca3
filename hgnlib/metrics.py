"""Evaluation metrics of the field, on torch tensors, batched.

- MPJPE (Protocol #1): mean Euclidean joint error after pelvis alignment (inputs are pelvis-relative).
- PA-MPJPE (Protocol #2): the error after a per-frame similarity Procrustes alignment (rotation, translation,
  scale) of the prediction onto the ground truth.
- MPVPE: mean per-vertex error of a coarse mesh, fake nodes masked out.
- 3DPCK (share of joints within 150 mm) and AUC (mean PCK over 0..150 mm in 5 mm steps), MPI-INF-3DHP style.
- Tables: per action, per joint and per body part; the table convention of the field is the mean over actions
  of each action's mean error (:func:`mean_over_actions`).

Coordinates in metres in, errors in millimetres out.
"""
from __future__ import annotations

import torch

from . import skeleton


def joint_errors(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-joint Euclidean errors (..., J) in mm of (..., J, 3) poses in metres."""
    return (pred - target).norm(dim=-1) * 1000


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame MPJPE (N,) in mm."""
    return joint_errors(pred, target).mean(-1)


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``pred`` (N, J, 3) aligned onto ``target`` by the similarity transform minimising the squared error.

    Rotations are proper (no reflection): a reflected pose is not aligned onto its mirror image. A degenerate
    prediction (all joints at one point) aligns to the target's centroid.
    """
    mu_p, mu_t = pred.mean(1, keepdim=True), target.mean(1, keepdim=True)
    p, t = pred - mu_p, target - mu_t
    cov = t.transpose(1, 2) @ p  # (N, 3, 3): sum_j t_j p_j^T
    u, s, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))
    sign = torch.ones_like(s)
    sign[:, -1] = d
    rot = u @ torch.diag_embed(sign) @ vh  # rotation taking p onto t
    var_p = (p**2).sum((1, 2))
    scale = (s * sign).sum(1) / var_p.clamp_min(1e-12)
    return scale[:, None, None] * p @ rot.transpose(1, 2) + mu_t


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PA-MPJPE (N,) in mm."""
    return mpjpe(procrustes_align(pred.double(), target.double()), target.double()).to(pred.dtype)


def mpvpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame mean per-vertex error (N,) in mm; ``mask`` (V,) selects the real vertices of a padded mesh."""
    err = joint_errors(pred, target)
    if mask is None:
        return err.mean(-1)
    mask = mask.to(err.dtype)
    return (err * mask).sum(-1) / mask.sum()


def pck(pred: torch.Tensor, target: torch.Tensor, threshold_mm: float = 150.0,
        joints: list[int] | None = None) -> torch.Tensor:
    """3DPCK: share (in %) of joints whose error is below ``threshold_mm``."""
    err = joint_errors(pred, target)
    if joints is not None:
        err = err[..., joints]
    return (err < threshold_mm).double().mean() * 100


def auc(pred: torch.Tensor, target: torch.Tensor, joints: list[int] | None = None, max_mm: float = 150.0,
        step_mm: float = 5.0) -> torch.Tensor:
    """Area under the PCK curve: mean PCK (in %) over thresholds 0, 5, ..., 150 mm."""
    err = joint_errors(pred, target)
    if joints is not None:
        err = err[..., joints]
    thresholds = torch.arange(0, max_mm + step_mm / 2, step_mm, dtype=err.dtype, device=err.device)
    return (err[..., None] < thresholds).double().mean() * 100


def per_group(values: torch.Tensor, groups: torch.Tensor, names: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Mean of per-frame ``values`` within each group label (groups index ``names``); absent groups omitted."""
    out = {}
    for i, name in enumerate(names):
        sel = groups == i
        if sel.any():
            out[name] = float(values[sel].double().mean())
    return out


def mean_over_actions(per_action: dict[str, float]) -> float:
    """The table convention: the mean over actions of each action's mean error."""
    return sum(per_action.values()) / len(per_action)


def per_joint(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean error (mm) of each of the 17 joints."""
    err = joint_errors(pred, target).double().mean(0)
    return {name: float(e) for name, e in zip(skeleton.H36M17_NAMES, err)}


def per_body_part(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean error (mm) of each body part of Figure 3 (``skeleton.BODY_PARTS``)."""
    err = joint_errors(pred, target).double().mean(0)
    return {part: float(err[list(joints)].mean()) for part, joints in skeleton.BODY_PARTS.items()}
