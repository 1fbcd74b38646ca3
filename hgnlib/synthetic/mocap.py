"""Real motion capture on open data: the DeepMimic clips that ``pybullet`` ships, as Human3.6M 17-joint poses, seen
through camera placements that Human3.6M does not have (the open stand-in for Table 7's MPI-INF-3DHP test).

The clips (``pybullet_data/data/motions/humanoid3d_<name>.txt``: 15 clips, 1,620 key frames) are JSON with a
``"Frames"`` list. A frame holds 44 numbers: its duration (s, time to the next key frame), the root position (3,
metres), the root orientation (quaternion w, x, y, z), then the local rotation of each joint of :data:`CLIP_LAYOUT`:
a quaternion (w, x, y, z) for a spherical joint, one angle (rad) about the URDF axis for a revolute one. This is the
layout that pybullet's reader (``pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py``) decodes.

The humanoid (``pybullet_data/humanoid/humanoid.urdf``) is y-up and faces +x (its feet point +x; knees bend
backwards and elbows forwards about +z), its right side at +z (right hip at z > 0). Its lengths are 4x the clips'
metres (DeepMimic loads it with ``globalScaling=0.25``). Forward kinematics: a child frame is its parent frame
translated by the joint origin (parent axes, every origin has rpy = 0) and rotated by the joint's local rotation;
the base frame is at the clip's root position and orientation.

The Human3.6M joints (:data:`JOINT_LINKS`): pelvis, hips, knees, ankles, shoulders, elbows and wrists are the
humanoid's joints of those names (wrists: the fixed joints at the ends of the forearms). Spine is the chest joint:
it lies between the root and the neck, 248 of the 483 mm from pelvis to thorax, where Human3.6M's spine lies (233
of 490 mm for S1). Thorax is the neck joint, at the base of the neck, level with the shoulders. Head (top) is the
top of the neck link's collision sphere (the head). Nose is :data:`NOSE_OFFSET` in the neck link's frame: in front
of the head's axis, below the sphere's centre, splitting thorax-to-head-top into two nearly equal parts as
Human3.6M's nose does (159 and 161 mm here, 121 and 115 mm for S1: the humanoid's head sphere is large).

World convention (as the embedded data): z up, metres, floor at z = 0 (the clips' own floor, y = 0: the soles
touch it to within a few centimetres; a knee or wrist of the floor clips dips up to 6 cm below it); humanoid
(x, y, z) -> world (x, -z, y), a rotation, so the humanoid's left (-z) is world +y when it faces +x. The humanoid
is scaled from DeepMimic's 1.62 m to :data:`STATURE_M` = 1.70 m (x1.05; stature: sole of the foot box to the top
of the head, standing in the rest pose). Clips are resampled to 50 Hz by interpolating the clip's channels as
pybullet's reader does (linear root position and revolute angles, slerp of quaternions) before the kinematics,
so bone lengths stay exact. Each clip's root path is shifted so that the middle of its horizontal range is the
centre of the capture volume (:data:`hgnlib.synthetic.motions.VOLUME_CENTRE`).

Cameras (:func:`unseen_cameras`): Human3.6M's lenses on placements it does not have (:data:`CAMERA_GROUPS`: near the
floor looking up, high looking steeply down, far, near; plus ``level``, its own height and distance, as a control),
at azimuths between and beyond its four cameras. :func:`build_mocap_test_set` turns clips and cameras into a Table 7
style test set, the camera groups playing the part of the scenes.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .. import skeleton
from ..cameras import Camera, load_h36m_cameras
from ..errors import DataError, HGNError, MissingFileError
from .motions import FPS, VOLUME_CENTRE
from ..data.mpi_inf_3dhp import ScenePiece, SceneTestSet
from .synth import detector_like

#: The 15 clips, by the ``<name>`` of ``humanoid3d_<name>.txt``.
CLIP_NAMES: tuple[str, ...] = (
    "walk", "run", "jump", "kick", "punch", "spin", "spinkick", "dance_a", "dance_b", "cartwheel", "backflip",
    "crawl", "roll", "getup_faceup", "getup_facedown",
)
#: The joints of a clip frame after duration, root position and root orientation: (URDF joint, numbers per frame).
CLIP_LAYOUT: tuple[tuple[str, int], ...] = (
    ("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4),
    ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)
FRAME_SIZE = 1 + 3 + 4 + sum(n for _, n in CLIP_LAYOUT)
_WIDTH = {"spherical": 4, "revolute": 1}

#: URDF units per clip metre (DeepMimic loads the URDF with ``globalScaling=0.25``).
URDF_UNITS_PER_CLIP_METRE = 4.0
#: Stature (m) the humanoid is scaled to.
STATURE_M = 1.70
#: The link whose frame each Human3.6M joint is fixed in (at the link's origin unless an offset is given).
JOINT_LINKS: dict[str, str] = {
    "Pelvis": "root", "RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle", "LHip": "left_hip",
    "LKnee": "left_knee", "LAnkle": "left_ankle", "Spine": "chest", "Thorax": "neck", "Nose": "neck",
    "Head": "neck", "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
    "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
}
#: The nose in the neck link's frame (URDF units): 0.25 forward, 0.55 up (the head sphere's centre is 0.70 up).
NOSE_OFFSET = np.array([0.25, 0.55, 0.0])
#: Humanoid (y up, x forward, z right) -> world (z up): a rotation of +90 degrees about x.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def pybullet_data_dir() -> Path:
    """The data folder of the installed ``pybullet`` package (``pybullet_data.getDataPath()``)."""
    try:
        import pybullet_data
    except ImportError:
        raise MissingFileError(None, "the DeepMimic motion clips need the `pybullet` package, which is not installed",
                               "`pip install pybullet` (it ships data/motions/humanoid3d_*.txt and "
                               "humanoid/humanoid.urdf)") from None
    return Path(pybullet_data.getDataPath())


def clip_path(name: str) -> Path:
    """The file of clip ``name`` (one of :data:`CLIP_NAMES`)."""
    if name not in CLIP_NAMES:
        raise HGNError(f"unknown DeepMimic clip {name!r}; choose among {list(CLIP_NAMES)}")
    return pybullet_data_dir() / "data" / "motions" / f"humanoid3d_{name}.txt"


# ------------------------------------------------------------------------------------------------------ humanoid


@dataclass(frozen=True)
class UrdfJoint:
    """One joint of the URDF: the child link's frame is the parent's, moved by ``origin`` and rotated by the joint."""

    name: str
    kind: str  # fixed, spherical or revolute
    parent: str
    child: str
    origin: np.ndarray  # (3,) URDF units, parent link axes
    axis: np.ndarray  # (3,) rotation axis of a revolute joint (zeros for the others)


@dataclass(frozen=True)
class Humanoid:
    """The DeepMimic humanoid: its joints (parents first), the base link, and the points the 17 joints sit at."""

    joints: tuple[UrdfJoint, ...]
    base: str
    head_top: np.ndarray  # (3,) neck link frame, URDF units: top of the head sphere
    sole: np.ndarray  # (3,) ankle link frame, URDF units: centre of the foot box's bottom face

    def offsets(self) -> np.ndarray:
        """(17, 3) position of each Human3.6M joint in its link's frame (:data:`JOINT_LINKS`), URDF units."""
        out = np.zeros((skeleton.NUM_JOINTS, 3))
        out[skeleton.H36M17_NAMES.index("Nose")] = NOSE_OFFSET
        out[skeleton.H36M17_NAMES.index("Head")] = self.head_top
        return out

    def stature_units(self) -> float:
        """Height of the head top above the soles in the rest pose (URDF units)."""
        frames = link_frames(rest_clip(), self)
        top = frames["neck"][0][0] + frames["neck"][1][0] @ self.head_top
        sole = frames["right_ankle"][0][0] + frames["right_ankle"][1][0] @ self.sole
        return float(top[1] - sole[1])

    def metres_per_unit(self) -> float:
        """Scale from URDF units to world metres that gives the humanoid :data:`STATURE_M`."""
        return STATURE_M / self.stature_units()


