"""The networks: HGN and its variants (Tables 2-4), SemGCN with non-local layers, GraphSH, Martinez et al.

- ``graph``: the graphs as the models take them (adjacency + real-node mask), skeleton and synthetic graphs.
- ``layers``: SemGConv, vanilla GConv, node batch norm, residual block, non-local layer, multi-scale fusion,
  written for speed; ``reference``: their plain transcriptions (tests and benchmark only).
- ``hgn``: HGN built from a specification (branches and fusion stages as data), and the named specifications.
- ``graphsh``, ``martinez``: the peers.
- ``registry``: named configurations, the paper's tables and counts, ``build_model`` and ``param_rows``.
"""
from .graph import Graph, as_graph, skeleton_graph, synthetic_graph
from .hgn import HGN, Branch, HGNSpec
from .registry import (CONFIGS, MODEL_KINDS, TABLE_ENTRIES, ModelConfig, TableEntry, build_model, count_params,
                       get_config, param_rows)

__all__ = [
    "CONFIGS", "HGN", "MODEL_KINDS", "TABLE_ENTRIES", "Branch", "Graph", "HGNSpec", "ModelConfig", "TableEntry",
    "as_graph", "build_model", "count_params", "get_config", "param_rows", "skeleton_graph", "synthetic_graph",
]
