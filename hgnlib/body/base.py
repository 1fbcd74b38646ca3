"""One interface for the body models that give the dense mesh: ``anny`` (open, default) and ``smpl`` (user file).

A body model maps pose and shape parameters to a mesh and to the 17 Human3.6M joints, batched and
differentiable in torch (the pseudo-ground-truth fitting optimises through it).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components


@dataclass
class BodyOutput:
    """A batch of posed bodies: ``vertices`` (B, V, 3) and ``joints`` (B, 17, 3), metres, model coordinates."""

    vertices: torch.Tensor
    joints: torch.Tensor


class BodyModel(abc.ABC):
    """A parametric body model.

    Subclasses set ``name``, ``faces`` (F, 3) int64, ``num_vertices``, ``pose_shape`` (the per-sample shape of the
    pose parameters), ``num_betas`` (shape parameters) and ``up_axis`` (0, 1 or 2), and implement :meth:`forward`.
    """

    name: str
    faces: np.ndarray
    num_vertices: int
    pose_shape: tuple[int, ...]
    num_betas: int
    up_axis: int

    @abc.abstractmethod
    def forward(self, pose: torch.Tensor, betas: torch.Tensor, translation: torch.Tensor | None = None) -> BodyOutput:
        """Posed vertices and H36M joints for ``pose`` (B, *pose_shape) and ``betas`` (B, num_betas)."""

    def __call__(self, pose: torch.Tensor, betas: torch.Tensor, translation: torch.Tensor | None = None) -> BodyOutput:
        return self.forward(pose, betas, translation)

    def zero_params(self, batch: int = 1, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """The rest pose and the model's default shape, batched."""
        return torch.zeros(batch, *self.pose_shape, dtype=dtype), self.default_betas(batch, dtype)

    def default_betas(self, batch: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The model's default (mean) shape parameters."""
        return torch.zeros(batch, self.num_betas, dtype=dtype)

    def main_component(self) -> np.ndarray:
        """Sorted indices of the vertices of the largest connected component of the mesh (the body proper)."""
        labels = _component_labels(self.faces, self.num_vertices)
        largest = np.bincount(labels).argmax()
        return np.flatnonzero(labels == largest)

    def graph_faces(self) -> tuple[np.ndarray, np.ndarray]:
        """Faces of the main component re-indexed to it, and the component's vertex indices.

        Graph building uses only these: separate parts such as eyes and mouth would be isolated islands.
        """
        keep = self.main_component()
        remap = -np.ones(self.num_vertices, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        faces = remap[self.faces]
        return faces[(faces >= 0).all(axis=1)], keep

    def describe(self) -> dict:
        """A short summary for ``hgn body info``."""
        keep = self.main_component()
        return {"name": self.name, "vertices": int(self.num_vertices), "faces": int(len(self.faces)),
                "components": int(_component_labels(self.faces, self.num_vertices).max() + 1),
                "main_component_vertices": int(len(keep)), "pose_shape": list(self.pose_shape),
                "num_betas": int(self.num_betas), "up_axis": "xyz"[self.up_axis]}


def _component_labels(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """Connected-component label of every vertex of a triangle mesh."""
    f = np.asarray(faces, dtype=np.int64)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    adj = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_vertices, num_vertices))
    return connected_components(adj, directed=False)[1]
