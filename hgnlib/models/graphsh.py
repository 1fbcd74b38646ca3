"""The Graph Stacked Hourglass network (GraphSH, Xu & Takano, CVPR 2021), the peer of Table 4.

As released (tamasino52/GraphSH, ``models/graph_sh.py``), carried to the 17-joint Human3.6M skeleton:

- input: one graph conv 2 -> C (batch norm, ReLU) on the skeleton;
- four stacked graph hourglasses. One hourglass works on three skeleton scales: the 17 joints, 8 body parts
  and 4 limbs (:data:`PART_GROUPS`, :data:`LIMB_GROUPS`, in the release's order). Pooling takes the maximum
  over each group's members, unpooling copies a group's features back to its members. The part and limb graphs
  are the release's hand-written ones (:data:`PART_EDGES`, :data:`LIMB_EDGES`), not derived from the bones: the
  lower torso joins the shoulders (parts 3-7, not the head group), and the limb chain runs lower legs - lower
  torso - forearms - head and shoulders. Down the hourglass: graph conv C -> 1.5C on the joints, pool, 1.5C -> 2C
  on the parts, pool, 2C -> 2C on the limbs; up: unpool + skip, 2C -> 1.5C on the parts, unpool + skip,
  1.5C -> C on the joints, plus the hourglass's input (residual). Every graph conv is followed by batch norm
  and ReLU;
- multi-level features: every hourglass's output is reduced to C/4 channels by a 1x1 (per-node linear) layer,
  the four are concatenated (C channels), re-weighted channel-wise by a squeeze-and-excitation block (mean
  over the joints, C -> C/8 -> C, sigmoid), and a 1x1 layer gives the 3D joints.

What still differs from the release: it runs on 16 joints (no nose), pairing joints; with our 17 the nose joins
the thorax and head (a group of three). The release also uses dropout 0.25, batch 256 and its own schedule;
here GraphSH trains with the run's recipe like every model of Table 4. With these widths the counts are those the HGN paper reports for GraphSH at 64 channels (Table 4):
0.44M with SemGConv, 0.22M with vanilla GConv. Weights: Xavier uniform, as for the graph convolutions.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..skeleton import NUM_JOINTS
from .graph import Graph, as_graph
from .layers import GraphConvBNReLU

#: The 8 body parts as groups of the 17 joints, in the release's order: left lower leg, right lower leg, hips,
#: pelvis + spine, thorax + nose + head, right forearm, left forearm, shoulders.
PART_GROUPS: tuple[tuple[int, ...], ...] = ((5, 6), (2, 3), (1, 4), (0, 7), (8, 9, 10), (15, 16), (12, 13), (11, 14))
#: The release's part graph.
PART_EDGES: tuple[tuple[int, int], ...] = ((0, 2), (1, 2), (2, 3), (3, 7), (4, 7), (5, 7), (6, 7))
#: The 4 limbs as groups of the 8 parts, in the release's order: lower legs, lower torso, forearms, head and
#: shoulders.
LIMB_GROUPS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (5, 6), (4, 7))
#: The release's limb graph (a chain).
LIMB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (2, 3))


def edge_graph(num_nodes: int, edges: tuple[tuple[int, int], ...]) -> Graph:
    """The graph of ``num_nodes`` nodes joined by ``edges``."""
    adjacency = np.zeros((num_nodes, num_nodes), dtype=np.float32)
    for i, j in edges:
        adjacency[i, j] = adjacency[j, i] = 1.0
    return as_graph(adjacency)


class GroupPool(nn.Module):
    """Max over the members of each group: (B, N, C) -> (B, G, C); :meth:`unpool` copies back (B, G, C) -> (B, N, C)."""

    def __init__(self, groups: tuple[tuple[int, ...], ...]):
        super().__init__()
        width = max(len(m) for m in groups)
        members = [list(m) + [m[0]] * (width - len(m)) for m in groups]
        parent = [0] * sum(len(m) for m in groups)
        for g, m in enumerate(groups):
            for node in m:
                parent[node] = g
        self.register_buffer("members", torch.tensor(members), persistent=False)
        self.register_buffer("parent", torch.tensor(parent), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, G, C), the maximum over each group.

        ``index_select`` rather than advanced indexing: its gradient is an ``index_add_``, which sums in a fixed
        order, where the gradient of ``x[:, index]`` (``index_put_`` with accumulation) adds with atomics on CPU and
        made runs differ in the last bits from one execution to the next."""
        b, _, c = x.shape
        return x.index_select(1, self.members.reshape(-1)).view(b, *self.members.shape, c).amax(dim=2)

    def unpool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, G, C) -> (B, N, C), each node given its group's features (``index_select``, see :meth:`forward`)."""
        return x.index_select(1, self.parent)


