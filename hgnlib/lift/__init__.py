"""Lift your own 2D keypoints to 3D with a trained model: ``hgn lift``.

**Input** (:func:`read_keypoints`): the 2D keypoints of one person per frame, in pixels, from any detector:

- a COCO results JSON (``.json``): a list of ``{"image_id", "category_id", "keypoints": [51 numbers], "score"}``,
  the 51 numbers being (x, y, s) for the 17 COCO keypoints (:data:`hgnlib.lift.coco.COCO17_NAMES`). Detections whose
  ``category_id`` is not 1 (person) are ignored; per ``image_id`` the detection with the highest ``score`` (the mean
  keypoint score when there is none) is kept, the others (other people) are dropped; frames are ordered by
  ``image_id`` (numerically when every id is a number, else as text). The third number of a triple is read as the
  keypoint's score; in a COCO *annotation* file (a dict with ``"annotations"``, also accepted, with the image size
  taken from ``"images"`` when all images have one) it is the visibility flag, 0 (not labelled) reading as missing.
- an ``.npz`` with key :data:`NPZ_KEY` (``"keypoints"``): (frames, 17, 2) pixels, or (frames, 17, 3) with a score
  per keypoint; optional keys ``scores`` (frames, 17), ``width`` and ``height`` (the image size), ``layout``
  (``"coco17"`` or ``"h36m17"``) and ``frame_ids`` (frames,).
- a ``.csv``: one row per frame, a header naming the columns: an optional ``frame`` column, then ``<joint>_x``,
  ``<joint>_y`` and optionally ``<joint>_score`` for the 17 joints of one layout, joints named as in
  :data:`hgnlib.lift.coco.COCO17_NAMES` (``left_shoulder_x`` ...) or :data:`hgnlib.skeleton.H36M17_NAMES`
  (``LShoulder_x`` ...); the names give the layout. Without a header: 34 numbers (x, y per joint) or 51 (x, y, score)
  per row, in the order of the layout passed with ``layout``.

**Layout** (``coco17`` | ``h36m17``): given, stored in the file, or detected from the geometry
(:func:`detect_layout`). COCO-17 is converted to the Human3.6M-17 layout the models take
(:func:`hgnlib.lift.coco.coco_to_h36m`, with the conversion rules and their measured error).

**Low scores, NaN** (:func:`prepare_inputs`): keypoints scored below ``min_score`` (default 0.3) and non-finite ones
are missing. A frame whose own keypoints cannot make more than ``max_missing`` (default 6) of the 17 H36M joints is
refused with an error naming the frames. Otherwise: with COCO input, missing body keypoints are carried over from the
nearest frame (at most ``max_gap`` frames away, moved with the body) and missing face points fall back on the others;
any H36M joint still missing is filled from the nearest frame, else from the other joints
(:func:`hgnlib.lift.coco.fill_missing`). The joints that were filled are reported per frame (``filled``). Frames whose
person lies entirely or mostly outside the image, or with more than :data:`WARN_FILLED_JOINTS` filled joints, are
listed in the result's ``warnings`` (in the JSON and on stderr, :func:`lift_warnings`); predictions that are not
finite are an error naming the model.

**Normalisation**: exactly as the training data, :func:`hgnlib.cameras.normalize_screen` with the image's width and
height (``u' = 2u/w - 1, v' = 2v/w - h/w``), so the image size is required.

**Model**: a ``model.pt`` (:mod:`hgnlib.experiments.artifacts`: the weights, the graphs and the input convention
travel in the file) or a configuration name of the result cache (``hgn-128`` -> the cached run of
``ExperimentConfig("hgn-128", profile=..., data=...)``), or a run key. Optional test-time flip.

**Output** (:class:`LiftResult`, :func:`write_result`: JSON or ``.npz``): per frame the 17 Human3.6M joints in
metres, in the axes of the camera that took the picture (x right, y down, z away from the camera), relative to the
pelvis (the model was trained to put the pelvis at the origin, so its pelvis output is near zero, not exactly; the
distance to the camera is not estimated), and the coarse meshes of the models that predict them (same frame and units; fake nodes of padded graphs are zero). What this means physically:
the network sees normalised 2D points only, and it learned from Human3.6M's cameras (focal length about 1,145 px
for 1,000 px wide images, people 4-6 m away). It therefore answers with the pose that such a camera would have
seen. For a camera with a much wider or narrower field of view, or a person much nearer or farther, the
perspective differs from what it learned, and the depth extent of the pose (how far limbs reach toward or away
from the camera) is only as good as that assumption; sizes in metres come from what the model learned about human
bodies, not from the image.

**Rendering** (:func:`render`): one PNG per frame, an animated GIF (matplotlib + pillow) or an MP4 (ffmpeg
required) of the 2D input beside the 3D skeleton.

**Checks on known poses**: :func:`coco_from_h36m`, :func:`anny_face_points`, :func:`coco_detections` and
:func:`write_coco_results` make COCO-layout keypoints (with detector-like noise and scores) from poses whose 3D truth
is known (the embedded data, the motion-capture clips): notebook 11 lifts them and measures the error.

**Modules**, one job each: :mod:`~hgnlib.lift.reading` (the three input kinds, layout detection),
:mod:`~hgnlib.lift.coco` (COCO-17 -> H36M-17 and the filling of missing joints), :mod:`~hgnlib.lift.model` (which
model: :func:`resolve_model`, also used by ``hgn eval`` and ``hgn export``), :mod:`~hgnlib.lift.lifting` (preparation,
the lift, warnings), :mod:`~hgnlib.lift.writing`, :mod:`~hgnlib.lift.rendering`, :mod:`~hgnlib.lift.detections`
(COCO detections from known 3D poses) and :mod:`~hgnlib.lift.protocol` (notebook 11's evaluation of lifting through
files on clips with known truth).
"""
from __future__ import annotations

from .coco import coco_to_h36m, fill_missing
from .lifting import LiftResult, PreparedInput, WARN_FILLED_JOINTS, lift_file, lift_keypoints, lift_warnings, prepare_inputs
from .model import load_lifter, resolve_model
from .reading import LAYOUTS, NPZ_KEY, Keypoints, detect_layout, read_coco_results, read_csv, read_keypoints, read_npz
from .rendering import RENDER_KINDS, render
from .detections import anny_face_points, anny_face_vertices, coco_detections, coco_from_h36m, write_coco_results
from .writing import RESULT_FORMAT, write_result

__all__ = ["LAYOUTS", "NPZ_KEY", "RENDER_KINDS", "RESULT_FORMAT", "WARN_FILLED_JOINTS", "Keypoints", "LiftResult",
           "PreparedInput", "anny_face_points", "anny_face_vertices", "coco_detections", "coco_from_h36m",
           "coco_to_h36m", "detect_layout", "fill_missing", "lift_file", "lift_keypoints", "lift_warnings",
           "load_lifter", "prepare_inputs", "read_coco_results", "read_csv", "read_keypoints", "read_npz", "render",
           "resolve_model", "write_coco_results", "write_result"]
