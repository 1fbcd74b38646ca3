"""The body model fitted to 3D joints: the paper's pseudo-ground-truth procedure (Sec. 3.3), SMPLify-style.

The paper fits SMPL to the 3D ground-truth joints with SMPLify-X; here any :class:`~hgnlib.body.base.BodyModel`
is fitted the same way. Per frame, the pose (rotation vectors of every driven bone, the root's included) and
the translation are optimised, and one shape per call (the frames of one subject share a body) unless it is
given and fixed. The objective, summed over frames:

- the squared distance (m^2) of the model's 17 joints to the targets;
- ``Priors.pose`` times the squared rotation angle (rad^2) of every non-root bone: a weak pull to the rest pose
  that also settles what the joints cannot see (the twist of a straight limb, the feet, the hands);
- ``Priors.limits`` times, for the hinge joints of anny (knees, ankles, elbows, wrists), the squared rotation off
  their hinge axis plus the squared angle beyond their anatomical limits (``DOF_LIMITS``);
- ``Priors.shape`` times the squared distance of the shape parameters from the model's default (once per frame).
  Anny's phenotype values live in [0, 1]: they are optimised as unconstrained logits through a sigmoid.

Stages: first a closed-form start from the rest pose: the root orientation (a weighted Kabsch alignment of the
torso joints) and translation, then, for anny, every limb by two-bone inverse kinematics (hinge angle, swing and
twist) and the trunk and neck by Kabsch fits. Then Levenberg-Marquardt: each frame's pose and translation (frames
are independent: a batch of small systems, Jacobians by batched forward differences), with the shared shape when
it is free (one Schur-complement system; poses alone before and after). A previous fit can seed a frame instead
(``init``, where it is closer than the closed-form start). Along a sequence, :func:`fit_frames` fits every
``key_every``-th frame from the closed-form start, then the others from their nearest key frame, in fewer steps;
:func:`fit_shape` fits a subject's shape from several starting shapes (the objective has local minima in it).

Anny bodies are fitted through :meth:`AnnyBody.forward_joints` (the joints alone, without the mesh); other
models through their full forward.
"""
from __future__ import annotations

import copy
import math
import weakref
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from .body.base import BodyModel

#: Weights of the torso joints (pelvis, hips, spine, thorax, shoulders; 17-joint order) in the root alignment.
ROOT_ALIGN_WEIGHTS: dict[int, float] = {0: 1.0, 1: 1.0, 4: 1.0, 7: 1.0, 8: 0.5, 11: 0.25, 14: 0.25}
#: Anny's hinge joints: the anatomical angle and its limits (``DOF_LIMITS``) become a prior on one bone each.
HINGE_DOFS: tuple[str, ...] = tuple(f"{d}_{s}" for s in "lr" for d in ("knee", "ankle", "elbow", "wrist"))
FD_STEP = 1e-3  # forward-difference step of the Jacobians (radians, or free shape units)
MAX_SHAPE_STEP = 0.5  # largest change of a free shape variable per iteration (a trust region)
POSE_FIRST_STEPS = 2  # when the shape is free: iterations on the poses alone before everything moves,
POLISH_STEPS = 3  # and after it, with the fitted shape fixed


@dataclass(frozen=True)
class Priors:
    """Weights of the prior terms, per frame; the joint term is in m^2, so 1e-5 weighs 1 rad^2 like 3.2 mm^2 of
    joint error. Weak on purpose: the synthetic joints are reached within about 0.1 mm, and the priors mostly settle
    what the joints cannot see."""

    pose: float = 1e-5
    limits: float = 1e-2
    shape: float = 1e-6


