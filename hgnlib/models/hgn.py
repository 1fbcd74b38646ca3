"""Hierarchical Graph Networks (Sec. 3.2, Fig. 2) and the architectures that are configurations of it.

An :class:`HGNSpec` is data: its branches (graph name, number of residual blocks, first stage) and the stages
after which the branches are fused. :class:`HGN` reads it in one loop:

- input: one graph conv (2 -> C, batch norm, ReLU) on the first branch's graph (the skeleton G_P);
- stage ``s = 1 .. S``: every branch active in stage ``s`` runs one block (ResGCN block + non-local layer);
- after stage ``s`` (``s = 0`` is the input) if ``s`` is a fusion stage: the branches active in stage ``s``
  (the input features only, at ``s = 0``) are fused into the branches active in stage ``s + 1`` (all branches
  after the last stage); a branch that starts in stage ``s + 1`` starts from the fused maps of the others;
- outputs: one graph conv C -> 3 per branch: ``'joints'`` from the skeleton branch, and one coarse mesh per
  mesh branch, named by its graph (``'mesh_c'``: G_M^C, 48 nodes; ``'mesh_c1'``: G_M^{C-1}, 96 nodes).

HGN proper (:data:`HGN_SPEC`) is the released layout: branches on G_P (4 blocks), G_M^C (4) and G_M^{C-1}
(2, from the third stage), fusion after the input and after every stage. The fusion maps do not shrink with the
channels: their size follows the mesh graphs' node counts, so the parameter counts match the paper's on graphs of the
paper's sizes (96 and 48 nodes) and differ slightly on others; ``hgn params`` prints our counts next to the paper's
for the graphs in use (the tests hold them within a few percent).

Padded mesh graphs (a mask in :class:`~hgnlib.models.graph.Graph`): with ``padding='inert'`` fake nodes are held
at zero inside the branch (see :mod:`hgnlib.models.layers`), with ``padding='release'`` they compute as in the
released code; either way the mesh outputs of fake nodes are exactly zero; the loss should
still leave them out (their targets are undefined).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from .graph import Graph
from .layers import GraphConvBNReLU, Fusion, NonLocal, ResidualBlock, make_gconv

#: Name of the skeleton graph, whose branch outputs the joints.
SKELETON = "skeleton"


@dataclass(frozen=True)
class Branch:
    """One subnetwork: its graph's name, its number of blocks, and the stage (from 1) of its first block."""

    graph: str
    blocks: int
    first_stage: int = 1

    @property
    def last_stage(self) -> int:
        """The stage of its last block."""
        return self.first_stage + self.blocks - 1

    def active(self, stage: int) -> bool:
        """Whether it runs a block in ``stage``."""
        return self.first_stage <= stage <= self.last_stage


@dataclass(frozen=True)
class HGNSpec:
    """Branches (the first on the input graph, from stage 1) and the stages after which they are fused.

    ``input_nonlocal`` adds a non-local layer after the input graph conv (SemGCN's released layout).
    """

    branches: tuple[Branch, ...]
    fusion_stages: tuple[int, ...]
    input_nonlocal: bool = False

    @property
    def num_stages(self) -> int:
        """The number of stages S."""
        return max(b.last_stage for b in self.branches)

    def active(self, stage: int) -> list[int]:
        """Indices of the branches that hold features in ``stage`` (stage 0: the input, held by branch 0)."""
        if stage == 0:
            return [0]
        return [i for i, b in enumerate(self.branches) if b.active(stage)]

    def fusion(self, stage: int) -> tuple[list[int], list[int]]:
        """(sources, targets) of the fusion after ``stage``."""
        targets = self.active(min(stage + 1, self.num_stages))
        return self.active(stage), targets

    def validate(self) -> None:
        """Raise ValueError unless every branch ends at the last stage and is fed when it starts."""
        first = self.branches[0]
        if first.first_stage != 1:
            raise ValueError(f"the first branch takes the input and must start at stage 1, got {first}")
        for b in self.branches:
            if b.blocks < 1 or b.first_stage < 1:
                raise ValueError(f"a branch needs at least one block and a first stage >= 1, got {b}")
            if b.last_stage != self.num_stages:
                raise ValueError(f"every branch must end at the last stage {self.num_stages}, got {b}")
        for i, b in enumerate(self.branches[1:], start=1):
            if b.first_stage - 1 not in self.fusion_stages:
                raise ValueError(f"branch {i} ({b.graph}) starts at stage {b.first_stage} but nothing feeds it: "
                                 f"fusion_stages {self.fusion_stages} lacks stage {b.first_stage - 1}")
        if any(not 0 <= s <= self.num_stages for s in self.fusion_stages):
            raise ValueError(f"fusion stages must lie in 0..{self.num_stages}, got {self.fusion_stages}")


