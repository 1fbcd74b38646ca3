"""Graph coarsening by heavy edge matching (two variants), and the authors' binary-tree padding.

This is the coarsening of Defferrard et al.'s spectral graph CNN, which the HGN authors ran on the SMPL mesh.
Two matchings are offered (``hem=``): ``"graclus"``, this project's reading (below), and ``"release"``, the
behaviour of the authors' released code (``HEM`` / ``HEM_one_level`` of their ``lib/coarsening.py``,
:mod:`hgnlib.graphs.release_hem`).

One level of ``"graclus"`` (:func:`coarsen_once`):

- Degrees are weighted row sums, ``d_i = sum_j W_ij`` (self-loops included, see below).
- The nodes are visited in a fixed order (:func:`visiting_order`): ascending degree, ties by node index (a
  stable sort). Every node is visited once; a node already marked is skipped.
- An unmarked node ``i`` is matched with its unmarked neighbour ``j != i`` that maximises the graclus weight
  ``W_ij * (1/d_i + 1/d_j)`` (ties: the smaller neighbour index), or stays single when every neighbour is
  marked. Both are marked. Cluster ids are handed out in visiting order.
- The coarse graph sums the weights between clusters (``P^T W P`` with ``P`` the assignment matrix). The weight
  inside a cluster stays on the coarse diagonal as a self-loop, so it counts in the next level's degrees, as in
  the authors' code. The adjacency a model uses drops these self-loops (see :mod:`hgnlib.graphs.hierarchy`).

Binary-tree padding (:func:`binary_tree_permutations`): the authors' ``perm`` construction. The coarsest level
keeps its order; going to finer levels, every node of the coarser level (in that level's padded order) gets
exactly two consecutive slots: its real children in ascending index, completed by fake nodes; a fake node gets
two fake children. So the padded node count doubles at each finer level, the node at padded position ``k`` is
the parent of positions ``2k`` and ``2k + 1``, and fake nodes (numbered ``n_real, n_real + 1, ...`` in slot
order) are disconnected.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .release_hem import release_coarsen_once

#: The heavy-edge-matching variants: this project's graclus reading, and the authors' released algorithm.
HEM_VARIANTS = ("graclus", "release")


@dataclass
class Coarsening:
    """The result of :func:`coarsen`.

    ``graphs[l]``: weighted adjacency of level ``l`` (CSR, float64, coarse levels carry intra-cluster self-loops);
    ``parents[l]``: for every node of level ``l``, its cluster index in level ``l + 1`` (one array per coarsening).
    """

    graphs: list[sp.csr_matrix]
    parents: list[np.ndarray]

    @property
    def sizes(self) -> list[int]:
        """Real node count of every level, finest first."""
        return [g.shape[0] for g in self.graphs]


def visiting_order(W: sp.csr_matrix, rng: np.random.Generator | None = None) -> np.ndarray:
    """Ascending weighted degree, ties by index; a random permutation from ``rng`` instead when it is given."""
    n = W.shape[0]
    if rng is not None:
        return rng.permutation(n)
    degree = np.asarray(W.sum(axis=1)).ravel()
    return np.argsort(degree, kind="stable")


def heavy_edge_matching(W: sp.csr_matrix, order: np.ndarray) -> np.ndarray:
    """Cluster index of every node after one pass of heavy edge matching with graclus weights (see module doc)."""
    W = sp.csr_matrix(W, dtype=np.float64, copy=True)
    W.eliminate_zeros()
    W.sort_indices()
    n = W.shape[0]
    indptr, indices = W.indptr, W.indices
    rows = np.repeat(np.arange(n), np.diff(indptr))
    degree = np.asarray(W.sum(axis=1)).ravel()
    score = W.data * (1.0 / degree[rows] + 1.0 / degree[indices])
    score[indices == rows] = 0.0
    cluster = np.full(n, -1, dtype=np.int64)
    count = 0
    for i in np.asarray(order).tolist():
        if cluster[i] >= 0:
            continue
        cluster[i] = count
        lo, hi = indptr[i], indptr[i + 1]
        if hi > lo:
            candidates = np.where(cluster[indices[lo:hi]] < 0, score[lo:hi], 0.0)
            best = int(candidates.argmax())
            if candidates[best] > 0.0:
                cluster[indices[lo + best]] = count
        count += 1
    return cluster


def coarse_graph(W: sp.csr_matrix, parent: np.ndarray) -> sp.csr_matrix:
    """The weights summed between clusters; the weight inside a cluster kept on the diagonal."""
    n, m = W.shape[0], int(parent.max()) + 1
    P = sp.csr_matrix((np.ones(n), (np.arange(n), parent)), shape=(n, m))
    coarse = (P.T @ W @ P).tocsr()
    coarse.sum_duplicates()
    coarse.sort_indices()
    return coarse


def coarsen_once(W: sp.csr_matrix, rng: np.random.Generator | None = None) -> tuple[np.ndarray, sp.csr_matrix]:
    """One level: the parent (cluster) index of every node and the coarse graph."""
    parent = heavy_edge_matching(W, visiting_order(W, rng))
    return parent, coarse_graph(W, parent)


def coarsen(W: sp.spmatrix, levels: int | None = None, min_nodes: int = 1, seed: int | None = None,
            hem: str = "graclus") -> Coarsening:
    """Coarsen ``W`` ``levels`` times, or (``levels=None``) until a level holds at most ``min_nodes`` nodes.

    Coarsening also stops early when a level no longer shrinks (a graph without edges). ``seed`` makes the
    first level's visiting order a random permutation (``numpy.random.default_rng(seed)``); the later levels are
    always visited by ascending degree. ``hem`` picks the matching (see the module doc); ``"release"`` has no
    random order (the release overwrites its random permutation) and keeps the weights in float32.
    """
    if hem not in HEM_VARIANTS:
        raise ValueError(f"hem must be one of {HEM_VARIANTS}, got {hem!r}")
    if hem == "release" and seed is not None:
        raise ValueError("the release's matching has no random visiting order: use seed=None with hem='release'")
    graph = sp.csr_matrix(W, dtype=np.float32 if hem == "release" else np.float64)
    graph.sum_duplicates()
    graph.sort_indices()
    rng = None if seed is None else np.random.default_rng(seed)
    graphs, parents = [graph], []
    while (len(parents) < levels) if levels is not None else (graph.shape[0] > min_nodes):
        if hem == "release":
            parent, coarse = release_coarsen_once(graph, first_level=not parents)
        else:
            parent, coarse = coarsen_once(graph, rng if not parents else None)
        if coarse.shape[0] == graph.shape[0]:
            break
        parents.append(parent)
        graphs.append(coarse)
        graph = coarse
    return Coarsening(graphs, parents)


def binary_tree_permutations(parents: list[np.ndarray]) -> list[np.ndarray]:
    """The authors' padded orders, finest level first (see module doc).

    ``perm[l][k]`` is the node of level ``l`` at padded position ``k``: a real node when ``< n_real(l)``, a fake
    node otherwise. The coarsest level's permutation is the identity.
    """
    if not parents:
        return []
    n_coarsest = int(parents[-1].max()) + 1
    perms = [np.arange(n_coarsest)]
    for parent in parents[::-1]:
        coarse_perm, n_coarse, n_fine = perms[-1], int(parent.max()) + 1, len(parent)
        by_parent = np.lexsort((np.arange(n_fine), parent))
        counts = np.bincount(parent, minlength=n_coarse)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        if counts.max() > 2 or counts.min() < 1:
            raise ValueError("every coarse node must have one or two children")
        children = np.full((n_coarse, 2), -1, dtype=np.int64)
        children[:, 0] = by_parent[starts]
        pairs = counts == 2
        children[pairs, 1] = by_parent[starts[pairs] + 1]
        slots = np.full((len(coarse_perm), 2), -1, dtype=np.int64)
        real = coarse_perm < n_coarse
        slots[real] = children[coarse_perm[real]]
        slots = slots.ravel()
        fake = slots < 0
        slots[fake] = n_fine + np.arange(fake.sum())
        perms.append(slots)
    return perms[::-1]


def permute_adjacency(A: sp.spmatrix, perm: np.ndarray) -> sp.csr_matrix:
    """``A`` padded with disconnected fake nodes to ``len(perm)``, reordered so position ``k`` holds ``perm[k]``."""
    A = sp.coo_matrix(A)
    position = np.empty(len(perm), dtype=np.int64)
    position[perm] = np.arange(len(perm))
    out = sp.csr_matrix((A.data, (position[A.row], position[A.col])), shape=(len(perm), len(perm)))
    out.sort_indices()
    return out
