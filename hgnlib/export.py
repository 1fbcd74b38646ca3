"""Export a trained model to ONNX for deployment, check it against PyTorch, measure CPU latency: ``hgn export``.

The exporter is torch's ``torch.onnx.export(..., dynamo=True)`` (the default of torch >= 2.9), which captures the
network with ``torch.export`` and translates it with ``onnxscript`` (a dependency for that reason). The older
TorchScript exporter (``dynamo=False``, no ``onnxscript``) is not used: it silently drops the in-place
accumulations of the fusion layers (``addmm_``: its own warning says "Removing mutation ... This changes graph
semantics") and the file it writes gives outputs metres away from PyTorch's. Everything runs offline.

The ONNX file (:func:`export_onnx`) has one input, ``keypoints`` (batch, 17, 2) float32: Human3.6M-17 joints in
normalised screen coordinates (``u' = 2u/w - 1, v' = 2v/w - h/w``, see :mod:`hgnlib.lift`); the batch axis is
dynamic. Its outputs are the model's, by name: ``joints`` (batch, 17, 3) and, for the HGN variants, ``mesh_c``
(batch, N_C, 3) and/or ``mesh_c1`` (batch, N_C-1, 3), metres, camera axes, pelvis-relative. The model's metadata
travel in the file's ``metadata_props`` (:func:`onnx_metadata`): ``hgn.model`` (configuration name), ``hgn.input``
and ``hgn.output`` (the conventions of :mod:`hgnlib.experiments.artifacts`, JSON), ``hgn.key`` (the run), ``hgn.format``.
Test-time flip is not in the graph: run the flipped input too and average (:func:`hgnlib.data.dataset.flip_average`).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import skeleton
from .errors import DataError, HGNError
from .fileio import atomic_path, check_output_path

INPUT_NAME = "keypoints"
#: Tolerance of the equivalence check (max abs difference, metres).
TOLERANCE = 1e-4


class _NamedOutputs(nn.Module):
    """The model with its dict of outputs as a tuple in a fixed order (ONNX outputs are positional)."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(keypoints)
        return tuple(outputs[n] for n in self.names)


def _require_onnx():
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401 (the dynamo exporter imports it)
    except ImportError as exc:
        raise HGNError(f"ONNX export needs the packages onnx, onnxruntime and onnxscript ({exc}): "
                       "`pip install onnx onnxruntime onnxscript` (they are dependencies of hgnlib)") from None
    return onnx, onnxruntime


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress lines, warnings and its libraries' log messages."""
    loggers = [logging.getLogger(n) for n in ("onnxscript", "onnx_ir", "torch.onnx", "torch.export",
                                               "torch._dynamo", "torch.fx.experimental.symbolic_shapes")]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root_level = root.level
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        root.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        root.setLevel(root_level)