ALL_STAGES = (0, 1, 2, 3, 4)
#: HGN: G_P (4 blocks), G_M^C (4), G_M^{C-1} (2, joining at the third stage); fusion after every stage.
HGN_SPEC = HGNSpec((Branch(SKELETON, 4), Branch("mesh_c", 4), Branch("mesh_c1", 2, first_stage=3)), ALL_STAGES)
#: Table 2 "HGN w/o G_M^C": the top branch removed and the middle one moved to G_M^{C-1}.
HGN_WITHOUT_MESH_C_SPEC = HGNSpec((Branch(SKELETON, 4), Branch("mesh_c1", 4)), ALL_STAGES)
#: Table 2 "HGN w/o G_M^{C-1}": the top branch removed.
HGN_WITHOUT_MESH_C1_SPEC = HGNSpec((Branch(SKELETON, 4), Branch("mesh_c", 4)), ALL_STAGES)
#: SemGCN with non-local layers (the baseline, "SeqRes"): the bottom branch alone, as SemGCN's release lays it
#: out, with a non-local layer after the input conv too (without it the count would be 0.40M, not 0.43M).
SEMGCN_SPEC = HGNSpec((Branch(SKELETON, 4),), (), input_nonlocal=True)


class Stage(nn.Sequential):
    """One block of a branch: the ResGCN block followed by a non-local layer."""

    def __init__(self, gconv: str, channels: int, graph: Graph):
        super().__init__(ResidualBlock(gconv, channels, graph), NonLocal(channels, graph.layer_mask))


class OutputHead(nn.Module):
    """The output graph conv C -> 3 of a branch; the outputs of fake nodes are set to zero."""

    def __init__(self, gconv: str, channels: int, out_features: int, graph: Graph):
        super().__init__()
        self.gconv = make_gconv(gconv, channels, out_features, graph)
        keep = None if graph.mask is None else graph.mask.to(torch.float32)[:, None]
        self.register_buffer("keep", keep, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, 3)."""
        out = self.gconv(x)
        return out if self.keep is None else out * self.keep


class HGN(nn.Module):
    """An HGN-family network built from an :class:`HGNSpec` (see the module doc).

    ``graphs`` maps every branch's graph name to its :class:`Graph`. ``gconv``: 'semgconv' or 'vanilla';
    ``fusion``: 'paper' (Eq. 3) or 'inplace' (the released order). Input (B, J, 2); output a dict of (B, N, 3).
    """

    def __init__(self, spec: HGNSpec, graphs: Mapping[str, Graph], channels: int = 128, gconv: str = "semgconv",
                 fusion: str = "paper", in_features: int = 2, out_features: int = 3):
        super().__init__()
        spec.validate()
        missing = sorted({b.graph for b in spec.branches} - set(graphs))
        if missing:
            raise ValueError(f"no graph given for {missing}; got graphs {sorted(graphs)}")
        self.spec = spec
        branch_graphs = [graphs[b.graph] for b in spec.branches]
        self.output_names = ["joints" if b.graph == SKELETON else b.graph for b in spec.branches]
        self.input = GraphConvBNReLU(gconv, in_features, channels, branch_graphs[0])
        self.input_nonlocal = NonLocal(channels, branch_graphs[0].layer_mask) if spec.input_nonlocal else None
        self.branches = nn.ModuleList(
            nn.ModuleList(Stage(gconv, channels, g) for _ in range(b.blocks))
            for b, g in zip(spec.branches, branch_graphs))
        self.heads = nn.ModuleList(OutputHead(gconv, channels, out_features, g) for g in branch_graphs)
        nodes = [g.num_nodes for g in branch_graphs]
        masks = [g.layer_mask for g in branch_graphs]
        self.fusions = nn.ModuleDict({str(s): Fusion(nodes, masks, *spec.fusion(s), ordering=fusion)
                                      for s in spec.fusion_stages})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, J, 2) 2D joints -> {'joints': (B, J, 3), mesh name: (B, V, 3), ...}."""
        features: list[torch.Tensor | None] = [None] * len(self.branches)
        features[0] = self.input(x)
        if self.input_nonlocal is not None:
            features[0] = self.input_nonlocal(features[0])
        for stage in range(self.spec.num_stages + 1):
            if stage > 0:
                for i in self.spec.active(stage):
                    block = self.branches[i][stage - self.spec.branches[i].first_stage]
                    features[i] = block(features[i])
            if str(stage) in self.fusions:
                features = self.fusions[str(stage)](features)
        return {name: head(f) for name, head, f in zip(self.output_names, self.heads, features)}
