"""Named model configurations (every model of Tables 2, 3 and 4, and the Martinez baseline) and one builder.

A :class:`ModelConfig` names an architecture (``kind``), its graph convolution, its channels and the fusion
ordering; :data:`TABLE_ENTRIES` place the configurations in the paper's tables with the paper's parameter
counts. :func:`build_model` makes the network from a configuration and the graphs; :func:`param_rows` counts
the parameters of every table entry on given graphs.

Graphs: a mapping from 'skeleton' (17 nodes; the H36M skeleton when absent), 'mesh_c' (G_M^C, about 48
nodes) and 'mesh_c1' (G_M^{C-1}, about 96 nodes) to an adjacency, a ``(adjacency, mask)`` pair or a
:class:`~hgnlib.models.graph.Graph`. A mask marks the real nodes of a padded graph: whether a model runs on
padded or plain mesh graphs follows from the graphs it is given (e.g. a level of :mod:`hgnlib.graphs` as
``(level.adjacency, level.real_mask)``).

Every network takes (B, 17, 2) 2D joints and returns a dict: 'joints' (B, 17, 3), and for HGN variants the
coarse meshes they predict, 'mesh_c' (B, N_C, 3) and/or 'mesh_c1' (B, N_{C-1}, 3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from torch import nn

from .graph import Graph, GraphLike, as_graph, skeleton_graph
from .graphsh import GraphSH
from .hgn import HGN, HGN_SPEC, HGN_WITHOUT_MESH_C1_SPEC, HGN_WITHOUT_MESH_C_SPEC, SEMGCN_SPEC, SKELETON, HGNSpec
from .martinez import Martinez

#: The HGN-family architectures, by kind.
HGN_SPECS: dict[str, HGNSpec] = {
    "hgn": HGN_SPEC, "hgn_wo_mesh_c": HGN_WITHOUT_MESH_C_SPEC, "hgn_wo_mesh_c1": HGN_WITHOUT_MESH_C1_SPEC,
    "semgcn": SEMGCN_SPEC,
}
MODEL_KINDS = (*HGN_SPECS, "graphsh", "martinez")


@dataclass(frozen=True)
class ModelConfig:
    """One architecture: ``kind`` (see :data:`MODEL_KINDS`), graph conv ('semgconv' | 'vanilla'; None for the
    fully connected Martinez), channels (hidden width), fusion ordering ('paper' | 'inplace', HGN only)."""

    name: str
    kind: str
    gconv: str | None = "semgconv"
    channels: int = 128
    fusion: str = "paper"

    @property
    def graphs(self) -> tuple[str, ...]:
        """The names of the graphs the model uses."""
        if self.kind in HGN_SPECS:
            return tuple(b.graph for b in HGN_SPECS[self.kind].branches)
        return () if self.kind == "martinez" else (SKELETON,)


@dataclass(frozen=True)
class TableEntry:
    """A row of the paper's Tables 2-4: the table, the paper's label, the configuration, the paper's count."""

    table: str
    label: str
    config: str
    paper_params: int


def _configs(*configs: ModelConfig) -> dict[str, ModelConfig]:
    return {c.name: c for c in configs}


#: Every named configuration.
CONFIGS: dict[str, ModelConfig] = _configs(
    ModelConfig("semgcn-128", "semgcn", "semgconv", 128),
    ModelConfig("semgcn-vanilla-128", "semgcn", "vanilla", 128),
    ModelConfig("hgn-128", "hgn", "semgconv", 128),
    ModelConfig("hgn-79", "hgn", "semgconv", 79),
    ModelConfig("hgn-64", "hgn", "semgconv", 64),
    ModelConfig("hgn-vanilla-128", "hgn", "vanilla", 128),
    ModelConfig("hgn-vanilla-64", "hgn", "vanilla", 64),
    ModelConfig("hgn-wo-mesh-c-128", "hgn_wo_mesh_c", "semgconv", 128),
    ModelConfig("hgn-wo-mesh-c-91", "hgn_wo_mesh_c", "semgconv", 91),
    ModelConfig("hgn-wo-mesh-c1-128", "hgn_wo_mesh_c1", "semgconv", 128),
    ModelConfig("hgn-wo-mesh-c1-92", "hgn_wo_mesh_c1", "semgconv", 92),
    ModelConfig("graphsh-64", "graphsh", "semgconv", 64),
    ModelConfig("graphsh-vanilla-64", "graphsh", "vanilla", 64),
    ModelConfig("martinez", "martinez", None, 1024),
)