class GraphHourglass(nn.Module):
    """One graph hourglass over joints -> parts -> limbs and back, with skips and a residual."""

    def __init__(self, gconv: str, channels: int, joints: Graph, parts: Graph, limbs: Graph):
        super().__init__()
        wide, widest = int(channels * 1.5), 2 * channels
        self.to_parts = GroupPool(PART_GROUPS)
        self.to_limbs = GroupPool(LIMB_GROUPS)
        self.down_joints = GraphConvBNReLU(gconv, channels, wide, joints)
        self.down_parts = GraphConvBNReLU(gconv, wide, widest, parts)
        self.limbs = GraphConvBNReLU(gconv, widest, widest, limbs)
        self.up_parts = GraphConvBNReLU(gconv, widest, wide, parts)
        self.up_joints = GraphConvBNReLU(gconv, wide, channels, joints)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 17, C) -> (B, 17, C)."""
        joints = self.down_joints(x)
        parts = self.down_parts(self.to_parts(joints))
        limbs = self.limbs(self.to_limbs(parts))
        parts = self.up_parts(self.to_limbs.unpool(limbs) + parts)
        return x + self.up_joints(self.to_parts.unpool(parts) + joints)


class SqueezeExcitation(nn.Module):
    """Channel re-weighting: mean over the nodes, C -> C/8 -> C, sigmoid, scale."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.squeeze = nn.Linear(channels, max(1, channels // reduction))
        self.excite = nn.Linear(max(1, channels // reduction), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        weights = torch.sigmoid(self.excite(torch.relu(self.squeeze(x.mean(dim=1)))))
        return x * weights.unsqueeze(1)


class GraphSH(nn.Module):
    """GraphSH (see the module doc). Input (B, 17, 2); output {'joints': (B, 17, 3)}."""

    def __init__(self, skeleton: Graph, channels: int = 64, gconv: str = "semgconv", hourglasses: int = 4,
                 in_features: int = 2, out_features: int = 3):
        super().__init__()
        if skeleton.num_nodes != NUM_JOINTS:
            raise ValueError(f"GraphSH's groups are defined on the {NUM_JOINTS}-joint skeleton, "
                             f"got a {skeleton.num_nodes}-node graph")
        parts = edge_graph(len(PART_GROUPS), PART_EDGES)
        limbs = edge_graph(len(LIMB_GROUPS), LIMB_EDGES)
        self.input = GraphConvBNReLU(gconv, in_features, channels, skeleton)
        self.hourglasses = nn.ModuleList(GraphHourglass(gconv, channels, skeleton, parts, limbs)
                                         for _ in range(hourglasses))
        self.reduce = nn.ModuleList(nn.Linear(channels, channels // hourglasses) for _ in range(hourglasses))
        self.attention = SqueezeExcitation(channels // hourglasses * hourglasses)
        self.output = nn.Linear(channels // hourglasses * hourglasses, out_features)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 17, 2) -> {'joints': (B, 17, 3)}."""
        out = self.input(x)
        levels = []
        for hourglass, reduce in zip(self.hourglasses, self.reduce):
            out = hourglass(out)
            levels.append(reduce(out))
        return {"joints": self.output(self.attention(torch.cat(levels, dim=-1)))}
