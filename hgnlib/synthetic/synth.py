"""The embedded dataset: synthetic motions of seven anny bodies, written in exactly the Human3.6M file formats.

Subjects S1 S5 S6 S7 S8 (train) and S9 S11 (test) are distinct bodies; each performs the 15 actions twice
("<Action> 1", "<Action> 2"). Poses go through the body model, are put on the floor inside the capture
volume and seen through the real Human3.6M cameras (``hgnlib/resources/h36m_cameras.json``):

- ``data_3d_h36m.npz``: world joints in metres, 32-joint layout (the 17 used joints and the toes and hand
  ends are meaningful; the rest duplicate their neighbours as in the real files), float32, 50 Hz.
- ``data_2d_h36m_gt.npz``: the exact projections, with lens distortion, pixels.
- ``data_2d_h36m_synthdet.npz``: a detector-like version (stand-in for CPN): per-joint noise, larger at
  wrists and ankles, correlated over time, with occasional outliers and left/right swaps.
- ``data_body_anny.npz``: per-frame body-model parameters (pose, root translation) and per-subject shape,
  so the dense mesh of every frame can be rebuilt (:func:`rebuild_vertices`).
- ``manifest.json``: a fingerprint of the generator's code, seed, size and counts; written last, so its presence
  means the set is complete (and a changed generator means it is regenerated).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import fingerprint, skeleton
from ..body.anny import DRIVEN_BONES, PHENOTYPE_LABELS, AnnyBody
from ..cameras import Camera, load_h36m_cameras
from ..errors import DataError, MissingFileError
from ..fileio import save_json, save_npz
from ..safeload import load_npz
from ..data.h36m import save_2d, save_3d
from .motions import FPS, VOLUME_CENTRE, Style, make_motion

BASE_FRAMES = 400  # frames per sequence at size 1.0 (8 s at 50 Hz)
SUBACTIONS = (1, 2)
IN_VIEW_TRIES = 8
BODY_FILE = "data_body_anny.npz"
MANIFEST = "manifest.json"

#: Phenotypes (anny: gender 0 = male .. 1 = female, age, muscle, weight, height, proportions) of the subjects.
#: As in Human3.6M, S1, S5 and S7 are women.
SUBJECT_PHENOTYPES: dict[str, tuple[float, ...]] = {
    "S1": (0.85, 0.72, 0.4, 0.45, 0.42, 0.9),
    "S5": (0.9, 0.76, 0.35, 0.6, 0.38, 0.85),
    "S6": (0.15, 0.7, 0.55, 0.75, 0.38, 0.8),
    "S7": (0.8, 0.74, 0.5, 0.5, 0.43, 0.95),
    "S8": (0.05, 0.66, 0.7, 0.4, 0.39, 0.75),
    "S9": (0.2, 0.72, 0.5, 0.6, 0.37, 0.85),
    "S11": (0.1, 0.68, 0.45, 0.45, 0.42, 0.9),
}

#: Detector-like noise: per-joint standard deviation in pixels at 5 m (scaled by 5 m / depth).
DETECTOR_SIGMA_PX = np.array([3.0, 3.5, 4.5, 6.5, 3.5, 4.5, 6.5, 4.0, 3.0, 3.0, 4.0, 3.5, 5.0, 7.5, 3.5, 5.0, 7.5])
DETECTOR_OUTLIER_RATE = 0.004  # per joint and frame
DETECTOR_SWAP_RATE = 0.002  # per limb pair and frame: start of a left/right confusion lasting a few frames


#: The modules whose code determines the generated data (relative to the package).
GENERATOR_CODE = ("body/anny.py", "synthetic/motions.py", "synthetic/synth.py")


def generator_fingerprint() -> str:
    """The meaning of the code that determines the generated data (the anny body, the motions and this module):
    a change to what it computes regenerates the dataset; docstrings and comments do not (:mod:`hgnlib.fingerprint`)."""
    return fingerprint.code_fingerprint(fingerprint.package_root(), GENERATOR_CODE)


@dataclass(frozen=True)
class SynthConfig:
    """What determines the generated files: change any field and the data change."""

    size: float = 1.0
    seed: int = 0

    @property
    def frames(self) -> int:
        return max(50, int(round(BASE_FRAMES * self.size)))


def sequence_names() -> list[tuple[str, str]]:
    """(action, sequence name) pairs of every subject."""
    return [(a, f"{a} {k}") for a in skeleton.ACTIONS for k in SUBACTIONS]


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator seeded by ``seed`` and a tuple of names, independent of generation order."""
    material = [seed] + [int.from_bytes(hashlib.sha256(str(k).encode()).digest()[:8], "little") for k in keys]
    return np.random.default_rng(material)


@dataclass
class Sequence:
    """One generated sequence: world joints (T, 32, 3), 2D per camera (exact and detector-like), body parameters."""

    world: np.ndarray
    gt2d: list[np.ndarray]
    det2d: list[np.ndarray]
    pose: np.ndarray
    translation: np.ndarray