def _vector(path: Path, element: ET.Element | None, attribute: str, where: str) -> np.ndarray:
    """A 3-vector attribute of a URDF element."""
    try:
        return np.array([float(v) for v in element.get(attribute).split()], dtype=np.float64).reshape(3)
    except (AttributeError, ValueError):
        raise DataError(path, f"{where}: no valid '{attribute}' 3-vector",
                        "use the humanoid.urdf shipped by pybullet") from None


def _collision(path: Path, root: ET.Element, link: str, shape: str) -> tuple[np.ndarray, ET.Element]:
    """Origin and geometry element of ``link``'s collision ``shape`` (sphere or box)."""
    geometry = root.find(f"link[@name='{link}']/collision/geometry/{shape}")
    origin = root.find(f"link[@name='{link}']/collision/origin")
    if geometry is None or origin is None:
        raise DataError(path, f"link {link!r} has no collision {shape}", "use the humanoid.urdf shipped by pybullet")
    return _vector(path, origin, "xyz", f"link {link!r} collision origin"), geometry


def load_humanoid(path: str | Path | None = None) -> Humanoid:
    """Parse the DeepMimic humanoid URDF (default: pybullet's ``humanoid/humanoid.urdf``)."""
    path = Path(path) if path is not None else pybullet_data_dir() / "humanoid" / "humanoid.urdf"
    if not path.exists():
        raise MissingFileError(path, "DeepMimic humanoid not found", "reinstall pybullet (`pip install pybullet`)")
    try:  # pybullet's file ends with a NUL byte, which XML forbids
        root = ET.fromstring(path.read_bytes().rstrip(b"\x00\r\n\t "))
    except ET.ParseError as exc:
        raise DataError(path, f"not valid XML ({exc})", "reinstall pybullet (`pip install pybullet`)") from None
    joints, known = [], set()
    children = {j.find("child").get("link") for j in root.iter("joint")}
    bases = [link.get("name") for link in root.iter("link") if link.get("name") not in children]
    if len(bases) != 1:
        raise DataError(path, f"{len(bases)} root links {bases}", "expected one tree of links")
    known.add(bases[0])
    for element in root.iter("joint"):
        name, kind = element.get("name"), element.get("type")
        parent, child = element.find("parent").get("link"), element.find("child").get("link")
        origin = element.find("origin")
        if kind not in ("fixed", "spherical", "revolute") or parent not in known:
            raise DataError(path, f"joint {name!r}: type {kind!r}, parent {parent!r}",
                            "expected fixed, spherical or revolute joints listed after their parent link's joint")
        if np.any(_vector(path, origin, "rpy", f"joint {name!r} origin") != 0):
            raise DataError(path, f"joint {name!r} has a rotated origin", "expected rpy = 0 at every joint")
        axis = _vector(path, element.find("axis"), "xyz", f"joint {name!r} axis") if kind == "revolute" else np.zeros(3)
        joints.append(UrdfJoint(name, kind, parent, child, _vector(path, origin, "xyz", f"joint {name!r}"), axis))
        known.add(child)
    kinds = {j.name: j.kind for j in joints}
    for name, width in CLIP_LAYOUT:
        if _WIDTH.get(kinds.get(name)) != width:
            raise DataError(path, f"joint {name!r} is {kinds.get(name)!r}, the clips give it {width} number(s)",
                            "use the humanoid.urdf that ships with the clips (pybullet)")
    sphere_centre, sphere = _collision(path, root, "neck", "sphere")
    box_centre, box = _collision(path, root, "right_ankle", "box")
    try:
        head_top = sphere_centre + np.array([0.0, float(sphere.get("radius")), 0.0])
        sole = box_centre - np.array([0.0, float(box.get("size").split()[1]) / 2, 0.0])
    except (AttributeError, IndexError, ValueError):
        raise DataError(path, "head sphere or foot box without a valid size",
                        "use the humanoid.urdf shipped by pybullet") from None
    return Humanoid(tuple(joints), bases[0], head_top, sole)


