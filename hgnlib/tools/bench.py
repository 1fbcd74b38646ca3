"""``hgn bench``: training and inference speed of the models, the fast layers against their plain transcriptions.

:func:`run_bench` measures, on one device, and writes one JSON file (default
``reports/bench/bench-<cpu|cuda>.json``, written atomically):

- ``machine``: CPU model, cores, torch version and threads, device name, date;
- ``models``: per model (default :data:`DEFAULT_MODELS`) and batch size (default 64 and 256), float32, random
  inputs and targets of the model's output shapes:

  - ``train``: samples per second of a training step as :mod:`hgnlib.experiments.train` takes it: forward,
    mean-squared loss summed over the outputs, ``zero_grad``, backward, ``clip_grad_norm_(1.0)``, Adam step;
  - ``infer``: samples per second in eval mode under ``torch.no_grad()``;
  - ``peak_memory_bytes``: the peak memory of one training step. CUDA: ``torch.cuda.max_memory_allocated``
    over the step (reset before it). CPU: the same quantity rebuilt from the profiler's allocator events
    (``profile_memory=True`` records every allocation and free of the CPU allocator with its time): the tensors
    resident when the step starts (parameters, gradients, buffers, Adam state, inputs, targets; summed by
    storage) plus the largest growth of live tensor bytes during the step (the previous step's gradients, whose
    free the profiler cannot see as they were allocated before it started, are subtracted when ``zero_grad``
    runs). Unlike the peak RSS of a process,
    this counts tensors only: not the Python interpreter and libraries, not what the allocator keeps cached
    after a free, and not what one-off warm-up work (thread pools, MKL buffers) leaves behind, so CPU and CUDA
    numbers mean the same thing;
  - ``matmul_share``: the share of the training step's time spent in matrix products: the profiler's self time
    (CPU; on CUDA the device time) of ``aten::mm``, ``bmm``, ``addmm``, ``addmm_``, ``baddbmm``, ``addbmm``,
    ``matmul``, ``linear`` and the sparse products of the CPU node mixing (``_sparse_mm``,
    ``sparse_sampled_addmm``), over the total self time of the step;
  - ``reference``: the training and inference rates of the plain transcriptions
    (:func:`hgnlib.models.reference.as_reference`, the authors' formulation) measured in the same run, on a
    copy of the same weights, and ``speedup`` = fast rate / reference rate;

- per model, ``equal``: the fast model and its reference twin on the same (perturbed, so that no zero-initialised
  batch norm hides a layer) weights and input, in float64: largest absolute output difference in train and in
  eval mode and of the parameter gradients, against :data:`EQUAL_TOLERANCE` relative to the largest magnitude;
- ``epoch`` (CUDA only): seconds per training epoch of the paper profile on Human3.6M-sized data
  (:data:`EPOCH_SAMPLES` samples, batch 64, HGN-128; random tensors kept on the GPU and indexed per batch, no
  host synchronisation per step), eager, as one CUDA graph per step (:mod:`hgnlib.tools.cuda_graphs`) and, with
  ``compile`` / ``amp``, with ``torch.compile`` and bfloat16 autocast. The goal, recorded with it: under 30 s on one
  H100-class GPU. On CPU the section says it was skipped.
- ``suite`` (with ``suite``): the projected training time of that profile's whole suite: every run's steps times
  its model's measured step time, summed, and with ``jobs`` > 1 divided by the speed-up that ``jobs`` processes
  sharing the device measured together (:mod:`hgnlib.tools.sharing`); every step is timed with the threads one of
  ``jobs`` workers gets (``threads_per_process``).
- ``goal``: the fast HGN-128 training step at batch 64 on CPU at least 10x faster than the reference, with equal
  outputs; ``met`` is null when this run did not measure it.

One NVIDIA H200 measured (``reports/bench/gpu-2026-11-30.md``): eager steps are bound by kernel launches (the
paper profile's epoch 473 s), one CUDA graph per step takes it to 38 s, bf16 autocast makes both slower, and 8
processes sharing the GPU train 5.8x as many steps as one.

Every timing runs ``warmup`` untimed steps, then ``repeats`` runs of ``iters`` steps (``ref_iters`` for the slow
reference); a rate is the batch size over the median time per step. CUDA timings synchronise the device. The mesh
graphs are the real ones: ``hierarchy_graphs(body_hierarchy("anny"))``, loaded only
when a chosen model has a mesh branch. ``compile`` and ``amp`` apply to the epoch timing only.
"""
from __future__ import annotations

