"""The coarse mesh graphs G_M^c of HGN and the mappings that give their pseudo-ground-truth vertices (Sec. 3.2, 3.3).

The mesh graph of the body's main connected component is coarsened by heavy edge matching
(:mod:`hgnlib.graphs.coarsening`), then the model's two mesh graphs G_M^{C-1} and G_M^C are picked.

Stopping rule (``levels=None``): coarsen until the first level with at most ``min(target_sizes) // 2`` real
nodes. The level closest to the smaller target has then been passed, and one more level is there to root the
padded tree. On SMPL this should give the authors' 9 levels: their 83 and 45 real nodes padded to 96 and 48 imply
a 24-node root. ``levels=n`` coarsens exactly ``n`` times instead (fewer if the graph stops shrinking).

Choice of the two levels: G_M^{C-1} and G_M^C are consecutive levels ``(C - 1, C)``, the pair whose node counts
are closest to ``target_sizes`` (least summed absolute difference; ties: the finer pair). The counts are the real
ones, or the padded ones when ``padded=True``. Padded counts depend on where the binary tree is rooted: with
``levels=None`` the root is chosen together with the pair (ties: the lower root, i.e. fewer fake nodes) and the
levels coarser than the root are dropped; with ``levels=n`` the root is the coarsest level.

Matching (``hem``, :mod:`hgnlib.graphs.coarsening`): ``"graclus"`` (this project's reading) or ``"release"``
(the authors' released algorithm). :func:`body_defaults` gives each body's defaults: on SMPL the release's
matching and its 9 coarsenings (the release's ``build_coarse_graphs(..., levels=9)``, whose levels 7 and 8 padded
from the 9th are G_M^{C-1} and G_M^C); on anny the graclus matching and the stopping rule above.

Node order: the plain hierarchy numbers each level's nodes by cluster id (the matching's visiting order); the
padded one uses the authors' binary-tree order, where the parent of position ``k`` is position ``k // 2``.

Mappings: ``level.mapping`` (CSR, ``num_nodes x num_vertices`` of the FULL body mesh) takes a dense mesh to the
level. Level 0 selects the main component's vertices; every coarser vertex is the mean of the one or two real
vertices it merges (a mean of means over the levels). Rows of real nodes sum to one; rows of fake nodes and
columns of vertices outside the main component are zero.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import scipy.sparse as sp
import torch

from ..body.base import BodyModel
from .coarsening import Coarsening, binary_tree_permutations, coarsen, permute_adjacency
from .mesh_graph import body_mesh_graph

#: The names of the chosen levels G_M^{C-1} and G_M^C, as the models' mesh branches and outputs are called.
MESH_LEVELS = ("mesh_c1", "mesh_c")
#: Per body: (default matching, default number of coarsenings or None for the stopping rule).
BODY_DEFAULTS = {"smpl": ("release", 9)}


def body_defaults(body_name: str) -> tuple[str, int | None]:
    """``(hem, levels)`` used for ``body_name`` unless asked otherwise (see the module doc)."""
    return BODY_DEFAULTS.get(body_name, ("graclus", None))


@dataclass
class GraphLevel:
    """One level of the hierarchy, in the node order the model uses.

    ``perm[k]``: the level's node (cluster id) at position ``k``; fake when ``>= num_real``.
    ``parent[k]``: the position of node ``k``'s parent in the next level (``None`` at the coarsest level).
    ``adjacency``: binary symmetric float32 CSR without self-loops; fake nodes have empty rows and columns.
    ``mapping``: float32 CSR (num_nodes, full mesh vertices), see the module doc.
    """

    index: int
    num_real: int
    perm: np.ndarray
    parent: np.ndarray | None
    adjacency: sp.csr_matrix
    mapping: sp.csr_matrix

    @property
    def num_nodes(self) -> int:
        """Node count as the model sees it (the padded count in a padded hierarchy)."""
        return len(self.perm)

    @property
    def real_mask(self) -> np.ndarray:
        """True at the positions of real nodes."""
        return self.perm < self.num_real

    @property
    def num_edges(self) -> int:
        """Undirected edges (self-loops excluded)."""
        return self.adjacency.nnz // 2


@dataclass
class GraphHierarchy:
    """The coarsened mesh graphs of one body model, with the chosen levels ``chosen = (C - 1, C)``."""

    body_name: str
    num_vertices: int
    vertex_indices: np.ndarray
    padded: bool
    levels: list[GraphLevel]
    chosen: tuple[int, int]
    options: dict = field(default_factory=dict)

    @property
    def coarse_levels(self) -> tuple[GraphLevel, GraphLevel]:
        """The levels of G_M^{C-1} and G_M^C."""
        return self.levels[self.chosen[0]], self.levels[self.chosen[1]]

    @property
    def mesh_levels(self) -> dict[str, GraphLevel]:
        """The chosen levels by the names of the models' mesh outputs (:data:`MESH_LEVELS`)."""
        return dict(zip(MESH_LEVELS, self.coarse_levels))

    def mesh_mappings(self, names: Iterable[str] = MESH_LEVELS) -> dict[str, np.ndarray]:
        """The dense-to-coarse mappings of the mesh levels ``names`` (of :data:`MESH_LEVELS`), by name."""
        levels = self.mesh_levels
        return {name: levels[name].mapping for name in names}

    def summary(self) -> list[dict]:
        """One row per level: level, real_nodes, padded_nodes, edges, chosen ('' / 'C-1' / 'C')."""
        tags = {self.chosen[0]: "C-1", self.chosen[1]: "C"}
        return [{"level": lv.index, "real_nodes": lv.num_real, "padded_nodes": lv.num_nodes,
                 "edges": lv.num_edges, "chosen": tags.get(lv.index, "")} for lv in self.levels]

    def to_json(self) -> str:
        """The hierarchy's description (no arrays) as a JSON string."""
        return json.dumps({"body": self.body_name, "num_vertices": self.num_vertices,
                           "main_component_vertices": int(len(self.vertex_indices)), "padded": self.padded,
                           "chosen": list(self.chosen), "options": self.options, "levels": self.summary()})


