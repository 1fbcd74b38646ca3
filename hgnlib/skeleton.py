"""The Human3.6M joint layouts: the 32-joint motion-capture skeleton and the 17 joints every lifting paper uses.

Everything that needs joint names, parents, left/right pairs or body parts reads them from here.
"""
from __future__ import annotations

import numpy as np

#: Names of the 32 joints of the Human3.6M motion-capture files (``data_3d_h36m.npz``).
H36M32_NAMES: tuple[str, ...] = (
    "Hip", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "RightToeEnd",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LeftToeEnd",
    "Spine", "Spine1", "Neck", "Head", "HeadEnd",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "LeftThumbEnd",
    "LeftWristEnd", "LeftWristEndSite",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "RightThumbEnd",
    "RightWristEnd", "RightWristEndSite",
)
H36M32_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22,
    12, 24, 25, 26, 27, 28, 27, 30,
)

#: Indices of the 17 kept joints in the 32-joint layout.
H36M17_FROM_32: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

#: The 17-joint layout (the order of every 2D file and of the models' outputs).
H36M17_NAMES: tuple[str, ...] = (
    "Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax", "Nose", "Head",
    "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)
H36M17_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT_JOINTS: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
NUM_JOINTS = 17
PELVIS = 0

#: Permutation that swaps every left joint with its right counterpart (used by the flip augmentation).
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    {**{i: i for i in range(NUM_JOINTS)}, **dict(zip(LEFT_JOINTS, RIGHT_JOINTS)), **dict(zip(RIGHT_JOINTS, LEFT_JOINTS))}[i]
    for i in range(NUM_JOINTS)
)

#: Bones of the 17-joint skeleton as (parent, child) pairs, in joint order.
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(H36M17_PARENTS) if p >= 0)


def bone_adjacency(self_loops: bool = False) -> np.ndarray:
    """The skeletal graph G_P: symmetric binary (17, 17) float32 adjacency of :data:`BONES`, with ones on the diagonal
    when ``self_loops``. The one definition the models (:func:`hgnlib.models.graph.skeleton_graph`) and figures use."""
    adj = np.zeros((NUM_JOINTS, NUM_JOINTS), dtype=np.float32)
    for parent, child in BONES:
        adj[parent, child] = adj[child, parent] = 1.0
    if self_loops:
        adj[np.arange(NUM_JOINTS), np.arange(NUM_JOINTS)] = 1.0
    return adj

#: Body parts used for the per-part error of Figure 3 (joint indices in the 17-joint layout).
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "torso": (0, 7, 8),
    "head": (9, 10),
    "left shoulder": (11,),
    "left elbow": (12,),
    "left wrist": (13,),
    "right shoulder": (14,),
    "right elbow": (15,),
    "right wrist": (16,),
    "left hip": (4,),
    "left knee": (5,),
    "left ankle": (6,),
    "right hip": (1,),
    "right knee": (2,),
    "right ankle": (3,),
}

#: The 15 Human3.6M actions, in the conventional table order.
ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)
TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")


def action_of(sequence_name: str) -> str:
    """The action of a sequence name as found in the files ('Walking 1' -> 'Walking', 'TakingPhoto' -> 'Photo')."""
    base = sequence_name.split(" ")[0].split(".")[0]
    aliases = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
    base = aliases.get(base, base)
    if base not in ACTIONS:
        raise ValueError(f"unknown Human3.6M action in sequence name {sequence_name!r}; expected one of {ACTIONS}")
    return base


def to_17(joints32: np.ndarray) -> np.ndarray:
    """Select the 17 used joints from a (..., 32, 3) array."""
    if joints32.shape[-2] != 32:
        raise ValueError(f"expected (..., 32, D) joints, got shape {joints32.shape}")
    return joints32[..., H36M17_FROM_32, :]


def bone_lengths(joints17: np.ndarray) -> np.ndarray:
    """Lengths of the 16 bones of (..., 17, 3) joints, shape (..., 16)."""
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return np.linalg.norm(joints17[..., children, :] - joints17[..., parents, :], axis=-1)


def bone_names() -> list[str]:
    """Readable names of the bones, in the order of :func:`bone_lengths`."""
    return [f"{H36M17_NAMES[p]}-{H36M17_NAMES[c]}" for p, c in BONES]
