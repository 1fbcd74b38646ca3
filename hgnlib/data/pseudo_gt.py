"""Coarse-mesh pseudo-ground truth (paper Sec. 3.3): the body fitted to the 3D ground-truth joints, its dense mesh
mapped to the coarse mesh levels, cached beside the dataset.

For every kept frame (every ``stride``-th of each sequence) of the chosen subjects:

1. the dense mesh: ``source='fit'`` fits the body model to the frame's 17 ground-truth joints
   (:mod:`hgnlib.fitting`: one shape per subject, fitted on a sample of its frames, then every frame's pose);
   ``source='authors_smpl'`` runs SMPL (a user-supplied model file) on the authors' per-frame SMPL parameters
   (``Human36M_subject{N}_smpl_param.json``) instead;
2. each coarse level ``M @ vertices`` for every mapping matrix ``M`` (n_coarse, V) given;
3. minus the *ground-truth* pelvis joint (the one the pose targets are relative to; the fitted pelvis lies within
   about a millimetre of it), in metres. Empty rows of ``M`` (a padded hierarchy's fake nodes) stay zero.

The coarse vertices are stored in the **world frame** (pelvis-relative, not rotated): the training code rotates
them into each camera with the camera rotation, exactly like the joints (``X_cam = R^T X_world``).

The authors' SMPL parameters are taken to be in the world frame of the ground-truth joints (their ``trans`` in
metres), as in their release. Fitting to the 17 joints leaves the hands and feet at rest (the joints do not see
their rotation): their vertices, and coarse vertices made of them, carry most of the remaining error (see
:func:`fit_report`).

Cache layout: ``<folder>/pseudo_gt/<source>-s<stride>-<key>/`` (``<out>/...`` if given), the key hashing the
mapping matrices, the source, the stride, the subjects, the body model, the fitting settings, the input files'
stamps and this code. Inside: ``settings.json`` (what the key hashes), ``<subject>.shape.npz`` (the fitted shape,
so that a resumed run uses the same), one ``<subject>.<chunk>.npz`` per chunk of whole sequences (``sequences``,
``lengths``, ``frames``, ``coarse_<i>`` per level in index order, and the body parameters ``pose``,
``translation``, ``betas`` with ``fit_error`` and ``objective``), and ``index.json``, written last: its presence
means the cache is complete. Every file is written atomically, so an interrupted run leaves only whole files; a
rerun keeps them and computes the rest.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from tqdm import tqdm

from .. import fingerprint, skeleton
from ..body.base import BodyModel
from ..errors import DataError, MissingFileError
from ..fileio import save_json, save_npz
from ..fitting import FitConfig, FitResult, body_on, fit_frames, fit_shape, sequence_chunks
from .h36m import THREE_D_FILE, authors_file, load_3d, load_authors_subject, sequence_name

SOURCES = ("fit", "authors_smpl")
PSEUDO_GT_DIR = "pseudo_gt"
INDEX_FILE = "index.json"
SETTINGS_FILE = "settings.json"
VERTEX_BATCH = 256  # frames whose dense meshes are built at once (bounded memory)


@dataclass
class PseudoGT:
    """A loaded cache: ``coarse[subject][sequence][level]`` (T, n, 3) float32, metres, world axes, pelvis-relative;
    ``frames[subject][sequence]`` (T,) frame indices into the sequence; ``fit_error[subject][sequence]`` (T, 2) the
    fitted joints' mean and largest distance to the ground truth (metres; zeros for ``authors_smpl``); ``info``:
    the index (levels, settings, counts)."""

    coarse: dict[str, dict[str, dict[str, np.ndarray]]]
    frames: dict[str, dict[str, np.ndarray]]
    fit_error: dict[str, dict[str, np.ndarray]]
    info: dict


def _canonical_csr(matrix: sp.spmatrix) -> sp.csr_matrix:
    """``matrix`` as CSR with sorted indices and summed duplicates, float64 (the same matrix hashes the same)."""
    csr = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def mapping_digest(mappings: dict[str, sp.spmatrix]) -> str:
    """A hash of the level names and the mapping matrices' shapes and entries."""
    digest = hashlib.sha256()
    for name, matrix in mappings.items():
        csr = _canonical_csr(matrix)
        digest.update(name.encode())
        for part in (np.asarray(csr.shape, np.int64), csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                     csr.data):
            digest.update(part.tobytes())
    return digest.hexdigest()[:16]