def build_hierarchy(body: BodyModel, levels: int | None = None, padded: bool = False,
                    target_sizes: tuple[int, int] = (96, 48), seed: int | None = None,
                    hem: str = "graclus") -> GraphHierarchy:
    """Coarsen the main component of ``body``'s mesh and choose G_M^{C-1}, G_M^C (rules in the module doc)."""
    adjacency, keep = body_mesh_graph(body)
    return hierarchy_from_graph(adjacency, keep, body.num_vertices, body.name, levels, padded, target_sizes, seed,
                                hem)


def hierarchy_from_graph(adjacency: sp.spmatrix, vertex_indices: np.ndarray, num_vertices: int, name: str = "mesh",
                         levels: int | None = None, padded: bool = False, target_sizes: tuple[int, int] = (96, 48),
                         seed: int | None = None, hem: str = "graclus") -> GraphHierarchy:
    """:func:`build_hierarchy` on a given graph: ``adjacency`` over ``vertex_indices`` of a ``num_vertices`` mesh."""
    fine_target, coarse_target = (int(t) for t in target_sizes)
    if not fine_target > coarse_target > 0:
        raise ValueError(f"target_sizes must be two positive sizes, finer first, got {tuple(target_sizes)}")
    vertex_indices = np.asarray(vertex_indices, dtype=np.int64)
    if adjacency.shape[0] != len(vertex_indices):
        raise ValueError(f"adjacency has {adjacency.shape[0]} nodes but {len(vertex_indices)} vertex indices")
    result = coarsen(adjacency, levels, min_nodes=max(1, coarse_target // 2), seed=seed, hem=hem)
    if len(result.parents) < 1:
        raise ValueError(f"a graph of {adjacency.shape[0]} nodes cannot be coarsened: need at least two levels")
    sizes = result.sizes
    if padded:
        root, coarse = _choose_padded(sizes, (fine_target, coarse_target), free_root=levels is None)
        perms = binary_tree_permutations(result.parents[:root])
    else:
        root, coarse = len(sizes) - 1, _choose_plain(sizes, (fine_target, coarse_target))
        perms = [np.arange(n) for n in sizes]
    built = _levels(result, perms, root, padded, vertex_indices, num_vertices)
    options = {"levels": levels, "target_sizes": [fine_target, coarse_target], "seed": seed, "hem": hem}
    return GraphHierarchy(name, int(num_vertices), vertex_indices, padded, built, (coarse - 1, coarse), options)


def _choose_plain(sizes: list[int], targets: tuple[int, int]) -> int:
    """C of the consecutive pair of real counts closest to the targets (ties: the finer pair)."""
    costs = [abs(sizes[c - 1] - targets[0]) + abs(sizes[c] - targets[1]) for c in range(1, len(sizes))]
    return 1 + int(np.argmin(costs))


def _choose_padded(sizes: list[int], targets: tuple[int, int], free_root: bool) -> tuple[int, int]:
    """(root, C): padded counts ``sizes[root] * 2**(root - c)`` closest to the targets (ties: lower root, finer C)."""
    roots = range(1, len(sizes)) if free_root else [len(sizes) - 1]
    candidates = [(abs(2 * sizes[r] * 2 ** (r - c) - targets[0]) + abs(sizes[r] * 2 ** (r - c) - targets[1]), r, c)
                  for r in roots for c in range(1, r + 1)]
    _, root, coarse = min(candidates)
    return root, coarse


def _levels(result: Coarsening, perms: list[np.ndarray], root: int, padded: bool, vertex_indices: np.ndarray,
            num_vertices: int) -> list[GraphLevel]:
    """The levels ``0..root`` in model order, with adjacencies, parents and mappings."""
    out: list[GraphLevel] = []
    for index in range(root + 1):
        perm, num_real = perms[index], result.sizes[index]
        if index < root:
            parent = np.arange(len(perm)) // 2 if padded else result.parents[index].astype(np.int64)
        else:
            parent = None
        if index == 0:
            real = np.flatnonzero(perm < num_real)
            mapping = sp.csr_matrix((np.ones(len(real), dtype=np.float32), (real, vertex_indices[perm[real]])),
                                    shape=(len(perm), num_vertices))
        else:
            mapping = (_pooling(out[-1], len(perm)) @ out[-1].mapping).tocsr()
        mapping.sort_indices()
        out.append(GraphLevel(index, num_real, perm, parent, _model_adjacency(result.graphs[index], perm), mapping))
    return out


def _pooling(fine: GraphLevel, num_coarse: int) -> sp.csr_matrix:
    """(num_coarse, fine.num_nodes) float32: each coarse node the mean of its real children."""
    real = np.flatnonzero(fine.real_mask)
    parents = fine.parent[real]
    counts = np.bincount(parents, minlength=num_coarse)
    return sp.csr_matrix(((1.0 / counts[parents]).astype(np.float32), (parents, real)),
                         shape=(num_coarse, fine.num_nodes))


def _model_adjacency(graph: sp.csr_matrix, perm: np.ndarray) -> sp.csr_matrix:
    """Binary float32 adjacency without self-loops, padded and reordered by ``perm``."""
    adj = sp.coo_matrix(graph)
    off = (adj.row != adj.col) & (adj.data != 0)
    binary = sp.coo_matrix((np.ones(off.sum(), dtype=np.float32), (adj.row[off], adj.col[off])), shape=adj.shape)
    return permute_adjacency(binary, perm).astype(np.float32)


def apply_mapping(mapping: sp.spmatrix, vertices: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Map dense meshes (B, V, 3) or (V, 3), numpy or torch (differentiable), to a level with one sparse product."""
    squeeze = vertices.ndim == 2
    batch = vertices[None] if squeeze else vertices
    b, v, d = batch.shape
    if v != mapping.shape[1]:
        raise ValueError(f"the mapping expects {mapping.shape[1]} vertices (the full mesh), got {v}")
    if isinstance(batch, torch.Tensor):
        coo = sp.coo_matrix(mapping)
        index = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64)).to(batch.device)
        values = torch.from_numpy(coo.data).to(device=batch.device, dtype=batch.dtype)
        # The indices come from a valid scipy matrix: skip torch's invariant check.
        matrix = torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=False).coalesce()
        out = torch.sparse.mm(matrix, batch.permute(1, 0, 2).reshape(v, b * d))
        out = out.reshape(-1, b, d).permute(1, 0, 2)
    else:
        flat = np.asarray(batch).transpose(1, 0, 2).reshape(v, b * d)
        out = np.asarray(mapping @ flat).reshape(-1, b, d).transpose(1, 0, 2)
    return out[0] if squeeze else out
