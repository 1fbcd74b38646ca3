"""Writing a lift's 3D poses: JSON or ``.npz``, atomically."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import skeleton
from ..errors import HGNError
from ..fileio import save_json, save_npz
from .lifting import LiftResult

RESULT_FORMAT = "hgn-lift/1"


def _metadata(result: LiftResult) -> dict:
    return {"format": RESULT_FORMAT,
            "model": {"name": result.model_name, "file": str(result.model_path)},
            "input": {"file": None if result.input_path is None else str(result.input_path), "layout": result.layout,
                      "width": result.width, "height": result.height, "min_score": result.min_score,
                      "test_time_flip": result.flip},
            "units": "metres",
            "frame": "camera axes of the input's camera (x right, y down, z forward), pelvis at the origin; the "
                     "model assumes a camera like Human3.6M's (see hgnlib.lift)",
            "joint_names": list(skeleton.H36M17_NAMES),
            "meshes": {k: int(v.shape[1]) for k, v in result.meshes.items()},
            "warnings": list(result.warnings)}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def write_result(result: LiftResult, path: str | Path) -> Path:
    """Write the 3D poses as JSON (``.json``) or numpy arrays (``.npz``), atomically.

    JSON: the metadata (format, model, input, units, frame, joint names) and ``frames``: per frame ``id``,
    ``joints`` (17 x [x, y, z] m), ``keypoints_2d`` (the H36M-17 pixels fed to the model), ``filled`` (joint names)
    and each coarse mesh (N x [x, y, z] m). NPZ: ``joints`` (T, 17, 3), ``keypoints_2d``, ``confidence``, ``filled``,
    ``frame_ids``, ``joint_names``, one array per mesh, ``meta`` (the metadata as a JSON string).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        frames = []
        for t in range(len(result)):
            entry = {"id": _plain(result.frame_ids[t]),
                     "joints": np.round(result.joints[t].astype(float), 6).tolist(),
                     "keypoints_2d": np.round(result.keypoints[t], 3).tolist(),
                     "filled": result.filled_names(t)}
            entry.update({k: np.round(v[t].astype(float), 6).tolist() for k, v in result.meshes.items()})
            frames.append(entry)
        save_json(path, {**_metadata(result), "frames": frames}, indent=None)
    elif suffix == ".npz":
        ids = np.asarray([_plain(i) for i in result.frame_ids])
        save_npz(path, joints=result.joints.astype(np.float32), keypoints_2d=result.keypoints.astype(np.float32),
                 confidence=result.confidence.astype(np.float32), filled=result.filled, frame_ids=ids,
                 joint_names=np.array(skeleton.H36M17_NAMES), meta=np.array(json.dumps(_metadata(result))),
                 **{k: v.astype(np.float32) for k, v in result.meshes.items()})
    else:
        raise HGNError(f"{path}: unknown output type {path.suffix!r}; use a .json or .npz file name")
    return path