def _code_fingerprint(body: BodyModel) -> str:
    """The meaning of the code that determines the results: this module, the fitting and the body model's module
    (:mod:`hgnlib.fingerprint`)."""
    import sys

    body_file = Path(sys.modules[type(body).__module__].__file__).resolve()
    return fingerprint.code_fingerprint(fingerprint.package_root(), ["fitting.py", "data/pseudo_gt.py", body_file])


def _file_stamp(path: Path) -> list | None:
    """Name, size and modification time of an input file (a regenerated or replaced file changes the key); None
    for an absent one (its reader then says what is missing)."""
    if not path.exists():
        return None
    stat = path.stat()
    return [path.name, stat.st_size, stat.st_mtime_ns]


def cache_settings(folder: str | Path, mappings: dict[str, sp.spmatrix], *, body: BodyModel,
                   subjects: tuple[str, ...], stride: int, source: str, config: FitConfig) -> dict:
    """What the cache key hashes (also written to ``settings.json``)."""
    folder = Path(folder)
    if source == "fit":
        inputs = [_file_stamp(folder / THREE_D_FILE)]
        fit = config.to_dict()
    else:
        inputs = [_file_stamp(authors_file(folder, _subject_number(s), kind))
                  for s in subjects for kind in ("smpl_param", "joint_3d")]
        model = getattr(body, "path", None)
        inputs.append(_file_stamp(Path(model)) if model is not None else None)
        fit = None
    return {"source": source, "stride": stride, "subjects": list(subjects),
            "mappings": {name: list(m.shape) for name, m in mappings.items()},
            "mapping_digest": mapping_digest(mappings),
            "body": {"name": body.name, "num_vertices": int(body.num_vertices)}, "fit": fit, "inputs": inputs,
            "code": _code_fingerprint(body)}


def cache_dir(folder: str | Path, mappings: dict[str, sp.spmatrix], *, body: BodyModel,
              subjects: tuple[str, ...] | list[str] = skeleton.TRAIN_SUBJECTS, stride: int = 1, source: str = "fit",
              config: FitConfig = FitConfig(), out: str | Path | None = None) -> Path:
    """The cache folder of these settings: ``<out or folder/pseudo_gt>/<source>-s<stride>-<key>``."""
    settings = cache_settings(folder, mappings, body=body, subjects=tuple(subjects), stride=stride, source=source,
                              config=config)
    return _settings_dir(settings, folder, out)


