"""Two reference points that need no training loop: the mean training pose, and a linear least-squares map from the
normalised 2D joints to the pelvis-relative 3D joints. They tell whether a trained network learned anything beyond
what a linear map already gets."""
from __future__ import annotations

import torch

from .data.dataset import PoseData


def mean_pose(train: PoseData, test: PoseData) -> torch.Tensor:
    """The mean training pose, predicted for every test sample: (N_test, 17, 3)."""
    return train.targets.double().mean(0).expand(len(test), -1, -1).float()


def linear_map(train: PoseData, test: PoseData) -> torch.Tensor:
    """Least-squares affine map from the flattened 2D inputs to the flattened 3D targets: (N_test, 17, 3)."""
    def design(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1).double()
        return torch.cat([flat, torch.ones(len(flat), 1, dtype=flat.dtype)], 1)

    weights = torch.linalg.lstsq(design(train.inputs), train.targets.reshape(len(train), -1).double()).solution
    return (design(test.inputs) @ weights).reshape(-1, *test.targets.shape[1:]).float()


BASELINES = {"mean pose": mean_pose, "linear 2D->3D": linear_map}
