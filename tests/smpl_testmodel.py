"""A tiny synthetic model in the SMPL file format, so that the real SMPL loading code runs without the licensed file.

The body is a stick figure: a small box around each of SMPL's 24 rest-pose joints (y up, facing +z, left
at +x), skinned rigidly to that joint, each box joined to its parent's box by a triangle, plus a separate
"eye" box in front of the head (a second connected component, like the eyes of real meshes). The joint
regressor averages each joint's box, so the rest joints are exactly the skeleton below.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: SMPL's kinematic tree (parent of each of the 24 joints).
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

#: Rest-pose joint positions (metres), roughly those of SMPL's T-pose.
REST_JOINTS = np.array([
    [0.00, 0.00, 0.00], [0.06, -0.09, 0.00], [-0.06, -0.09, 0.00], [0.00, 0.11, -0.01],
    [0.10, -0.47, 0.00], [-0.10, -0.47, 0.00], [0.00, 0.24, 0.00], [0.09, -0.87, -0.03],
    [-0.09, -0.87, -0.03], [0.00, 0.29, 0.01], [0.11, -0.93, 0.10], [-0.11, -0.93, 0.10],
    [0.00, 0.50, -0.01], [0.08, 0.41, -0.01], [-0.08, 0.41, -0.01], [0.00, 0.56, 0.04],
    [0.17, 0.45, -0.01], [-0.17, 0.45, -0.01], [0.43, 0.43, -0.03], [-0.43, 0.43, -0.03],
    [0.68, 0.43, -0.03], [-0.68, 0.43, -0.03], [0.77, 0.42, -0.04], [-0.77, 0.42, -0.04],
])
HEAD = 15
BOX_HALF = 0.03
HEAD_BOX_HALF = 0.08
EYE_OFFSET = np.array([0.0, 0.02, 0.09])
NUM_BETAS = 10
NUM_POSE_BASIS = 207

_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
# The 12 triangles of a box over the corners above (corner index bits: x, y, z).
_BOX_FACES = np.array([
    [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
    [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
])
NUM_VERTICES = 8 * (len(REST_JOINTS) + 1)
NUM_FACES = 12 * (len(REST_JOINTS) + 1) + len(REST_JOINTS) - 1
#: Vertex indices of the eye box (the component that is not the body).
EYE_VERTICES = np.arange(8 * len(REST_JOINTS), NUM_VERTICES)


def model_arrays(seed: int = 0) -> dict[str, np.ndarray | sp.spmatrix]:
    """The arrays of the synthetic model, keyed as in an SMPL pickle."""
    rng = np.random.default_rng(seed)
    num_joints = len(REST_JOINTS)
    centres = list(REST_JOINTS) + [REST_JOINTS[HEAD] + EYE_OFFSET]
    halves = [HEAD_BOX_HALF if j == HEAD else BOX_HALF for j in range(num_joints)] + [0.015]
    owners = list(range(num_joints)) + [HEAD]
    vertices = np.concatenate([c + h * _CORNERS for c, h in zip(centres, halves)])
    faces = [_BOX_FACES + 8 * b for b in range(len(centres))]
    faces.append(np.array([[8 * j, 8 * p, 8 * p + 1] for j, p in enumerate(SMPL_PARENTS) if p >= 0]))
    weights = np.zeros((NUM_VERTICES, num_joints))
    weights[np.arange(NUM_VERTICES), np.repeat(owners, 8)] = 1.0
    rows = np.repeat(np.arange(num_joints), 8)
    regressor = sp.csc_matrix((np.full(8 * num_joints, 1 / 8), (rows, np.arange(8 * num_joints))),
                              shape=(num_joints, NUM_VERTICES))
    parents = np.array(SMPL_PARENTS, dtype=np.int64)
    parents[0] = 2**32 - 1  # the original files store the root's parent as uint32 -1
    return {
        "v_template": vertices,
        "shapedirs": 0.01 * rng.standard_normal((NUM_VERTICES, 3, NUM_BETAS)),
        "posedirs": 0.001 * rng.standard_normal((NUM_VERTICES, 3, NUM_POSE_BASIS)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.stack([parents, np.arange(num_joints)]),
        "f": np.concatenate(faces).astype(np.uint32),
    }


def write_test_smpl(path: Path, **overrides) -> Path:
    """Pickle the synthetic SMPL model to ``path`` (entries in ``overrides`` replace or, when None, drop keys)."""
    data = model_arrays()
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=2)
    return path