def _settings_dir(settings: dict, folder: str | Path, out: str | Path | None) -> Path:
    """The cache folder named by the hash of ``settings``."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(out) if out is not None else Path(folder) / PSEUDO_GT_DIR
    return root / f"{settings['source']}-s{settings['stride']}-{key}"


def make_pseudo_gt(folder: str | Path, mappings: dict[str, sp.spmatrix], *, body: BodyModel,
                   subjects: tuple[str, ...] | list[str] = skeleton.TRAIN_SUBJECTS, stride: int = 1,
                   source: str = "fit", out: str | Path | None = None, chunk_frames: int = 2048,
                   config: FitConfig = FitConfig(), device: str | torch.device | None = None,
                   progress: bool = True) -> Path:
    """Compute (or complete) the coarse-mesh pseudo-ground truth of a dataset; returns its cache folder.

    ``folder``: the dataset folder (``data_3d_h36m.npz``) for ``source='fit'``, the folder of the authors' JSON
    files for ``source='authors_smpl'`` (then ``body`` is an :class:`~hgnlib.body.smpl.SMPLBody` and the kept
    frames are those with SMPL parameters whose frame index is a multiple of ``stride``). ``mappings``: level name
    -> (n_coarse, V) sparse matrix over the body's V vertices. A complete cache is returned at once; an incomplete
    one is completed. ``device`` None: CUDA when present.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown pseudo-ground-truth source {source!r}; choose one of {SOURCES}")
    for name, matrix in mappings.items():
        if matrix.shape[1] != body.num_vertices:
            raise ValueError(f"mapping {name!r} has shape {matrix.shape}: its columns must be the body's "
                             f"{body.num_vertices} vertices ({body.name})")
    subjects = tuple(subjects)
    folder = Path(folder)
    settings = cache_settings(folder, mappings, body=body, subjects=subjects, stride=stride, source=source,
                              config=config)
    target = _settings_dir(settings, folder, out)
    if (target / INDEX_FILE).exists():
        return target
    save_json(target / SETTINGS_FILE, settings)
    csr = {name: _canonical_csr(m).astype(np.float32) for name, m in mappings.items()}
    sequences = (_fit_sequences(folder, subjects, stride) if source == "fit"
                 else _authors_sequences(folder, subjects, stride))
    total = sum(len(f) for seqs in sequences.values() for f, _ in seqs.values())
    chunks: dict[str, list[str]] = {}
    with tqdm(total=total, desc=f"pseudo-GT ({source})", unit="frame", disable=not progress) as bar:
        for subject, seqs in sequences.items():
            betas = _subject_shape(target, subject, seqs, body, config, device) if source == "fit" else None
            plan = sequence_chunks({name: f for name, (f, _) in seqs.items()}, chunk_frames)
            chunks[subject] = []
            for k, names in enumerate(plan):
                path = target / f"{subject}.{k:03d}.npz"
                chunks[subject].append(path.name)
                if not _chunk_matches(path, names):
                    arrays = (_fit_chunk(body, seqs, names, betas, csr, config, device) if source == "fit"
                              else _smpl_chunk(body, seqs, names, csr, device))
                    save_npz(path, sequences=np.array(names), levels=np.array(list(csr)), **arrays)
                bar.update(sum(len(seqs[name][0]) for name in names))
    save_json(target / INDEX_FILE, {"levels": {name: int(m.shape[0]) for name, m in csr.items()}, "chunks": chunks,
                                    "frames": total, "settings": settings})
    return target


def _subject_number(subject: str) -> int:
    """'S11' -> 11."""
    if not subject.startswith("S") or not subject[1:].isdigit():
        raise ValueError(f"subject names look like 'S1', got {subject!r}")
    return int(subject[1:])


def _fit_sequences(folder: Path, subjects: tuple[str, ...],
                   stride: int) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """subject -> sequence -> (frame indices, world joints (T, 17, 3)) of every ``stride``-th frame."""
    positions = load_3d(folder / THREE_D_FILE)
    missing = [s for s in subjects if s not in positions]
    if missing:
        raise DataError(folder / THREE_D_FILE, f"no 3D poses of subject(s) {missing}; found {sorted(positions)}",
                        "choose subjects that the dataset holds")
    return {s: {name: (np.arange(0, len(world), stride), skeleton.to_17(world)[::stride].astype(np.float32))
                for name, world in positions[s].items()}
            for s in subjects}