# ----------------------------------------------------------------------------------------------------------- clips


@dataclass
class Clip:
    """Key frames of a clip: times (K,) s, root position (K, 3) clip metres, root orientation (K, 4) w, x, y, z, and
    per joint of :data:`CLIP_LAYOUT` its (K, 4) quaternions or (K, 1) angles; all in the humanoid's y-up frame."""

    times: np.ndarray
    root_position: np.ndarray
    root_rotation: np.ndarray
    joints: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.times)


def rest_clip() -> Clip:
    """One frame of the rest pose (standing, arms down), root at the origin."""
    return Clip(np.zeros(1), np.zeros((1, 3)), np.array([[1.0, 0, 0, 0]]),
                {name: np.array([[1.0, 0, 0, 0]]) if n == 4 else np.zeros((1, 1)) for name, n in CLIP_LAYOUT})


def read_clip(path: str | Path) -> Clip:
    """Read a DeepMimic clip file (layout in the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "DeepMimic clip not found", "reinstall pybullet (`pip install pybullet`)")
    layout = f"a JSON object whose 'Frames' lists frames of {FRAME_SIZE} numbers (duration, root position, " \
             f"root quaternion w,x,y,z, then {', '.join(f'{j} ({n})' for j, n in CLIP_LAYOUT)})"
    try:
        frames = json.loads(path.read_text())["Frames"]
        array = np.array(frames, dtype=np.float64)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(path, f"not a DeepMimic clip ({exc!r})", f"expected {layout}") from None
    if array.ndim != 2 or array.shape[1] != FRAME_SIZE or len(array) < 2:
        raise DataError(path, f"frames of shape {array.shape}", f"expected at least 2 frames; {layout}")
    if not np.isfinite(array).all():
        raise DataError(path, "non-finite numbers in the frames", f"expected {layout}")
    if (array[:-1, 0] <= 0).any():
        bad = int(np.flatnonzero(array[:-1, 0] <= 0)[0])
        raise DataError(path, f"frame {bad} has duration {array[bad, 0]}",
                        "expected positive durations (the last may be 0)")
    joints, column = {}, 8
    for name, n in CLIP_LAYOUT:
        joints[name] = array[:, column:column + n]
        column += n
    return Clip(np.concatenate([[0.0], np.cumsum(array[:-1, 0])]), array[:, 1:4], array[:, 4:8], joints)


def _slerp(q0: np.ndarray, q1: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Shortest-path spherical interpolation of unit quaternions (T, 4) at fractions f (T,)."""
    q0 = q0 / np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    angle = np.arccos(np.clip(np.abs(dot), 0.0, 1.0))
    small = angle < 1e-6
    sin = np.where(small, 1.0, np.sin(angle))
    w0 = np.where(small, 1 - f, np.sin((1 - f) * angle) / sin)
    w1 = np.where(small, f, np.sin(f * angle) / sin)
    q = w0[:, None] * q0 + w1[:, None] * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def resample(clip: Clip, fps: float = FPS) -> Clip:
    """The clip at ``fps`` from t = 0 to its last key frame: positions and angles linear, quaternions slerped."""
    times = np.arange(int(np.floor(clip.times[-1] * fps + 1e-6)) + 1) / fps
    k = np.clip(np.searchsorted(clip.times, times, side="right") - 1, 0, len(clip) - 2)
    f = np.clip((times - clip.times[k]) / (clip.times[k + 1] - clip.times[k]), 0.0, 1.0)

    def interpolate(x: np.ndarray) -> np.ndarray:
        if x.shape[1] == 4:
            return _slerp(x[k], x[k + 1], f)
        return x[k] + f[:, None] * (x[k + 1] - x[k])

    return Clip(times, interpolate(clip.root_position), interpolate(clip.root_rotation),
                {name: interpolate(x) for name, x in clip.joints.items()})


