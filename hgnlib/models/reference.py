"""Plain transcriptions of the layers of :mod:`hgnlib.models.layers`, for the tests and the benchmark only.

Each class subclasses its fast layer (same parameters, same state) and overrides ``forward`` with the
obvious computation of the equation, the way the released code writes it: SemGConv with a -9e15-filled
logit matrix and two N x N products, the vanilla GConv with its degree matrices, batch norm from its formula,
the concatenation non-local on a ``B x C x N x N`` tensor, and the fusion as one Conv1d per (source, target).
:func:`as_reference` turns any model into its reference twin.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Fusion, GConv, NodeBatchNorm, NonLocal, SemGConv


class SemGConvRef(SemGConv):
    """Eq. (2) as released: softmax over a -9e15-filled logit matrix, self and neighbour products apart."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.matmul(x, self.weight[0])
        h1 = torch.matmul(x, self.weight[1])
        present = self.entries > 0
        logits = -9e15 * torch.ones_like(self.entries)
        logits[present] = self.edge_logits
        adj = F.softmax(logits, dim=1) * present
        eye = torch.eye(adj.shape[0], dtype=adj.dtype, device=adj.device)
        return torch.matmul(adj * eye, h0) + torch.matmul(adj * (1 - eye), h1) + self.bias.view(1, 1, -1)


class GConvRef(GConv):
    """Eq. (1): ``D^-1/2 A D^-1/2 (X W) + b`` with the degree matrix built every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        degree = self.entries.sum(dim=1)
        inv_sqrt = torch.diag(torch.where(degree > 0, degree, torch.ones_like(degree)).pow(-0.5) * (degree > 0))
        adj = inv_sqrt @ self.entries @ inv_sqrt
        return torch.matmul(adj, torch.matmul(x, self.weight)) + self.bias


class NodeBatchNormRef(NodeBatchNorm):
    """Batch normalisation from its formula, over batch and real nodes; running statistics updated alike."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        keep = x.new_ones(n)
        if self.real_index is not None:
            keep = x.new_zeros(n).index_fill(0, self.real_index, 1.0)
        keep = keep.view(1, n, 1)
        if self.training:
            count = x.shape[0] * keep.sum()
            mean = (x * keep).sum(dim=(0, 1)) / count
            var = (((x - mean) ** 2) * keep).sum(dim=(0, 1)) / count
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * count / (count - 1))
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        normed = (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return normed * keep


class NonLocalRef(NonLocal):
    """The concatenation non-local as released: theta, phi, g 1x1 convs, a ``B x 2C' x N x N`` concatenation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        xc = x.transpose(1, 2)
        g = F.conv1d(xc, self.g_weight[..., None], self.g_bias).transpose(1, 2)
        theta = F.conv1d(xc, self.theta_weight[..., None], self.theta_bias).unsqueeze(3).expand(-1, -1, -1, n)
        phi = F.conv1d(xc, self.phi_weight[..., None], self.phi_bias).unsqueeze(2).expand(-1, -1, n, -1)
        concat = torch.cat([theta, phi], dim=1)
        f = F.relu(F.conv2d(concat, self.pair_weight.reshape(1, 2 * self.inner, 1, 1))).squeeze(1)
        count = n
        if self.mask is not None:
            f = f * self.mask.view(1, 1, n)
            count = int(self.mask.sum())
        y = torch.matmul(f / count, g)
        w_y = F.conv1d(y.transpose(1, 2), self.out_weight[..., None], self.out_bias).transpose(1, 2)
        return self.out_bn(w_y) + x


class FusionRef(Fusion):
    """Eq. (3) with one Conv1d (channels = nodes) per (source, target), masks applied to features."""

    def forward(self, features):
        read = list(features)
        out = [None] * len(features)
        for k in self.targets:
            fused = features[k]
            for i in self.inputs_of(k):
                node_map = self.maps[self.key(i, k)]
                source = read[i] if node_map.in_keep is None else read[i] * node_map.in_keep[:, None]
                mapped = F.conv1d(source, node_map.weight[..., None], node_map.bias)
                if node_map.out_keep is not None:
                    mapped = mapped * node_map.out_keep[:, None]
                fused = mapped if fused is None else fused + mapped
            out[k] = fused
            if self.ordering == "inplace":
                read[k] = fused
        return out


#: Fast layer type -> its reference transcription.
REFERENCES: dict[type[nn.Module], type[nn.Module]] = {
    SemGConv: SemGConvRef, GConv: GConvRef, NodeBatchNorm: NodeBatchNormRef, NonLocal: NonLocalRef,
    Fusion: FusionRef,
}


def as_reference(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` (same weights and state) whose fast layers run their reference transcriptions."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if type(module) in REFERENCES:
            module.__class__ = REFERENCES[type(module)]
    return twin