def _authors_sequences(folder: Path, subjects: tuple[str, ...],
                       stride: int) -> dict[str, dict[str, tuple[np.ndarray, tuple]]]:
    """subject -> sequence -> (frame indices, (SMPL pose, shape, translation, ground-truth pelvis)) of the frames
    with SMPL parameters whose index is a multiple of ``stride``."""
    out = {}
    for subject in subjects:
        data = load_authors_subject(folder, _subject_number(subject))
        smpl_path = authors_file(folder, _subject_number(subject), "smpl_param")
        if data.smpl is None:
            raise MissingFileError(smpl_path, "the authors' SMPL parameters are not there",
                                   f"put Human36M_subject{_subject_number(subject)}_smpl_param.json in {folder}, "
                                   "or use source='fit'")
        out[subject] = {}
        for key, params in sorted(data.smpl.items()):
            if key not in data.joints:
                raise DataError(smpl_path, f"{key[0]} subaction {key[1]} has SMPL parameters but no 3D joints",
                                "use the joint_3d file of the same release")
            joint_frames, joints = data.joints[key]
            where = {int(f): i for i, f in enumerate(joint_frames)}
            keep = np.flatnonzero(params.frames % stride == 0)
            lacking = [int(f) for f in params.frames[keep] if int(f) not in where]
            if lacking:
                raise DataError(smpl_path, f"{key[0]} subaction {key[1]}: no 3D joints for frame(s) {lacking[:5]}",
                                "use the joint_3d file of the same release")
            pelvis = joints[[where[int(f)] for f in params.frames[keep]], skeleton.PELVIS]
            out[subject][sequence_name(*key)] = (params.frames[keep], (
                params.pose[keep].reshape(-1, 24, 3), params.shape[keep], params.trans[keep], pelvis))
    return out


def _subject_shape(target: Path, subject: str, seqs: dict, body: BodyModel, config: FitConfig,
                   device: str | torch.device | None) -> torch.Tensor:
    """The subject's fitted shape (1, nb): read from ``<subject>.shape.npz``, else fitted and stored there."""
    path = target / f"{subject}.shape.npz"
    if path.exists():
        with np.load(path) as f:
            return torch.from_numpy(f["betas"])
    betas = fit_shape(body, np.concatenate([joints for _, joints in seqs.values()]), config, device)
    save_npz(path, betas=betas.numpy())
    return betas


def _chunk_matches(path: Path, names: list[str]) -> bool:
    """Whether a finished chunk file of these sequences is there (a rerun keeps it)."""
    if not path.exists():
        return False
    with np.load(path) as f:
        return list(f["sequences"]) == list(names)


def _map_levels(vertex_batches: Iterator[torch.Tensor], csr: dict[str, sp.csr_matrix],
                pelvis: np.ndarray) -> dict[str, np.ndarray]:
    """Coarse vertices per level (``coarse_<i>``, (T, n, 3) float32) of dense meshes given in batches, minus the
    pelvis (T, 3). Empty rows (the fake nodes of a padded hierarchy) stay zero."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in csr}
    real = {name: (np.diff(m.indptr) > 0)[None, :, None] for name, m in csr.items()}
    start = 0
    for batch in vertex_batches:
        v = batch.numpy()
        t, count = len(v), v.shape[1]
        flat = v.transpose(1, 0, 2).reshape(count, t * 3)
        for name, m in csr.items():
            coarse = (m @ flat).reshape(m.shape[0], t, 3).transpose(1, 0, 2)
            parts[name].append(coarse - real[name] * pelvis[start:start + t, None, :])
        start += t
    return {f"coarse_{i}": np.concatenate(parts[name]).astype(np.float32) for i, name in enumerate(csr)}


def _fit_chunk(body: BodyModel, seqs: dict, names: list[str], betas: torch.Tensor, csr: dict[str, sp.csr_matrix],
               config: FitConfig, device: str | torch.device | None) -> dict[str, np.ndarray]:
    """Fit the frames of the chunk's sequences and map their meshes: the arrays of a chunk file."""
    joints = np.concatenate([seqs[name][1] for name in names])
    fit = fit_frames(body, joints, betas, lengths=[len(seqs[name][0]) for name in names], config=config,
                     device=device)
    coarse = _map_levels(fit.iter_vertices(body, batch=VERTEX_BATCH, device=device), csr, joints[:, skeleton.PELVIS])
    return {"lengths": np.array([len(seqs[name][0]) for name in names]),
            "frames": np.concatenate([seqs[name][0] for name in names]), "pose": fit.pose.numpy(),
            "translation": fit.translation.numpy(), "betas": fit.betas.numpy(),
            "fit_error": torch.stack([fit.error_mean, fit.error_max], 1).numpy(), "objective": fit.objective.numpy(),
            **coarse}


