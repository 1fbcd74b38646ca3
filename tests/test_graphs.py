"""The graphs of HGN: skeleton graph, mesh graph, heavy edge matching, padded hierarchies, mappings and their cache."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.spatial import cKDTree

from hgnlib.body.anny import DOF_LIMITS, DOFS
from hgnlib.graphs import (apply_mapping, binary_tree_permutations, build_hierarchy, coarsen, hierarchy_cache_path,
                           heavy_edge_matching, hierarchy_from_graph, load_or_build_hierarchy, mesh_adjacency,
                           permute_adjacency, visiting_order)
from hgnlib.graphs import cache as graph_cache
from hgnlib.graphs.hierarchy import GraphHierarchy
from hgnlib.models.graph import skeleton_graph
from hgnlib.models.layers import symmetric_normalized
from hgnlib.skeleton import BONES, bone_adjacency


def grid_faces(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a rows x cols vertex grid (vertex r * cols + c)."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (r * cols + c).ravel()
    return np.concatenate([np.stack([a, a + 1, a + cols + 1], 1), np.stack([a, a + cols + 1, a + cols], 1)])


def grid_hierarchy(rows: int = 12, cols: int = 15, padded: bool = False, **kw) -> GraphHierarchy:
    """A hierarchy of a grid mesh embedded in a larger 'full mesh' whose first 3 vertices are not part of it."""
    n = rows * cols
    return hierarchy_from_graph(mesh_adjacency(grid_faces(rows, cols), n), np.arange(3, 3 + n), n + 3, "grid",
                                padded=padded, target_sizes=kw.pop("target_sizes", (24, 12)), **kw)


def dense(matrix: sp.spmatrix) -> np.ndarray:
    return np.asarray(matrix.todense())


def same_arrays(a: GraphHierarchy, b: GraphHierarchy) -> bool:
    """Bit-for-bit equality of every array of two hierarchies."""
    if a.chosen != b.chosen or len(a.levels) != len(b.levels) or a.to_json() != b.to_json():
        return False
    for x, y in zip(a.levels, b.levels):
        for m, n in ((x.adjacency, y.adjacency), (x.mapping, y.mapping)):
            if not all(np.array_equal(getattr(m, k), getattr(n, k)) for k in ("data", "indices", "indptr")):
                return False
        if not np.array_equal(x.perm, y.perm) or (x.parent is None) != (y.parent is None):
            return False
        if x.parent is not None and not np.array_equal(x.parent, y.parent):
            return False
    return np.array_equal(a.vertex_indices, b.vertex_indices)


@pytest.fixture(scope="module")
def anny_plain(anny_body) -> GraphHierarchy:
    return build_hierarchy(anny_body)


@pytest.fixture(scope="module")
def anny_padded(anny_body) -> GraphHierarchy:
    return build_hierarchy(anny_body, padded=True)


# --- skeleton graph ---------------------------------------------------------------------------------------------

def test_skeleton_adjacency():
    A = bone_adjacency(self_loops=True)
    assert A.shape == (17, 17) and A.dtype == np.float32
    assert np.array_equal(A, A.T) and np.all(np.diag(A) == 1)
    off = A - np.eye(17)
    assert off.sum() / 2 == 16 and set(np.unique(off)) == {0.0, 1.0}
    assert all(off[p, c] == 1 for p, c in BONES)
    assert np.all(np.diag(bone_adjacency()) == 0)
    assert np.all(np.linalg.eigvalsh(symmetric_normalized(torch.from_numpy(A)).numpy()) <= 1 + 1e-6)
    assert np.array_equal(skeleton_graph().adjacency.numpy(), A)  # the models' G_P is this graph


def test_symmetric_normalisation_by_hand():
    path = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=torch.float32)  # 3-node path with self-loops
    d = np.array([2.0, 3.0, 2.0])
    expected = path.numpy() / np.sqrt(np.outer(d, d))
    assert np.allclose(symmetric_normalized(path).numpy(), expected)
    assert np.isclose(float(symmetric_normalized(path)[0, 1]), 1 / np.sqrt(6))
    assert torch.all(symmetric_normalized(torch.zeros(2, 2)) == 0)


# --- mesh graph ---------------------------------------------------------------------------------------------------

def test_mesh_adjacency_of_a_grid():
    rows, cols = 4, 5
    A = mesh_adjacency(grid_faces(rows, cols), rows * cols)
    assert (A != A.T).nnz == 0 and A.diagonal().sum() == 0 and set(np.unique(A.data)) == {1.0}
    edges = rows * (cols - 1) + (rows - 1) * cols + (rows - 1) * (cols - 1)
    assert A.nnz // 2 == edges
    tetra = mesh_adjacency(np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]), 5)
    assert np.array_equal(dense(tetra)[:4, :4], 1 - np.eye(4)) and dense(tetra)[4].sum() == 0
    with pytest.raises(ValueError):
        mesh_adjacency(np.array([[0, 1, 7]]), 5)


# --- heavy edge matching ------------------------------------------------------------------------------------------

def test_graclus_choice_by_hand():
    # Edges 0-1, 0-2, 1-3, 1-4 (unit weights): from 0, neighbour 2 (degree 1) beats 1 (degree 3);
    # then 1 takes 3 over 4 (equal scores, smaller index); 4 stays single.
    rows, cols = np.array([0, 0, 1, 1]), np.array([1, 2, 3, 4])
    W = sp.csr_matrix((np.ones(8), (np.r_[rows, cols], np.r_[cols, rows])), shape=(5, 5))
    assert heavy_edge_matching(W, np.arange(5)).tolist() == [0, 1, 0, 1, 2]
    # Visiting order: ascending degree (2, 3, 4 have degree 1; then 0; then 1), ties by index.
    assert visiting_order(W).tolist() == [2, 3, 4, 0, 1]
    assert heavy_edge_matching(W, visiting_order(W)).tolist() == [0, 1, 0, 1, 2]
    # Another order, another matching: 4 takes 1 first, 3 is left alone; cluster ids follow the visits.
    assert heavy_edge_matching(W, np.arange(5)[::-1]).tolist() == [2, 0, 2, 1, 0]
    # A heavy edge wins over a light one even towards a busier node.
    heavy = sp.csr_matrix(np.array([[0, 1, 5], [1, 0, 0], [5, 0, 0]], dtype=float))
    assert heavy_edge_matching(heavy, np.arange(3)).tolist() == [0, 1, 0]


def assert_valid_matching(graph: sp.spmatrix, parent: np.ndarray) -> None:
    """Clusters of one or two nodes, pairs joined by an edge, and no two adjacent singletons (maximality)."""
    counts = np.bincount(parent)
    assert counts.min() >= 1 and counts.max() <= 2
    order = np.argsort(parent, kind="stable")
    pair_starts = np.cumsum(counts)[counts == 2] - 2
    a, b = order[pair_starts], order[pair_starts + 1]
    g = sp.csr_matrix(graph)
    assert np.all(np.asarray(g[a, b]).ravel() != 0), "a matched pair that is not an edge of the level's graph"
    single = counts[parent] == 1
    coo = sp.coo_matrix(g)
    off = coo.row != coo.col
    assert not np.any(single[coo.row[off]] & single[coo.col[off]]), "two adjacent nodes both left single"


@pytest.mark.parametrize("seed", [None, 3])
def test_matching_is_valid_on_grids(seed):
    W = mesh_adjacency(grid_faces(9, 11), 99)
    result = coarsen(W, levels=4, seed=seed)
    assert len(result.parents) == 4
    for graph, parent, coarse in zip(result.graphs, result.parents, result.graphs[1:]):
        assert_valid_matching(graph, parent)
        assert np.isclose(coarse.sum(), graph.sum())  # weights summed, intra-cluster weight kept on the diagonal
        assert coarse.shape[0] == parent.max() + 1 < graph.shape[0]


def test_matching_is_valid_at_every_anny_level(anny_plain):
    levels = anny_plain.levels
    assert len(levels) >= 4
    for fine, coarse in zip(levels, levels[1:]):
        assert_valid_matching(fine.adjacency, fine.parent)
        assert coarse.num_real == fine.parent.max() + 1


def test_binary_tree_permutation_by_hand():
    # 5 nodes -> clusters {0,3}, {1}, {2,4} -> clusters {0,1}, {2}
    parents = [np.array([0, 1, 2, 0, 2]), np.array([0, 0, 1])]
    perms = binary_tree_permutations(parents)
    assert perms[2].tolist() == [0, 1]
    assert perms[1].tolist() == [0, 1, 2, 3]  # 3 is fake, the partner of singleton 2
    assert perms[0].tolist() == [0, 3, 1, 5, 2, 4, 6, 7]  # 5 pads singleton 1; 6, 7 are the children of fake 3
    A = sp.csr_matrix(np.array([[0, 1], [1, 0]]))
    assert dense(permute_adjacency(A, np.array([1, 2, 0]))).tolist() == [[0, 0, 1], [0, 0, 0], [1, 0, 0]]


# --- hierarchies ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("padded", [False, True])
def test_grid_hierarchy_mappings(padded):
    h = grid_hierarchy(padded=padded)
    for lv in h.levels:
        adj = lv.adjacency
        assert (adj != adj.T).nnz == 0 and adj.diagonal().sum() == 0 and set(np.unique(adj.data)) <= {1.0}
        rows = np.asarray(lv.mapping.sum(axis=1)).ravel()
        assert np.allclose(rows[lv.real_mask], 1) and np.all(rows[~lv.real_mask] == 0)
        assert lv.mapping[:, :3].nnz == 0  # vertices outside the graph's component
        covered = np.asarray((lv.mapping > 0).sum(axis=0)).ravel()
        assert np.all(covered[3:] == 1)  # every mesh vertex belongs to exactly one coarse vertex
        field = np.full((2, h.num_vertices, 3), 0.7, dtype=np.float32)
        assert np.allclose(apply_mapping(lv.mapping, field)[:, lv.real_mask], 0.7)
    c_minus_1, c = h.coarse_levels
    assert c.index == c_minus_1.index + 1
    tags = [row["chosen"] for row in h.summary()]
    assert tags.count("C-1") == 1 and tags.count("C") == 1
    assert json.loads(h.to_json())["chosen"] == list(h.chosen)


def test_mapping_is_mean_of_means():
    # The path 0-1-2: visiting by degree matches 0 with 1 and leaves 2 alone; the next level merges {0,1} with
    # {2}, so the top vertex is mean(mean(v0, v1), v2).
    W = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32))
    h = hierarchy_from_graph(W, np.arange(3), 3, levels=2, target_sizes=(2, 1))
    assert [lv.num_real for lv in h.levels] == [3, 2, 1]
    assert np.allclose(dense(h.levels[2].mapping), [[0.25, 0.25, 0.5]])


def test_padded_and_plain_agree(anny_plain, anny_padded):
    assert len(anny_padded.levels) <= len(anny_plain.levels)
    for index, lv in enumerate(anny_padded.levels):
        plain = anny_plain.levels[index]
        real = np.flatnonzero(lv.real_mask)
        assert lv.num_real == plain.num_real == len(real)
        assert np.array_equal(np.sort(lv.perm[real]), np.arange(plain.num_real))
        fake = ~lv.real_mask
        assert lv.adjacency[fake].nnz == 0 and lv.adjacency[:, fake].nnz == 0  # fake nodes are disconnected
        assert (lv.adjacency[real][:, real] != plain.adjacency[lv.perm[real]][:, lv.perm[real]]).nnz == 0
        assert (lv.mapping[real] != plain.mapping[lv.perm[real]]).nnz == 0
        if index + 1 < len(anny_padded.levels):
            coarse = anny_padded.levels[index + 1]
            assert lv.num_nodes == 2 * coarse.num_nodes
            assert np.array_equal(lv.parent, np.arange(lv.num_nodes) // 2)
            # the padded parent of a real node is its plain parent, seen through the coarse level's order
            assert np.array_equal(coarse.perm[lv.parent[real]], plain.parent[lv.perm[real]])
            assert np.all(coarse.real_mask[lv.parent[real]])  # a real node's parent is real
            assert np.all(~lv.real_mask[np.flatnonzero(~coarse.real_mask)[:, None] * 2 + [0, 1]])  # fake: fake


def test_anny_levels_near_the_paper_sizes(anny_plain, anny_padded):
    for h in (anny_plain, anny_padded):
        print(f"\nanny, padded={h.padded}, chosen={h.chosen}")
        for row in h.summary():
            print(row)
        assert h.levels[0].num_real == 13348 and h.num_vertices == 13718
        c_minus_1, c = h.coarse_levels
        assert 80 <= c_minus_1.num_real <= 112 and 40 <= c.num_real <= 60
        assert 80 <= c_minus_1.num_nodes <= 112 and 40 <= c.num_nodes <= 60
        assert c.num_real < c_minus_1.num_real
        outside = np.setdiff1d(np.arange(h.num_vertices), h.vertex_indices)
        assert len(outside) == 370 and c.mapping[:, outside].nnz == 0


def test_posed_coarse_meshes_lie_on_the_body(anny_body, anny_padded):
    rng = np.random.default_rng(0)
    lo = np.array([max(DOF_LIMITS[d][0], -180.0) for d in DOFS])
    hi = np.array([min(DOF_LIMITS[d][1], 180.0) for d in DOFS])
    angles = np.clip(rng.normal(0.0, 25.0, (3, len(DOFS))), lo, hi)
    pose = torch.tensor(anny_body.pose_from_angles(angles), dtype=torch.float32)
    vertices = anny_body(pose, anny_body.default_betas(3)).vertices
    for lv in anny_padded.coarse_levels:
        coarse = apply_mapping(lv.mapping, vertices)
        assert coarse.shape == (3, lv.num_nodes, 3)
        assert torch.all(coarse[:, ~torch.from_numpy(lv.real_mask)] == 0)
        for body, points in zip(vertices, coarse):
            dist = cKDTree(body[anny_padded.vertex_indices].numpy()).query(points[lv.real_mask].numpy())[0]
            # Means of surface patches sit inside the body: under the surface by at most a limb's radius.
            assert np.median(dist) < 0.02 and dist.max() < 0.10, (lv.index, np.median(dist), dist.max())


def test_apply_mapping_numpy_torch_and_gradients(anny_padded):
    lv = anny_padded.coarse_levels[1]
    x = torch.randn(2, anny_padded.num_vertices, 3, dtype=torch.float64, requires_grad=True)
    out = apply_mapping(lv.mapping, x)
    assert np.allclose(out.detach().numpy(), apply_mapping(lv.mapping, x.detach().numpy()))
    assert torch.allclose(apply_mapping(lv.mapping, x[0]), out[0])
    out.sum().backward()
    assert torch.allclose(x.grad[0, :, 0], torch.from_numpy(np.asarray(lv.mapping.sum(axis=0)).ravel()).double())
    with pytest.raises(ValueError):
        apply_mapping(lv.mapping, np.zeros((1, 10, 3)))


def test_explicit_levels_and_targets():
    h = grid_hierarchy(padded=True, levels=3)
    assert len(h.levels) == 4 and h.levels[-1].parent is None
    assert all(a.num_nodes == 2 * b.num_nodes for a, b in zip(h.levels, h.levels[1:]))
    with pytest.raises(ValueError):
        grid_hierarchy(target_sizes=(12, 24))


def test_second_body_model(tmp_path):
    from smpl_testmodel import EYE_VERTICES, NUM_VERTICES, write_test_smpl

    from hgnlib.body.smpl import SMPLBody

    write_test_smpl(tmp_path / "SMPL_NEUTRAL.pkl")
    body = SMPLBody(tmp_path)
    h = build_hierarchy(body, padded=True, target_sizes=(32, 16))
    assert h.num_vertices == NUM_VERTICES and len(h.vertex_indices) == NUM_VERTICES - len(EYE_VERTICES)
    for lv in h.levels:
        assert lv.mapping[:, EYE_VERTICES].nnz == 0
        assert np.allclose(np.asarray(lv.mapping.sum(axis=1)).ravel()[lv.real_mask], 1)


# --- determinism and cache ------------------------------------------------------------------------------------------

def test_rebuilding_is_deterministic(anny_body, anny_padded):
    assert same_arrays(build_hierarchy(anny_body, padded=True), anny_padded)
    seeded = [grid_hierarchy(seed=7), grid_hierarchy(seed=7), grid_hierarchy(seed=8)]
    assert same_arrays(seeded[0], seeded[1])
    assert not same_arrays(seeded[0], seeded[2])


def test_cache_round_trip_and_corrupt_file(anny_body, anny_plain, anny_padded, monkeypatch, tmp_path):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    path = hierarchy_cache_path(anny_body, padded=True)
    assert path.parent == tmp_path / "cache" / "graphs" and path.name.startswith("anny-")
    assert path != hierarchy_cache_path(anny_body, padded=False)
    first = load_or_build_hierarchy(anny_body, padded=True)
    assert path.exists() and same_arrays(first, anny_padded)

    def no_build(*args, **kwargs):
        raise AssertionError("the cached file should have been read")

    with monkeypatch.context() as m:
        m.setattr(graph_cache, "build_hierarchy", no_build)
        assert same_arrays(load_or_build_hierarchy(anny_body, padded=True), anny_padded)

    for damage in (b"not an npz file", path.read_bytes()[:2000]):
        path.write_bytes(damage)
        with pytest.warns(UserWarning, match="rebuilding"):
            rebuilt = load_or_build_hierarchy(anny_body, padded=True)
        assert same_arrays(rebuilt, anny_padded)
        key = graph_cache.hierarchy_key(anny_body, None, True, (96, 48), None)
        assert same_arrays(graph_cache.read_hierarchy(path, key), anny_padded)

    graph_cache.write_hierarchy(path, anny_plain, "another-key")  # a readable file of other options
    with pytest.warns(UserWarning, match="rebuilding"):
        assert same_arrays(load_or_build_hierarchy(anny_body, padded=True), anny_padded)
    with monkeypatch.context() as m:  # by the body's name: the same cached file
        m.setattr(graph_cache, "build_hierarchy", no_build)
        assert same_arrays(graph_cache.body_hierarchy("anny", padded=True), anny_padded)
