"""What Protocol #1's root alignment hides: a diagnostic, never part of a run's result.

Protocol #1 re-centres both poses on their own pelvis before measuring, so a network that places every joint well
relative to the origin but misplaces its pelvis there pays the pelvis's offset on every joint. The targets are
pelvis-relative (their pelvis is the origin), so the predicted pelvis's distance from the origin measures that
offset, and the error of the poses as predicted (no re-centring) measures the joints without it. A network with
one weight matrix shared by every node (the vanilla graph convolution of Table 4b) can only tell the pelvis from
the other joints through the graph, and may not learn to pin it (``hgn eval RUN --root-offset``).
"""
from __future__ import annotations

import torch

from .. import metrics, skeleton


def root_offset(pred: torch.Tensor, target: torch.Tensor, action: torch.Tensor) -> dict:
    """In mm, as means over actions: 'mpjpe_unaligned', the error of the (N, 17, 3) predictions as they are against
    the pelvis-relative targets, and 'pelvis_offset', the predicted pelvis's distance from the origin; 'per_action'
    holds both per action. The unaligned and the Protocol #1 MPJPE differ by at most the pelvis offset."""
    pred, target, action = pred.float().cpu(), target.float().cpu(), action.cpu()
    unaligned = metrics.per_group(metrics.mpjpe(pred, target, root=None), action, skeleton.ACTIONS)
    pelvis = metrics.per_group(pred[:, skeleton.PELVIS].norm(dim=-1) * 1000, action, skeleton.ACTIONS)
    return {"mpjpe_unaligned": metrics.mean_over_actions(unaligned), "pelvis_offset": metrics.mean_over_actions(pelvis),
            "per_action": {"mpjpe_unaligned": unaligned, "pelvis_offset": pelvis}}
