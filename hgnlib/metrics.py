"""Evaluation metrics of the field, on torch tensors, batched.

- MPJPE (Protocol #1): mean Euclidean joint error after root alignment: the predicted pelvis is subtracted from
  the prediction and the true pelvis from the target (``root=None``: no alignment, the raw distance).
- PA-MPJPE (Protocol #2): the error after a per-frame similarity Procrustes alignment (rotation, translation,
  scale) of the prediction onto the ground truth.
- MPVPE: mean per-vertex error of a coarse mesh, fake nodes masked out.
- 3DPCK (share of joints within 150 mm) and AUC (mean PCK over 0..150 mm in 5 mm steps) of root-aligned poses,
  over the joints of the standard MPI-INF-3DHP evaluation (:data:`PCK_JOINTS`), or all 17 (``joints=ALL_JOINTS``).
- Per-joint and per-body-part errors are root-aligned like MPJPE.
- Tables: per action, per joint and per body part; the table convention of the field is the mean over actions
  of each action's mean error (:func:`mean_over_actions`).

Coordinates in metres in, errors in millimetres out.
"""
from __future__ import annotations

import torch

from . import skeleton

#: The 14 joints of the standard MPI-INF-3DHP 3DPCK / AUC, as indices of our 17: the joint groups of the
#: dataset's official test script (``mpii_get_pck_auc_joint_groups.m`` of the MPI-INF-3DHP test-set utilities:
#: head top, neck, shoulders, elbows, wrists, hips, knees, ankles). Pelvis, spine and nose are left out: the
#: pelvis has no error once the roots are aligned, which would inflate PCK.
PCK_JOINTS: tuple[int, ...] = tuple(skeleton.H36M17_NAMES.index(n) for n in (
    "Head", "Thorax", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle"))
#: Every joint (the 17-joint variant of 3DPCK / AUC, pelvis included).
ALL_JOINTS: tuple[int, ...] = tuple(range(skeleton.NUM_JOINTS))


def root_aligned(pose: torch.Tensor, root: int | None = skeleton.PELVIS) -> torch.Tensor:
    """(..., J, 3) poses with joint ``root`` moved to the origin (unchanged when ``root`` is None)."""
    return pose if root is None else pose - pose[..., root:root + 1, :]


def joint_errors(pred: torch.Tensor, target: torch.Tensor, root: int | None = None) -> torch.Tensor:
    """Per-joint Euclidean errors (..., J) in mm of (..., J, 3) poses in metres (after aligning ``root``)."""
    return (root_aligned(pred, root) - root_aligned(target, root)).norm(dim=-1) * 1000


def mpjpe(pred: torch.Tensor, target: torch.Tensor, root: int | None = skeleton.PELVIS) -> torch.Tensor:
    """Per-frame MPJPE (N,) in mm, Protocol #1: both poses relative to their own pelvis (``root=None``: raw)."""
    return joint_errors(pred, target, root).mean(-1)


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
    return mpjpe(procrustes_align(pred.double(), target.double()), target.double(), root=None).to(pred.dtype)


def mpvpe(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame mean per-vertex error (N,) in mm; ``mask`` (V,) selects the real vertices of a padded mesh."""
    err = joint_errors(pred, target)
    if mask is None:
        return err.mean(-1)
    mask = mask.to(err.dtype)
    return (err * mask).sum(-1) / mask.sum()


def pck(pred: torch.Tensor, target: torch.Tensor, threshold_mm: float = 150.0,
        joints: tuple[int, ...] = PCK_JOINTS) -> torch.Tensor:
    """3DPCK: share (in %) of ``joints`` whose root-aligned error is below ``threshold_mm``."""
    err = joint_errors(pred, target, skeleton.PELVIS)[..., list(joints)]
    return (err < threshold_mm).double().mean() * 100


def auc(pred: torch.Tensor, target: torch.Tensor, joints: tuple[int, ...] = PCK_JOINTS, max_mm: float = 150.0,
        step_mm: float = 5.0) -> torch.Tensor:
    """Area under the PCK curve: mean PCK (in %) of ``joints`` over thresholds 0, 5, ..., 150 mm."""
    err = joint_errors(pred, target, skeleton.PELVIS)[..., list(joints)]
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
    """Mean root-aligned error (mm) of each of the 17 joints."""
    err = joint_errors(pred, target, skeleton.PELVIS).double().mean(0)
    return {name: float(e) for name, e in zip(skeleton.H36M17_NAMES, err)}


def per_body_part(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean root-aligned error (mm) of each body part of Figure 3 (``skeleton.BODY_PARTS``)."""
    err = joint_errors(pred, target, skeleton.PELVIS).double().mean(0)
    return {part: float(err[list(joints)].mean()) for part, joints in skeleton.BODY_PARTS.items()}
