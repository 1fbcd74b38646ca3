"""Graphs of HGN: the 17-joint skeletal graph G_P and the coarsened mesh graphs G_M^c with their mappings.

- ``skeleton_graph``: the skeleton's adjacency and the symmetric / row normalisations.
- ``mesh_graph``: the mesh adjacency from triangle faces (of a body's main component).
- ``coarsening``: heavy edge matching with graclus weights and the authors' binary-tree padding.
- ``hierarchy``: the level hierarchy, the choice of G_M^{C-1} and G_M^C, the dense-to-coarse mappings.
- ``cache``: hierarchies stored under ``cache_dir()/graphs``; ``body_hierarchy``: a body model's, by name.
"""
from .cache import body_hierarchy, hierarchy_cache_path, load_or_build_hierarchy
from .coarsening import (Coarsening, binary_tree_permutations, coarsen, coarsen_once, heavy_edge_matching,
                         permute_adjacency, visiting_order)
from .hierarchy import GraphHierarchy, GraphLevel, apply_mapping, build_hierarchy, hierarchy_from_graph
from .mesh_graph import body_mesh_graph, mesh_adjacency

__all__ = [
    "Coarsening", "GraphHierarchy", "GraphLevel", "apply_mapping", "binary_tree_permutations", "body_hierarchy", "body_mesh_graph",
    "build_hierarchy", "coarsen", "coarsen_once", "heavy_edge_matching", "hierarchy_cache_path",
    "hierarchy_from_graph", "load_or_build_hierarchy", "mesh_adjacency", "permute_adjacency", "visiting_order",
]
