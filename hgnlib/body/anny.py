"""The open ``anny`` body model (Apache-2.0, ships its mesh) behind the :class:`BodyModel` interface.

Pose parameters are one rotation vector per *driven* bone (``DRIVEN_BONES``), expressed as anny's
``local-ref`` deltas: world-aligned axes (x = the body's left, y = backwards, z = up) carried by the parent
bone. The other bones (fingers, toes, twist bones) stay at rest. Shape parameters are anny's six phenotype
values in [0, 1]: gender, age, muscle, weight, height, proportions.

``pose_from_angles`` turns anatomical joint angles (degrees: flexion, abduction, rotation ... see ``DOFS``)
into those rotation vectors, so that motions are written in terms a person would use.

The Human3.6M joints are bone heads of the rig (hips, knees, ankles, shoulders, elbows, wrists, thorax,
spine; the nose between the head bone and the eyes) and the top of the head on the mesh: one fixed linear regressor over bone heads and vertices.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Iterator

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..skeleton import H36M17_FROM_32
from .base import BodyModel, BodyOutput

#: Bones whose rotation the pose parameters set, in parameter order.
DRIVEN_BONES: tuple[str, ...] = (
    "root", "spine05", "spine02", "neck01",
    "upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R",
    "upperarm01.L", "lowerarm01.L", "wrist.L", "upperarm01.R", "lowerarm01.R", "wrist.R",
)

#: Anatomical degrees of freedom (degrees) that :meth:`AnnyBody.pose_from_angles` reads, in column order.
DOFS: tuple[str, ...] = (
    "root_yaw", "root_pitch", "root_roll",
    "spine_flex", "spine_bend", "spine_twist", "neck_flex", "neck_bend", "neck_twist",
    "hip_flex_l", "hip_abd_l", "hip_rot_l", "knee_l", "ankle_l",
    "hip_flex_r", "hip_abd_r", "hip_rot_r", "knee_r", "ankle_r",
    "sh_flex_l", "sh_abd_l", "sh_rot_l", "elbow_l", "wrist_l",
    "sh_flex_r", "sh_abd_r", "sh_rot_r", "elbow_r", "wrist_r",
)

#: Joint limits (degrees) of each anatomical DOF; motions are clipped to them.
DOF_LIMITS: dict[str, tuple[float, float]] = {
    "root_yaw": (-1e4, 1e4), "root_pitch": (-20, 50), "root_roll": (-20, 20),
    "spine_flex": (-25, 75), "spine_bend": (-30, 30), "spine_twist": (-40, 40),
    "neck_flex": (-40, 55), "neck_bend": (-35, 35), "neck_twist": (-70, 70),
    **{f"hip_flex_{s}": (-25, 125) for s in "lr"}, **{f"hip_abd_{s}": (-25, 50) for s in "lr"},
    **{f"hip_rot_{s}": (-35, 40) for s in "lr"}, **{f"knee_{s}": (0, 145) for s in "lr"},
    **{f"ankle_{s}": (-40, 25) for s in "lr"},
    **{f"sh_flex_{s}": (-50, 175) for s in "lr"}, **{f"sh_abd_{s}": (-10, 170) for s in "lr"},
    **{f"sh_rot_{s}": (-60, 90) for s in "lr"}, **{f"elbow_{s}": (0, 150) for s in "lr"},
    **{f"wrist_{s}": (-60, 60) for s in "lr"},
}

PHENOTYPE_LABELS: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")

#: Bones that rotate about a point shifted from their head, toward another bone's head (fraction of the way),
#: so that the joints divide the skeleton as Human3.6M's do: the spine joint a little up the mid-spine bone, the
#: shoulders toward the acromion (anny's upper-arm head sits lateral of it). The shift is a fixed offset in the reference pose; the joint is that centre.
PIVOTS: dict[str, tuple[str, float]] = {
    "spine02": ("spine01", 0.12), "upperarm01.L": ("shoulder01.L", 0.4), "upperarm01.R": ("shoulder01.R", 0.4),
}

# The trunk bends at the pelvis (spine05) and at the H36M spine joint (spine02), the head at the thorax (neck01):
# every bone of the 17-joint skeleton then lies within one rigid part of the rig, so its length never changes.
_SPINE_SHARE = {"spine05": 0.45, "spine02": 0.55}
_NECK_SHARE = {"neck01": 1.0}

# The 32 Human3.6M joints as weighted sums of bone heads ("b:<bone>") and mesh points ("v:headtop").
_H36M32_SOURCES: tuple[dict[str, float], ...] = (
    {"b:root": 1}, {"b:upperleg01.R": 1}, {"b:lowerleg01.R": 1}, {"b:foot.R": 1}, {"b:toe3-1.R": 1},
    {"b:toe3-3.R": 1},
    {"b:upperleg01.L": 1}, {"b:lowerleg01.L": 1}, {"b:foot.L": 1}, {"b:toe3-1.L": 1}, {"b:toe3-3.L": 1},
    {"b:root": 1}, {"b:spine02": 1}, {"b:neck01": 1},
    {"b:head": 0.5, "b:eye.L": 0.25, "b:eye.R": 0.25}, {"v:headtop": 1},
    {"b:neck01": 1}, {"b:upperarm01.L": 1}, {"b:lowerarm01.L": 1}, {"b:wrist.L": 1}, {"b:finger1-2.L": 1},
    {"b:finger1-3.L": 1}, {"b:finger3-1.L": 1}, {"b:finger3-3.L": 1},
    {"b:neck01": 1}, {"b:upperarm01.R": 1}, {"b:lowerarm01.R": 1}, {"b:wrist.R": 1}, {"b:finger1-2.R": 1},
    {"b:finger1-3.R": 1}, {"b:finger3-1.R": 1}, {"b:finger3-3.R": 1},
)


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Silence stdout/stderr, Python-level and at the file-descriptor level (native code prints there)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
                warnings.simplefilter("ignore")
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _load_anny():
    with quiet_native_output():
        try:  # anny imports warp when it is installed; only anny's optional warp skinning and mesh queries use it
            import warp
        except ImportError:
            warp = None
        if warp is not None:
            warp.config.log_level = warp.LOG_WARNING  # no greeting, CUDA notices or kernel-load messages
            warp.init()
        import anny

        return anny.Anny()


class AnnyBody(BodyModel):
    """The anny body model: 13,718 vertices (the body proper plus eyes and mouth parts), 104 bones."""

    name = "anny"
    up_axis = 2
    pose_shape = (len(DRIVEN_BONES), 3)
    num_betas = len(PHENOTYPE_LABELS)

    def __init__(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = _load_anny().to(device=self.device, dtype=dtype)
        self.bone_labels = list(self.model.bone_labels)
        self.faces = self.model.faces.cpu().numpy().astype(np.int64)
        self.num_vertices = int(self.model.template_vertices.shape[0])
        self.driven_index = torch.tensor([self.bone_labels.index(b) for b in DRIVEN_BONES], device=self.device)
        with torch.no_grad(), quiet_native_output():
            identity = torch.eye(4, dtype=dtype, device=self.device).repeat(1, len(self.bone_labels), 1, 1)
            rest = self.model(pose_parameters=identity, phenotype_kwargs=self.default_betas(1, dtype).to(self.device))
        rest_vertices = rest["vertices"][0].double().cpu().numpy()
        self._rest_heads = rest["bone_poses"][0, :, :3, 3].double().cpu().numpy()
        self.mesh_points = _mesh_points(rest_vertices, self.main_component())
        self.pivot_index = torch.tensor([self.bone_labels.index(b) for b in PIVOTS], device=self.device)
        self.pivot_offset = torch.tensor(np.stack([
            frac * (self._rest_heads[self.bone_labels.index(to)] - self._rest_heads[self.bone_labels.index(b)])
            for b, (to, frac) in PIVOTS.items()]), dtype=dtype, device=self.device)
        reference = self.model.reference_bone_orientations[self.pivot_index].to(dtype)
        self._pivot_local = reference.transpose(-1, -2) @ self.pivot_offset[..., None]
        self._pivot_slot = torch.tensor([list(DRIVEN_BONES).index(b) for b in PIVOTS], device=self.device)
        for b, offset in zip(PIVOTS, self.pivot_offset.double().cpu().numpy()):
            self._rest_heads[self.bone_labels.index(b)] += offset
        self._bone_w, self._vert_w = self._regressor()
        self._anatomy = _RestAnatomy(self._rest_heads, self.bone_labels)

    def default_betas(self, batch: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.full((batch, self.num_betas), 0.5, dtype=dtype)

    def _regressor(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense (32, bones) and sparse-in-practice (32, V) weights of the H36M-32 joints."""
        bone_w = torch.zeros(32, len(self.bone_labels), dtype=self.dtype)
        vert_w = torch.zeros(32, self.num_vertices, dtype=self.dtype)
        for j, sources in enumerate(_H36M32_SOURCES):
            for key, w in sources.items():
                kind, name = key.split(":")
                if kind == "b":
                    bone_w[j, self.bone_labels.index(name)] += w
                else:
                    for v, vw in self.mesh_points[name].items():
                        vert_w[j, v] += w * vw
        return bone_w.to(self.device), vert_w.to_sparse().to(self.device)

    def _bone_transforms(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) rotation vectors of the driven bones -> (B, 104, 4, 4) local-ref delta transforms."""
        batch = pose.shape[0]
        deltas = torch.eye(4, dtype=pose.dtype, device=pose.device).repeat(batch, len(self.bone_labels), 1, 1)
        rotations = rotvec_to_matrix(pose)
        deltas[:, self.driven_index, :3, :3] = rotations
        # Rotation about head + o instead of the head: translate by o - R o (local-ref deltas act in rest axes).
        o = self.pivot_offset.to(pose.dtype)
        deltas[:, self.pivot_index, :3, 3] = o - (rotations[:, self._pivot_slot] @ o[..., None])[..., 0]
        return deltas

    def forward(self, pose: torch.Tensor, betas: torch.Tensor, translation: torch.Tensor | None = None) -> BodyOutput:
        vertices, joints32 = self.forward_h36m32(pose, betas, translation)
        return BodyOutput(vertices=vertices, joints=joints32[:, list(H36M17_FROM_32)])

    def forward_h36m32(self, pose: torch.Tensor, betas: torch.Tensor,
                       translation: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed vertices (B, V, 3) and the 32 Human3.6M motion-capture joints (B, 32, 3)."""
        pose = pose.to(device=self.device, dtype=self.dtype)
        betas = betas.to(device=self.device, dtype=self.dtype)
        out = self.model(pose_parameters=self._bone_transforms(pose), phenotype_kwargs=betas)
        vertices = out["vertices"]
        poses = out["bone_poses"]
        heads = poses[..., :3, 3].clone()
        # A pivoted bone's joint is its rotation centre: head + (posed rotation) (reference rotation)^T o.
        local = self._pivot_local
        heads[:, self.pivot_index] += (poses[:, self.pivot_index, :3, :3] @ local)[..., 0]
        joints = self._bone_w @ heads + _sparse_left_matmul(self._vert_w, vertices)
        if translation is not None:
            shift = translation.to(device=self.device, dtype=self.dtype)[:, None, :]
            vertices, joints = vertices + shift, joints + shift
        return vertices, joints

    def forward_joints(self, pose: torch.Tensor, betas: torch.Tensor,
                       translation: torch.Tensor | None = None) -> torch.Tensor:
        """The 17 Human3.6M joints (B, 17, 3) alone: ``forward(...).joints`` without building the mesh, much faster.

        Every joint is a point fixed in the frame of one driven bone or of the world: a driven bone's joint is its
        rotation centre, fixed in its driven parent's frame; the nose and head top are fixed in the neck's. So the
        joints need (1) the reference pose (identity deltas) of the 38 bones that carry or move a joint, per shape,
        through anny's own kinematics: it gives each driven bone's fixed transform from its driven parent and each
        joint's point in its frame; (2) a chain of 16 rigid transforms per sample. Frames here are the bones' posed
        frames in local-ref axes, ``G = W [U^T | 0]`` (W: bone pose, U: reference orientation), in which a driven
        bone's delta acts directly: ``G_c = G_parent E_c [D_c | d_c]``. ``betas`` (1, 6), shared by the batch, is
        the fast case.
        """
        from anny.utils.kinematics import forward_kinematic, get_kinematic_chain

        path = self.__dict__.get("_joint_path")
        if path is None:  # static bookkeeping, built on the first call
            rows = list(H36M17_FROM_32)
            bone_w, vert_w = self._bone_w[rows].cpu(), self._vert_w.to_dense()[rows].cpu()
            verts = torch.nonzero(vert_w.abs().sum(0)).flatten()
            skin_w = self.model.vertex_bone_weights[verts].cpu()
            skin_i = torch.where(skin_w > 0, self.model.vertex_bone_indices[verts].cpu(), 0)
            parents = [int(q) for q in self.model.bone_parents]
            driven = [int(i) for i in self.driven_index]

            def carrier(bone: int) -> int:
                """Slot of the nearest driven bone at or above ``bone``; -1 for the world."""
                while bone >= 0 and bone not in driven:
                    bone = parents[bone]
                return driven.index(bone) if bone >= 0 else -1

            frames: dict[int, set[int]] = {j: set() for j in range(len(rows))}
            for j, b in torch.nonzero(bone_w).tolist():
                frames[j].add(carrier(parents[b]) if b in driven else carrier(b))
            for j, v in torch.nonzero(vert_w[:, verts]).tolist():
                frames[j].update(carrier(int(b)) for b in skin_i[v][skin_w[v] > 0])
            if any(len(f) != 1 for f in frames.values()):
                raise RuntimeError(f"a joint is not rigid in one bone's frame: {frames}")
            if any(carrier(parents[b]) >= c for c, b in enumerate(driven)):
                raise RuntimeError("DRIVEN_BONES must list every bone after its driven parent")
            keep: set[int] = set()
            for bone in set(torch.nonzero(bone_w)[:, 1].tolist()) | set(skin_i[skin_w > 0].tolist()) | set(driven):
                while bone >= 0 and bone not in keep:
                    keep.add(bone)
                    bone = parents[bone]
            keep_list = sorted(keep)  # the root (index 0) stays first
            position = {bone: i for i, bone in enumerate(keep_list)}
            levels, indices = get_kinematic_chain([-1] + [position[parents[b]] for b in keep_list[1:]])

            def to_keep(index: torch.Tensor) -> torch.Tensor:
                """Bone indices -> positions among the kept bones."""
                return torch.tensor([position[int(b)] for b in index.flatten()]).reshape(index.shape)

            device = self.device
            path = self.__dict__["_joint_path"] = {
                "keep": torch.tensor(keep_list, device=device), "chain": (levels, indices.to(device)),
                "bone_w": bone_w[:, keep_list].to(device), "vert_w": vert_w[:, verts].to(device),
                "verts": verts.to(device), "skin_w": (skin_w * (skin_w > 0)).to(device),
                "skin_i": to_keep(skin_i).to(device), "driven": to_keep(self.driven_index).to(device),
                "pivot": to_keep(self.pivot_index).to(device),
                "parent": [carrier(parents[b]) for b in driven],
                "frame": torch.tensor([frames[j].pop() for j in range(len(rows))], device=device) % (len(driven) + 1),
            }
        pose = pose.to(device=self.device, dtype=self.dtype)
        betas = betas.to(device=self.device, dtype=self.dtype)
        keep, shapes = path["keep"], betas.shape[0]
        zeros = lambda n: torch.zeros(shapes, n, dtype=self.dtype, device=self.device)  # noqa: E731
        coeffs = self.model._get_phenotype_blendshape_coefficients(
            betas, zeros(len(self.model.local_change_labels)), zeros(len(self.model.facial_action_labels)))
        rest = self.model.get_rest_model(coeffs)
        # (1) The reference pose of the kept bones and the joints in it.
        identity = torch.eye(4, dtype=self.dtype, device=self.device).repeat(shapes, len(keep), 1, 1)
        transforms, poses = forward_kinematic(path["chain"], rest["rest_bone_poses"][:, keep], identity,
                                              self.model.pose_parameterization,
                                              self.model.reference_bone_orientations[keep])
        heads = poses[..., :3, 3].clone()
        heads[:, path["pivot"]] += (poses[:, path["pivot"], :3, :3] @ self._pivot_local)[..., 0]
        bone_t = transforms[:, path["skin_i"]]  # (S, n, k, 4, 4): the head-top vertices' skinning transforms
        rest_verts = rest["rest_vertices"][:, path["verts"], None, :, None]
        skinned = (bone_t[..., :3, :3] @ rest_verts)[..., 0] + bone_t[..., :3, 3]
        ref_joints = path["bone_w"] @ heads + path["vert_w"] @ (path["skin_w"][None, ..., None] * skinned).sum(2)
        ref_w = poses[:, path["driven"]]
        g_rot = ref_w[..., :3, :3] @ self.model.reference_bone_orientations[keep][path["driven"]].transpose(-1, -2)
        g_t = ref_w[..., :3, 3]
        # E_c = G_parent^-1 G_c at the reference pose (the root's parent being the world), and each joint's point.
        world = torch.eye(3, dtype=self.dtype, device=self.device).expand(shapes, 1, 3, 3)
        g_rot_w = torch.cat([g_rot, world], 1)
        g_t_w = torch.cat([g_t, torch.zeros_like(g_t[:, :1])], 1)
        par = torch.tensor(path["parent"], device=self.device) % (len(self.driven_index) + 1)
        e_rot = g_rot_w[:, par].transpose(-1, -2) @ g_rot
        e_t = (g_rot_w[:, par].transpose(-1, -2) @ (g_t - g_t_w[:, par])[..., None])[..., 0]
        f = path["frame"]
        points = (g_rot_w[:, f].transpose(-1, -2) @ (ref_joints - g_t_w[:, f])[..., None])[..., 0]
        # (2) The posed chain: G_c = G_parent E_c [D_c | o_c - D_c o_c] (o: the pivot offset, 0 for most bones).
        rot = rotvec_to_matrix(pose)
        shift = torch.zeros_like(pose)
        o = self.pivot_offset
        shift[:, self._pivot_slot] = o - (rot[:, self._pivot_slot] @ o[..., None])[..., 0]
        batch = pose.shape[0]
        out_rot = [torch.eye(3, dtype=self.dtype, device=self.device).expand(batch, 3, 3)] * (len(self.driven_index) + 1)
        out_t = [torch.zeros(batch, 3, dtype=self.dtype, device=self.device)] * (len(self.driven_index) + 1)
        for c, p in enumerate(path["parent"]):  # parents come before children in DRIVEN_BONES
            a_rot = out_rot[p] @ e_rot[:, c]
            a_t = (out_rot[p] @ e_t[:, c, :, None])[..., 0] + out_t[p]
            out_rot[c] = a_rot @ rot[:, c]
            out_t[c] = (a_rot @ shift[:, c, :, None])[..., 0] + a_t
        joint_rot, joint_t = torch.stack(out_rot, 1)[:, f], torch.stack(out_t, 1)[:, f]
        joints = (joint_rot @ points[..., None])[..., 0] + joint_t
        if translation is not None:
            joints = joints + translation.to(device=self.device, dtype=self.dtype)[:, None, :]
        return joints

    def pose_from_angles(self, angles: np.ndarray) -> np.ndarray:
        """Anatomical angles (T, len(DOFS)) in degrees -> pose parameters (T, K, 3) rotation vectors."""
        return self._anatomy.rotvecs(np.asarray(angles, dtype=np.float64))