def synthesize_sequence(body: AnnyBody, cameras: list[Camera], subject: str, action: str, name: str,
                        config: SynthConfig) -> Sequence:
    """Generate one sequence; depends only on (config, subject, name), not on what was generated before."""
    betas = torch.tensor([SUBJECT_PHENOTYPES[subject]], dtype=torch.float32)
    style = Style.sample(_rng(config.seed, subject, "style"))
    motion = make_motion(action, config.frames, _rng(config.seed, subject, name), style)
    pose = body.pose_from_angles(motion.angles).astype(np.float32)
    joints, lowest = _pose_batch(body, pose, betas, _foot_vertices(body, betas))
    ground = motion.ground_xy
    for _ in range(IN_VIEW_TRIES):  # draw the path toward the volume's centre until every camera sees everything
        translation = np.concatenate([ground, -lowest[:, None]], axis=1).astype(np.float32)
        world = (joints + translation[:, None, :]).astype(np.float32)
        world17 = skeleton.to_17(world)
        gt2d = [project(cam, world17) for cam in cameras]
        if all(_in_view(uv, cam) for uv, cam in zip(gt2d, cameras)):
            break
        ground = VOLUME_CENTRE + 0.85 * (ground - VOLUME_CENTRE)
    det2d = [detector_like(v, cam, world17, _rng(config.seed, subject, name, i))
             for i, (v, cam) in enumerate(zip(gt2d, cameras))]
    return Sequence(world, gt2d, det2d, pose, translation)


def _in_view(uv: np.ndarray, cam: Camera, margin: float = 10.0) -> bool:
    """Whether every joint lies inside the image, at least ``margin`` pixels from its border."""
    return bool((uv >= margin).all() and (uv[..., 0] <= cam.width - margin).all()
                and (uv[..., 1] <= cam.height - margin).all())


def generate(out_dir: str | Path, config: SynthConfig = SynthConfig(), body: AnnyBody | None = None,
             progress: bool = True) -> dict:
    """Generate the embedded dataset into ``out_dir``; returns the manifest. Every file is written atomically."""
    out_dir = Path(out_dir)
    start = time.perf_counter()
    body = body or AnnyBody()
    cameras = load_h36m_cameras()
    subjects = list(skeleton.TRAIN_SUBJECTS + skeleton.TEST_SUBJECTS)
    fields = ("world", "gt2d", "det2d", "pose", "translation")
    store: dict[str, dict] = {f: {s: {} for s in subjects} for f in fields}
    seqs = sequence_names()
    with tqdm(total=len(subjects) * len(seqs), desc="synthesising", unit="seq", disable=not progress) as bar:
        for subject in subjects:
            for action, name in seqs:
                seq = synthesize_sequence(body, cameras[subject], subject, action, name, config)
                for f in fields:
                    store[f][subject][name] = getattr(seq, f)
                bar.update()
    (out_dir / MANIFEST).unlink(missing_ok=True)  # the old manifest must not vouch for half-replaced files
    save_3d(out_dir / "data_3d_h36m.npz", store["world"])
    save_2d(out_dir / "data_2d_h36m_gt.npz", store["gt2d"])
    save_2d(out_dir / "data_2d_h36m_synthdet.npz", store["det2d"])
    save_npz(out_dir / BODY_FILE, pose=store["pose"], translation=store["translation"],
             phenotype={s: np.asarray(SUBJECT_PHENOTYPES[s], np.float32) for s in subjects},
             bones=np.array(DRIVEN_BONES), phenotype_labels=np.array(PHENOTYPE_LABELS))
    manifest = {"generator": generator_fingerprint(), "size": config.size, "seed": config.seed,
                "frames_per_sequence": config.frames, "fps": FPS, "subjects": subjects,
                "sequences_per_subject": len(seqs), "body_model": "anny",
                "cameras": "hgnlib/resources/h36m_cameras.json",
                "files": ["data_3d_h36m.npz", "data_2d_h36m_gt.npz", "data_2d_h36m_synthdet.npz", BODY_FILE],
                "seconds": round(time.perf_counter() - start, 1)}
    save_json(out_dir / MANIFEST, manifest)
    return manifest


def _foot_vertices(body: AnnyBody, betas: torch.Tensor) -> torch.Tensor:
    """Indices of the vertices of the feet (below the ankles at rest): the soles that touch the floor."""
    with torch.no_grad():
        pose, _ = body.zero_params(1)
        out = body(pose, betas)
    z = out.vertices[0, :, 2]
    ankle = out.joints[0, [3, 6], 2].max()
    return torch.nonzero(z < ankle + 0.01).flatten()