import copy
import datetime as _dt
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import paths
from ..errors import HGNError
from ..fileio import save_json
from ..precision import autocast_products, native_bf16
from .profiling import matmul_share, peak_step_memory, synchronizer

#: The models measured by default.
DEFAULT_MODELS = ("hgn-128", "hgn-64", "hgn-wo-mesh-c-128", "semgcn-128", "graphsh-64", "martinez")
#: The batch sizes measured by default.
DEFAULT_BATCH_SIZES = (64, 256)
#: Training samples of Human3.6M's five training subjects (the epoch the paper profile trains on).
EPOCH_SAMPLES = 312_000
#: Largest output or gradient difference between a fast model and its reference, relative to the largest magnitude.
EQUAL_TOLERANCE = 1e-9
CPU_GOAL = {"description": "the fast HGN-128 training step at batch 64 on CPU at least 10x faster than the plain "
                           "reference transcriptions, with equal outputs",
            "model": "hgn-128", "batch_size": 64, "device": "cpu", "min_speedup": 10.0}
EPOCH_GOAL = {"description": "one training epoch of the paper profile (312,000 samples, batch 64, HGN-128) in "
                             "under 30 s on one H100-class GPU", "max_seconds": 30.0}


class BenchError(HGNError):
    """Bad arguments of the benchmark (unknown model, batch size, device)."""


# --- machine --------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :mod:`platform`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(device: torch.device) -> dict:
    """CPU, cores, torch and its threads, the device's name, whether bfloat16 autocast is fast on it
    (:mod:`hgnlib.precision`), the date."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    cuda = device.type == "cuda"
    return {
        "cpu": cpu_model(), "cores": os.cpu_count(), "cores_usable": usable, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "cuda": torch.version.cuda if cuda else None, "native_bf16": native_bf16(device),
        "python": platform.python_version(),
        "platform": platform.platform(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# --- arguments ------------------------------------------------------------------------------------------------


def check_models(models: Iterable[str]) -> list[str]:
    """The names, checked against the registry (:class:`BenchError` for an unknown one)."""
    from ..models.registry import CONFIGS

    models = list(dict.fromkeys(models))
    if not models:
        raise BenchError("no model to measure: give at least one with --models")
    unknown = [m for m in models if m not in CONFIGS]
    if unknown:
        raise BenchError(f"unknown model{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(sorted(CONFIGS))}")
    return models


def check_batch_sizes(batch_sizes: Iterable[int]) -> list[int]:
    """The batch sizes, each at least 2 (batch norm needs two samples)."""
    sizes = list(dict.fromkeys(int(b) for b in batch_sizes))
    if not sizes:
        raise BenchError("no batch size to measure: give at least one with --batch-sizes")
    bad = [b for b in sizes if b < 2]
    if bad:
        raise BenchError(f"batch sizes must be at least 2 (batch norm in training needs two samples), got {bad}")
    return sizes


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``cpu`` or ``cuda`` (default: cuda when available); :class:`BenchError` for CUDA without a GPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise BenchError(f"unknown device {device!r}: expected cpu or cuda") from exc
    if device.type not in ("cpu", "cuda"):
        raise BenchError(f"unknown device {str(device)!r}: expected cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda asked for, but torch sees no CUDA device (a CPU build, or no GPU)")
    return device


def default_out(device: torch.device) -> Path:
    """``reports/bench/bench-<cpu|cuda>.json`` of the repository."""
    return paths.repo_root() / "reports" / "bench" / f"bench-{device.type}.json"


# --- measuring ------------------------------------------------------------------------------------------------


def time_per_call(fn: Callable[[], object], iters: int, warmup: int, repeats: int, device: torch.device) -> dict:
    """Seconds per call of ``fn``: ``warmup`` untimed calls, then the median over ``repeats`` runs of ``iters``."""
    sync = synchronizer(device)
    for _ in range(warmup):
        fn()
    sync()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        runs.append((time.perf_counter() - start) / iters)
    return {"seconds": statistics.median(runs), "runs": runs}


def random_batch(model: nn.Module, batch: int, device: torch.device, seed: int):
    """Random (batch, 17, 2) inputs and targets shaped like the model's outputs."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 17, 2, generator=gen)
    model.eval()
    with torch.no_grad():
        shapes = {k: tuple(v.shape[1:]) for k, v in model(x[:2].to(device)).items()}
    model.train()
    targets = {k: torch.randn(batch, *s, generator=gen).to(device) for k, s in shapes.items()}
    return x.to(device), targets


