"""Evaluation: predictions by chunks (optionally flip-averaged) and the metrics of the field, on a test split.

Test-time flip averages the joints only: the coarse meshes of heavy edge matching have no exact left/right
correspondence, so their predictions are the unflipped ones.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import metrics, skeleton
from ..data.dataset import PoseData, flip_average
from ..errors import DataError
from ..fileio import save_npz

EVAL_BATCH = 1024


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, flip_test: bool = False,
            batch: int = EVAL_BATCH) -> dict[str, torch.Tensor]:
    """The model's outputs (float32) on ``inputs`` in evaluation mode, by chunks; joints flip-averaged if asked."""
    was_training = model.training
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    for begin in range(0, len(inputs), batch):
        x = inputs[begin:begin + batch]
        outputs = model(x)
        if flip_test:
            outputs["joints"] = flip_average(lambda v: model(v)["joints"], x)
        for k, v in outputs.items():
            chunks.setdefault(k, []).append(v.float())
    model.train(was_training)
    return {k: torch.cat(v) for k, v in chunks.items()}


def evenly_spaced(n: int, k: int | None) -> torch.Tensor:
    """At most ``k`` indices spread evenly over ``range(n)`` (all of them when ``k`` is None or >= n)."""
    if k is None or k >= n:
        return torch.arange(n)
    return torch.linspace(0, n - 1, k).round().long().unique()


def joint_metrics(pred: torch.Tensor, target: torch.Tensor, action: torch.Tensor) -> dict:
    """The summary and breakdowns of joint predictions (mm): 'mpjpe' and 'pa_mpjpe' (mean over actions),
    'per_action' {metric: {action: mm}}, 'per_joint', 'per_body_part', 'pck' and 'auc' (%, 150 mm, the standard
    14 MPI-INF-3DHP joints) and 'pck17' / 'auc17' (all 17 joints, pelvis included)."""
    pred, target, action = pred.float().cpu(), target.float().cpu(), action.cpu()
    per_action = {"mpjpe": metrics.per_group(metrics.mpjpe(pred, target), action, skeleton.ACTIONS),
                  "pa_mpjpe": metrics.per_group(metrics.pa_mpjpe(pred, target), action, skeleton.ACTIONS)}
    return {**{k: metrics.mean_over_actions(v) for k, v in per_action.items()}, "per_action": per_action,
            "per_joint": metrics.per_joint(pred, target), "per_body_part": metrics.per_body_part(pred, target),
            "pck": float(metrics.pck(pred, target)), "auc": float(metrics.auc(pred, target)),
            "pck17": float(metrics.pck(pred, target, joints=metrics.ALL_JOINTS)),
            "auc17": float(metrics.auc(pred, target, joints=metrics.ALL_JOINTS))}


def evaluate(model: nn.Module, test: PoseData, flip_test: bool = False,
             meshes: dict[str, torch.Tensor] | None = None, masks: dict[str, torch.Tensor] | None = None,
             summary_only: bool = False) -> tuple[dict, dict[str, torch.Tensor]]:
    """Test metrics in mm (:func:`joint_metrics`, plus 'mpvpe' {mesh: mm, mean over actions} when mesh targets
    are given) and the predictions. ``summary_only``: just 'mpjpe' and 'pa_mpjpe'."""
    out = predict(model, test.inputs, flip_test)
    if summary_only:
        pred, target, action = out["joints"].cpu(), test.targets.cpu(), test.action.cpu()
        return {"mpjpe": metrics.mean_over_actions(metrics.per_group(metrics.mpjpe(pred, target), action,
                                                                     skeleton.ACTIONS)),
                "pa_mpjpe": metrics.mean_over_actions(metrics.per_group(metrics.pa_mpjpe(pred, target), action,
                                                                        skeleton.ACTIONS))}, out
    result = joint_metrics(out["joints"], test.targets, test.action)
    if meshes:
        masks = masks or {}
        result["mpvpe"] = {}
        for name, target in meshes.items():
            mask = masks.get(name)
            per_frame = metrics.mpvpe(out[name].cpu(), target.float().cpu(), None if mask is None else mask.cpu())
            result["mpvpe"][name] = metrics.mean_over_actions(
                metrics.per_group(per_frame, test.action.cpu(), skeleton.ACTIONS))
    return result, out


def save_predictions(path: str | Path, test: PoseData, outputs: dict[str, torch.Tensor], index: torch.Tensor,
                     meshes: dict[str, torch.Tensor] | None = None) -> None:
    """Store the predictions of the test samples ``index``: inputs, targets, labels (subject and sequence names),
    every output, the mesh targets and each sample's MPJPE (mm)."""
    index = index.cpu()
    pick = lambda t: t.detach().cpu()[index].numpy()  # noqa: E731
    arrays = {"index": index.numpy(), "inputs": pick(test.inputs), "targets": pick(test.targets),
              "root": pick(test.root), "action": pick(test.action), "camera": pick(test.camera),
              "frame": pick(test.frame), "subject": np.array(test.subjects)[pick(test.subject)],
              "sequence": np.array([name for _, name in test.sequences])[pick(test.sequence)],
              "mpjpe": metrics.mpjpe(outputs["joints"].cpu()[index], test.targets.cpu()[index]).numpy()}
    arrays.update({f"pred_{k}": pick(v) for k, v in outputs.items()})
    arrays.update({f"target_{k}": pick(v) for k, v in (meshes or {}).items()})
    save_npz(path, **arrays)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays written by :func:`save_predictions`."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def evaluate_model_file(path: str | Path, folder: str | Path, source_2d: str = "gt", test_stride: int = 1,
                        flip_test: bool = False, subjects: tuple[str, ...] = skeleton.TEST_SUBJECTS,
                        device: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Metrics (:func:`joint_metrics`) of a model file (``model.pt``) on the ``subjects`` of a dataset folder
    (every ``test_stride``-th frame, 2D from ``source_2d``), and the model file's metadata."""
    from ..data.dataset import load_split
    from .artifacts import load_model

    model, info = load_model(path, device)
    test = load_split(folder, source_2d, train_subjects=(), test_subjects=subjects, test_stride=test_stride).test
    outputs = predict(model, test.inputs.to(device), flip_test)
    require_finite(outputs["joints"], path, info["model"]["name"])
    return joint_metrics(outputs["joints"], test.targets, test.action), info


def require_finite(joints: torch.Tensor | np.ndarray, path: str | Path, name: str) -> None:
    """Raise DataError naming the model file when its predictions hold NaN or infinite values."""
    bad = ~np.isfinite(np.asarray(joints.detach().float().cpu() if isinstance(joints, torch.Tensor) else joints))
    if bad.any():
        frames = int(bad.reshape(len(bad), -1).any(1).sum())
        raise DataError(Path(path), f"model {name!r} predicts NaN or infinite 3D joints for {frames} of {len(bad)} "
                                    "frame(s): its weights are broken",
                        "use another model.pt (the run's own, or retrain it with `hgn train`)")