def _example_inputs(batch: int, seed: int = 0) -> torch.Tensor:
    """Plausible normalised inputs: a standing pose in the middle of the image, jittered."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.tensor([[0.0, 0.0], [-0.05, 0.0], [-0.06, 0.2], [-0.06, 0.4], [0.05, 0.0], [0.06, 0.2],
                         [0.06, 0.4], [0.0, -0.12], [0.0, -0.24], [0.0, -0.29], [0.0, -0.34], [0.07, -0.22],
                         [0.1, -0.1], [0.11, 0.01], [-0.07, -0.22], [-0.1, -0.1], [-0.11, 0.01]])
    return base + 0.04 * torch.randn(batch, skeleton.NUM_JOINTS, 2, generator=generator)


def export_onnx(model_path: str | Path, out: str | Path, check: bool = True, opset: int | None = None) -> dict:
    """Write the ONNX file of a ``model.pt`` to ``out`` (atomically); returns a report: file, model name, outputs,
    opset, seconds, and with ``check`` the max abs difference to PyTorch (:func:`check_onnx`), which must stay below
    :data:`TOLERANCE` (else :class:`~hgnlib.errors.HGNError`)."""
    from .experiments.artifacts import load_model

    out = check_output_path(out, (".onnx",))
    onnx, _ = _require_onnx()
    model, info = load_model(model_path)
    example = _example_inputs(4)
    with torch.no_grad():
        names = list(model(example))
    wrapper = _NamedOutputs(model, names).eval()
    out = Path(out)
    started = time.perf_counter()
    with atomic_path(out) as tmp, _quiet():
        batch = torch.export.Dim("batch", min=1, max=1 << 20)
        kwargs = {} if opset is None else {"opset_version": opset}
        torch.onnx.export(wrapper, (example,), str(tmp), dynamo=True, input_names=[INPUT_NAME], output_names=names,
                          dynamic_shapes=({0: batch},), external_data=False, verbose=False, **kwargs)
        proto = onnx.load(str(tmp))
        props = {"hgn.format": info.get("format", ""), "hgn.model": info["model"]["name"],
                 "hgn.input": json.dumps({"name": INPUT_NAME, "shape": ["batch", skeleton.NUM_JOINTS, 2],
                                          "dtype": "float32", **info["input"]}),
                 "hgn.output": json.dumps({"names": names, **info["output"]}),
                 "hgn.key": str(info.get("key") or "")}
        onnx.helper.set_model_props(proto, props)
        proto.doc_string = (f"hgn {info['model']['name']}: Human3.6M-17 2D keypoints (normalised screen coordinates) "
                            f"-> {', '.join(names)} in metres, camera axes, pelvis-relative")
        onnx.save(proto, str(tmp))
    seconds = time.perf_counter() - started
    report = {"file": str(out), "model": info["model"]["name"], "outputs": names,
              "opset": int(next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))),
              "seconds": round(seconds, 2)}
    if check:
        report["max_abs_diff"] = check_onnx(out, model_path)
        if not report["max_abs_diff"] <= TOLERANCE:
            raise HGNError(f"{out}: the ONNX model differs from PyTorch by {report['max_abs_diff']:.3g} "
                           f"(tolerance {TOLERANCE:g}); report it with your torch and onnxscript versions")
    return report


def _session(onnx_path: str | Path, threads: int | None = None):
    _, ort = _require_onnx()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise DataError(onnx_path, f"ONNX Runtime cannot load it ({type(exc).__name__}: {exc})",
                        "pass an .onnx file written by `hgn export`") from None


def check_onnx(onnx_path: str | Path, model_path: str | Path, batch_sizes: tuple[int, ...] = (1, 7),
               seed: int = 0) -> float:
    """The max abs difference (metres) between ONNX Runtime and PyTorch outputs, over every output and the given
    batch sizes (the batch axis is dynamic, so sizes other than the export's are checked too)."""
    from .experiments.artifacts import load_model

    model, _ = load_model(model_path)
    session = _session(onnx_path)
    names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for i, batch in enumerate(batch_sizes):
        x = _example_inputs(batch, seed + i)
        with torch.no_grad():
            expected = model(x)
        got = session.run(names, {INPUT_NAME: x.numpy()})
        for name, value in zip(names, got):
            worst = max(worst, float(np.abs(value - expected[name].numpy()).max()))
    return worst


def onnx_metadata(onnx_path: str | Path) -> dict:
    """The ``metadata_props`` of an ONNX file, the JSON ones parsed."""
    onnx, _ = _require_onnx()
    proto = onnx.load(str(onnx_path), load_external_data=False)
    out = {}
    for prop in proto.metadata_props:
        try:
            out[prop.key] = json.loads(prop.value) if prop.key in ("hgn.input", "hgn.output") else prop.value
        except json.JSONDecodeError:
            out[prop.key] = prop.value
    return out


def _median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def measure_latency(model_path: str | Path, batch: int = 256, repeats: int = 30, warmup: int = 3,
                    threads: int | None = None, onnx_path: str | Path | None = None) -> dict:
    """Per-frame CPU inference latency of a ``model.pt`` with PyTorch (eval mode, ``torch.inference_mode``) and with
    ONNX Runtime (CPU provider), at batch 1 and at ``batch``: the median over ``repeats`` timed calls (after
    ``warmup``) divided by the batch size, in milliseconds. The ONNX file is exported to a temporary folder unless
    ``onnx_path`` is given. ``threads``: intra-op threads of both runtimes (default: torch's current setting).
    Time on an otherwise idle machine: when other processes share the cores, the threads of a parallel region wait
    for each other (OpenMP), and multi-threaded PyTorch on these small networks can slow down by orders of
    magnitude (``threads=1`` is then the meaningful measurement).

    Returns ``{"model", "params", "device": "cpu", "threads", "batch_sizes": [1, batch], "repeats",
    "torch_version", "onnxruntime_version", "max_abs_diff", "export_seconds", "ms_per_frame": {"pytorch": {"1": ..,
    "<batch>": ..}, "onnxruntime": {...}}, "ms_per_batch": {same}}``.
    """
    from .experiments.artifacts import load_model
    from .models.registry import count_params

    _, ort = _require_onnx()
    model, info = load_model(model_path, "cpu")
    previous_threads = torch.get_num_threads()
    threads = threads or previous_threads
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as folder:
            export_seconds = None
            if onnx_path is None:
                onnx_path = Path(folder) / "model.onnx"
                export_seconds = export_onnx(model_path, onnx_path, check=False)["seconds"]
            session = _session(onnx_path, threads)
            sizes = [1, int(batch)]
            per_batch: dict[str, dict[str, float]] = {"pytorch": {}, "onnxruntime": {}}
            for size in sizes:
                x = _example_inputs(size)
                feed = {INPUT_NAME: x.numpy()}

                def run_torch(x=x):
                    with torch.inference_mode():
                        model(x)

                per_batch["pytorch"][str(size)] = _median_ms(run_torch, repeats, warmup)
                per_batch["onnxruntime"][str(size)] = _median_ms(lambda feed=feed: session.run(None, feed), repeats,
                                                                 warmup)
            diff = check_onnx(onnx_path, model_path)
    finally:
        torch.set_num_threads(previous_threads)
    per_frame = {rt: {k: v / int(k) for k, v in d.items()} for rt, d in per_batch.items()}
    rnd = lambda d: {rt: {k: round(v, 4) for k, v in x.items()} for rt, x in d.items()}  # noqa: E731
    return {"model": info["model"]["name"], "params": count_params(model), "device": "cpu", "threads": threads,
            "batch_sizes": sizes, "repeats": repeats, "torch_version": torch.__version__,
            "onnxruntime_version": ort.__version__, "max_abs_diff": diff, "export_seconds": export_seconds,
            "ms_per_frame": rnd(per_frame), "ms_per_batch": rnd(per_batch)}
