"""The SMPL body model behind the :class:`BodyModel` interface, from a user-supplied (licensed) model file.

SMPL is not shipped: the user downloads it from https://smpl.is.tue.mpg.de (after registering) and puts
``SMPL_NEUTRAL.pkl`` (or ``SMPL_MALE.pkl`` / ``SMPL_FEMALE.pkl``, or the original
``basicmodel_*_lbs_10_207_0_v1.*.pkl`` names) into :func:`hgnlib.paths.smpl_dir`. The file is read here
(``latin1`` pickles or ``.npz``; chumpy objects in the original pickles are turned into plain arrays, so
chumpy is not needed), checked, and handed to ``smplx.SMPL``, which does the skinning.

Pose parameters are SMPL's 24 axis-angle rotations (global orientation first), shape parameters its
first (at most 10) betas. SMPL is y-up and faces +z.

The 17 Human3.6M joints come from ``J_regressor_h36m.npy`` (17 x V, the regressor distributed with
SPIN / Pose2Mesh) when it sits next to the model file or is given, else from the fallback of
:data:`FALLBACK_FROM_SMPL`: SMPL's own joints, plus two mesh vertices for the nose and the top of the head.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import DataError, MissingFileError
from ..paths import smpl_dir
from ..safeload import ChumpyStub, load_smpl_npz, load_smpl_pickle
from ..skeleton import H36M17_NAMES, NUM_JOINTS
from .base import BodyModel, BodyOutput

SMPL_URL = "https://smpl.is.tue.mpg.de"
GENDERS = ("neutral", "male", "female")
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
H36M_REGRESSOR_FILE = "J_regressor_h36m.npy"
NUM_SMPL_JOINTS = 24
NUM_POSE_BASIS = 9 * (NUM_SMPL_JOINTS - 1)
MAX_BETAS = 10

#: Vertices of the full 6890-vertex SMPL mesh: the nose tip (smplx's ``nose`` landmark) and the top of the head.
SMPL_NOSE_VERTEX = 332
SMPL_HEADTOP_VERTEX = 411
SMPL_NUM_VERTICES = 6890

#: Fallback Human3.6M joints without the H36M regressor: each is a weighted sum of SMPL joints (``j``, by
#: index: 0 pelvis, 1/2 left/right hip, 3/6 spine1/2, 4/5 knees, 7/8 ankles, 12 neck, 15 head, 16/17
#: shoulders, 18/19 elbows, 20/21 wrists) and of the two landmark vertices (``nose``, ``headtop``). The
#: H36M "Nose" sits between the head centre and the face, so it blends SMPL's head joint with the nose tip.
FALLBACK_FROM_SMPL: dict[str, dict[str, float]] = {
    "Pelvis": {"j0": 1.0}, "RHip": {"j2": 1.0}, "RKnee": {"j5": 1.0}, "RAnkle": {"j8": 1.0},
    "LHip": {"j1": 1.0}, "LKnee": {"j4": 1.0}, "LAnkle": {"j7": 1.0}, "Spine": {"j3": 0.5, "j6": 0.5},
    "Thorax": {"j12": 1.0}, "Nose": {"j15": 0.5, "nose": 0.5}, "Head": {"headtop": 1.0},
    "LShoulder": {"j16": 1.0}, "LElbow": {"j18": 1.0}, "LWrist": {"j20": 1.0},
    "RShoulder": {"j17": 1.0}, "RElbow": {"j19": 1.0}, "RWrist": {"j21": 1.0},
}
_LANDMARKS = ("nose", "headtop")

#: Front-most head vertices within this distance (metres, along +z) of the front-most one are nose candidates.
_NOSE_DEPTH_TOLERANCE = 0.01


class SMPLBody(BodyModel):
    """SMPL (24 joints, axis-angle pose, up to 10 betas) loaded from the user's model file through ``smplx``."""

    name = "smpl"
    pose_shape = (NUM_SMPL_JOINTS, 3)
    up_axis = 1

    def __init__(self, model_path: str | Path | None = None, gender: str = "neutral", device: str = "cpu",
                 h36m_regressor: str | Path | np.ndarray | None = None):
        import smplx
        from smplx.utils import Struct

        if gender not in GENDERS:
            raise ValueError(f"unknown SMPL gender {gender!r}; choose one of {GENDERS}")
        self.path = find_model_file(model_path, gender)
        data = load_model_data(self.path)
        self.faces = np.asarray(data["f"], dtype=np.int64)
        self.num_vertices = int(data["v_template"].shape[0])
        self.num_betas = min(MAX_BETAS, int(data["shapedirs"].shape[-1]))
        self.device = torch.device(device)
        landmarks = _landmark_vertices(data)
        # smplx always appends face landmarks to its joints (only the 24 skeleton joints are read here);
        # pointing them at a vertex that exists keeps smaller meshes loadable.
        selector_ids = {key: landmarks["nose"] for key in ("nose", "reye", "leye", "rear", "lear")}
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note about having only 10 betas
            self.layer = smplx.SMPL(
                str(self.path), data_struct=Struct(**data), gender=gender, num_betas=self.num_betas,
                create_betas=False, create_global_orient=False, create_body_pose=False, create_transl=False,
                vertex_ids=selector_ids, use_hands=False, use_feet_keypoints=False,
            ).to(self.device)
        self.h36m_regressor = self._load_h36m_regressor(h36m_regressor)
        from_joints, from_vertices = _fallback_matrices()
        self._from_joints = from_joints.to(self.device)
        self._from_vertices = from_vertices.to(self.device)
        self._landmark_ids = torch.tensor([landmarks[k] for k in _LANDMARKS], dtype=torch.long, device=self.device)

    def _load_h36m_regressor(self, given: str | Path | np.ndarray | None) -> torch.Tensor | None:
        """The (17, V) Human3.6M regressor: given, else ``J_regressor_h36m.npy`` beside the model, else None."""
        if given is None:
            path = self.path.parent / H36M_REGRESSOR_FILE
            if not path.is_file():
                return None
            given = path
        source: Path | None = None
        if not isinstance(given, np.ndarray):
            source = Path(given).expanduser()
            if not source.is_file():
                raise MissingFileError(source, "the Human3.6M joint regressor file does not exist",
                                       f"pass the path of {H36M_REGRESSOR_FILE} (17 x {self.num_vertices}), "
                                       f"or leave it out to use the fallback joints")
            try:
                given = np.load(source, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(source, f"cannot read the Human3.6M joint regressor: {exc}",
                                f"expected a .npy array of shape (17, {self.num_vertices})") from exc
        regressor = np.asarray(given)
        if regressor.shape != (NUM_JOINTS, self.num_vertices):
            raise DataError(source, f"the Human3.6M joint regressor has shape {regressor.shape}, expected "
                                    f"(17, {self.num_vertices}) for this {self.num_vertices}-vertex SMPL model",
                            f"use the {H36M_REGRESSOR_FILE} that matches the SMPL mesh")
        return torch.as_tensor(regressor, dtype=torch.float32, device=self.device)

    def forward(self, pose: torch.Tensor, betas: torch.Tensor, translation: torch.Tensor | None = None) -> BodyOutput:
        """Posed vertices (B, V, 3) and Human3.6M joints (B, 17, 3) for ``pose`` (B, 24, 3) and ``betas`` (B, nb)."""
        pose = pose.to(self.device, torch.float32)
        batch = pose.shape[0]
        if pose.shape[1:] != self.pose_shape:
            raise ValueError(f"SMPL pose must have shape (B, 24, 3), got {tuple(pose.shape)}")
        betas = betas.to(self.device, torch.float32)
        if betas.shape != (batch, self.num_betas):
            raise ValueError(f"SMPL betas must have shape ({batch}, {self.num_betas}), got {tuple(betas.shape)}")
        if translation is not None:
            translation = translation.to(self.device, torch.float32).reshape(batch, 3)
        out = self.layer(betas=betas, global_orient=pose[:, 0], body_pose=pose[:, 1:].reshape(batch, -1),
                         transl=translation)
        vertices = out.vertices
        if self.h36m_regressor is not None:
            joints = torch.einsum("jv,bvc->bjc", self.h36m_regressor, vertices)
        else:
            joints = (torch.einsum("kj,bjc->bkc", self._from_joints, out.joints[:, :NUM_SMPL_JOINTS])
                      + torch.einsum("kl,blc->bkc", self._from_vertices, vertices[:, self._landmark_ids]))
        return BodyOutput(vertices=vertices, joints=joints)


def _missing_model_error(where: Path, gender: str) -> MissingFileError:
    """The error for an absent SMPL file: what SMPL is, where to get it, where to put it, and the open default."""
    folder = where if where.suffix == "" else where.parent
    return MissingFileError(
        where,
        f"no SMPL model file found. SMPL is a licensed download that this project cannot ship: register on "
        f"the SMPL project website ({SMPL_URL}), download the SMPL model (version 1.0.0 or 1.1.0, Python) "
        f"and put SMPL_{gender.upper()}.pkl (or basicmodel_*_lbs_10_207_0_v1.*.pkl) into {folder}",
        "or use the 'anny' body model instead: it is the open default and needs no download",
    )


def find_model_file(model_path: str | Path | None, gender: str = "neutral") -> Path:
    """The SMPL model file: ``model_path`` itself, else the one for ``gender`` in that folder (default: smpl_dir)."""
    where = smpl_dir() if model_path is None else Path(model_path).expanduser()
    if where.is_file():
        return where
    if not where.is_dir():
        raise _missing_model_error(where, gender)
    by_name = {p.name.lower(): p for p in where.iterdir() if p.is_file()}
    for name in (f"smpl_{gender}.pkl", f"smpl_{gender}.npz"):
        if name in by_name:
            return by_name[name]
    short = {"neutral": "neutral", "male": "m", "female": "f"}[gender]
    pattern = re.compile(rf"basicmodel_({short}|{gender})_lbs_10_207_0_v[\d.]+\.(pkl|npz)")
    originals = sorted((n for n in by_name if pattern.fullmatch(n)), reverse=True)  # newest version first
    if originals:
        return by_name[originals[0]]
    raise _missing_model_error(where, gender)


def _plain(path: Path, key: str, value):
    """A model entry as a numpy array or scipy sparse matrix (chumpy arrays unwrapped)."""
    if isinstance(value, ChumpyStub):
        inner = value.state.get("x") if isinstance(value.state, dict) else None
        if inner is None:
            raise DataError(path, f"entry {key!r} is a chumpy expression, not a stored array",
                            "re-export the model with plain numpy arrays, or download it again from " + SMPL_URL)
        return _plain(path, key, inner)
    if sp.issparse(value):
        return value
    array = np.asarray(value)
    return array.item() if array.dtype == object and array.ndim == 0 else array


def load_model_data(path: Path) -> dict:
    """The arrays of an SMPL model file (``.pkl`` or ``.npz``), checked for the keys and shapes SMPL needs."""
    fix = ("download the SMPL model again from " + SMPL_URL + ", or convert the file in a trusted Python to an "
           "npz of plain arrays")
    if path.suffix.lower() == ".npz":
        raw = load_smpl_npz(path, fix)
    else:
        try:
            raw = load_smpl_pickle(path, fix)
        except DataError:
            raise
        except Exception as exc:  # a damaged or foreign file can fail in any way while unpickling
            raise DataError(path, f"cannot read the SMPL model file ({type(exc).__name__}: {exc})", fix) from None
    if not isinstance(raw, dict):
        raise DataError(path, f"not an SMPL model: the file holds a {type(raw).__name__}, expected a dict of arrays")
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise DataError(path, f"not a valid SMPL model: key {key!r} is missing (found: {sorted(raw)})",
                            "point to the SMPL model file itself, as downloaded from " + SMPL_URL)
    data = {key: _plain(path, key, raw[key]) for key in REQUIRED_KEYS}
    _check_shapes(path, data)
    return data


def _check_shapes(path: Path, data: dict) -> None:
    """Raise DataError unless the arrays have the shapes of an SMPL model."""
    num_vertices = data["v_template"].shape[0] if data["v_template"].ndim == 2 else -1
    expected = {
        "v_template": (num_vertices, 3), "J_regressor": (NUM_SMPL_JOINTS, num_vertices),
        "weights": (num_vertices, NUM_SMPL_JOINTS), "kintree_table": (2, NUM_SMPL_JOINTS),
        "posedirs": (num_vertices, 3, NUM_POSE_BASIS),
    }
    shapes = {key: tuple(data[key].shape) for key in REQUIRED_KEYS}
    problems = [f"{key} has shape {shapes[key]}, expected {shape}" for key, shape in expected.items()
                if shapes[key] != shape]
    if len(shapes["shapedirs"]) != 3 or shapes["shapedirs"][:2] != (num_vertices, 3):
        problems.append(f"shapedirs has shape {shapes['shapedirs']}, expected ({num_vertices}, 3, num_betas)")
    faces = data["f"]
    if len(shapes["f"]) != 2 or shapes["f"][1] != 3 or (faces.size and not 0 <= faces.min() <= faces.max() < num_vertices):
        problems.append(f"f has shape {shapes['f']} or indices outside 0..{num_vertices - 1}, expected (F, 3)")
    if problems:
        raise DataError(path, "not a valid SMPL model: " + "; ".join(problems),
                        "download the SMPL model again from " + SMPL_URL)


def _landmark_vertices(data: dict) -> dict[str, int]:
    """The nose-tip and head-top vertex indices.

    The full SMPL mesh uses :data:`SMPL_NOSE_VERTEX` and :data:`SMPL_HEADTOP_VERTEX`. Another mesh (a test
    model, say) picks them in the rest template: the head top is the highest vertex (largest y); the nose is,
    among the head vertices (above the neck joint) within 1 cm of the front-most one (largest z), the one
    nearest to the head joint.
    """
    template = np.asarray(data["v_template"], dtype=np.float64)
    if len(template) == SMPL_NUM_VERTICES:
        return {"nose": SMPL_NOSE_VERTEX, "headtop": SMPL_HEADTOP_VERTEX}
    regressor = data["J_regressor"]
    joints = np.asarray(regressor @ template)
    neck, head = joints[12], joints[15]
    head_region = np.flatnonzero(template[:, 1] > neck[1])
    if len(head_region) == 0:
        head_region = np.arange(len(template))
    depth = template[head_region, 2]
    front = head_region[depth >= depth.max() - _NOSE_DEPTH_TOLERANCE]
    nose = front[np.argmin(np.linalg.norm(template[front] - head, axis=1))]
    return {"nose": int(nose), "headtop": int(np.argmax(template[:, 1]))}


def _fallback_matrices() -> tuple[torch.Tensor, torch.Tensor]:
    """:data:`FALLBACK_FROM_SMPL` as weights over the 24 SMPL joints (17, 24) and over the landmarks (17, 2)."""
    from_joints = torch.zeros(NUM_JOINTS, NUM_SMPL_JOINTS)
    from_vertices = torch.zeros(NUM_JOINTS, len(_LANDMARKS))
    for row, name in enumerate(H36M17_NAMES):
        for source, weight in FALLBACK_FROM_SMPL[name].items():
            if source in _LANDMARKS:
                from_vertices[row, _LANDMARKS.index(source)] = weight
            else:
                from_joints[row, int(source[1:])] = weight
    return from_joints, from_vertices
