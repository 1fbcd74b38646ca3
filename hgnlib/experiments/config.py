"""One named experiment: what is trained on what, and the cache key of its results."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .. import fingerprint
from ..data.folders import DATA_KINDS
from ..graphs.coarsening import HEM_VARIANTS
from ..graphs.hierarchy import MESH_LEVELS, body_defaults
from ..models.graph import PADDINGS
from ..models.layers import FUSION_ORDERINGS
from ..models.registry import CONFIGS, ModelConfig, get_config
from ..profiles import PROFILES, Recipe, get_profile
from .overrides import check_override

#: The modules whose code determines a run's numbers (relative to the package).
RESULT_CODE = ("models", "graphs", "body/anny.py", "data/dataset.py", "data/h36m.py", "data/pseudo_gt.py",
               "fitting.py", "losses.py", "metrics.py", "cameras.py", "skeleton.py", "experiments/train.py",
               "experiments/evaluate.py", "experiments/targets.py", "experiments/runs.py")

SOURCES_2D = ("gt", "detected")
MESH_OUTPUTS = MESH_LEVELS
BODIES = ("anny", "smpl")
#: Coarse-mesh targets: the body fitted to the 3D joints, or SMPL run on the authors' SMPL parameters.
MESH_TARGETS = ("fit", "authors_smpl")
#: Mesh settings of models without mesh outputs (they do not use them; fixed so that such runs are shared).
NO_MESH = {"body": "anny", "mesh_targets": "fit", "hem": "graclus", "padding": "inert"}


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The meaning of :data:`RESULT_CODE` (:mod:`hgnlib.fingerprint`): a change to what any of it computes gives
    every run a new key; docstrings, comments and formatting do not."""
    return fingerprint.code_fingerprint(fingerprint.package_root(), RESULT_CODE)