@dataclass(frozen=True)
class FitConfig:
    """Settings of a dataset fit (:func:`fit_frames`, :func:`fit_sequence_frames`); part of the cache keys."""

    steps: int = 8  # Levenberg-Marquardt iterations for frames fitted from the closed-form start (key frames)
    refine_steps: int = 3  # iterations for frames started from their nearest key frame
    key_every: int = 8  # one key frame per this many frames of a sequence
    shape_frames: int = 256  # frames of a subject (spread over its sequences) that estimate its shape
    shape_steps: int = 20
    screen_frames: int = 64  # frames on which each starting shape is tried (the best one is refined)
    screen_steps: int = 15
    shape_starts: int = 5  # starting shapes screened: the default, then ANNY_SHAPE_STARTS (1: the default alone)
    damping: float = 1e-3  # initial Levenberg-Marquardt damping
    priors: Priors = field(default_factory=Priors)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FitResult:
    """Fitted parameters of N frames (torch, detached, CPU) and their joint errors (metres).

    ``pose`` (N, *pose_shape), ``betas`` (1, num_betas) shared by the frames, ``translation`` (N, 3),
    ``error_mean`` / ``error_max`` (N,): mean and largest joint distance per frame, ``objective`` (N,): each
    frame's value of the minimised objective (its share of the shape prior included).
    """

    pose: torch.Tensor
    betas: torch.Tensor
    translation: torch.Tensor
    error_mean: torch.Tensor
    error_max: torch.Tensor
    objective: torch.Tensor

    PER_FRAME = ("pose", "translation", "error_mean", "error_max", "objective")

    def __len__(self) -> int:
        return self.pose.shape[0]

    def take(self, index: np.ndarray | torch.Tensor | slice) -> "FitResult":
        """The frames selected by ``index`` (same shape)."""
        index = index if isinstance(index, slice) else torch.as_tensor(index)
        return replace(self, **{name: getattr(self, name)[index] for name in self.PER_FRAME})

    @staticmethod
    def concat(results: list["FitResult"]) -> "FitResult":
        """Frames of several fits of the same body, in order (the first one's shape is kept)."""
        return replace(results[0], **{name: torch.cat([getattr(r, name) for r in results])
                                      for name in FitResult.PER_FRAME})

    def vertices(self, body: BodyModel, index: np.ndarray | slice = slice(None), batch: int = 256,
                 device: str | torch.device | None = None) -> torch.Tensor:
        """The fitted dense meshes (n, V, 3) of the selected frames, world coordinates, float32 on the CPU."""
        return torch.cat(list(self.iter_vertices(body, index, batch, device)))

    def iter_vertices(self, body: BodyModel, index: np.ndarray | slice = slice(None), batch: int = 256,
                      device: str | torch.device | None = None) -> Iterator[torch.Tensor]:
        """:meth:`vertices` in batches of ``batch`` frames (bounded memory)."""
        body = body_on(body, device)
        pose, translation = self.pose[index], self.translation[index]
        with torch.no_grad():
            for i in range(0, len(pose), batch):
                p = pose[i:i + batch].to(body.device)
                out = body(p, self.betas.to(body.device).expand(len(p), -1), translation[i:i + batch].to(body.device))
                yield out.vertices.float().cpu()

    def joints(self, body: BodyModel, device: str | torch.device | None = None) -> torch.Tensor:
        """The fitted 17 joints (N, 17, 3), world coordinates, on the CPU."""
        body = body_on(body, device)
        fn = joints_function(body)
        with torch.no_grad():
            return fn(self.pose.to(body.device), self.betas.to(body.device),
                      self.translation.to(body.device)).float().cpu()


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _canonical(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


_MOVED: "weakref.WeakKeyDictionary[BodyModel, dict[torch.device, BodyModel]]" = weakref.WeakKeyDictionary()


def body_on(body: BodyModel, device: str | torch.device | None = None) -> BodyModel:
    """``body`` on ``device`` (None: :func:`default_device`): itself if it is there, else a moved copy (cached)."""
    target = _canonical(device if device is not None else default_device())
    if _canonical(getattr(body, "device", "cpu")) == target:
        return body
    copies = _MOVED.setdefault(body, {})
    if target not in copies:
        moved = copy.copy(body)
        for name, value in vars(body).items():
            setattr(moved, name, _moved_value(value, target))
        moved.device = target
        copies[target] = moved
    return copies[target]


def _moved_value(value, device: torch.device):
    """Tensors and modules (also inside dicts, lists, tuples) copied to ``device``; other values as they are."""
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value).to(device)
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _moved_value(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_moved_value(v, device) for v in value)
    return value


def joints_function(body: BodyModel) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """(pose, betas (1 or B, nb), translation) -> joints (B, 17, 3): the model's joints-only path if it has one."""
    if hasattr(body, "forward_joints"):
        return body.forward_joints
    return lambda pose, betas, translation: body(pose, betas.expand(pose.shape[0], -1), translation).joints