def _pose_batch(body: AnnyBody, pose: np.ndarray, betas: torch.Tensor, feet: torch.Tensor,
                batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """32-joint positions at zero translation and the height of the lowest foot vertex, per frame."""
    joints, lowest = [], []
    with torch.no_grad():
        for i in range(0, len(pose), batch):
            p = torch.from_numpy(pose[i:i + batch])
            vertices, j32 = body.forward_h36m32(p, betas.expand(len(p), -1))
            joints.append(j32.cpu().numpy())
            lowest.append(vertices[:, feet, 2].min(dim=1).values.cpu().numpy())
    return np.concatenate(joints), np.concatenate(lowest)


def project(cam: Camera, world17: np.ndarray) -> np.ndarray:
    """Exact pixel projection (with distortion) of world joints (T, 17, 3), float32 (T, 17, 2)."""
    return cam.project(cam.world_to_camera(world17)).astype(np.float32)


def detector_like(gt: np.ndarray, cam: Camera, world17: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A detector-like 2D track from the exact one: correlated jitter, outliers and left/right swaps."""
    T = gt.shape[0]
    depth = cam.world_to_camera(world17[:, 0])[:, 2]
    sigma = DETECTOR_SIGMA_PX[None, :] * (5.0 / depth)[:, None]
    # AR(1) noise with unit marginal variance: jitter that drifts over a few frames, as detections do.
    rho = 0.7
    eps = rng.normal(size=(T, 17, 2))
    noise = np.empty_like(eps)
    noise[0] = eps[0]
    for t in range(1, T):
        noise[t] = rho * noise[t - 1] + np.sqrt(1 - rho**2) * eps[t]
    out = gt + noise * sigma[..., None]
    outliers = rng.random((T, 17)) < DETECTOR_OUTLIER_RATE
    angle = rng.uniform(0, 2 * np.pi, (T, 17))
    radius = rng.uniform(15, 60, (T, 17))
    out += outliers[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1) * radius[..., None]
    for left, right in ((skeleton.LEFT_JOINTS[:3], skeleton.RIGHT_JOINTS[:3]),
                        (skeleton.LEFT_JOINTS[3:], skeleton.RIGHT_JOINTS[3:])):
        for t0 in np.flatnonzero(rng.random(T) < DETECTOR_SWAP_RATE):
            t1 = min(T, t0 + int(rng.integers(1, 6)))
            out[t0:t1, list(left) + list(right)] = out[t0:t1, list(right) + list(left)]
    return out.astype(np.float32)


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a generated dataset; a clear error if the dataset is absent or incomplete."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise MissingFileError(path, "no embedded dataset here (or its generation did not finish)",
                               f"run `hgn data synth --out {folder}`")
    return json.loads(path.read_text())


def ensure_embedded(folder: str | Path, config: SynthConfig = SynthConfig(), progress: bool = True,
                    body: AnnyBody | None = None) -> dict:
    """Generate the dataset into ``folder`` unless a complete one with the same settings is already there."""
    try:
        manifest = read_manifest(folder)
        if (manifest.get("generator"), manifest.get("size"), manifest.get("seed")) == (
                generator_fingerprint(), config.size, config.seed):
            return manifest
    except MissingFileError:
        pass
    return generate(folder, config, body=body, progress=progress)


@dataclass
class BodyParams:
    """Per-frame body-model parameters of one sequence: pose (T, K, 3), translation (T, 3), shape (6,)."""

    pose: np.ndarray
    translation: np.ndarray
    phenotype: np.ndarray


def load_body_params(folder: str | Path, subject: str, sequence: str) -> BodyParams:
    """Read one sequence's body-model parameters from ``data_body_anny.npz``."""
    path = Path(folder) / BODY_FILE
    if not path.exists():
        raise MissingFileError(path, "body-model parameters not found",
                               "they exist only for the embedded dataset: run `hgn data synth`")
    f = load_npz(path, "body-model parameter file (keys pose, translation, phenotype)",
                 "regenerate the dataset with `hgn data synth`")
    try:
        pose = f["pose"][subject][sequence]
        translation = f["translation"][subject][sequence]
        phenotype = f["phenotype"][subject]
    except (KeyError, TypeError, IndexError) as exc:
        raise DataError(path, f"no parameters for {subject}/{sequence} ({type(exc).__name__}: {exc})",
                        "regenerate the dataset with `hgn data synth`") from None
    arrays = [np.asarray(a) for a in (pose, translation, phenotype)]
    if any(a.dtype == object or not np.issubdtype(a.dtype, np.number) for a in arrays):
        raise DataError(path, f"the parameters of {subject}/{sequence} are not numeric arrays",
                        "regenerate the dataset with `hgn data synth`")
    return BodyParams(*arrays)


def rebuild_vertices(body: AnnyBody, params: BodyParams, frames: np.ndarray | slice = slice(None)) -> np.ndarray:
    """The dense world-space mesh (F, V, 3) of the chosen frames, from stored parameters."""
    pose = torch.from_numpy(np.ascontiguousarray(params.pose[frames]))
    translation = torch.from_numpy(np.ascontiguousarray(params.translation[frames]))
    betas = torch.from_numpy(params.phenotype)[None].expand(len(pose), -1)
    with torch.no_grad():
        return body(pose, betas, translation).vertices.cpu().numpy()