@dataclass(frozen=True)
class ExperimentConfig:
    """A run.

    - ``model``: a configuration name of :data:`hgnlib.models.registry.CONFIGS` (architecture, graph convolution,
      channels, fusion ordering); ``padded``: the mesh graphs with the authors' fake nodes.
    - ``data``: 'embedded' | 'h36m'; ``source_2d``: 'gt' | 'detected' (CPN on Human3.6M, the detector-like file
      on the embedded data).
    - ``lambda_m``: lambda_M of Eq. (4); set to 0 for models without mesh outputs, so that their runs are shared.
    - ``profile``: data size, strides and recipe (:mod:`hgnlib.profiles`); ``seed``.
    - ``flip_train`` / ``flip_test``: horizontal-flip augmentation and test-time flip averaging.
    - ``overrides``: ``((field, value), ...)`` changes to the profile's :class:`~hgnlib.profiles.Recipe` (e.g.
      ``(("epochs", 10),)`` or ``(("amp", True),)``), for experiments off the profiles' recipes.
    - ``body``: the body model of the mesh graphs and targets, 'anny' | 'smpl'; ``mesh_targets``: 'fit' (the
      body fitted to the 3D joints) | 'authors_smpl' (SMPL on the authors' SMPL parameters, needs body 'smpl').
      Default (None): SMPL with the authors' parameters on the 'paper' profile, anny with the fit elsewhere.
    - ``hem``: heavy edge matching, 'graclus' | 'release' (None: the body's default, release on SMPL);
      ``padding``: what fake nodes do, 'inert' | 'release' (needs ``padded``; :mod:`hgnlib.models.graph`).
    - ``fusion``: 'paper' (Eq. 3) | 'inplace' (the released order); ``train_stride`` / ``test_stride``: keep
      every n-th frame (None: the profile's).
    Models without mesh outputs get fixed mesh settings (:data:`NO_MESH`), so that their runs are shared.
    """

    model: str
    data: str = "embedded"
    source_2d: str = "gt"
    padded: bool = False
    lambda_m: float = 0.01
    profile: str = "quick"
    seed: int = 0
    flip_train: bool = False
    flip_test: bool = False
    overrides: tuple[tuple[str, Any], ...] = ()
    body: str | None = None
    mesh_targets: str | None = None
    hem: str | None = None
    padding: str = "inert"
    fusion: str = "paper"
    train_stride: int | None = None
    test_stride: int | None = None

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ValueError(f"data must be one of {DATA_KINDS}, got {self.data!r}")
        if self.source_2d not in SOURCES_2D:
            raise ValueError(f"source_2d must be one of {SOURCES_2D}, got {self.source_2d!r}")
        if self.model not in CONFIGS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {sorted(CONFIGS)}")
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose one of {sorted(PROFILES)}")
        if get_profile(self.profile).data == "h36m" and self.data != "h36m":
            raise ValueError("the 'paper' profile is for real Human3.6M: use data='h36m', or another profile")
        if self.lambda_m < 0:
            raise ValueError(f"lambda_m must be >= 0, got {self.lambda_m}")
        allowed = {f.name for f in fields(Recipe)} - {"fit"}
        unknown = sorted(name for name, _ in self.overrides if name not in allowed)
        if unknown:
            raise ValueError(f"unknown recipe setting(s) {unknown}; choose among {sorted(allowed)}")
        for name, value in self.overrides:
            check_override(name, value)
        object.__setattr__(self, "overrides", tuple(sorted((str(k), v) for k, v in self.overrides)))
        self._check_mesh_settings()
        if not self.mesh_outputs:
            object.__setattr__(self, "lambda_m", 0.0)
            for name, value in NO_MESH.items():
                object.__setattr__(self, name, value)
        object.__setattr__(self, "lambda_m", float(self.lambda_m))

    def _check_mesh_settings(self) -> None:
        """Resolve the defaults of ``body``, ``mesh_targets`` and ``hem``; refuse invalid combinations."""
        paper = get_profile(self.profile).data == "h36m"
        body = self.body or ("smpl" if paper else "anny")
        targets = self.mesh_targets or ("authors_smpl" if paper and body == "smpl" else "fit")
        hem = self.hem or body_defaults(body)[0]
        for name, value, allowed in (("body", body, BODIES), ("mesh_targets", targets, MESH_TARGETS),
                                     ("hem", hem, HEM_VARIANTS), ("padding", self.padding, PADDINGS),
                                     ("fusion", self.fusion, FUSION_ORDERINGS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if targets == "authors_smpl" and body != "smpl":
            raise ValueError("mesh_targets='authors_smpl' are SMPL meshes: use body='smpl', or mesh_targets='fit'")
        if self.padding == "release" and not self.padded:
            raise ValueError("padding='release' sets what fake nodes do: use it with padded=True")
        if self.fusion != "paper" and get_config(self.model).kind not in ("hgn", "hgn_wo_mesh_c", "hgn_wo_mesh_c1"):
            raise ValueError(f"fusion={self.fusion!r} applies to HGN models with mesh branches, not {self.model!r}")
        for name in ("train_stride", "test_stride"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "mesh_targets", targets)
        object.__setattr__(self, "hem", hem)

    @property
    def model_config(self) -> ModelConfig:
        """The model's configuration with this run's fusion ordering."""
        return replace(get_config(self.model), fusion=self.fusion)

    @property
    def strides(self) -> tuple[int, int]:
        """(train, test) frame strides: this run's, else the profile's."""
        profile = get_profile(self.profile)
        return (self.train_stride or profile.train_stride, self.test_stride or profile.test_stride)

    @property
    def mesh_outputs(self) -> tuple[str, ...]:
        """The coarse meshes the model predicts ('mesh_c1', 'mesh_c'), in that order."""
        return tuple(g for g in MESH_OUTPUTS if g in get_config(self.model).graphs)

    @property
    def recipe(self) -> Recipe:
        """The profile's recipe with the overrides applied."""
        return replace(get_profile(self.profile).recipe, **dict(self.overrides))

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``hgn-128 lM=0.01 gt seed0``."""
        parts = [self.model]
        if self.mesh_outputs:
            parts.append(f"lM={self.lambda_m:g}")
        if self.mesh_outputs:
            parts += [self.body, *([self.mesh_targets] if self.mesh_targets != "fit" else []),
                      *([f"hem={self.hem}"] if self.hem != body_defaults(self.body)[0] else [])]
        parts += [*([f"padding={self.padding}"] if self.padding != "inert" else []),
                  *([f"fusion={self.fusion}"] if self.fusion != "paper" else []),
                  *([f"strides={self.train_stride or '-'}/{self.test_stride or '-'}"]
                    if self.train_stride or self.test_stride else [])]
        parts += [self.source_2d, *(["padded"] if self.padded else []), *(["flip"] if self.flip_train else []),
                  *(["tta"] if self.flip_test else []), *[f"{k}={v}" for k, v in self.overrides], f"seed{self.seed}"]
        return " ".join(parts)

    def with_seed(self, seed: int) -> "ExperimentConfig":
        """The same configuration with another seed."""
        return replace(self, seed=seed)

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self, data_fingerprint: str) -> str:
        """Short hash of everything that determines the results: this configuration, the model's definition, the
        profile (data size, strides, recipe), the data's fingerprint and the code (:func:`code_fingerprint`)."""
        payload = {"config": self.to_dict(), "model": asdict(self.model_config),
                   "profile": get_profile(self.profile).to_dict(), "recipe": self.recipe.to_dict(),
                   "data": data_fingerprint, "code": code_fingerprint()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
