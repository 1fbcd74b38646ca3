"""A trained model as one self-contained file (``model.pt``): weights, graphs, input convention, provenance.

Everything needed to run the model on new 2D keypoints is inside, so a user never re-derives it:

- ``model``: the configuration name and its definition (:class:`hgnlib.models.registry.ModelConfig` fields);
- ``graphs``: the adjacency (and real-node mask) of every graph the model uses;
- ``state_dict``: the weights;
- ``input``: the joint layout (Human3.6M-17) and the screen normalisation ``u' = 2u/w - 1, v' = 2v/w - h/w``
  (w, h: image width and height in pixels), with the left/right permutation used for flips;
- ``output``: units (metres), frame (camera axes, pelvis at the origin) and the nodes of each output;
- ``experiment``, ``key``, ``metrics``: the run that produced it (configuration, cache key, test summary).

:func:`load_model` rebuilds the network in evaluation mode; a file of another kind or format is refused with a
message that says what was expected.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .. import skeleton
from ..errors import DataError, MissingFileError
from ..fileio import atomic_path
from ..safeload import load_torch
from ..models.graph import Graph, as_graph
from ..models.registry import ModelConfig, build_model, get_config

FORMAT = "hgn-model/1"
INPUT_CONVENTION = {
    "layout": "h36m17",
    "joints": list(skeleton.H36M17_NAMES),
    "normalization": "screen",
    "formula": "u' = 2u/w - 1, v' = 2v/w - h/w (w, h: image width and height in pixels)",
    "flip_permutation": list(skeleton.FLIP_PERMUTATION),
}


def save_model(path: str | Path, model: nn.Module, model_name: str | ModelConfig, graphs: Mapping[str, Graph],
               experiment: dict | None = None, key: str | None = None, metrics: dict | None = None) -> Path:
    """Write the bundle atomically; ``graphs`` are the prepared graphs the model was built on."""
    config = get_config(model_name)
    was_training = model.training
    with torch.no_grad():  # in evaluation mode: a probe in training mode would move the batch-norm statistics
        probe = model.eval()(torch.zeros(1, skeleton.NUM_JOINTS, 2, device=next(model.parameters()).device))
    model.train(was_training)
    bundle = {
        "format": FORMAT,
        "model": {"name": config.name, **asdict(config)},
        "graphs": {name: {"adjacency": g.adjacency.cpu(), "mask": None if g.mask is None else g.mask.cpu(),
                          "padding": g.padding}
                   for name, g in graphs.items() if name in config.graphs},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "input": INPUT_CONVENTION,
        "output": {"units": "metres", "frame": "camera axes, pelvis-relative",
                   "nodes": {name: int(value.shape[1]) for name, value in probe.items()}},
        "experiment": experiment, "key": key, "metrics": metrics,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(bundle, tmp)
    return path


def read_bundle(path: str | Path) -> dict[str, Any]:
    """The raw bundle, checked for its format."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "no model file here",
                               "train one (`hgn train ...`) and pass its model.pt, or a configuration name")
    if path.is_dir():
        raise DataError(path, "a folder, not a model file", "pass the model.pt inside it (e.g. a run folder's)")
    bundle = load_torch(path, "model file", f"pass a model.pt written by hgn ({FORMAT}); to convert another "
                        "file, load it in a trusted Python and save only tensors, dicts, lists, strings and numbers")
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        found = bundle.get("format") if isinstance(bundle, dict) else type(bundle).__name__
        raise DataError(path, f"format {found!r}, expected {FORMAT!r}",
                        "pass the model.pt of a finished run (a resumable checkpoint.pt is not a model file)")
    _check_entries(path, bundle)
    return bundle


def _check_entries(path: Path, bundle: dict) -> None:
    """Raise DataError unless the bundle has the entries :func:`load_model` reads, of the right kinds."""
    fix = "the file is damaged or was edited; use the model.pt of a finished run, or retrain it"
    for key in ("model", "graphs", "state_dict"):
        if not isinstance(bundle.get(key), dict):
            found = "missing" if key not in bundle else f"a {type(bundle[key]).__name__}"
            raise DataError(path, f"entry {key!r} is {found}, expected a dict", fix)
    if not isinstance(bundle["model"].get("name"), str):
        raise DataError(path, "entry 'model' has no configuration 'name'", fix)
    for name, graph in bundle["graphs"].items():
        if not (isinstance(graph, dict) and isinstance(graph.get("adjacency"), torch.Tensor)
                and (graph.get("mask") is None or isinstance(graph["mask"], torch.Tensor))):
            raise DataError(path, f"graph {name!r} is not a dict with an 'adjacency' tensor and a 'mask'", fix)
    if not all(isinstance(v, torch.Tensor) for v in bundle["state_dict"].values()):
        raise DataError(path, "entry 'state_dict' holds values that are not tensors", fix)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The network of a bundle in evaluation mode, and the bundle's metadata (everything but the weights)."""
    bundle = read_bundle(path)
    info = {k: v for k, v in bundle.items() if k != "state_dict"}
    fields = {k: v for k, v in bundle["model"].items() if k in ModelConfig.__dataclass_fields__}
    try:
        config = ModelConfig(**fields)
        graphs = {name: as_graph(g["adjacency"], g["mask"], g.get("padding", "inert"))
                  for name, g in bundle["graphs"].items()}
        model = build_model(config, graphs)
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise DataError(Path(path), f"cannot rebuild model {bundle['model']['name']!r} from the file's 'model' and "
                                    f"'graphs' entries ({type(exc).__name__}: {exc})",
                        "the file is damaged or was written by another version of the model code; retrain it") from None
    try:
        model.load_state_dict(bundle["state_dict"])
    except RuntimeError as exc:
        raise DataError(Path(path), f"the weights do not fit model {config.name!r}: {str(exc).splitlines()[0]}",
                        "the file was written by another version of the model code; retrain it") from None
    return model.to(device).eval(), info
