"""The skeletal graph G_P over the 17 Human3.6M joints, and the adjacency normalisations the graph layers use."""
from __future__ import annotations

import numpy as np

from ..skeleton import BONES, NUM_JOINTS


def skeleton_edges() -> np.ndarray:
    """The 16 bones as (parent, child) joint index pairs, shape (16, 2)."""
    return np.array(BONES, dtype=np.int64)


def skeleton_adjacency(self_loops: bool = True) -> np.ndarray:
    """Symmetric binary (17, 17) float32 adjacency of the skeleton, with ones on the diagonal when ``self_loops``."""
    edges = skeleton_edges()
    adj = np.zeros((NUM_JOINTS, NUM_JOINTS), dtype=np.float32)
    adj[edges[:, 0], edges[:, 1]] = 1.0
    adj[edges[:, 1], edges[:, 0]] = 1.0
    if self_loops:
        adj[np.arange(NUM_JOINTS), np.arange(NUM_JOINTS)] = 1.0
    return adj


def normalize_symmetric(adjacency: np.ndarray) -> np.ndarray:
    """``D^-1/2 A D^-1/2``, ``D`` the row sums of ``A`` as given (add self-loops first); isolated nodes stay zero."""
    adj = np.asarray(adjacency, dtype=np.float32)
    degree = adj.sum(axis=1)
    inv_sqrt = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    return (inv_sqrt[:, None] * adj * inv_sqrt[None, :]).astype(np.float32)


def normalize_rows(adjacency: np.ndarray) -> np.ndarray:
    """``D^-1 A``: every row with any weight sums to one; empty rows stay zero."""
    adj = np.asarray(adjacency, dtype=np.float32)
    degree = adj.sum(axis=1, keepdims=True)
    out = np.zeros_like(adj)
    np.divide(adj, degree, out=out, where=degree > 0)
    return out
