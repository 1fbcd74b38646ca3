"""Notebook 11's evaluation of ``hgn lift``: clips whose 3D truth is known, each given to a trained model through files
in four input kinds, and the error of each.

- :func:`embedded_clips`: held-out embedded frames (the test subjects S9 and S11, some sequences each, one camera per
  sequence), with COCO face points from the anny mesh when the body parameters are stored;
- :func:`mocap_clips`: DeepMimic motion capture seen by cameras unlike Human3.6M's (face points from the head frame);
- :func:`lift_clips`: per clip the four inputs of :data:`INPUTS` written as files (``.npz`` in the H36M-17 layout,
  COCO results JSON), each lifted by :func:`hgnlib.lift.lift_file` (what ``hgn lift`` runs) and scored against the
  truth (the camera-space pose minus the pelvis), plus the 2D error of the COCO -> H36M conversion per derived joint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch

from .. import metrics, skeleton
from . import coco
from .lifting import LiftResult, lift_file
from .detections import anny_face_points, anny_face_vertices, coco_detections, coco_from_h36m, write_coco_results

#: The four inputs per clip: exact projections and detector-like keypoints, each in the H36M-17 and COCO-17 layouts.
INPUTS = ("H36M-17 exact", "COCO-17 exact", "H36M-17 detector-like", "COCO-17 detector-like")
#: Frames per clip at most, evenly spaced over every stride-th frame.
FRAMES_PER_CLIP = 40
#: The H36M-17 joints that the conversion builds from several COCO points (the others are COCO points as they are).
DERIVED_JOINTS = (0, 1, 4, 7, 8, 9, 10)
#: The motion-capture clips and the two unseen cameras (one level at a new azimuth, one high up looking down).
MOCAP_CLIPS = ("walk", "run", "kick", "dance_a", "cartwheel")
MOCAP_CAMERAS = ("level-090", "high-000")


class Clip(NamedTuple):
    """A clip with known truth: ``world`` (T, 17, 3) H36M-17 joints, ``face`` (T, 5, 3) COCO face points or None."""

    source: str
    name: str
    camera: Any
    world: np.ndarray
    face: np.ndarray | None


class Example(NamedTuple):
    """The detector-like COCO input of a clip (T, 17, 3), its lift and the truth (T, 17, 3), for the figures."""

    source: str
    name: str
    detections: np.ndarray
    lifted: LiftResult
    truth: np.ndarray


def _frames(length: int, stride: int, frames_per_clip: int) -> np.ndarray:
    """At most ``frames_per_clip`` frames evenly spaced over every ``stride``-th frame of ``length``."""
    from ..experiments.evaluate import evenly_spaced

    frames = np.arange(0, length, stride)
    return frames[evenly_spaced(len(frames), frames_per_clip).numpy()]


def embedded_clips(folder: str | Path, stride: int, per_subject: int = 6,
                   frames_per_clip: int = FRAMES_PER_CLIP) -> tuple[list[Clip], bool]:
    """``per_subject`` sequences of each test subject of the dataset in ``folder``, evenly spaced in name order, the
    k-th seen by camera k mod 4; returns the clips and whether their face points come from the anny mesh (the body
    parameters are stored) rather than the head-frame approximation."""
    from ..cameras import load_h36m_cameras
    from ..data.h36m import THREE_D_FILE, load_3d
    from ..synthetic.synth import BODY_FILE, load_body_params, rebuild_vertices
    from ..experiments.evaluate import evenly_spaced

    folder = Path(folder)
    world_all = load_3d(folder / THREE_D_FILE)
    cameras = load_h36m_cameras()
    use_mesh = (folder / BODY_FILE).exists()
    if use_mesh:
        from ..body import load_body_model

        body = load_body_model("anny")
        face_groups = anny_face_vertices(body)
    clips = []
    for subject in skeleton.TEST_SUBJECTS:
        names = sorted(world_all[subject])
        for k, name in enumerate([names[i] for i in evenly_spaced(len(names), per_subject).tolist()]):
            world = skeleton.to_17(np.asarray(world_all[subject][name], dtype=np.float64))
            frames = _frames(len(world), stride, frames_per_clip)
            face = None
            if use_mesh:
                vertices = rebuild_vertices(body, load_body_params(folder, subject, name), frames)
                face = anny_face_points(vertices.astype(np.float64), face_groups)
            clips.append(Clip("embedded S9/S11", f"{subject} {name}", cameras[subject][k % 4], world[frames], face))
    return clips, use_mesh


def mocap_clips(stride: int, names: Sequence[str] = MOCAP_CLIPS, cameras: Sequence[str] = MOCAP_CAMERAS,
                frames_per_clip: int = FRAMES_PER_CLIP) -> list[Clip]:
    """The DeepMimic clips ``names``, each seen by the unseen cameras ``cameras``
    (:func:`hgnlib.synthetic.mocap.unseen_cameras`)."""
    from ..synthetic.mocap import load_mocap_clips, unseen_cameras

    clips = []
    for name, world in load_mocap_clips(list(names)).items():
        frames = _frames(len(world), stride, frames_per_clip)
        for camera in unseen_cameras(world, list(dict.fromkeys(c.split("-")[0] for c in cameras))):
            if camera.id in cameras:
                clips.append(Clip("mocap, unseen cameras", f"{name} {camera.id}", camera, world[frames], None))
    return clips


def clip_file(workdir: str | Path, index: int, kind: str) -> Path:
    """The file that :func:`lift_clips` writes for clip ``index`` and input ``kind`` (one of :data:`INPUTS`)."""
    suffix = {"H36M-17 exact": "_h36m.npz", "COCO-17 exact": "_coco.json", "H36M-17 detector-like": "_h36m_det.npz",
              "COCO-17 detector-like": "_coco_det.json"}[kind]
    return Path(workdir) / f"clip{index:02d}{suffix}"


def lift_clips(clips: Sequence[Clip], model_path: str | Path, workdir: str | Path) -> tuple[pd.DataFrame, list[Example]]:
    """Write the four inputs of every clip into ``workdir``, lift each with ``model_path`` and score it.

    Returns the per-clip table (rows with ``input`` in :data:`INPUTS`: ``frames`` and the summed ``mpjpe`` and
    ``pa_mpjpe`` (mm), ``filled`` joints and ``frames_filled``; rows with ``input`` 'conversion 2D': per derived
    ``joint`` the summed 2D error ``px`` of the conversion on the exact COCO points) and, per clip, the
    detector-like COCO example. The noise of clip ``i`` is drawn from ``default_rng([0, i])``, the same draws for
    both layouts.
    """
    from ..synthetic.synth import detector_like

    records, examples = [], []
    for i, clip in enumerate(clips):
        camera, world = clip.camera, clip.world
        joints = camera.world_to_camera(world)
        truth = joints - joints[:, :1]
        h36m_uv = camera.project(joints)
        coco_cam = camera.world_to_camera(coco_from_h36m(world, clip.face))
        coco_uv = camera.project(coco_cam)
        coco_det = coco_detections(coco_uv, coco_cam, np.random.default_rng([0, i]))
        h36m_det = detector_like(h36m_uv, camera, world, np.random.default_rng([0, i]))
        points = {"H36M-17 exact": h36m_uv,
                  "COCO-17 exact": np.concatenate([coco_uv, np.ones_like(coco_uv[..., :1])], -1),
                  "H36M-17 detector-like": h36m_det, "COCO-17 detector-like": coco_det}
        for kind in INPUTS:
            path = clip_file(workdir, i, kind)
            if path.suffix == ".json":
                write_coco_results(path, points[kind])
            else:
                np.savez(path, keypoints=points[kind], width=camera.width, height=camera.height, layout="h36m17")
            lifted = lift_file(path, model_path, width=camera.width, height=camera.height)
            pred, target = torch.from_numpy(lifted.joints).double(), torch.from_numpy(truth)
            records.append({"source": clip.source, "clip": clip.name, "input": kind, "frames": len(truth),
                            "mpjpe": metrics.mpjpe(pred, target).sum().item(),
                            "pa_mpjpe": metrics.pa_mpjpe(pred, target).sum().item(),
                            "filled": int(lifted.filled.sum()), "frames_filled": int(lifted.filled.any(1).sum())})
            if kind == "COCO-17 detector-like":
                examples.append(Example(clip.source, clip.name, coco_det, lifted, truth))
        converted, _ = coco.coco_to_h36m(coco_uv)
        for j in DERIVED_JOINTS:
            records.append({"source": clip.source, "clip": clip.name, "input": "conversion 2D",
                            "joint": skeleton.H36M17_NAMES[j], "frames": len(truth),
                            "px": np.linalg.norm(converted[:, j] - h36m_uv[:, j], axis=-1).sum()})
    return pd.DataFrame(records), examples


def mean_error(lifts: pd.DataFrame, source: str, kind: str, metric: str) -> float:
    """The mean over frames of ``metric`` ('mpjpe' or 'pa_mpjpe', mm) for one source and input kind of
    :func:`lift_clips`' table."""
    rows = lifts[(lifts.source == source) & (lifts.input == kind)]
    return rows[metric].sum() / rows.frames.sum()