def _quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) of quaternions (T, 4) w, x, y, z (normalised here)."""
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def _axis_angle_matrices(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) of angles (T,) about one unit axis (3,)."""
    half = angle / 2
    return _quaternion_matrices(np.concatenate([np.cos(half)[:, None], np.sin(half)[:, None] * axis], axis=1))


def link_frames(clip: Clip, humanoid: Humanoid) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Forward kinematics: link -> (origin positions (T, 3), rotations (T, 3, 3)), humanoid frame, URDF units."""
    T = len(clip)
    frames = {humanoid.base: (clip.root_position * URDF_UNITS_PER_CLIP_METRE, _quaternion_matrices(clip.root_rotation))}
    for joint in humanoid.joints:
        position, rotation = frames[joint.parent]
        if joint.kind == "fixed":
            local = np.broadcast_to(np.eye(3), (T, 3, 3))
        elif joint.kind == "spherical":
            local = _quaternion_matrices(clip.joints[joint.name])
        else:
            local = _axis_angle_matrices(joint.axis / np.linalg.norm(joint.axis), clip.joints[joint.name][:, 0])
        frames[joint.child] = (position + rotation @ joint.origin, rotation @ local)
    return frames


def h36m17_world(clip: Clip, humanoid: Humanoid) -> np.ndarray:
    """The 17 Human3.6M joints (T, 17, 3) of a clip in world metres (z up, floor at 0, humanoid scaled to 1.70 m)."""
    frames = link_frames(clip, humanoid)
    points = np.stack([frames[JOINT_LINKS[name]][0] + frames[JOINT_LINKS[name]][1] @ offset
                       for name, offset in zip(skeleton.H36M17_NAMES, humanoid.offsets())], axis=1)
    return points @ Y_UP_TO_Z_UP.T * humanoid.metres_per_unit()


def centre_in_volume(world: np.ndarray) -> np.ndarray:
    """Shift joints (T, 17, 3) horizontally so that the middle of the pelvis' range is the volume's centre."""
    pelvis = world[:, skeleton.PELVIS, :2]
    shift = VOLUME_CENTRE - (pelvis.min(0) + pelvis.max(0)) / 2
    return world + np.array([shift[0], shift[1], 0.0])


def load_mocap_clips(names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Clip name -> (T, 17, 3) world joints in metres at 50 Hz, centred in the capture volume (default: all 15)."""
    humanoid = load_humanoid()
    return {name: centre_in_volume(h36m17_world(resample(read_clip(clip_path(name))), humanoid))
            for name in (CLIP_NAMES if names is None else names)}


