"""Graphs as the models take them: a binary adjacency with self-loops on real nodes, and a real-node mask.

A model never builds graphs; it is given, per graph name ('skeleton', 'mesh_c', 'mesh_c1'), an adjacency
matrix (numpy, torch or scipy sparse, dense (N, N), 0/1, with or without self-loops) and, for a padded graph,
a boolean mask that is True at real nodes. :func:`as_graph` turns these into a :class:`Graph`:

- the adjacency is made binary and symmetric checks are run;
- every real node gets a self-loop (Eq. 1 and 2 take ``a_ii = 1``);
- fake nodes (mask False) must be disconnected: they keep no entry at all, not even a self-loop, so no graph
  convolution sends them a message and a SemGConv learns no weight for them;
- a mask that is True everywhere is dropped (the graph is plain).

``padding`` says what the fake nodes of a padded graph do (:data:`PADDINGS`):

- ``"inert"``: the layers keep them at zero and out of every statistic, so a padded branch computes on its real
  nodes exactly what the plain branch computes (see :mod:`hgnlib.models.layers`);
- ``"release"``: as in the authors' released code, they take part in the computation: a SemGConv row without
  entries is a uniform softmax row (the fake node averages every node), batch norm and the non-local layer count
  them, the fusion maps read and write them. They change the real nodes' features. Only the model's outputs of
  fake nodes are still zeroed (their targets are undefined; the loss leaves them out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import scipy.sparse as sp
import torch

from ..skeleton import bone_adjacency

ArrayLike = Union[np.ndarray, torch.Tensor, sp.spmatrix]


#: What fake nodes do (see the module doc).
PADDINGS = ("inert", "release")


@dataclass(frozen=True)
class Graph:
    """A model's graph: ``adjacency`` (N, N) float32 0/1 with self-loops on real nodes; ``mask`` (N,) bool or None;
    ``padding``: 'inert' | 'release' (what the fake nodes do, see the module doc)."""

    adjacency: torch.Tensor
    mask: torch.Tensor | None = None
    padding: str = "inert"

    @property
    def layer_mask(self) -> torch.Tensor | None:
        """The mask the layers apply: the real-node mask with inert padding, None when fake nodes are active."""
        return self.mask if self.padding == "inert" else None

    @property
    def active_fakes(self) -> bool:
        """True when the graph has fake nodes that take part in the computation (``padding='release'``)."""
        return self.mask is not None and self.padding == "release"

    @property
    def num_nodes(self) -> int:
        """Nodes as the model sees them (fake nodes included)."""
        return self.adjacency.shape[0]

    @property
    def num_real(self) -> int:
        """Real nodes."""
        return self.num_nodes if self.mask is None else int(self.mask.sum())

    @property
    def num_entries(self) -> int:
        """Non-zero entries of the adjacency, self-loops included (the edge weights a SemGConv learns)."""
        return int(torch.count_nonzero(self.adjacency))


GraphLike = Union[Graph, ArrayLike, tuple]


def _dense(matrix: ArrayLike) -> np.ndarray:
    if sp.issparse(matrix):
        return np.asarray(matrix.todense())
    if isinstance(matrix, torch.Tensor):
        return matrix.detach().cpu().numpy()
    return np.asarray(matrix)


def as_graph(adjacency: GraphLike, mask: ArrayLike | None = None, padding: str = "inert") -> Graph:
    """A :class:`Graph` from an adjacency (optional real-node mask and padding), or from an ``(adjacency, mask)`` or
    ``(adjacency, mask, padding)`` tuple."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if isinstance(adjacency, Graph):
        return adjacency if mask is None else as_graph(adjacency.adjacency, mask, padding)
    if isinstance(adjacency, tuple):
        return as_graph(*adjacency)
    adj = _dense(adjacency) != 0
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"an adjacency must be a square (N, N) matrix, got shape {adj.shape}")
    if not np.array_equal(adj, adj.T):
        raise ValueError("the adjacency must be symmetric (an undirected graph)")
    n = adj.shape[0]
    real = np.ones(n, dtype=bool) if mask is None else _dense(mask).astype(bool).reshape(-1)
    if real.shape != (n,):
        raise ValueError(f"the mask must have one entry per node ({n}), got {real.shape[0]}")
    off_diagonal = adj & ~np.eye(n, dtype=bool)
    if off_diagonal[~real].any():
        bad = np.flatnonzero(off_diagonal[~real].any(axis=1))
        raise ValueError(f"fake nodes must be disconnected; fake node(s) {np.flatnonzero(~real)[bad].tolist()} "
                         f"have edges")
    adj = off_diagonal.copy()
    adj[np.arange(n), np.arange(n)] = real
    adjacency_t = torch.from_numpy(adj.astype(np.float32))
    return Graph(adjacency_t, None if real.all() else torch.from_numpy(real), padding)


def skeleton_graph() -> Graph:
    """The 17-joint Human3.6M skeleton G_P (:func:`hgnlib.skeleton.bone_adjacency`)."""
    return as_graph(bone_adjacency())


def synthetic_graph(num_nodes: int, mean_degree: float = 3.0, num_fake: int = 0, seed: int = 0) -> Graph:
    """A connected stand-in for a coarse mesh graph: a ring plus random chords, ``mean_degree`` neighbours per node.

    ``num_fake`` disconnected fake nodes are inserted at random positions (a padded graph of ``num_nodes`` nodes
    of which ``num_nodes - num_fake`` are real). Used by the tests, the benchmark and parameter counts made
    without building a body hierarchy.
    """
    rng = np.random.default_rng(seed)
    n_real = num_nodes - num_fake
    if n_real < 3:
        raise ValueError(f"a synthetic graph needs at least 3 real nodes, got {n_real}")
    target_edges = max(n_real, int(round(n_real * mean_degree / 2)))
    edges = {(i, (i + 1) % n_real) if i < (i + 1) % n_real else ((i + 1) % n_real, i) for i in range(n_real)}
    while len(edges) < min(target_edges, n_real * (n_real - 1) // 2):
        i, j = sorted(rng.choice(n_real, size=2, replace=False).tolist())
        edges.add((i, j))
    position = np.sort(rng.choice(num_nodes, size=n_real, replace=False))
    adj = np.zeros((num_nodes, num_nodes), dtype=np.float32)
    for i, j in edges:
        adj[position[i], position[j]] = adj[position[j], position[i]] = 1.0
    mask = np.zeros(num_nodes, dtype=bool)
    mask[position] = True
    return as_graph(adj, mask)
