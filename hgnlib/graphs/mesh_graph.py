"""The mesh graph G_M: vertices of a triangle mesh, joined where they share a triangle edge."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..body.base import BodyModel


def mesh_adjacency(faces: np.ndarray, num_vertices: int) -> sp.csr_matrix:
    """Symmetric binary adjacency (float32 CSR, no self-loops) of triangles ``faces`` (F, 3) over ``num_vertices``."""
    f = np.asarray(faces, dtype=np.int64)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"expected triangle faces of shape (F, 3), got {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= num_vertices):
        raise ValueError(f"face indices must lie in [0, {num_vertices}), got [{f.min()}, {f.max()}]")
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    adj = sp.csr_matrix((np.ones(2 * len(rows), dtype=np.float32),
                         (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
                        shape=(num_vertices, num_vertices))
    adj.sum_duplicates()
    adj.data[:] = 1.0
    adj.sort_indices()
    return adj


def body_mesh_graph(body: BodyModel) -> tuple[sp.csr_matrix, np.ndarray]:
    """The adjacency of the body's main connected component, and that component's vertex indices in the full mesh."""
    faces, keep = body.graph_faces()
    return mesh_adjacency(faces, len(keep)), keep
