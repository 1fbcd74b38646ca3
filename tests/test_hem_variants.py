"""The two heavy-edge-matching variants on small hand-drawn graphs, matchings worked out by hand, and on anny."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hgnlib.graphs import build_hierarchy
from hgnlib.graphs.coarsening import coarsen, heavy_edge_matching, visiting_order
from hgnlib.graphs.release_hem import release_coarse_graph, release_matching, release_slots


def graph(n: int, edges: dict[tuple[int, int], float]) -> sp.csr_matrix:
    """Symmetric weighted CSR (float32) from ``{(i, j): w}`` (a pair (i, i) is a self-loop)."""
    rows, cols, vals = [], [], []
    for (i, j), w in edges.items():
        rows += [i] if i == j else [i, j]
        cols += [j] if i == j else [j, i]
        vals += [w] if i == j else [w, w]
    out = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(n, n))
    out.sort_indices()
    return out


# Path 0 -1- 1 -4- 2 -2- 3 with a chord 1 -0.5- 3. Row sums 1, 5.5, 6, 2.5 (distinct): visiting order 0, 3, 1, 2.
PATH = graph(4, {(0, 1): 1.0, (1, 2): 4.0, (2, 3): 2.0, (1, 3): 0.5})
# Node 0 (sum 2.5) joins 1 (w 1, sum 5) and 2 (w 1.5, sum 21.5); 1 -4- 3, 2 -20- 3. Visiting order 0, 1, 2, 3.
FORK = graph(4, {(0, 1): 1.0, (0, 2): 1.5, (1, 3): 4.0, (2, 3): 20.0})


def test_release_row_ranges_by_hand():
    # PATH's CSR: row 0 = [1], row 1 = [0, 2, 3], row 2 = [1, 3], row 3 = [1, 2]; indptr 0, 1, 4, 6, 8.
    # The release counts each row's first entry into the previous row: lengths 2, 3, 2, 1.
    offsets, entries = release_slots(PATH)
    assert offsets.tolist() == [0, 2, 5, 7, 8]
    assert entries.tolist() == [0, 1, 1, 2, 3, 4, 5, 6]


def test_release_matching_of_the_path_by_hand():
    # Visit 0: candidates 1 (score (2*1 + 1 + 1) / (1 + 5.5) > 0) and, by the row quirk, row 1's first entry,
    # node 0 itself (marked): pairs {0, 1} -> cluster 0. Visit 3: row 3 scans only its first entry (node 1,
    # marked), so 3 stays single although 2 is a free neighbour -> cluster 1. Visit 1: marked. Visit 2: both
    # neighbours marked -> single, cluster 2.
    assert release_matching(PATH, first_level=True).tolist() == [0, 0, 2, 1]


def test_graclus_matching_of_the_path_by_hand():
    # Same order; visit 0 pairs with its only neighbour 1; visit 3 pairs with its free neighbour 2.
    order = visiting_order(PATH)
    assert order.tolist() == [0, 3, 1, 2]
    assert heavy_edge_matching(PATH, order).tolist() == [0, 0, 1, 1]


def test_the_two_scores_choose_differently_on_the_fork():
    # Visit 0 (degree 2.5). Release: first entries F = (1, 1, 1.5, 4); neighbour 1 scores (2 + 1 + 1) / (2.5 + 5)
    # = 0.533, neighbour 2 scores (3 + 1 + 1.5) / (2.5 + 21.5) = 0.229 -> {0, 1}; then 2 pairs with 3.
    assert release_matching(FORK, first_level=True).tolist() == [0, 0, 1, 1]
    # Graclus: neighbour 1 scores 1 * (1/2.5 + 1/5) = 0.6, neighbour 2 scores 1.5 * (1/2.5 + 1/21.5) = 0.67
    # -> {0, 2}; then 1 pairs with 3.
    assert heavy_edge_matching(FORK, visiting_order(FORK)).tolist() == [0, 1, 0, 1]


def test_release_coarse_graph_and_later_level_by_hand():
    coarse = release_coarse_graph(FORK, np.array([0, 0, 1, 1]))
    # Inside {0, 1}: 2 * 1; inside {2, 3}: 2 * 20; between: 1.5 + 4.
    np.testing.assert_array_equal(coarse.toarray(), [[2.0, 5.5], [5.5, 40.0]])
    assert coarse.dtype == np.float32
    # A later level: degrees keep the self-loops. Two nodes pair (score (11 + 2 + 5.5) / (7.5 + 45.5) > 0).
    assert release_matching(coarse, first_level=False).tolist() == [0, 0]


def test_release_first_entry_is_not_the_diagonal_when_a_lower_neighbour_exists():
    # Later level, node 1 has a self-loop of 10 but its first stored entry is W_10 = 1. Sums: 2.2, 11.5, 1.7:
    # visit 2 first (last row: scans only node 0): (2*1.2 + F_2 + F_0) / (1.7 + 2.2) with F_2 = 1.2, F_0 = 1 ->
    # pairs {2, 0}; node 1 is left alone.
    w = graph(3, {(0, 1): 1.0, (0, 2): 1.2, (1, 2): 0.5, (1, 1): 10.0})
    assert release_matching(w, first_level=False).tolist() == [0, 1, 0]


def test_release_refuses_isolated_nodes_and_seeds():
    with pytest.raises(ValueError, match="isolated"):
        release_matching(graph(3, {(0, 1): 1.0}), first_level=True)
    with pytest.raises(ValueError, match="seed"):
        coarsen(PATH, 1, seed=0, hem="release")
    with pytest.raises(ValueError, match="hem must be"):
        coarsen(PATH, 1, hem="metis")


#: The release's level sizes on anny's largest component (13,348 vertices, unit weights) with numpy 2.4: its
#: unstable argsort orders equal degrees by numpy's sort kernels, which follow the CPU. AVX-512 x86 machines (where
#: the release's own code gave the same sizes) and an AVX2-only AMD EPYC gave these.
RELEASE_ANNY_SIZES = {
    "avx512": [13348, 7104, 3772, 2009, 1065, 567, 304, 166, 90, 47, 26, 14],
    "avx2": [13348, 7098, 3759, 2006, 1071, 577, 308, 166, 91, 49, 27, 15],
}


def _sort_kernels() -> str:
    from numpy._core._multiarray_umath import __cpu_features__

    return "avx512" if __cpu_features__.get("AVX512_SKX") else "avx2"


def test_anny_level_sizes_of_both_variants(anny_body):
    release = build_hierarchy(anny_body, hem="release")
    assert [lv.num_real for lv in release.levels] == RELEASE_ANNY_SIZES[_sort_kernels()]
    assert release.options["hem"] == "release"
    graclus = build_hierarchy(anny_body)
    assert [lv.num_real for lv in graclus.levels] == [13348, 7047, 3726, 1978, 1052, 564, 305, 164, 91, 49, 28, 16]
