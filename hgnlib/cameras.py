"""Human3.6M cameras: parameters, world <-> camera transforms, projection with distortion, screen normalisation.

Conventions (see ``shared/REFERENCE.md``): the orientation quaternion (w, x, y, z) rotates camera to world, the
translation is the camera centre in world millimetres, so ``X_cam = R^T (X_world - t)`` with ``t`` in metres.
Image coordinates are pixels; normalised coordinates follow the SemGCN convention ``u' = 2u/w - 1``,
``v' = 2v/w - h/w`` (aspect ratio kept).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import DataError, MissingFileError


@dataclass(frozen=True)
class Camera:
    """One calibrated camera. ``R`` rotates camera to world; ``center`` is the camera centre in world metres."""

    id: str
    R: np.ndarray
    center: np.ndarray
    focal: np.ndarray
    principal: np.ndarray
    radial: np.ndarray
    tangential: np.ndarray
    width: int
    height: int

    @classmethod
    def from_world_to_camera(cls, id: str, R_w2c, t_mm, focal, principal, width: int, height: int) -> "Camera":
        """Build from the ``X_cam = R X_world + t`` convention (authors' JSON files, ``t`` in mm), no distortion."""
        R_w2c = np.asarray(R_w2c, dtype=np.float64).reshape(3, 3)
        t = np.asarray(t_mm, dtype=np.float64).reshape(3) / 1000.0
        return cls(id=id, R=R_w2c.T, center=-R_w2c.T @ t, focal=np.asarray(focal, float).reshape(2),
                   principal=np.asarray(principal, float).reshape(2), radial=np.zeros(3), tangential=np.zeros(2),
                   width=int(width), height=int(height))

    def world_to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) in metres to camera coordinates (..., 3) in metres."""
        return (np.asarray(X) - self.center) @ self.R

    def camera_to_world(self, X: np.ndarray) -> np.ndarray:
        """Camera points (..., 3) to world points (..., 3)."""
        return np.asarray(X) @ self.R.T + self.center

    def project(self, X_cam: np.ndarray, distort: bool = True) -> np.ndarray:
        """Camera points (..., 3) to pixels (..., 2), with the Human3.6M radial and tangential distortion."""
        X_cam = np.asarray(X_cam, dtype=np.float64)
        xy = X_cam[..., :2] / X_cam[..., 2:3]
        if distort:
            r2 = np.sum(xy**2, axis=-1, keepdims=True)
            k1, k2, k3 = self.radial
            p1, p2 = self.tangential
            radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
            tangential = p1 * xy[..., 1:2] + p2 * xy[..., 0:1]
            xy = xy * (radial + tangential) + np.array([p2, p1]) * r2
        return xy * self.focal + self.principal

    def to_dict(self) -> dict:
        return {"id": self.id, "R": self.R.tolist(), "center": self.center.tolist(), "focal": self.focal.tolist(),
                "principal": self.principal.tolist(), "radial": self.radial.tolist(),
                "tangential": self.tangential.tolist(), "width": self.width, "height": self.height}


def quaternion_to_matrix(q) -> np.ndarray:
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def default_camera_file() -> Path:
    """The H36M camera parameters shipped with the package (public calibration facts)."""
    return Path(str(resources.files("hgnlib") / "resources" / "h36m_cameras.json"))


def load_h36m_cameras(path: str | Path | None = None) -> dict[str, list[Camera]]:
    """Cameras per subject, in the standard camera order, from a ``h36m_cameras.json`` file."""
    path = Path(path) if path is not None else default_camera_file()
    if not path.exists():
        raise MissingFileError(path, "camera file not found", "pass the path of h36m_cameras.json")
    try:
        data = json.loads(path.read_text())
        intrinsics, extrinsics = data["intrinsics"], data["extrinsics"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(path, f"not a camera file ({exc!r})",
                        "expected a JSON object with keys 'intrinsics' (list of 4) and 'extrinsics' (subject -> list of 4)")
    cameras: dict[str, list[Camera]] = {}
    for subject, extr in extrinsics.items():
        if len(extr) != len(intrinsics):
            raise DataError(path, f"subject {subject} has {len(extr)} extrinsics for {len(intrinsics)} cameras",
                            "give one extrinsic entry per camera, in the intrinsics' order")
        cams = []
        for intr, ex in zip(intrinsics, extr):
            cams.append(Camera(
                id=str(intr["id"]), R=quaternion_to_matrix(ex["orientation"]),
                center=np.asarray(ex["translation"], dtype=np.float64) / 1000.0,
                focal=np.asarray(intr["focal_length"], dtype=np.float64),
                principal=np.asarray(intr["center"], dtype=np.float64),
                radial=np.asarray(intr["radial_distortion"], dtype=np.float64),
                tangential=np.asarray(intr["tangential_distortion"], dtype=np.float64),
                width=int(intr["res_w"]), height=int(intr["res_h"])))
        cameras[subject] = cams
    return cameras


def normalize_screen(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels to the [-1, 1] range along x with the aspect ratio kept (SemGCN / VideoPose3D convention)."""
    uv = np.asarray(uv, dtype=np.float64)
    return uv / width * 2 - np.array([1.0, height / width])


def unnormalize_screen(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen`."""
    uv = np.asarray(uv, dtype=np.float64)
    return (uv + np.array([1.0, height / width])) * width / 2