def _smpl_chunk(body: BodyModel, seqs: dict, names: list[str], csr: dict[str, sp.csr_matrix],
                device: str | torch.device | None) -> dict[str, np.ndarray]:
    """Run SMPL on the authors' parameters of the chunk's sequences and map the meshes: a chunk file's arrays."""
    pose, shape, trans, pelvis = (np.concatenate([seqs[name][1][i] for name in names]).astype(np.float32)
                                  for i in range(4))
    betas = shape[:, :body.num_betas]
    coarse = _map_levels(_vertex_batches(body, pose, betas, trans, device), csr, pelvis)
    return {"lengths": np.array([len(seqs[name][0]) for name in names]),
            "frames": np.concatenate([seqs[name][0] for name in names]), "pose": pose, "translation": trans,
            "betas": betas, "fit_error": np.zeros((len(pose), 2), np.float32),
            "objective": np.zeros(len(pose), np.float32), **coarse}


def _vertex_batches(body: BodyModel, pose: np.ndarray, betas: np.ndarray, translation: np.ndarray,
                    device: str | torch.device | None) -> Iterator[torch.Tensor]:
    """Dense meshes (float32, CPU) of per-frame parameters (each frame with its own shape), in batches."""
    body = body_on(body, device)
    with torch.no_grad():
        for i in range(0, len(pose), VERTEX_BATCH):
            part = [torch.from_numpy(x[i:i + VERTEX_BATCH]).to(body.device) for x in (pose, betas, translation)]
            yield body(*part).vertices.float().cpu()


def _stored_fit(chunk) -> FitResult:
    """The fitted parameters and errors of a ``fit`` chunk file, as a :class:`FitResult`."""
    error = torch.from_numpy(chunk["fit_error"])
    return FitResult(pose=torch.from_numpy(chunk["pose"]), betas=torch.from_numpy(chunk["betas"]),
                     translation=torch.from_numpy(chunk["translation"]), error_mean=error[:, 0],
                     error_max=error[:, 1], objective=torch.from_numpy(chunk["objective"]))


def load_pseudo_gt(path: str | Path) -> PseudoGT:
    """Read a complete cache folder (as returned by :func:`make_pseudo_gt` or :func:`cache_dir`)."""
    path = Path(path)
    index_path = path / INDEX_FILE
    if not index_path.exists():
        raise MissingFileError(index_path, "no complete pseudo-ground-truth cache here",
                               "run make_pseudo_gt (`hgn` computes it before training with the mesh loss)")
    index = json.loads(index_path.read_text())
    levels = list(index["levels"])
    coarse: dict = {}
    frames: dict = {}
    errors: dict = {}
    for subject, files in index["chunks"].items():
        coarse[subject], frames[subject], errors[subject] = {}, {}, {}
        for name in files:
            with np.load(path / name) as f:
                bounds = np.cumsum([0, *f["lengths"]])
                for seq, a, b in zip(f["sequences"], bounds[:-1], bounds[1:]):
                    seq = str(seq)
                    coarse[subject][seq] = {level: f[f"coarse_{i}"][a:b] for i, level in enumerate(levels)}
                    frames[subject][seq] = f["frames"][a:b]
                    errors[subject][seq] = f["fit_error"][a:b]
    return PseudoGT(coarse=coarse, frames=frames, fit_error=errors, info=index)


