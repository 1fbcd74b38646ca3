"""The layers of HGN and its peers, written for speed: graph convolutions, node batch norm, non-local, fusion.

Node features are ``(B, N, C)`` tensors (batch, nodes, channels) throughout. Every layer has a plain
transcription in :mod:`hgnlib.models.reference`; the tests hold the two equal (outputs and gradients).

What is computed once per forward pass rather than per sample, and the exact shortcuts taken:

- SemGConv: the softmax-normalised adjacency is built once (an N x N matrix). When the layer widens
  (``C_in <= C_out``) it aggregates first and transforms once: ``[d * X, A_off X] @ [W0; W1]`` (one matrix
  product with the two weight matrices stacked) instead of two transforms and two aggregations.
- Vanilla GConv: the normalised adjacency is built once per pass (an N x N matrix, negligible next to the
  products, and exact in whatever dtype the layer runs); the cheaper of ``(A X) W`` and ``A (X W)`` is taken.
- Non-local (concatenation form): ``w^T [theta_i, phi_j] = (w_theta^T W_theta) x_i + (w_phi^T W_phi) x_j + c``,
  so theta and phi are never computed: two projection vectors are folded once per pass and the scores are a
  ``(B, N, 2)`` product. The pairwise map is ``(B, N, N)`` (never ``B x C x N x N``), applied to g with one
  batched product; the ``1 / N`` is folded into the output projection's weight.
- Fusion: the maps into one target are concatenated along the source nodes, so each target costs one
  product; fake-node masks are applied to the (tiny) map weights, not to the activations.

Fake nodes of padded graphs (mask False) are kept at exactly zero and out of every statistic:

- graph convolutions: fake nodes have no adjacency entry, so they neither send nor receive messages (their
  rows hold the bias only, which the following batch norm or the model's output masking removes);
- :class:`NodeBatchNorm`: statistics over real nodes only; fake nodes come out as zeros;
- :class:`NonLocal`: fake nodes are not attended to, and the pairwise sum is divided by the real node count;
- :class:`Fusion`: map weights from or to fake nodes are masked out (fake target rows get nothing).

So a padded branch computes on its real nodes exactly what the plain branch computes on the real subgraph.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .graph import Graph

#: Xavier-uniform gain of the graph convolutions (SemGCN's and HGN's released code).
GCONV_GAIN = 1.414


def node_mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply an (M, N) matrix along the node axis of (B, N, C) features: (B, M, C)."""
    return torch.einsum("mn,bnc->bmc", matrix, x)


def _reset_bias(bias: torch.Tensor, fan: int) -> None:
    bound = 1.0 / math.sqrt(fan)
    nn.init.uniform_(bias, -bound, bound)


