"""The fully connected baseline of Martinez et al. (ICCV 2017), a peer of Tables 5-7.

Flattened 2D joints -> linear 1024 (batch norm, ReLU, dropout) -> two residual blocks of two such layers
-> linear to the flattened 3D joints. Weights Kaiming-normal, as that paper initialises them.
"""
from __future__ import annotations

import torch
from torch import nn

from ..skeleton import NUM_JOINTS


class LinearBNReLU(nn.Sequential):
    """Linear -> batch norm -> ReLU -> dropout."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features), nn.ReLU(),
                         nn.Dropout(dropout))


class LinearResidual(nn.Module):
    """Two :class:`LinearBNReLU` layers plus the identity."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(LinearBNReLU(width, width, dropout), LinearBNReLU(width, width, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, width) -> (B, width)."""
        return x + self.layers(x)


class Martinez(nn.Module):
    """Input (B, J, 2); output {'joints': (B, J, 3)}."""

    def __init__(self, width: int = 1024, blocks: int = 2, dropout: float = 0.5, joints: int = NUM_JOINTS,
                 in_features: int = 2, out_features: int = 3):
        super().__init__()
        self.joints, self.out_features = joints, out_features
        self.input = LinearBNReLU(joints * in_features, width, dropout)
        self.blocks = nn.Sequential(*(LinearResidual(width, dropout) for _ in range(blocks)))
        self.output = nn.Linear(width, joints * out_features)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, J, 2) -> {'joints': (B, J, 3)}."""
        out = self.output(self.blocks(self.input(x.flatten(1))))
        return {"joints": out.view(-1, self.joints, self.out_features)}
