"""Heavy edge matching as the HGN authors' released code performs it (``hem="release"``).

A transcription of the behaviour of ``HEM`` / ``HEM_one_level`` in the release's ``lib/coarsening.py``
(qingshi9974/BMVC2021-Hierarchical-Graph-Networks-for-3D-Human-Pose-Estimation), quirks included:

- Weights are float32 (the mesh adjacency's type) and every score is computed in float32.
- Visiting order: ``numpy.argsort`` (its default, unstable kind) of the column sums, self-loops included.
- Degree ``d``: the column sums without the diagonal at the first level, with it at the later levels.
- Score of neighbour ``j`` of ``i``: ``(2 W_ij + F_i + F_j) / (d_i + d_j + 1e-9)``, where ``F_k`` is the FIRST
  stored entry of row ``k`` (rows sorted by column): the diagonal only when it is stored first, otherwise the
  weight to the lowest-numbered neighbour. A marked neighbour (``i`` itself included) scores 0; ``i`` pairs
  with the first neighbour of highest positive score, or stays single.
- Row bookkeeping: the release counts each row's first entry into the previous row's length, so row 0 also
  scans the first entry of row 1 (a possibly non-adjacent node, with that entry's weight) and the last row
  does not scan its last entry.
- The coarse graph sums all weights between clusters; the weight inside a cluster stays on the diagonal.

``numpy.argsort``'s order among equal degrees depends on numpy's sorting kernels, hence possibly on the numpy
version and the CPU; the level sizes quoted in the docs were measured with numpy 2.4 on an AVX-512 x86 CPU. On an
AVX2-only CPU (AMD EPYC, numpy 2.4) anny's levels come out as 13348, 7098, 3759, 2006, 1071, 577, 308, 166, 91,
49, 27, 15 instead of 13348, 7104, 3772, 2009, 1065, 567, 304, 166, 90, 47, 26, 14, so a ``hem="release"`` run's
mesh graphs, and with them its weights' shapes, depend on the kind of CPU that built them.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def release_slots(W: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, entries)``: node ``i`` scans the stored entries ``entries[offsets[i]:offsets[i + 1]]``.

    These are the release's row ranges: row ``i`` from its first entry, for its length counted the release's
    way (row 0 one entry longer, the last row one entry shorter, when there are several rows).
    """
    n = W.shape[0]
    start = W.indptr[:-1].astype(np.int64)
    length = np.diff(W.indptr).astype(np.int64)
    length[0] += 1
    length[-1] -= 1
    offsets = np.concatenate([[0], np.cumsum(length)])
    entries = np.arange(offsets[-1]) - np.repeat(offsets[:-1] - start, length)
    return offsets, entries


def release_matching(W: sp.csr_matrix, first_level: bool) -> np.ndarray:
    """Cluster index of every node after one level of the release's matching (see the module doc)."""
    W = sp.csr_matrix(W, dtype=np.float32, copy=True)
    W.eliminate_zeros()
    W.sort_indices()
    n = W.shape[0]
    if n == 0 or np.any(np.diff(W.indptr) == 0):
        raise ValueError("the release's matching needs every node to have at least one edge (no isolated node)")
    column_sums = np.asarray(W.sum(axis=0), dtype=np.float32).ravel()
    degree = column_sums - W.diagonal().astype(np.float32) if first_level else column_sums
    order = np.argsort(column_sums)
    first = W.data[W.indptr[:-1]]
    offsets, entries = release_slots(W)
    owner = np.repeat(np.arange(n), np.diff(offsets))
    neighbour = W.indices[entries]
    score = ((np.float32(2.0) * W.data[entries] + first[owner] + first[neighbour])
             / (degree[owner] + degree[neighbour] + np.float32(1e-9)))
    marked = np.zeros(n, dtype=bool)
    cluster = np.zeros(n, dtype=np.int64)
    count = 0
    for i in order.tolist():
        if marked[i]:
            continue
        marked[i] = True
        cluster[i] = count
        lo, hi = offsets[i], offsets[i + 1]
        if hi > lo:
            candidates = np.where(marked[neighbour[lo:hi]], np.float32(0.0), score[lo:hi])
            best = int(candidates.argmax())
            if candidates[best] > 0.0:
                j = int(neighbour[lo + best])
                cluster[j] = count
                marked[j] = True
        count += 1
    return cluster


def release_coarse_graph(W: sp.csr_matrix, cluster: np.ndarray) -> sp.csr_matrix:
    """The float32 weights summed between clusters (inside a cluster: on the diagonal), zeros dropped."""
    coo = sp.coo_matrix(W)
    m = int(cluster.max()) + 1
    coarse = sp.csr_matrix((coo.data.astype(np.float32), (cluster[coo.row], cluster[coo.col])), shape=(m, m))
    coarse.sum_duplicates()
    coarse.eliminate_zeros()
    coarse.sort_indices()
    return coarse


def release_coarsen_once(W: sp.csr_matrix, first_level: bool) -> tuple[np.ndarray, sp.csr_matrix]:
    """One level of the release's coarsening: the cluster of every node and the coarse graph."""
    cluster = release_matching(W, first_level)
    return cluster, release_coarse_graph(W, cluster)