def rotvec_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, batched over leading dimensions, differentiable (also at zero)."""
    angle2 = (rotvec**2).sum(-1, keepdim=True)
    angle = torch.sqrt(angle2 + 1e-12)
    small = angle2 < 1e-8
    # sin(a)/a and (1 - cos a)/a^2 with their Taylor series near zero.
    a = torch.where(small, 1 - angle2 / 6, torch.sin(angle) / angle)
    b = torch.where(small, 0.5 - angle2 / 24, (1 - torch.cos(angle)) / angle2.clamp_min(1e-12))
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(K)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


def _sparse_left_matmul(weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(J, V) sparse times (B, V, 3) -> (B, J, 3)."""
    b, v, d = x.shape
    flat = x.permute(1, 0, 2).reshape(v, b * d)
    return torch.sparse.mm(weights, flat).reshape(-1, b, d).permute(1, 0, 2)


def _mesh_points(vertices: np.ndarray, body: np.ndarray) -> dict[str, dict[int, float]]:
    """Vertex weights of the head top: the mean of the five highest vertices of the body at rest."""
    top = body[np.argsort(-vertices[body, 2])[:5]]
    return {"headtop": {int(i): 1 / len(top) for i in top}}


class _RestAnatomy:
    """Converts anatomical joint angles into local-ref rotation vectors, using the rest skeleton's geometry."""

    def __init__(self, heads: np.ndarray, labels: list[str]):
        self.col = {name: i for i, name in enumerate(DOFS)}
        h = {name: heads[i] for i, name in enumerate(labels)}
        unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
        self.rest_dir, self.hinge, self.rest_bend = {}, {}, {}
        for s, S in (("l", "L"), ("r", "R")):
            upper = unit(h[f"lowerarm01.{S}"] - h[f"upperarm01.{S}"])
            fore = unit(h[f"wrist.{S}"] - h[f"lowerarm01.{S}"])
            self.rest_dir[f"arm_{s}"] = upper
            self.hinge[f"elbow_{s}"] = unit(np.cross(upper, fore))
            self.rest_bend[f"elbow_{s}"] = np.degrees(np.arccos(np.clip(upper @ fore, -1, 1)))
            thigh = unit(h[f"lowerleg01.{S}"] - h[f"upperleg01.{S}"])
            shank = unit(h[f"foot.{S}"] - h[f"lowerleg01.{S}"])
            self.rest_dir[f"leg_{s}"] = thigh
            self.rest_bend[f"knee_{s}"] = np.degrees(np.arctan2(shank[1], -shank[2]) - np.arctan2(thigh[1], -thigh[2]))

    def _a(self, angles: np.ndarray, name: str) -> np.ndarray:
        return np.radians(angles[:, self.col[name]])

    def rotvecs(self, angles: np.ndarray) -> np.ndarray:
        a = lambda name: self._a(angles, name)  # noqa: E731
        out = {}
        out["root"] = _euler_zxy(a("root_yaw"), a("root_pitch"), a("root_roll"))
        for bone, share in _SPINE_SHARE.items():
            out[bone] = _euler_zxy(share * a("spine_twist"), share * a("spine_flex"), share * a("spine_bend"))
        for bone, share in _NECK_SHARE.items():
            out[bone] = _euler_zxy(share * a("neck_twist"), share * a("neck_flex"), share * a("neck_bend"))
        for s, S, side in (("l", "L", 1.0), ("r", "R", -1.0)):
            # Thigh: swing from the rest direction to the target direction, then rotation about the thigh.
            out[f"upperleg01.{S}"] = _swing_twist(self.rest_dir[f"leg_{s}"], a(f"hip_flex_{s}"),
                                                   a(f"hip_abd_{s}"), -side * a(f"hip_rot_{s}"), side)
            knee = a(f"knee_{s}") - np.radians(self.rest_bend[f"knee_{s}"])
            out[f"lowerleg01.{S}"] = Rotation.from_rotvec(np.outer(knee, [1.0, 0, 0]))
            out[f"foot.{S}"] = Rotation.from_rotvec(np.outer(-a(f"ankle_{s}"), [1.0, 0, 0]))
            out[f"upperarm01.{S}"] = _swing_twist(self.rest_dir[f"arm_{s}"], a(f"sh_flex_{s}"), a(f"sh_abd_{s}"),
                                                  side * a(f"sh_rot_{s}"), side)
            elbow = a(f"elbow_{s}") - np.radians(self.rest_bend[f"elbow_{s}"])
            out[f"lowerarm01.{S}"] = Rotation.from_rotvec(np.outer(elbow, self.hinge[f"elbow_{s}"]))
            out[f"wrist.{S}"] = Rotation.from_rotvec(np.outer(a(f"wrist_{s}"), self.hinge[f"elbow_{s}"]))
        return np.stack([out[b].as_rotvec() for b in DRIVEN_BONES], axis=1)


def _euler_zxy(z: np.ndarray, x: np.ndarray, y: np.ndarray) -> Rotation:
    """Rotation about z (twist/yaw), then x (flexion/pitch), then y (lateral bend/roll), in the parent's axes."""
    return Rotation.from_euler("ZXY", np.stack([z, x, y], axis=1))


def _swing_twist(rest_dir: np.ndarray, flex: np.ndarray, abd: np.ndarray, twist: np.ndarray,
                 side: float) -> Rotation:
    """Limb rotation: point the limb (flexed forward, abducted outward from hanging down), then twist about it."""
    down = np.array([0.0, 0.0, -1.0])
    target = Rotation.from_euler("XY", np.stack([-flex, -side * abd], axis=1)).apply(down)
    cross = np.cross(rest_dir, target)
    sin = np.linalg.norm(cross, axis=1, keepdims=True)
    cos = target @ rest_dir
    swing = Rotation.from_rotvec(cross / np.maximum(sin, 1e-9) * np.arctan2(sin, cos[:, None]))
    return Rotation.from_rotvec(target * twist[:, None]) * swing