# --------------------------------------------------------------------------------------------------------- cameras


@dataclass(frozen=True)
class CameraGroup:
    """A family of placements: camera height and horizontal distance from the volume's centre, height looked at (m)."""

    height: float
    distance: float
    target_height: float


#: Camera groups. Human3.6M's cameras stand 1.5-1.6 m high, 4.4-5.8 m from the centre, 10-16 degrees downward.
#: ``level`` keeps that height and distance (a control: only the azimuths are new); the others are unlike it.
CAMERA_GROUPS: dict[str, CameraGroup] = {
    "level": CameraGroup(height=1.6, distance=5.0, target_height=0.9),
    "low": CameraGroup(height=0.25, distance=4.0, target_height=1.0),  # near the floor, looking up
    "high": CameraGroup(height=5.0, distance=2.5, target_height=0.6),  # overhead-ish, about 60 degrees down
    "far": CameraGroup(height=1.8, distance=9.0, target_height=0.9),
    "near": CameraGroup(height=1.1, distance=2.4, target_height=0.9),
}
#: Azimuths (degrees, of the camera around the volume's centre); Human3.6M's cameras sit near +-70 and +-110.
AZIMUTHS_DEG: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
IN_VIEW_MARGIN_PX = 10.0
MIN_DEPTH_M = 0.3
_BACK_STEP = 1.05
_MAX_STEPS = 60


