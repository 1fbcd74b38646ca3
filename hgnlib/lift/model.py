"""Which trained model a lift (or ``hgn eval`` / ``hgn export``) uses: a ``model.pt``, a run folder, a configuration
name of the result cache or a run key (:func:`resolve_model`, the one place that resolves them), loaded and
checked to be a 2D-to-3D lifter."""
from __future__ import annotations

import functools
from pathlib import Path

from .. import skeleton
from ..errors import DataError, HGNError, MissingFileError


def resolve_model(model: str | Path, profile: str = "quick", data: str = "embedded",
                  data_dir: str | Path | None = None) -> Path:
    """The ``model.pt`` of ``model``: a file (or a run folder holding one), a configuration name of the cache (the run
    of ``ExperimentConfig(model, profile=profile, data=data)``) or a run key."""
    from .. import paths
    from ..models.registry import CONFIGS

    path = Path(model)
    if path.is_dir() and (path / "model.pt").exists():
        return path / "model.pt"
    if path.exists():
        return path
    name = str(model)
    if name in CONFIGS:
        from ..experiments.config import ExperimentConfig
        from ..data.folders import dataset_folder
        from ..experiments.runs import cached_result

        train = f"hgn train --model {name} --profile {profile} --data {data}"
        try:
            config = ExperimentConfig(name, profile=profile, data=data)
        except ValueError as exc:
            raise HGNError(str(exc)) from None
        try:
            result = cached_result(config, dataset_folder(data, profile, data_dir))
        except MissingFileError:
            result = None
        if result is None or not result.model_path.exists():
            raise MissingFileError(None, f"configuration {name} is not trained for profile {profile} on {data} data",
                                   f"train it with `{train}` (or pass a model.pt)")
        return result.model_path
    key_path = paths.cache_dir() / "runs" / name / "model.pt"
    if not path.suffix and key_path.exists():
        return key_path
    fix = f"pass a model.pt, a run key of the cache, or one of {sorted(CONFIGS)}"
    if path.suffix:
        raise MissingFileError(path, "no model file here", fix)
    raise MissingFileError(path, "neither a model file nor a configuration name", fix)


def load_lifter(path: str | Path, device: str = "cpu"):
    """The model of a ``model.pt`` (eval mode) and its metadata, checked to take H36M-17 screen-normalised input."""
    from ..experiments.artifacts import INPUT_CONVENTION, load_model

    model, info = load_model(path, device)
    convention = info.get("input") or {}
    nodes = (info.get("output") or {}).get("nodes", {})
    if convention.get("layout") != INPUT_CONVENTION["layout"] or convention.get("normalization") != "screen" \
            or nodes.get("joints") != skeleton.NUM_JOINTS:
        raise DataError(path, f"a model of another kind: input {convention.get('layout')!r} "
                              f"({convention.get('normalization')!r}), outputs {nodes}",
                        "expected a 2D-to-3D lifting model of hgn: Human3.6M-17 input, screen-normalised, "
                        "17 joints out")
    return model, info


@functools.lru_cache(maxsize=2)
def _cached_lifter(path: str, mtime_ns: int, size: int, device: str):
    """:func:`load_lifter`, reused while the file is unchanged (lifting many files with one model)."""
    return load_lifter(path, device)