def mse_sum(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The benchmark's loss: mean squared error summed over the outputs."""
    return sum(F.mse_loss(outputs[k].float(), targets[k]) for k in outputs)


def bf16_autocast(device: torch.device, enabled: bool) -> Callable[[], object] | None:
    """What :func:`train_once` takes as ``autocast``: a maker of bfloat16 autocast contexts, or None (float32)."""
    return (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)) if enabled else None


def train_once(model: nn.Module, params: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer, x: torch.Tensor,
               targets: Mapping[str, torch.Tensor], autocast: Callable[[], object] | None = None) -> None:
    """One step of :mod:`hgnlib.experiments.train`: forward, loss, zero_grad, backward, clip at 1, Adam."""
    if autocast is None:
        out = model(x)
    else:
        with autocast():
            out = model(x)
    loss = mse_sum(out, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()


def training_step(model: nn.Module, x: torch.Tensor, targets: Mapping[str, torch.Tensor],
                  optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """:func:`train_once` on a fixed batch, as a function of nothing."""
    params = [p for p in model.parameters() if p.requires_grad]
    return lambda: train_once(model, params, optimizer, x, targets)


def inference_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """Eval-mode forward under ``no_grad`` (the model is put in eval mode by the caller)."""

    def step() -> None:
        with torch.no_grad():
            model(x)

    return step


def perturbed(model: nn.Module, seed: int, scale: float = 0.1) -> nn.Module:
    """``model`` with every parameter moved off its initial value (zero batch norms and unit logits hide errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_((scale * torch.randn(p.shape, generator=gen, dtype=torch.float64)).to(p))
    return model


def compare_with_reference(model: nn.Module, batch: int, device: torch.device, seed: int = 0) -> dict:
    """The fast model against its reference twin in float64 (see the module doc)."""
    from ..models.reference import as_reference

    fast = perturbed(copy.deepcopy(model).to(device=device, dtype=torch.float64), seed)
    ref = as_reference(fast)
    x = torch.randn(batch, 17, 2, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64).to(device)
    result: dict = {"dtype": "float64", "batch_size": batch, "tolerance": EQUAL_TOLERANCE}
    grads: list[tuple[torch.Tensor, torch.Tensor]] = []
    for mode in ("train", "eval"):
        outs = []
        for net in (fast, ref):
            net.train(mode == "train")
            net.zero_grad(set_to_none=True)
            torch.manual_seed(seed)  # the same dropout masks (Martinez) in both
            with torch.set_grad_enabled(mode == "train"):
                out = net(x)
                if mode == "train":
                    sum(v.square().mean() for v in out.values()).backward()
            outs.append(out)
        if mode == "train":
            grads = [(p.grad, q.grad) for p, q in zip(fast.parameters(), ref.parameters()) if q.grad is not None]
        diff = max(float((outs[0][k] - outs[1][k]).detach().abs().max()) for k in outs[1])
        scale = max(float(v.detach().abs().max()) for v in outs[1].values())
        result[f"outputs_{mode}_max_abs_diff"] = diff
        result[f"outputs_{mode}_scale"] = scale
    result["grads_max_abs_diff"] = max((float((a - b).abs().max()) for a, b in grads), default=0.0)
    result["grads_scale"] = max((float(b.abs().max()) for _, b in grads), default=0.0)
    result["equal"] = all(result[f"{k}_max_abs_diff"] <= EQUAL_TOLERANCE * max(1.0, result[f"{k}_scale"])
                          for k in ("outputs_train", "outputs_eval", "grads"))
    return result


def _rates(batch: int, train: dict, infer: dict) -> dict:
    return {"train_samples_per_s": batch / train["seconds"], "train_step_s": train["seconds"],
            "train_runs_s": train["runs"], "infer_samples_per_s": batch / infer["seconds"],
            "infer_step_s": infer["seconds"], "infer_runs_s": infer["runs"]}


def measure(model: nn.Module, batch: int, device: torch.device, iters: int, warmup: int, repeats: int,
            ref_iters: int, seed: int = 0, reference: bool = True) -> dict:
    """Training and inference rates, peak memory and matmul share of ``model``; the same rates of its reference."""
    from ..models.reference import as_reference

    x, targets = random_batch(model, batch, device, seed)
    twin = as_reference(model) if reference else None  # the weights before any step: the same as the fast model's
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = training_step(model, x, targets, optimizer)
    model.train()
    train = time_per_call(step, iters, warmup, repeats, device)
    share = matmul_share(step, device)
    memory = peak_step_memory(step, model, optimizer, [x, *targets.values()], device)
    model.eval()
    infer = time_per_call(inference_step(model, x), iters, warmup, repeats, device)
    entry = {**_rates(batch, train, infer), "peak_memory_bytes": memory["bytes"], "peak_memory": memory,
             "matmul_share": share}
    if twin is not None:
        twin_optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3)
        twin.train()
        ref_warmup = min(warmup, 1)
        ref_train = time_per_call(training_step(twin, x, targets, twin_optimizer), ref_iters, ref_warmup, repeats,
                                  device)
        twin.eval()
        ref_infer = time_per_call(inference_step(twin, x), ref_iters, ref_warmup, repeats, device)
        entry["reference"] = _rates(batch, ref_train, ref_infer)
        entry["speedup"] = {"train": ref_train["seconds"] / train["seconds"],
                            "infer": ref_infer["seconds"] / infer["seconds"]}
    return entry


# --- the GPU epoch --------------------------------------------------------------------------------------------


def epoch_seconds(graphs: Mapping, device: torch.device, compile: bool = False, amp: bool = False,
                  samples: int = EPOCH_SAMPLES, batch: int = 64, steps: int | None = None, seed: int = 0,
                  cuda_graph: bool = False) -> dict:
    """Seconds of one training epoch of HGN-128 on ``samples`` random samples kept on ``device``, indexed per
    batch (a new permutation per epoch, as the trainer does). ``steps``: time only that many steps and scale.
    ``cuda_graph``: each step is the replay of one captured CUDA graph (:mod:`hgnlib.tools.cuda_graphs`)."""
    from ..models.registry import build_model
    from .cuda_graphs import GraphedStep

    torch.manual_seed(seed)
    model = build_model("hgn-128", graphs).to(device)
    x_all = torch.randn(samples, 17, 2, device=device)
    with torch.no_grad():
        shapes = {k: tuple(v.shape[1:]) for k, v in model.eval()(x_all[:2]).items()}
    model.train()
    targets_all = {k: torch.randn(samples, *s, device=device) for k, s in shapes.items()}
    net = torch.compile(model) if compile else model
    cast = bf16_autocast(device, amp)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=cuda_graph)
    params = list(model.parameters())
    total = samples // batch
    timed = total if steps is None else max(1, min(int(steps), total))
    sync = synchronizer(device)
    capture_s = 0.0
    if cuda_graph:
        started = time.perf_counter()
        first = torch.arange(batch, device=device)
        graphed = GraphedStep(net, optimizer, mse_sum, x_all[first], {k: v[first] for k, v in targets_all.items()},
                              amp=amp)
        sync()
        capture_s = time.perf_counter() - started

    def run(count: int) -> float:
        order = torch.randperm(samples, device=device)
        sync()
        start = time.perf_counter()
        for i in range(count):
            index = order[i * batch:(i + 1) * batch]
            targets = {k: v[index] for k, v in targets_all.items()}
            if cuda_graph:
                graphed(x_all[index], targets)
            else:
                train_once(net, params, optimizer, x_all[index], targets, cast)
        sync()
        return time.perf_counter() - start

    warm = run(min(10, total))  # includes torch.compile's compilation
    seconds = run(timed)
    return {"seconds": seconds * total / timed, "steps": total, "timed_steps": timed,
            "extrapolated": timed < total, "warmup_s": warm + capture_s, "compile": compile,
            "amp": "bfloat16 autocast" if amp else None, "cuda_graph": cuda_graph}


def epoch_section(graphs: Mapping | None, device: torch.device, compile: bool, amp: bool, steps: int | None,
                  progress: Callable[[str], None]) -> dict:
    """The ``epoch`` entry: the variants' seconds per epoch on CUDA, or why it was skipped."""
    if device.type != "cuda":
        return {"skipped": True, "reason": "measured on CUDA only: an epoch of 312,000 samples takes many minutes "
                                           "per variant on a CPU", "goal": EPOCH_GOAL}
    variants = {"eager": (False, False, False), "cuda-graph": (False, False, True)}
    if compile:
        variants["compile"] = (True, False, False)
    if amp:
        variants["amp"] = (False, True, False)
        variants["cuda-graph+amp"] = (False, True, True)
    if compile and amp:
        variants["compile+amp"] = (True, True, False)
    section: dict = {"model": "hgn-128", "samples": EPOCH_SAMPLES, "batch_size": 64, "variants": {}}
    for name, (use_compile, use_amp, use_graph) in variants.items():
        progress(f"epoch {name}")
        try:
            section["variants"][name] = epoch_seconds(graphs, device, use_compile, use_amp, steps=steps,
                                                      cuda_graph=use_graph)
        except Exception as exc:  # noqa: BLE001 (a compiler or autocast failure is a result, not a crash)
            section["variants"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    timed = {k: v["seconds"] for k, v in section["variants"].items() if "seconds" in v}
    best = min(timed, key=timed.get) if timed else None
    section["goal"] = {**EPOCH_GOAL, "best_variant": best, "best_seconds": timed.get(best),
                       "met": None if best is None else timed[best] < EPOCH_GOAL["max_seconds"]}
    return section


# --- a profile's whole suite ----------------------------------------------------------------------------------

#: The goal of the standard profile's suite on one GPU.
SUITE_GOAL = {"description": "every run of the standard profile's suite, on one H100/H200-class GPU",
              "profile": "standard", "device": "cuda", "max_seconds": 600.0}


def suite_section(profile: str, device: torch.device, graphs: Mapping | None, jobs: int, iters: int, warmup: int,
                  repeats: int, seed: int, progress: Callable[[str], None]) -> dict:
    """The projected training time of ``profile``'s whole suite on ``device``: for every run, its steps times the
    measured step time (batch 64, eager, the recipe's autocast with :func:`hgnlib.precision.autocast_products`, as
    the suite's workers train) of its model, summed for one process; with ``jobs`` > 1, divided by the speed-up
    that ``jobs`` processes sharing the device measured (:func:`hgnlib.tools.sharing.shared_rate`;
    ``ideal_seconds`` divides by ``jobs`` instead). The step times are
    measured with the threads one of ``jobs`` workers gets (:func:`~hgnlib.experiments.parallel.worker_threads`),
    as the sharing measurement's processes are: timing them with all the cores would make the projection of a
    CPU suite too short by as much as the extra threads speed a step up."""
    from ..experiments.parallel import total_steps, worker_threads
    from ..experiments.suite import all_configs
    from ..models.registry import build_model
    from ..profiles import get_profile
    from .sharing import shared_rate

    recipe = get_profile(profile).recipe
    cast = bf16_autocast(device, recipe.amp)
    configs = all_configs("embedded", profile)
    step_seconds: dict[str, float] = {}
    threads, own_threads = worker_threads(jobs, device), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for name in dict.fromkeys(c.model for c in configs):
            progress(f"suite: {name}")
            torch.manual_seed(seed)
            model = build_model(name, graphs).to(device)
            x, targets = random_batch(model, recipe.batch_size, device, seed)
            optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
            params = [p for p in model.parameters() if p.requires_grad]
            with autocast_products(recipe.amp, device):  # as the suite's workers train
                step = time_per_call(lambda: train_once(model, params, optimizer, x, targets, cast), iters, warmup,
                                     repeats, device)
            step_seconds[name] = step["seconds"]
    finally:
        torch.set_num_threads(own_threads)
    runs = [{"run": c.label, "steps": total_steps(c), "step_s": step_seconds[c.model]} for c in configs]
    one_process = sum(r["steps"] * r["step_s"] for r in runs)
    shared = None
    if jobs > 1:
        progress(f"suite: {jobs} processes sharing the device")
        shared = shared_rate(graphs, device, jobs, steps=max(20, 10 * iters), amp=recipe.amp, seed=seed)
    projected = one_process / (shared["speedup"] if shared else 1.0)
    goal = {**SUITE_GOAL, "projected_seconds": projected,
            "met": projected <= SUITE_GOAL["max_seconds"] if (device.type, profile) == ("cuda", "standard") else None}
    return {"profile": profile, "runs": runs, "step_seconds": step_seconds, "threads_per_process": threads,
            "one_process_seconds": one_process, "jobs": jobs, "shared": shared, "projected_seconds": projected,
            "ideal_seconds": one_process / jobs, "goal": goal,
            "note": "projection: steps x measured step time (no validation, evaluation or data preparation), "
                    "divided by the speed-up measured with the workers sharing the device"}


# --- the whole benchmark --------------------------------------------------------------------------------------


def load_graphs(models: Sequence[str], padded: bool = False) -> dict | None:
    """The anny mesh graphs when a model has a mesh branch (None otherwise: skeleton-only models need none)."""
    from ..models.registry import get_config

    if not any(g != "skeleton" for m in models for g in get_config(m).graphs):
        return None
    from ..graphs import body_hierarchy
    from ..models.registry import hierarchy_graphs

    return hierarchy_graphs(body_hierarchy("anny", padded=padded))


def _goal(models: dict, device: torch.device) -> dict:
    goal = dict(CPU_GOAL)
    entry = models.get(goal["model"], {})
    row = entry.get("batch_sizes", {}).get(str(goal["batch_size"]))
    if device.type != goal["device"] or row is None or "speedup" not in row:
        return {**goal, "speedup": None, "outputs_equal": None, "met": None,
                "note": "not measured in this run (needs hgn-128 at batch 64 on the CPU, with its reference)"}
    speedup, equal = row["speedup"]["train"], entry.get("equal", {}).get("equal")
    return {**goal, "speedup": speedup, "outputs_equal": equal, "met": bool(speedup >= goal["min_speedup"] and equal)}


def run_bench(models: Sequence[str] = DEFAULT_MODELS, batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
              device: str | torch.device | None = None, out: str | Path | None = None, iters: int = 10,
              warmup: int = 3, repeats: int = 3, ref_iters: int = 2, threads: int | None = None,
              compile: bool = False, amp: bool = False, epoch_steps: int | None = None, padded: bool = False,
              graphs: Mapping | None = None, reference: bool = True, progress: bool = True, seed: int = 0,
              latency: bool = True, suite: str | None = None, jobs: int = 1) -> dict:
    """Measure (see the module doc), write the JSON to ``out`` (default :func:`default_out`) and return it.

    ``graphs``: mesh graphs to use instead of the anny hierarchy (tests); ``reference``: also time the references;
    ``latency``: also the per-frame CPU inference latency of the first model with PyTorch and ONNX Runtime
    (:func:`deployment_latency`); ``suite``: also the projected training time of that profile's whole suite with
    ``jobs`` workers (:func:`suite_section`).
    """
    from tqdm.auto import tqdm

    from ..models.registry import build_model, count_params

    models, batch_sizes = check_models(models), check_batch_sizes(batch_sizes)
    for name, value, low in (("iters", iters, 1), ("repeats", repeats, 1), ("ref_iters", ref_iters, 1),
                             ("warmup", warmup, 0)):
        if int(value) < low:
            raise BenchError(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
    if threads is not None:
        if threads < 1:
            raise BenchError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    device = resolve_device(device)
    out = Path(out) if out else default_out(device)
    if graphs is None:
        graphs = load_graphs(models + (["hgn-128"] if device.type == "cuda" or suite else []), padded)
    nodes = {k: int(v[0].shape[0]) if isinstance(v, tuple) else int(v.num_nodes) for k, v in (graphs or {}).items()}
    result: dict = {
        "machine": machine_info(device),
        "settings": {"models": models, "batch_sizes": batch_sizes, "iters": iters, "warmup": warmup,
                     "repeats": repeats, "ref_iters": ref_iters, "dtype": "float32", "compile": compile, "amp": amp,
                     "optimizer": "Adam lr 1e-3", "loss": "MSE summed over outputs", "clip_grad_norm": 1.0,
                     "mesh_graph_nodes": nodes, "padded": padded, "seed": seed},
        "models": {},
    }
    bar = tqdm(total=len(models) * (len(batch_sizes) + 1) + (device.type == "cuda"), desc="bench", unit="run",
               disable=not progress)
    for name in models:
        torch.manual_seed(seed)
        model = build_model(name, graphs).to(device)
        bar.set_description(f"{name} equal")
        entry = {"params": count_params(model), "equal": compare_with_reference(model, min(batch_sizes), device, seed),
                 "batch_sizes": {}}
        bar.update(1)
        for batch in batch_sizes:
            bar.set_description(f"{name} batch {batch}")
            torch.manual_seed(seed)
            fresh = build_model(name, graphs).to(device)
            entry["batch_sizes"][str(batch)] = measure(fresh, batch, device, iters, warmup, repeats, ref_iters, seed,
                                                       reference)
            bar.update(1)
        result["models"][name] = entry
    result["epoch"] = epoch_section(graphs, device, compile, amp, epoch_steps, bar.set_description)
    if suite:
        result["suite"] = suite_section(suite, device, graphs, jobs, iters, warmup, repeats, seed, bar.set_description)
    if latency:
        bar.set_description(f"{models[0]} latency")
        result["deployment_latency"] = deployment_latency(models[0], graphs, seed)
    if device.type == "cuda":
        bar.update(1)
    bar.close()
    result["goal"] = _goal(result["models"], device)
    save_json(out, result)
    result["path"] = str(out)
    return result


def deployment_latency(name: str, graphs: Mapping | None, seed: int = 0) -> dict:
    """Per-frame CPU inference latency of model ``name`` (random weights; the time does not depend on them) with
    PyTorch and ONNX Runtime, through a model file and its ONNX export (:func:`hgnlib.export.measure_latency`)."""
    import tempfile

    from ..experiments.artifacts import save_model
    from ..export import measure_latency
    from ..models.registry import build_model, get_config, prepare_graphs

    torch.manual_seed(seed)
    prepared = prepare_graphs(graphs, get_config(name).graphs)
    with tempfile.TemporaryDirectory() as folder:
        path = save_model(Path(folder) / "model.pt", build_model(name, prepared).eval(), name, prepared)
        return measure_latency(path, threads=torch.get_num_threads())


def table_rows(result: Mapping) -> list[dict]:
    """One row per model and batch size, for the printed table."""
    rows = []
    for name, entry in result["models"].items():
        for batch, r in entry["batch_sizes"].items():
            ref, speed = r.get("reference"), r.get("speedup")
            memory = r.get("peak_memory_bytes")
            rows.append({
                "model": name, "batch": batch, "train/s": f"{r['train_samples_per_s']:.0f}",
                "infer/s": f"{r['infer_samples_per_s']:.0f}",
                "ref train/s": f"{ref['train_samples_per_s']:.1f}" if ref else "-",
                "ref infer/s": f"{ref['infer_samples_per_s']:.1f}" if ref else "-",
                "speedup train": f"{speed['train']:.1f}x" if speed else "-",
                "speedup infer": f"{speed['infer']:.1f}x" if speed else "-",
                "peak MB": "-" if memory is None else f"{memory / 2 ** 20:.0f}",
                "matmul": "-" if r.get("matmul_share") is None else f"{100 * r['matmul_share']:.0f}%",
                "equal": "yes" if entry["equal"]["equal"] else "NO"})
    return rows


def summary_lines(result: Mapping) -> list[str]:
    """The goal and the epoch, as text."""
    m, goal, epoch = result["machine"], result["goal"], result["epoch"]
    lines = [f"{m['device_name']} ({m['cores']} cores, torch {m['torch']}, {m['torch_threads']} threads)"]
    if goal.get("met") is None:
        lines.append(f"goal (>= {goal['min_speedup']:.0f}x, HGN-128 batch 64 training on CPU): not measured here")
    else:
        lines.append(f"goal (>= {goal['min_speedup']:.0f}x, HGN-128 batch 64 training on CPU): "
                     f"{goal['speedup']:.1f}x, outputs {'equal' if goal['outputs_equal'] else 'DIFFERENT'} -> "
                     f"{'met' if goal['met'] else 'NOT met'}")
    if epoch.get("skipped"):
        lines.append(f"epoch timing skipped: {epoch['reason']}")
    else:
        for name, v in epoch["variants"].items():
            lines.append(f"epoch ({name}): " + (v["error"] if "error" in v else
                         f"{v['seconds']:.1f} s{' (extrapolated)' if v['extrapolated'] else ''}"))
        g = epoch["goal"]
        if g["met"] is not None:
            lines.append(f"epoch goal (< {g['max_seconds']:.0f} s): {g['best_seconds']:.1f} s ({g['best_variant']})"
                         f" -> {'met' if g['met'] else 'NOT met'}")
    if "suite" in result:
        su = result["suite"]
        lines.append(f"suite '{su['profile']}' ({len(su['runs'])} runs): projected {su['one_process_seconds'] / 60:.1f} "
                     f"min in one process of {su['threads_per_process']} thread(s), {su['projected_seconds'] / 60:.1f} min "
                     f"with {su['jobs']} such workers"
                     + (f" (they share it {su['shared']['speedup']:.2f}x as fast as one)" if su.get("shared") else "")
                     + ("" if su["goal"]["met"] is None else
                        f" -> goal (<= {su['goal']['max_seconds'] / 60:.0f} min) {'met' if su['goal']['met'] else 'NOT met'}"))
    return lines