def fit_report(folder: str | Path, mappings: dict[str, sp.spmatrix], *, body: BodyModel,
               subjects: tuple[str, ...] | list[str] = skeleton.TRAIN_SUBJECTS, stride: int = 1,
               config: FitConfig = FitConfig(), out: str | Path | None = None, chunk_frames: int = 2048,
               device: str | torch.device | None = None, progress: bool = False) -> dict:
    """How close the fitted pseudo-ground truth is to the truth, on the embedded dataset (where it is known).

    Makes (or reuses) the ``source='fit'`` cache, rebuilds the true meshes from ``data_body_anny.npz`` and returns
    millimetres: ``joints`` (fitted joints against the ground-truth joints), ``vertices`` (fitted against true dense
    mesh, world frame) and ``coarse[level]`` (stored pseudo-ground truth against the mapped true mesh minus the
    ground-truth pelvis; real nodes only). Each has ``mean`` (over every point of every frame), ``worst_frame``
    (the largest per-frame mean) and ``max`` (the largest single distance). Also ``frames`` and ``shapes``
    (subject -> fitted and true phenotype).
    """
    from ..synthetic.synth import load_body_params, rebuild_vertices

    folder = Path(folder)
    cache = make_pseudo_gt(folder, mappings, body=body, subjects=subjects, stride=stride, source="fit", out=out,
                           chunk_frames=chunk_frames, config=config, device=device, progress=progress)
    index = json.loads((cache / INDEX_FILE).read_text())
    levels = list(index["levels"])
    csr = {name: _canonical_csr(mappings[name]) for name in levels}
    sequences = _fit_sequences(folder, tuple(subjects), stride)
    errors: dict[str, list[np.ndarray]] = {"vertices": [], **{level: [] for level in levels}}
    joint_mean, joint_max, shapes = [], [], {}
    for subject, files in index["chunks"].items():
        for name in files:
            with np.load(cache / name) as chunk:
                fit = _stored_fit(chunk)
                bounds = np.cumsum([0, *chunk["lengths"]])
                stored = {seq: {level: chunk[f"coarse_{i}"][a:b] for i, level in enumerate(levels)}
                          for seq, a, b in zip(chunk["sequences"], bounds[:-1], bounds[1:])}
            joint_mean.append(fit.error_mean.numpy())
            joint_max.append(fit.error_max.numpy())
            for seq, a, b in zip(stored, bounds[:-1], bounds[1:]):
                frames, joints = sequences[subject][str(seq)]
                params = load_body_params(folder, subject, str(seq))
                shapes[subject] = {"fitted": fit.betas[0].tolist(), "true": params.phenotype.tolist()}
                true_v = rebuild_vertices(body, params, frames)
                fit_v = fit.take(slice(a, b)).vertices(body, batch=VERTEX_BATCH, device=device).numpy()
                errors["vertices"].append(np.linalg.norm(fit_v - true_v, axis=-1))
                true_c = _map_levels(iter([torch.from_numpy(true_v)]), csr, joints[:, skeleton.PELVIS])
                for i, level in enumerate(levels):
                    real = np.diff(csr[level].indptr) > 0  # fake nodes (empty rows) are left out
                    errors[level].append(np.linalg.norm(stored[seq][level] - true_c[f"coarse_{i}"], axis=-1)[:, real])
    joint_mean, joint_max = np.concatenate(joint_mean) * 1000, np.concatenate(joint_max) * 1000
    summary = {key: _stats(np.concatenate(parts) * 1000) for key, parts in errors.items()}
    return {"frames": int(len(joint_mean)), "shapes": shapes,
            "joints": {"mean": float(joint_mean.mean()), "worst_frame": float(joint_mean.max()),
                       "max": float(joint_max.max())},
            "vertices": summary.pop("vertices"), "coarse": summary}


def _stats(distances: np.ndarray) -> dict[str, float]:
    """Mean, largest per-frame mean and largest value of distances (frames, points)."""
    return {"mean": float(distances.mean()), "worst_frame": float(distances.mean(1).max()),
            "max": float(distances.max())}