def look_at(id: str, centre: np.ndarray, target: np.ndarray, intrinsics: Camera) -> Camera:
    """A camera at ``centre`` (world m) looking at ``target``, image up along world +z, with ``intrinsics``' lens."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return Camera(id=id, R=np.stack([right, down, forward], axis=1), center=np.asarray(centre, dtype=np.float64),
                  focal=intrinsics.focal, principal=intrinsics.principal, radial=intrinsics.radial,
                  tangential=intrinsics.tangential, width=intrinsics.width, height=intrinsics.height)


def in_view(camera: Camera, world: np.ndarray, margin: float = IN_VIEW_MARGIN_PX) -> bool:
    """Whether every joint (..., 3) is at least ``margin`` px inside the image, with and without lens distortion,
    and at least :data:`MIN_DEPTH_M` in front of the camera (the distortion polynomial is only trusted in the image)."""
    points = camera.world_to_camera(world)
    if (points[..., 2] < MIN_DEPTH_M).any():
        return False
    size = np.array([camera.width, camera.height])
    return all(((uv >= margin) & (uv <= size - margin)).all()
               for uv in (camera.project(points), camera.project(points, distort=False)))


def unseen_cameras(world: np.ndarray | Sequence[np.ndarray] | None = None, groups: Iterable[str] | None = None,
                   camera_file: str | Path | None = None) -> list[Camera]:
    """One camera per (group of :data:`CAMERA_GROUPS`, azimuth of :data:`AZIMUTHS_DEG`), ids ``<group>-<azimuth>``.

    Each looks at the volume's centre at its group's target height, with the intrinsics (focal length, principal
    point, distortion, image size) of the Human3.6M camera of the same index as its azimuth. Given ``world`` (one
    (T, 17, 3) array or several), each camera is moved back horizontally in 5% steps until every joint of every
    frame is in view (:func:`in_view`).
    """
    sequences = [] if world is None else [world] if isinstance(world, np.ndarray) else list(world)
    lenses = next(iter(load_h36m_cameras(camera_file).values()))
    cameras = []
    for group in (CAMERA_GROUPS if groups is None else groups):
        if group not in CAMERA_GROUPS:
            raise HGNError(f"unknown camera group {group!r}; choose among {list(CAMERA_GROUPS)}")
        g = CAMERA_GROUPS[group]
        target = np.array([*VOLUME_CENTRE, g.target_height])
        for k, azimuth in enumerate(AZIMUTHS_DEG):
            direction = np.array([np.cos(np.radians(azimuth)), np.sin(np.radians(azimuth))])
            lens = lenses[k % len(lenses)]
            for step in range(_MAX_STEPS):
                centre = np.array([*(VOLUME_CENTRE + g.distance * _BACK_STEP**step * direction), g.height])
                camera = look_at(f"{group}-{azimuth:03.0f}", centre, target, lens)
                if all(in_view(camera, w) for w in sequences):
                    break
            else:
                raise HGNError(f"camera {camera.id}: the poses do not fit in the image even "
                               f"{g.distance * _BACK_STEP**step:.1f} m away; centre them in the volume first")
            cameras.append(camera)
    return cameras


# -------------------------------------------------------------------------------------------------------- test set

TWO_D_SOURCES: tuple[str, ...] = ("gt", "synthdet")
PERFORMER = "DeepMimic"


def build_mocap_test_set(names: Iterable[str] | None = None, groups: Iterable[str] | None = None, stride: int = 1,
                         source: str = "gt", seed: int = 0) -> SceneTestSet:
    """The DeepMimic clips seen by :func:`unseen_cameras` (placed per clip), as a Table 7 style test set.

    Scenes are the camera groups; ``data.sequence`` indexes the clips (``data.sequences``: (``"DeepMimic"``, clip)),
    ``data.camera`` indexes ``camera_names`` (group-azimuth, the same for every clip; each clip's cameras are moved
    back as far as it needs). ``source``: ``gt`` exact projections (with distortion), ``synthdet`` the embedded
    data's detector-like noise (:func:`hgnlib.synthetic.synth.detector_like`, seeded by ``seed``, clip and camera) on
    them. Every ``stride``-th frame (50 Hz) is kept.
    """
    if source not in TWO_D_SOURCES:
        raise HGNError(f"unknown 2D source {source!r} for the mocap test set; choose one of {list(TWO_D_SOURCES)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    clips = load_mocap_clips(names)
    scenes = list(CAMERA_GROUPS if groups is None else groups)
    nominal = unseen_cameras(groups=scenes)
    pieces = []
    for s, (name, world) in enumerate(clips.items()):
        frames = np.arange(0, len(world), stride)
        for c, camera in enumerate(unseen_cameras(world, scenes)):
            joints = camera.world_to_camera(world)
            uv = camera.project(joints)
            if source == "synthdet":
                uv = detector_like(uv, camera, world, np.random.default_rng([seed, s, c]))
            pieces.append(ScenePiece(uv=uv[frames], joints=joints[frames], width=camera.width, height=camera.height,
                                     frames=frames, subject=0, sequence=s, camera=c,
                                     scene=scenes.index(camera.id.split("-")[0])))
    return SceneTestSet.from_pieces(pieces, subjects=[PERFORMER], sequences=[(PERFORMER, n) for n in clips],
                                    scenes=scenes, camera_names=[c.id for c in nominal])