class _ShapeSpace:
    """Shape parameters from unconstrained variables: a sigmoid for anny's [0, 1] phenotype, else the identity."""

    def __init__(self, body: BodyModel):
        self.bounded = body.name == "anny"

    def to_free(self, betas: torch.Tensor) -> torch.Tensor:
        return torch.logit(betas.clamp(1e-4, 1 - 1e-4)) if self.bounded else betas.clone()

    def from_free(self, free: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(free) if self.bounded else free


@dataclass
class _Hinges:
    """Hinge bones: pose slot, axis (rotation vector per radian of the anatomical angle), angle limits (rad)."""

    slot: torch.Tensor
    axis: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def residuals(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 4 H) residuals: the rotation off each hinge axis (3 each) and the angle beyond the limits (1 each)."""
        r = pose[:, self.slot]
        angle = (r * self.axis).sum(-1)
        off = r - angle[..., None] * self.axis
        excess = torch.relu(self.low - angle) + torch.relu(angle - self.high)
        return torch.cat([off.flatten(1), excess], 1)


def _hinges(body: BodyModel, device: torch.device, dtype: torch.dtype) -> _Hinges | None:
    """Anny's hinge joints, found by probing :meth:`AnnyBody.pose_from_angles` at each DOF's two limits."""
    if not hasattr(body, "pose_from_angles"):
        return None
    from .body.anny import DOF_LIMITS, DOFS

    slots, axes, lows, highs = [], [], [], []
    for dof in HINGE_DOFS:
        angles = np.zeros((2, len(DOFS)))
        angles[:, DOFS.index(dof)] = DOF_LIMITS[dof]
        ends = body.pose_from_angles(angles)
        change = np.linalg.norm(ends[1] - ends[0], axis=-1)
        slot = int(np.argmax(change))
        axis = (ends[1, slot] - ends[0, slot]) / change[slot]
        slots.append(slot)
        axes.append(axis)
        lows.append(ends[0, slot] @ axis)
        highs.append(ends[1, slot] @ axis)
    as_tensor = lambda x: torch.tensor(np.asarray(x), dtype=dtype, device=device)  # noqa: E731
    return _Hinges(torch.tensor(slots, device=device), as_tensor(axes), as_tensor(lows), as_tensor(highs))


class _Objective:
    """The fitting objective as residuals, whose squared sum is minimised (see the module docstring)."""

    def __init__(self, body: BodyModel, target: torch.Tensor, priors: Priors):
        self.forward = joints_function(body)
        self.target = target
        self.priors = priors
        self.hinges = _hinges(body, target.device, target.dtype)
        self.default = body.default_betas(1, target.dtype).to(target.device)
        self.joint_rows = target.shape[1] * 3

    def residuals(self, pose: torch.Tensor, betas: torch.Tensor, translation: torch.Tensor,
                  index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """(B, R) residuals of the frames ``index`` of the target: joints (m), pose prior, hinge prior."""
        parts = [(self.forward(pose, betas, translation) - self.target[index]).flatten(1),
                 math.sqrt(self.priors.pose) * pose[:, 1:].flatten(1)]
        if self.hinges is not None:
            parts.append(math.sqrt(self.priors.limits) * self.hinges.residuals(pose))
        return torch.cat(parts, 1)

    def shape_residuals(self, betas: torch.Tensor, frames: int) -> torch.Tensor:
        """(nb,) shape prior residuals, weighted once per frame."""
        return math.sqrt(frames * self.priors.shape) * (betas - self.default).flatten()


def _damped(normal: torch.Tensor, damping: torch.Tensor | float) -> torch.Tensor:
    """Levenberg-Marquardt system matrix A + mu (diag A + 1e-9), in double precision (batched over leading axes)."""
    a = normal.double()
    mu = torch.as_tensor(damping, dtype=torch.float64, device=a.device)
    return a + torch.diag_embed(mu[..., None] * (torch.diagonal(a, dim1=-2, dim2=-1) + 1e-9))


def _pose_jacobian(obj: _Objective, pose: torch.Tensor, translation: torch.Tensor,
                   betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals (n, R) and their Jacobian (n, P + 3, R) in each frame's pose and translation.

    The pose part is taken by forward differences, all perturbed poses of all frames in one batch; the translation
    part is exact (it shifts every joint residual by itself).
    """
    n, dims = pose.shape[0], pose[0].numel()
    shifts = torch.zeros(dims + 1, dims, dtype=pose.dtype, device=pose.device)
    shifts[1:] = FD_STEP * torch.eye(dims, dtype=pose.dtype, device=pose.device)
    probes = pose.reshape(n, 1, dims) + shifts
    index = torch.arange(n, device=pose.device).repeat_interleave(dims + 1)
    res = obj.residuals(probes.reshape(-1, *pose.shape[1:]), betas, translation[index], index)
    res = res.reshape(n, dims + 1, -1)
    r0 = res[:, 0]
    shift = torch.zeros(3, r0.shape[1], dtype=pose.dtype, device=pose.device)
    shift[:, :obj.joint_rows] = torch.eye(3, dtype=pose.dtype, device=pose.device).repeat(1, obj.joint_rows // 3)
    return r0, torch.cat([(res[:, 1:] - r0[:, None]) / FD_STEP, shift.expand(n, -1, -1)], 1)


def _apply(pose: torch.Tensor, translation: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose and translation moved by ``step`` (n, P + 3)."""
    dims = pose[0].numel()
    return pose + step[:, :dims].reshape(pose.shape).to(pose.dtype), translation + step[:, dims:].to(pose.dtype)


def _pose_step(obj: _Objective, pose: torch.Tensor, translation: torch.Tensor, betas: torch.Tensor,
               damping: torch.Tensor, cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Levenberg-Marquardt step of every frame's pose and translation, the shape fixed (frames independent).

    A frame keeps its step only if its cost falls; its damping then shrinks, else it grows. Returns the new pose,
    translation and damping; ``cost`` (n,) is updated in place.
    """
    r0, jac = _pose_jacobian(obj, pose, translation, betas)
    step = -torch.linalg.solve(_damped(jac @ jac.transpose(1, 2), damping), (jac @ r0[..., None]).double())[..., 0]
    new_pose, new_translation = _apply(pose, translation, step)
    new_cost = (obj.residuals(new_pose, betas, new_translation) ** 2).sum(1)
    better = new_cost < cost
    cost.copy_(torch.where(better, new_cost, cost))
    return (torch.where(better[:, None, None], new_pose, pose), torch.where(better[:, None], new_translation,
                                                                             translation),
            torch.where(better, damping / 3, damping * 2))


def _joint_step(obj: _Objective, pose: torch.Tensor, translation: torch.Tensor, free: torch.Tensor,
                space: _ShapeSpace, pose_damping: torch.Tensor, shape_damping: float,
                total: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float, float]:
    """One Levenberg-Marquardt step of all the poses and translations and the shared shape together.

    The normal equations have one block per frame plus the shape's: the shape step comes from their Schur
    complement, then each frame's step (each frame with its own damping). At the new shape, a frame keeps its new
    pose only if that beats its old pose; the whole step is kept only if the total cost falls (else only the
    shape's damping grows: the frames' choices cannot raise the cost). Returns pose, translation, free shape, the
    dampings and the total cost.
    """
    betas = space.from_free(free)
    n = pose.shape[0]
    r0, jac = _pose_jacobian(obj, pose, translation, betas)
    s0 = obj.shape_residuals(betas, n)
    jac_b, jac_s = [], []
    for k in range(free.shape[1]):
        probe = free.clone()
        probe[0, k] += FD_STEP
        shape = space.from_free(probe)
        jac_b.append((obj.residuals(pose, shape, translation) - r0) / FD_STEP)
        jac_s.append((obj.shape_residuals(shape, n) - s0) / FD_STEP)
    jb, js = torch.stack(jac_b, 1).double(), torch.stack(jac_s).double()  # (n, nb, R), (nb, nb)
    jp, r = jac.double(), r0.double()[..., None]
    coupling = jp @ jb.transpose(1, 2)  # (n, P, nb)
    x = torch.linalg.solve(_damped(jp @ jp.transpose(1, 2), pose_damping), torch.cat([jp @ r, coupling], 2))
    schur = (_damped((jb @ jb.transpose(1, 2)).sum(0) + js @ js.T, shape_damping)
             - (coupling.transpose(1, 2) @ x[..., 1:]).sum(0))
    rhs = (jb @ r).sum(0)[:, 0] + js @ s0.double() - (coupling.transpose(1, 2) @ x[..., :1]).sum(0)[:, 0]
    step_b = (-torch.linalg.solve(schur, rhs)).clamp(-MAX_SHAPE_STEP, MAX_SHAPE_STEP)
    new_pose, new_translation = _apply(pose, translation, -(x[..., 0] + x[..., 1:] @ step_b))
    new_free = free + step_b.to(free.dtype)[None]
    new_betas = space.from_free(new_free)
    moved = (obj.residuals(new_pose, new_betas, new_translation) ** 2).sum(1)
    stayed = (obj.residuals(pose, new_betas, translation) ** 2).sum(1)
    better = moved < stayed
    new_total = float(torch.minimum(moved, stayed).sum() + (obj.shape_residuals(new_betas, n) ** 2).sum())
    if new_total >= total:  # each frame keeps the better of its poses, so the shape step is to blame
        return pose, translation, free, pose_damping, shape_damping * 2, total
    return (torch.where(better[:, None, None], new_pose, pose), torch.where(better[:, None], new_translation,
                                                                             translation),
            new_free, torch.where(better, pose_damping / 3, pose_damping * 2), shape_damping / 3, new_total)


def _pose_steps(obj: _Objective, pose: torch.Tensor, translation: torch.Tensor, betas: torch.Tensor, count: int,
                damping: float, bar: tqdm | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` Levenberg-Marquardt steps of the poses and translations, the shape fixed."""
    cost = (obj.residuals(pose, betas, translation) ** 2).sum(1)
    mu = torch.full_like(cost, damping)
    for _ in range(count):
        pose, translation, mu = _pose_step(obj, pose, translation, betas, mu, cost)
        if bar is not None:
            bar.update()
    return pose, translation


def _joint_steps(obj: _Objective, pose: torch.Tensor, translation: torch.Tensor, free: torch.Tensor,
                 space: _ShapeSpace, count: int, damping: float,
                 bar: tqdm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` Levenberg-Marquardt steps of the poses, translations and shared shape together."""
    total = _total_cost(obj, pose, translation, space.from_free(free))
    mu = torch.full((len(pose),), damping, dtype=pose.dtype, device=pose.device)
    for _ in range(count):
        pose, translation, free, mu, damping, total = _joint_step(obj, pose, translation, free, space, mu, damping,
                                                                  total)
        bar.update()
    return pose, translation, free


def _total_cost(obj: _Objective, pose: torch.Tensor, translation: torch.Tensor, betas: torch.Tensor) -> float:
    """The objective with the shape prior: squared residuals of every frame plus the shape's."""
    frames = (obj.residuals(pose, betas, translation) ** 2).sum()
    return float(frames + (obj.shape_residuals(betas, len(pose)) ** 2).sum())


def fit_to_joints(body: BodyModel, joints: np.ndarray | torch.Tensor, *, betas: torch.Tensor | np.ndarray | None = None,
                  steps: int = 10, damping: float = 1e-3, priors: Priors = Priors(),
                  device: str | torch.device | None = None, init: FitResult | None = None,
                  shape_start: torch.Tensor | None = None, progress: bool = False) -> FitResult:
    """Fit ``body`` to the target joints (N, 17, 3), metres, in the model's world frame (z up for anny).

    ``betas`` (num_betas,) or (1, num_betas) fixes the shape; otherwise one shape for all the frames is optimised
    with the poses, from ``shape_start``, else ``init``'s, else the model's default. Each frame starts from the
    closed-form pose, or from ``init`` (a previous fit of N frames, or of one frame used for all: a warm start)
    where that is closer. ``steps``: Levenberg-Marquardt iterations (with a free shape, of all the parameters
    together, between ``POSE_FIRST_STEPS`` on the poses alone and ``POLISH_STEPS`` with the fitted shape fixed,
    started afresh where the closed-form start at that shape is better); ``damping``: their initial damping.
    ``device`` None: CUDA when present.
    """
    body = body_on(body, device)
    dev, dtype = body.device, torch.float32
    target = torch.as_tensor(np.asarray(joints) if not isinstance(joints, torch.Tensor) else joints,
                             dtype=dtype).to(dev)
    n = target.shape[0]
    obj = _Objective(body, target, priors)
    space = _ShapeSpace(body)
    fixed_shape = betas is not None
    start_betas = (torch.as_tensor(np.asarray(betas), dtype=dtype).reshape(1, -1) if fixed_shape
                   else shape_start if shape_start is not None
                   else init.betas if init is not None else body.default_betas(1, dtype))
    free = space.to_free(start_betas.to(dev, dtype))
    with torch.no_grad():
        pose, translation = _start_pose(body, obj, space.from_free(free))
        if init is not None:  # each frame starts from the better of init and the closed-form start
            pick = torch.zeros(n, dtype=torch.long) if len(init) == 1 and n != 1 else slice(None)
            seeded, seeded_t = init.pose[pick].to(dev, dtype), init.translation[pick].to(dev, dtype)
            shape = space.from_free(free)
            better = ((obj.residuals(seeded, shape, seeded_t) ** 2).sum(1)
                      <= (obj.residuals(pose, shape, translation) ** 2).sum(1))
            pose = torch.where(better[:, None, None], seeded, pose)
            translation = torch.where(better[:, None], seeded_t, translation)
        bar = tqdm(total=steps, desc="fitting", unit="step", disable=not progress, leave=False)
        if fixed_shape:
            pose, translation = _pose_steps(obj, pose, translation, space.from_free(free), steps, damping, bar)
        elif steps > 0:
            pose, translation = _pose_steps(obj, pose, translation, space.from_free(free), POSE_FIRST_STEPS, damping)
            pose, translation, free = _joint_steps(obj, pose, translation, free, space, steps, damping, bar)
            # Frames that started far off (the start shape was wrong) may sit in a poor minimum: each frame takes
            # the better of its pose and the closed-form start at the fitted shape, then all are polished.
            shape = space.from_free(free)
            restart, restart_t = _start_pose(body, obj, shape)
            better = ((obj.residuals(restart, shape, restart_t) ** 2).sum(1)
                      < (obj.residuals(pose, shape, translation) ** 2).sum(1))
            pose = torch.where(better[:, None, None], restart, pose)
            translation = torch.where(better[:, None], restart_t, translation)
            pose, translation = _pose_steps(obj, pose, translation, shape, POLISH_STEPS, damping)
        bar.close()
        shape = space.from_free(free)
        error = (obj.forward(pose, shape, translation) - target).norm(dim=-1)
        objective = (obj.residuals(pose, shape, translation) ** 2).sum(1) + obj.shape_residuals(shape, 1).square().sum()
    return FitResult(pose=pose.cpu(), betas=shape.cpu(), translation=translation.cpu(),
                     error_mean=error.mean(1).cpu(), error_max=error.max(1).values.cpu(), objective=objective.cpu())


def _rotation_fit(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rotations (N, 3, 3) that best map the vectors ``source`` (J, 3) onto ``target`` (N, J, 3) (weighted Kabsch)."""
    w = np.ones(source.shape[-2]) if weights is None else weights
    cov = np.einsum("j,nja,jb->nab", w, target, source)
    u, _, vt = np.linalg.svd(cov)
    fix = np.ones((len(cov), 3))
    fix[:, 2] = np.sign(np.linalg.det(u @ vt))
    return (u * fix[:, None, :]) @ vt


def _centred(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Points (..., J, 3) minus their weighted centroid."""
    return points - np.einsum("j,...ja->...a", weights / weights.sum(), points)[..., None, :]


def _start_pose(body: BodyModel, obj: _Objective, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The closed-form start: pose and translation (N frames) before the optimisation.

    The root rotation is the weighted Kabsch rotation of the rest torso onto the target torso: the root's
    rotation vector turns the whole body in world axes about a fixed point (true of anny and SMPL). For anny, the
    other bones follow in closed form too (:func:`_anny_start`); other models start from their rest pose. The
    translation is then the weighted mean offset of the torso joints.
    """
    target = obj.target.double().cpu().numpy()
    dev, dtype = obj.target.device, obj.target.dtype
    torso = list(ROOT_ALIGN_WEIGHTS)
    weights = np.array(list(ROOT_ALIGN_WEIGHTS.values()))
    pose = torch.zeros(len(target), *body.pose_shape, dtype=dtype, device=dev)
    with torch.no_grad():
        rest = obj.forward(pose[:1], betas, None)[0].double().cpu().numpy()
    root = _rotation_fit(_centred(rest[torso], weights), _centred(target[:, torso], weights), weights)
    rotvecs = np.zeros((len(target), *body.pose_shape))
    rotvecs[:, 0] = Rotation.from_matrix(root).as_rotvec()
    if body.name == "anny" and obj.hinges is not None:
        _anny_start(rotvecs, root, rest, target, obj.hinges)
    pose = torch.as_tensor(rotvecs, dtype=dtype, device=dev)
    with torch.no_grad():
        posed = obj.forward(pose, betas, None)
    w = torch.as_tensor(weights / weights.sum(), dtype=dtype, device=dev)[None, :, None]
    translation = (w * (obj.target[:, torso] - posed[:, torso])).sum(1)
    return pose, translation


#: Anny's limbs for the closed-form start: upper bone, hinge bone, the joints at their rotation centres and the end.
ANNY_LIMBS: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("upperleg01.L", "lowerleg01.L", (4, 5, 6)), ("upperleg01.R", "lowerleg01.R", (1, 2, 3)),
    ("upperarm01.L", "lowerarm01.L", (11, 12, 13)), ("upperarm01.R", "lowerarm01.R", (14, 15, 16)),
)


def _anny_start(rotvecs: np.ndarray, root: np.ndarray, rest: np.ndarray, target: np.ndarray, hinges: _Hinges) -> None:
    """Anny's pose in closed form from the joints (fills ``rotvecs`` (N, 16, 3) in place; the root is set).

    A bone's world rotation is the product of the driven rotations from the root down. The upper trunk (thorax
    and shoulders about the spine joint) gives the product of the two spine bones, shared equally; the nose and
    head top about the thorax give the neck. Each limb: the hinge angle from the angle between its two segments
    (the solution within the joint's limits), then the upper bone's swing onto the upper segment and its twist
    about it onto the lower one. Hands and feet stay at rest: the 17 joints do not see them.
    """
    from .body.anny import DRIVEN_BONES

    slot = {name: i for i, name in enumerate(DRIVEN_BONES)}
    trunk = _rotation_fit(rest[[8, 11, 14]] - rest[7], target[:, [8, 11, 14]] - target[:, 7:8])
    half = Rotation.from_matrix(root.transpose(0, 2, 1) @ trunk).as_rotvec() / 2
    rotvecs[:, slot["spine05"]] = rotvecs[:, slot["spine02"]] = half
    neck = _rotation_fit(rest[[9, 10]] - rest[8], target[:, [9, 10]] - target[:, 8:9])
    rotvecs[:, slot["neck01"]] = Rotation.from_matrix(trunk.transpose(0, 2, 1) @ neck).as_rotvec()
    hinge_of = {int(s): i for i, s in enumerate(hinges.slot.tolist())}
    for upper, lower, (a, b, c) in ANNY_LIMBS:
        parent = root if upper.startswith("upperleg") else trunk
        h = hinge_of[slot[lower]]
        axis = hinges.axis[h].double().cpu().numpy()
        limits = (float(hinges.low[h]), float(hinges.high[h]))
        # Segments in the parent's frame (targets) and at rest.
        seg_u = np.einsum("nba,nb->na", parent, target[:, b] - target[:, a])
        seg_l = np.einsum("nba,nb->na", parent, target[:, c] - target[:, b])
        u0, l0 = rest[b] - rest[a], rest[c] - rest[b]
        angle = _hinge_angle(u0, l0, axis, seg_u, seg_l, limits)
        bent = Rotation.from_rotvec(angle[:, None] * axis).apply(l0)
        rotvecs[:, slot[lower]] = angle[:, None] * axis
        rotvecs[:, slot[upper]] = _swing_twist_fit(u0, bent, seg_u, seg_l).as_rotvec()


def _hinge_angle(u0: np.ndarray, l0: np.ndarray, axis: np.ndarray, seg_u: np.ndarray, seg_l: np.ndarray,
                 limits: tuple[float, float]) -> np.ndarray:
    """Hinge angles (N,) that give the rest segments ``u0``, ``l0`` the targets' angle between them.

    With l0 turned by t about the axis, u0 . l0(t) = k + alpha cos t + beta sin t: two solutions; the one nearer to
    the limits is kept (the knee bends one way). Out-of-reach targets (segment lengths differ) are clamped.
    """
    cos_target = (seg_u * seg_l).sum(-1) / (np.linalg.norm(seg_u, axis=-1) * np.linalg.norm(seg_l, axis=-1) + 1e-12)
    along = (l0 @ axis) * axis
    perp = l0 - along
    k, alpha, beta = u0 @ along, u0 @ perp, u0 @ np.cross(axis, perp)
    rho = np.hypot(alpha, beta)
    phase = np.arctan2(beta, alpha)
    spread = np.arccos(np.clip((cos_target * np.linalg.norm(u0) * np.linalg.norm(l0) - k) / rho, -1, 1))
    candidates = np.angle(np.exp(1j * (phase + np.stack([spread, -spread]))))  # wrapped to (-pi, pi]
    outside = np.maximum(limits[0] - candidates, 0) + np.maximum(candidates - limits[1], 0)
    return np.where(outside[0] <= outside[1], candidates[0], candidates[1])


def _swing_twist_fit(u0: np.ndarray, l0: np.ndarray, seg_u: np.ndarray, seg_l: np.ndarray) -> Rotation:
    """Rotations taking ``u0`` (3,) onto the direction of ``seg_u`` (N, 3) by the shortest swing, then turning about
    it to bring ``l0`` (N, 3) nearest to the direction of ``seg_l``; a straight limb keeps the twist of the swing."""
    a = u0 / np.linalg.norm(u0)
    d = seg_u / np.linalg.norm(seg_u, axis=-1, keepdims=True)
    cross = np.cross(a, d)
    sin, cos = np.linalg.norm(cross, axis=-1), d @ a
    fallback = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])  # a half-turn: any perpendicular axis
    axis = np.where(sin[:, None] > 1e-9, cross / np.maximum(sin, 1e-12)[:, None], fallback / np.linalg.norm(fallback))
    swing = Rotation.from_rotvec(axis * np.arctan2(sin, cos)[:, None])
    moved = swing.apply(l0)
    flat_m = moved - (moved * d).sum(-1, keepdims=True) * d
    flat_t = seg_l - (seg_l * d).sum(-1, keepdims=True) * d
    twist = np.arctan2((np.cross(flat_m, flat_t) * d).sum(-1), (flat_m * flat_t).sum(-1))
    return Rotation.from_rotvec(d * twist[:, None]) * swing


#: Anny's starting shapes for the shape fit besides the default: shape from joints has local minima (the
#: phenotype blends are piecewise linear), mostly across gender and age; the best start is kept.
ANNY_SHAPE_STARTS: tuple[tuple[float, ...], ...] = tuple(
    (gender, age, 0.5, 0.5, 0.5, 0.5) for gender in (0.2, 0.8) for age in (0.5, 0.8))


def fit_shape(body: BodyModel, joints: np.ndarray, config: FitConfig = FitConfig(),
              device: str | torch.device | None = None, progress: bool = False) -> torch.Tensor:
    """One shape (1, num_betas) for a subject, fitted to ``config.shape_frames`` of its frames (N, 17, 3).

    Each starting shape (the default, plus :data:`ANNY_SHAPE_STARTS` for anny; ``config.shape_starts`` of them in
    all) is fitted to ``screen_frames`` of them; the start that reaches the lowest objective is fitted to all
    ``shape_frames`` (a single start skips the screening). Frames are spread evenly over the given ones, so the
    result is deterministic.
    """
    joints = np.asarray(joints)

    def spread(count: int) -> np.ndarray:
        return np.unique(np.linspace(0, len(joints) - 1, min(len(joints), count)).round().astype(int))

    starts = [body.default_betas(1)] + [torch.tensor([s]) for s in (ANNY_SHAPE_STARTS if body.name == "anny" else ())]

    def fit(frames: np.ndarray, start: torch.Tensor, steps: int) -> FitResult:
        return fit_to_joints(body, joints[frames], shape_start=start, steps=steps, damping=config.damping,
                             priors=config.priors, device=device, progress=progress)

    starts = starts[:max(1, config.shape_starts)]
    if len(starts) == 1:
        return fit(spread(config.shape_frames), starts[0], config.shape_steps).betas
    screened = [fit(spread(config.screen_frames), start, config.screen_steps) for start in starts]
    best = min(screened, key=lambda r: float(r.objective.sum()))
    return fit(spread(config.shape_frames), best.betas, config.shape_steps).betas


def key_frames(lengths: list[int], every: int) -> np.ndarray:
    """Indices (into the concatenated sequences) of every ``every``-th frame of each sequence and of its last."""
    keys, start = [], 0
    for length in lengths:
        local = np.arange(0, length, every)
        if length and local[-1] != length - 1:
            local = np.append(local, length - 1)
        keys.append(start + local)
        start += length
    return np.concatenate(keys) if keys else np.zeros(0, dtype=int)


def fit_frames(body: BodyModel, joints: np.ndarray, betas: torch.Tensor, *, lengths: list[int] | None = None,
               config: FitConfig = FitConfig(), device: str | torch.device | None = None,
               progress: bool = False) -> FitResult:
    """Fit frames (N, 17, 3) of one body (shape ``betas``, fixed) that form consecutive sequences of ``lengths``.

    Key frames (every ``config.key_every``-th of each sequence, and its last) are fitted from the closed-form start
    in ``config.steps``; every other frame starts from its nearest key frame of the same sequence (a warm start)
    and takes ``config.refine_steps``.
    """
    joints = np.asarray(joints)
    lengths = [len(joints)] if lengths is None else list(lengths)
    if sum(lengths) != len(joints):
        raise ValueError(f"sequence lengths {lengths} do not add up to the {len(joints)} frames")
    keys = key_frames(lengths, config.key_every)
    key_fit = fit_to_joints(body, joints[keys], betas=betas, steps=config.steps, damping=config.damping,
                            priors=config.priors, device=device, progress=progress)
    others = np.setdiff1d(np.arange(len(joints)), keys)
    if len(others) == 0:
        return key_fit
    # Each sequence's first and last frames are key frames, so both neighbouring key frames are of its sequence.
    pos = np.searchsorted(keys, others)
    nearest = np.where(keys[pos] - others < others - keys[pos - 1], pos, pos - 1)
    refined = fit_to_joints(body, joints[others], betas=betas, steps=config.refine_steps, damping=config.damping,
                            priors=config.priors, device=device, init=key_fit.take(nearest), progress=progress)
    order = np.argsort(np.concatenate([keys, others]))
    return FitResult.concat([key_fit, refined]).take(order)


def fit_sequence_frames(body: BodyModel, positions: dict[str, dict[str, np.ndarray]], *, stride: int = 1,
                        config: FitConfig = FitConfig(), chunk_frames: int = 2048,
                        device: str | torch.device | None = None,
                        progress: bool = True) -> dict[str, dict[str, FitResult]]:
    """Fit every ``stride``-th frame of a dataset, subject by subject: subject -> sequence -> :class:`FitResult`.

    ``positions``: subject -> sequence -> world joints (T, 17, 3) metres (select the 17 joints of a 32-joint file
    with :func:`hgnlib.skeleton.to_17`). Each subject's shape is fitted on a sample of its frames, then fixed; its
    sequences are fitted in chunks of whole sequences of about ``chunk_frames`` frames.
    """
    total = sum(len(range(0, len(a), stride)) for seqs in positions.values() for a in seqs.values())
    out: dict[str, dict[str, FitResult]] = {}
    with tqdm(total=total, desc="fitting bodies", unit="frame", disable=not progress) as bar:
        for subject, seqs in positions.items():
            frames = {name: np.asarray(a)[::stride] for name, a in seqs.items()}
            betas = fit_shape(body, np.concatenate(list(frames.values())), config, device)
            out[subject] = {}
            for chunk in sequence_chunks(frames, chunk_frames):
                lengths = [len(frames[name]) for name in chunk]
                fit = fit_frames(body, np.concatenate([frames[name] for name in chunk]), betas, lengths=lengths,
                                 config=config, device=device)
                start = 0
                for name, length in zip(chunk, lengths):
                    out[subject][name] = fit.take(slice(start, start + length))
                    start += length
                bar.update(sum(lengths))
    return out


def sequence_chunks(frames: dict[str, np.ndarray], chunk_frames: int) -> list[list[str]]:
    """Sequence names grouped, in order, into chunks of about ``chunk_frames`` frames (whole sequences)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for name, array in frames.items():
        if chunks[-1] and size + len(array) > chunk_frames:
            chunks.append([])
            size = 0
        chunks[-1].append(name)
        size += len(array)
    return [c for c in chunks if c]