class SemGConv(nn.Module):
    """Semantic graph convolution (Eq. 2): a learned weight per adjacency entry, softmax over each row's entries.

    ``out_i = d_i x_i W0 + sum_{j != i} a_ij x_j W1 + b`` with ``a = rowsoftmax(M)`` over the entries of the
    adjacency only (self-loops included) and ``d_i = a_ii``. Weights: Xavier uniform (gain 1.414) per matrix
    with Glorot's fans (C_in, C_out); the released code applies it to the stacked (2, C_in, C_out) tensor, whose
    fans torch reads as C_in * C_out and 2 * C_out (a bound 8x smaller at 128 channels). Edge logits start at 1
    (uniform rows); bias uniform in ``+-1/sqrt(C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, graph: Graph):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        adjacency = graph.adjacency
        rows, cols = torch.nonzero(adjacency, as_tuple=True)
        self.register_buffer("entries", adjacency.clone(), persistent=False)
        self.register_buffer("neighbours", adjacency * (1 - torch.eye(len(adjacency))), persistent=False)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.weight = nn.Parameter(torch.empty(2, in_channels, out_channels))
        self.edge_logits = nn.Parameter(torch.empty(len(rows)))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights (gain 1.414), unit edge logits, uniform bias."""
        nn.init.xavier_uniform_(self.weight[0], gain=GCONV_GAIN)
        nn.init.xavier_uniform_(self.weight[1], gain=GCONV_GAIN)
        nn.init.ones_(self.edge_logits)
        _reset_bias(self.bias, self.out_channels)

    def normalized_adjacency(self) -> torch.Tensor:
        """The (N, N) row-softmax of the edge logits over each row's entries (rows without entries are zero)."""
        n = self.entries.shape[0]
        fill = torch.finfo(self.edge_logits.dtype).min
        logits = self.edge_logits.new_full((n, n), fill).index_put((self.rows, self.cols), self.edge_logits)
        return torch.softmax(logits, dim=1) * self.entries

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        weights = self.normalized_adjacency()
        self_weight = weights.diagonal().unsqueeze(-1)
        neighbour_weights = weights * self.neighbours
        if self.in_channels <= self.out_channels:
            mixed = torch.cat([x * self_weight, node_mix(neighbour_weights, x)], dim=-1)
            return torch.matmul(mixed, self.weight.reshape(2 * self.in_channels, self.out_channels)) + self.bias
        return (torch.matmul(x, self.weight[0]) * self_weight
                + node_mix(neighbour_weights, torch.matmul(x, self.weight[1])) + self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, entries={len(self.rows)}"


def symmetric_normalized(adjacency: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of an adjacency that already holds its self-loops; rows without entries stay zero."""
    degree = adjacency.sum(dim=1)
    inv_sqrt = torch.where(degree > 0, degree.clamp(min=1e-12).rsqrt(), torch.zeros_like(degree))
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


class GConv(nn.Module):
    """Vanilla graph convolution (Eq. 1): ``A~ X W + b`` with one weight matrix, ``A~`` symmetrically normalised.

    Weight: Xavier uniform (gain 1.414); bias uniform in ``+-1/sqrt(C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, graph: Graph):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.register_buffer("entries", graph.adjacency.clone(), persistent=False)
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weight (gain 1.414), uniform bias."""
        nn.init.xavier_uniform_(self.weight, gain=GCONV_GAIN)
        _reset_bias(self.bias, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        propagation = symmetric_normalized(self.entries)
        if self.in_channels <= self.out_channels:
            return torch.matmul(node_mix(propagation, x), self.weight) + self.bias
        return node_mix(propagation, torch.matmul(x, self.weight)) + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}"


#: The graph convolution types, by the name the configurations use.
GCONV_TYPES: dict[str, type[nn.Module]] = {"semgconv": SemGConv, "vanilla": GConv}


def make_gconv(kind: str, in_channels: int, out_channels: int, graph: Graph) -> nn.Module:
    """A graph convolution of type ``kind`` ('semgconv' or 'vanilla')."""
    if kind not in GCONV_TYPES:
        raise ValueError(f"unknown graph convolution {kind!r}; expected one of {sorted(GCONV_TYPES)}")
    return GCONV_TYPES[kind](in_channels, out_channels, graph)


class NodeBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the channels of (B, N, C) features, statistics over batch and real nodes.

    With a mask, fake nodes are left out of the statistics and come out as zeros.
    """

    def __init__(self, channels: int, mask: torch.Tensor | None = None):
        super().__init__(channels)
        real = None if mask is None else torch.nonzero(mask, as_tuple=True)[0]
        self.register_buffer("real_index", real, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        b, n, c = x.shape
        if self.real_index is None:
            return super().forward(x.reshape(b * n, c)).reshape(b, n, c)
        real = x.index_select(1, self.real_index)
        normed = super().forward(real.reshape(-1, c)).reshape(b, -1, c)
        return x.new_zeros(b, n, c).index_copy(1, self.real_index, normed)


class GraphConvBNReLU(nn.Module):
    """Graph convolution -> batch norm -> ReLU."""

    def __init__(self, kind: str, in_channels: int, out_channels: int, graph: Graph):
        super().__init__()
        self.gconv = make_gconv(kind, in_channels, out_channels, graph)
        self.bn = NodeBatchNorm(out_channels, graph.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        return torch.relu(self.bn(self.gconv(x)))


class ResidualBlock(nn.Module):
    """The ResGCN block: two (graph conv -> batch norm -> ReLU) layers plus the identity."""

    def __init__(self, kind: str, channels: int, graph: Graph):
        super().__init__()
        self.first = GraphConvBNReLU(kind, channels, channels, graph)
        self.second = GraphConvBNReLU(kind, channels, channels, graph)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        return x + self.second(self.first(x))


class NonLocal(nn.Module):
    """Non-local layer, concatenation form, over all (real) nodes of a graph.

    ``y_i = 1/N sum_j ReLU(w^T [theta(x_i), phi(x_j)]) g(x_j)``, ``z = x + BN(W_out y)``; theta, phi, g are
    1x1 convolutions to ``C // 2`` channels. Initialisation as released with the layer: Kaiming-normal weights,
    zero biases, and the output batch norm at zero (the layer starts as the identity).
    """

    def __init__(self, channels: int, mask: torch.Tensor | None = None):
        super().__init__()
        inner = channels // 2
        if inner < 1:
            raise ValueError(f"a non-local layer needs at least 2 channels, got {channels}")
        self.channels, self.inner = channels, inner
        self.theta_weight = nn.Parameter(torch.empty(inner, channels))
        self.theta_bias = nn.Parameter(torch.empty(inner))
        self.phi_weight = nn.Parameter(torch.empty(inner, channels))
        self.phi_bias = nn.Parameter(torch.empty(inner))
        self.g_weight = nn.Parameter(torch.empty(inner, channels))
        self.g_bias = nn.Parameter(torch.empty(inner))
        self.pair_weight = nn.Parameter(torch.empty(2, inner))
        self.out_weight = nn.Parameter(torch.empty(channels, inner))
        self.out_bias = nn.Parameter(torch.empty(channels))
        self.out_bn = NodeBatchNorm(channels, mask)
        self.register_buffer("mask", None if mask is None else mask.to(torch.float32)[:, None], persistent=False)
        self.real_count = None if mask is None else int(mask.sum())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal weights, zero biases, zero output batch norm."""
        for weight in (self.theta_weight, self.phi_weight, self.g_weight, self.out_weight):
            nn.init.kaiming_normal_(weight)
        nn.init.normal_(self.pair_weight, std=math.sqrt(2.0 / (2 * self.inner)))
        for bias in (self.theta_bias, self.phi_bias, self.g_bias, self.out_bias):
            nn.init.zeros_(bias)
        nn.init.zeros_(self.out_bn.weight)
        nn.init.zeros_(self.out_bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        w_theta, w_phi = self.pair_weight
        projection = torch.stack([w_theta @ self.theta_weight, w_phi @ self.phi_weight], dim=1)
        offset = torch.stack([w_theta @ self.theta_bias, w_phi @ self.phi_bias])
        scores = torch.matmul(x, projection) + offset
        pairwise = torch.relu(scores[..., :1] + scores[..., 1].unsqueeze(1))
        values = F.linear(x, self.g_weight, self.g_bias)
        count = x.shape[1]
        if self.mask is not None:
            values = values * self.mask
            count = self.real_count
        y = torch.bmm(pairwise, values)
        return x + self.out_bn(F.linear(y, self.out_weight / count, self.out_bias))

    def extra_repr(self) -> str:
        return f"{self.channels} (inner {self.inner})"


class NodeMap(nn.Module):
    """``a(X_i, k)`` of Eq. 3: a learned map from the nodes of one graph to those of another, with bias.

    A 1x1 Conv1d whose channels are the nodes, ``(B, N_in, C) -> (B, N_out, C)``: ``weight`` (N_out, N_in),
    ``bias`` (N_out). Xavier-uniform weight, zero bias. Entries from or to fake nodes are masked out
    (``in_keep`` / ``out_keep``: 1 at real nodes, 0 at fake ones; None for a plain graph).
    """

    def __init__(self, in_nodes: int, out_nodes: int, in_mask: torch.Tensor | None = None,
                 out_mask: torch.Tensor | None = None):
        super().__init__()
        self.in_nodes, self.out_nodes = in_nodes, out_nodes
        self.weight = nn.Parameter(torch.empty(out_nodes, in_nodes))
        self.bias = nn.Parameter(torch.empty(out_nodes))
        self.register_buffer("in_keep", None if in_mask is None else in_mask.to(torch.float32), persistent=False)
        self.register_buffer("out_keep", None if out_mask is None else out_mask.to(torch.float32), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weight, zero bias."""
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias with the entries from and to fake nodes zeroed."""
        weight, bias = self.weight, self.bias
        if self.in_keep is not None:
            weight = weight * self.in_keep
        if self.out_keep is not None:
            weight, bias = weight * self.out_keep[:, None], bias * self.out_keep
        return weight, bias

    def extra_repr(self) -> str:
        return f"{self.in_nodes} -> {self.out_nodes} nodes"


#: Fusion orderings: Eq. (3) reads unfused features; 'inplace' is the released code's order, where a later
#: target of the same stage reads branches that were already fused.
FUSION_ORDERINGS = ("paper", "inplace")


class Fusion(nn.Module):
    """The multi-scale fusion of one stage (Eq. 3): ``Y_k = X_k + sum_{i != k} a(X_i, k)``.

    ``sources``: the branches whose features enter; ``targets``: the branches that leave with fused features
    (a target that is not a source starts from the maps alone). Targets are visited in the given order; with
    ordering 'inplace' each one reads the sources as updated so far.
    """

    def __init__(self, node_counts: Sequence[int], masks: Sequence[torch.Tensor | None], sources: Sequence[int],
                 targets: Sequence[int], ordering: str = "paper"):
        super().__init__()
        if ordering not in FUSION_ORDERINGS:
            raise ValueError(f"unknown fusion ordering {ordering!r}; expected one of {FUSION_ORDERINGS}")
        self.sources, self.targets, self.ordering = tuple(sources), tuple(targets), ordering
        self.maps = nn.ModuleDict({
            self.key(i, k): NodeMap(node_counts[i], node_counts[k], masks[i], masks[k])
            for k in self.targets for i in self.sources if i != k})

    @staticmethod
    def key(source: int, target: int) -> str:
        """Name of the map from branch ``source`` to branch ``target``."""
        return f"{source}_to_{target}"

    def inputs_of(self, target: int) -> list[int]:
        """The branches mapped into ``target``."""
        return [i for i in self.sources if i != target]

    def forward(self, features: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """Per branch: the fused features of the targets, None for the other branches."""
        read = list(features)
        out: list[torch.Tensor | None] = [None] * len(features)
        for k in self.targets:
            inputs = self.inputs_of(k)
            fused = features[k]
            if inputs:
                weights, biases = zip(*(self.maps[self.key(i, k)].effective() for i in inputs))
                stacked = torch.cat([read[i] for i in inputs], dim=1) if len(inputs) > 1 else read[inputs[0]]
                mapped = node_mix(torch.cat(weights, dim=1), stacked) + sum(biases)[:, None]
                fused = mapped if fused is None else fused + mapped
            out[k] = fused
            if self.ordering == "inplace":
                read[k] = fused
        return out