def _table_entries() -> tuple[TableEntry, ...]:
    """The rows of Tables 2, 3, 4a and 4b (:mod:`hgnlib.paper`) with the paper's parameter counts."""
    from ..paper import table_runs

    return tuple(TableEntry(table, paper["label"], run["model"], round(paper["params_m"] * 1e6))
                 for table in ("2", "3", "4a", "4b") for run, paper in table_runs(table))


#: The rows of Tables 2, 3 and 4 with the paper's parameter counts.
TABLE_ENTRIES: tuple[TableEntry, ...] = _table_entries()

#: Largest relative difference from the paper's count that the counts are held to.
PARAM_TOLERANCE = 0.03


def get_config(config: ModelConfig | str) -> ModelConfig:
    """The configuration itself, or the named one."""
    if isinstance(config, ModelConfig):
        return config
    if config not in CONFIGS:
        raise KeyError(f"unknown model configuration {config!r}; known: {sorted(CONFIGS)}")
    return CONFIGS[config]


def prepare_graphs(graphs: Mapping[str, GraphLike] | None, names: tuple[str, ...]) -> dict[str, Graph]:
    """The named graphs as :class:`Graph` objects (the H36M skeleton when 'skeleton' is not given)."""
    given = dict(graphs or {})
    given.setdefault(SKELETON, skeleton_graph())
    missing = [n for n in names if n not in given]
    if missing:
        raise KeyError(f"the model needs graphs {missing}; got {sorted(given)}")
    return {n: as_graph(given[n]) for n in names}


def build_model(config: ModelConfig | str, graphs: Mapping[str, GraphLike] | None = None) -> nn.Module:
    """The network of ``config`` on ``graphs`` (see the module doc). Seed torch first for a fixed initialisation."""
    config = get_config(config)
    prepared = prepare_graphs(graphs, config.graphs)
    if config.kind in HGN_SPECS:
        return HGN(HGN_SPECS[config.kind], prepared, config.channels, config.gconv, config.fusion)
    if config.kind == "graphsh":
        return GraphSH(prepared[SKELETON], config.channels, config.gconv)
    if config.kind == "martinez":
        return Martinez(width=config.channels)
    raise ValueError(f"unknown model kind {config.kind!r}; expected one of {MODEL_KINDS}")


def output_layers(model: nn.Module) -> list[nn.Module]:
    """The layers that produce a model's outputs (the C -> 3 graph convolutions of HGN's heads, or the final
    linear layer of GraphSH and Martinez)."""
    if isinstance(model, HGN):
        return [head.gconv for head in model.heads]
    return [model.output]


def count_params(model: nn.Module) -> int:
    """Trainable parameters (batch-norm running statistics are buffers and do not count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _note(model: nn.Module, ratio: float) -> str:
    """Why a count is off by more than :data:`PARAM_TOLERANCE` (empty when it is not)."""
    if abs(ratio - 1) <= PARAM_TOLERANCE:
        return ""
    note = f"{100 * (ratio - 1):+.1f}% from the paper's count on these graphs"
    if isinstance(model, HGN):
        nodes = "/".join(str(head.gconv.entries.shape[0]) for head in model.heads)
        note += (f"; {count_params(model.fusions)} parameters are node-to-node fusion maps, whose size follows "
                 f"the graphs' node counts ({nodes} here; 17/48/96 in the paper), not the channels")
    return note


def param_rows(graphs: Mapping[str, GraphLike] | None = None) -> list[dict]:
    """One row per table entry: table, label, name, params, paper_params, ratio, note (why a count is off)."""
    models = {name: build_model(name, graphs) for name in dict.fromkeys(e.config for e in TABLE_ENTRIES)}
    rows = []
    for entry in TABLE_ENTRIES:
        params = count_params(models[entry.config])
        ratio = params / entry.paper_params
        rows.append({"table": entry.table, "label": entry.label, "name": entry.config, "params": params,
                     "paper_params": entry.paper_params, "ratio": ratio,
                     "note": _note(models[entry.config], ratio)})
    return rows


def hierarchy_graphs(hierarchy, padding: str = "inert") -> dict[str, tuple]:
    """The mesh graphs of a :class:`~hgnlib.graphs.GraphHierarchy` as the models take them: 'mesh_c1' (G_M^{C-1})
    and 'mesh_c' (G_M^C), each ``(adjacency, real-node mask, padding)`` (the mask is None for a plain hierarchy;
    ``padding`` says what its fake nodes do, :mod:`hgnlib.models.graph`)."""
    mask = (lambda level: level.real_mask) if hierarchy.padded else (lambda level: None)
    return {name: (level.adjacency, mask(level), padding) for name, level in hierarchy.mesh_levels.items()}
