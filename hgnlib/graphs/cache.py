"""Graph hierarchies cached on disk: ``cache_dir()/graphs/<body>-<key>.npz``.

The key is a short hash of the body's name, vertex count and faces, the build options and the meaning of the graph
code (:func:`graphs_fingerprint`), so a changed mesh, option or algorithm never reads a stale file. A
file that cannot be read (truncated, corrupt, wrong key) is rebuilt and overwritten, with a warning. The file holds
plain arrays only (no pickles).
"""
from __future__ import annotations

import functools
import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..body.base import BodyModel
from ..fileio import save_npz
from ..paths import cache_dir
from .. import fingerprint
from .hierarchy import GraphHierarchy, GraphLevel, build_hierarchy

_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile)


@functools.lru_cache(maxsize=1)
def graphs_fingerprint() -> str:
    """The meaning of the graph-building code (:mod:`hgnlib.fingerprint`): a change to what it computes rebuilds the
    cached hierarchies; docstrings and comments do not."""
    return fingerprint.code_fingerprint(fingerprint.package_root(), ["graphs"])


def hierarchy_key(body: BodyModel, levels: int | None, padded: bool, target_sizes: tuple[int, int],
                  seed: int | None, hem: str = "graclus") -> str:
    """12 hex digits identifying the mesh, the options and the code version."""
    faces = hashlib.sha256(np.ascontiguousarray(body.faces, dtype=np.int64).tobytes()).hexdigest()
    spec = {"name": body.name, "num_vertices": int(body.num_vertices), "faces": faces, "levels": levels,
            "padded": bool(padded), "target_sizes": [int(t) for t in target_sizes], "seed": seed,
            "code": graphs_fingerprint(), **({"hem": hem} if hem != "graclus" else {})}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def hierarchy_cache_path(body: BodyModel, levels: int | None = None, padded: bool = False,
                         target_sizes: tuple[int, int] = (96, 48), seed: int | None = None,
                         hem: str = "graclus") -> Path:
    """Where :func:`load_or_build_hierarchy` keeps the hierarchy of these options."""
    return _path(body, hierarchy_key(body, levels, padded, target_sizes, seed, hem))


def _path(body: BodyModel, key: str) -> Path:
    return cache_dir() / "graphs" / f"{body.name}-{key}.npz"


def load_or_build_hierarchy(body: BodyModel, levels: int | None = None, padded: bool = False,
                            target_sizes: tuple[int, int] = (96, 48), seed: int | None = None,
                            hem: str = "graclus") -> GraphHierarchy:
    """The cached hierarchy of ``body`` for these options; built deterministically and stored if missing or bad."""
    key = hierarchy_key(body, levels, padded, target_sizes, seed, hem)
    path = _path(body, key)
    if path.exists():
        try:
            return read_hierarchy(path, key)
        except _READ_ERRORS as err:
            warnings.warn(f"{path}: unreadable graph hierarchy cache ({err!r}); rebuilding it", stacklevel=2)
    hierarchy = build_hierarchy(body, levels, padded, target_sizes, seed, hem)
    write_hierarchy(path, hierarchy, key)
    return hierarchy


def write_hierarchy(path: str | Path, hierarchy: GraphHierarchy, key: str) -> None:
    """Store ``hierarchy`` under ``key`` atomically as plain arrays."""
    meta = {"key": key, "body_name": hierarchy.body_name, "num_vertices": hierarchy.num_vertices,
            "padded": hierarchy.padded, "chosen": list(hierarchy.chosen), "options": hierarchy.options,
            "num_real": [lv.num_real for lv in hierarchy.levels]}
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta)), "vertex_indices": hierarchy.vertex_indices}
    for lv in hierarchy.levels:
        arrays[f"perm_{lv.index}"] = lv.perm
        if lv.parent is not None:
            arrays[f"parent_{lv.index}"] = lv.parent
        for name, matrix in (("adjacency", lv.adjacency), ("mapping", lv.mapping)):
            arrays[f"{name}_{lv.index}_data"] = matrix.data
            arrays[f"{name}_{lv.index}_indices"] = matrix.indices
            arrays[f"{name}_{lv.index}_indptr"] = matrix.indptr
    save_npz(path, **arrays)


def read_hierarchy(path: str | Path, key: str) -> GraphHierarchy:
    """Read a hierarchy stored by :func:`write_hierarchy`; ``ValueError`` when it was stored under another key."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        if meta["key"] != key:
            raise ValueError(f"stored key {meta['key']} differs from {key}")
        num_vertices = int(meta["num_vertices"])
        levels = []
        for index, num_real in enumerate(meta["num_real"]):
            perm = f[f"perm_{index}"]
            parent = f[f"parent_{index}"] if index < len(meta["num_real"]) - 1 else None
            shapes = {"adjacency": (len(perm), len(perm)), "mapping": (len(perm), num_vertices)}
            matrices = {name: sp.csr_matrix((f[f"{name}_{index}_data"], f[f"{name}_{index}_indices"],
                                             f[f"{name}_{index}_indptr"]), shape=shape)
                        for name, shape in shapes.items()}
            levels.append(GraphLevel(index, int(num_real), perm, parent, matrices["adjacency"], matrices["mapping"]))
        return GraphHierarchy(meta["body_name"], num_vertices, f["vertex_indices"], bool(meta["padded"]), levels,
                              tuple(meta["chosen"]), meta["options"])


def body_hierarchy(body: str = "anny", **options) -> GraphHierarchy:
    """The cached hierarchy of the body model named ``body`` (``options``: those of :func:`load_or_build_hierarchy`)."""
    from ..body import load_body_model

    return load_or_build_hierarchy(load_body_model(body), **options)
