"""What the PyTorch profiler tells ``hgn bench``: the peak memory of a CPU training step rebuilt from the allocator
events (CUDA: the allocator's own peak), and the share of a step's time spent in matrix products."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn

#: The profiler op names counted as matrix products.
MATMUL_OPS = frozenset({
    "aten::mm", "aten::bmm", "aten::addmm", "aten::addmm_", "aten::baddbmm", "aten::baddbmm_", "aten::addbmm",
    "aten::addbmm_", "aten::matmul", "aten::linear", "aten::_sparse_mm", "aten::_sparse_addmm",
    "aten::sparse_sampled_addmm", "aten::_sparse_csr_mm"})


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (CUDA), or does nothing (CPU)."""
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def resident_bytes(*groups: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind the given tensors."""
    seen: dict[int, int] = {}
    for group in groups:
        for t in group:
            if isinstance(t, torch.Tensor) and t.numel():
                storage = t.untyped_storage()
                seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def peak_step_memory(step: Callable[[], None], model: nn.Module, optimizer: torch.optim.Optimizer,
                     inputs: Sequence[torch.Tensor], device: torch.device) -> dict:
    """Peak memory of one training step (see the module doc): ``{"bytes", "method"}``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return {"bytes": int(torch.cuda.max_memory_allocated(device)), "method": "torch.cuda.max_memory_allocated"}
    params = list(model.parameters())
    grads = [p.grad for p in params if p.grad is not None]
    resident = resident_bytes(params, grads, model.buffers(), _optimizer_tensors(optimizer), inputs)
    old_grads = resident_bytes(grads)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    try:
        events = prof.profiler.kineto_results.events()
        records = [(e.start_ns(), e.nbytes()) for e in events
                   if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
        # The profiler records no free of a block allocated before it started: the previous step's gradients,
        # released by zero_grad(set_to_none=True), are subtracted when zero_grad starts.
        zero_grad = [e.start_ns() for e in events if e.name().startswith("Optimizer.zero_grad")]
    except AttributeError:  # the profiler's internals moved
        return {"bytes": None, "method": "unavailable: this torch's profiler exposes no allocator events"}
    if zero_grad and old_grads:
        records.append((zero_grad[0], -old_grads))
    records.sort()
    live = growth = 0
    for _, nbytes in records:
        live += nbytes
        growth = max(growth, live)
    return {"bytes": resident + growth, "resident_bytes": resident, "step_growth_bytes": growth,
            "method": "resident tensors + peak growth of live tensor bytes (torch.profiler allocator events)"}


def matmul_share(step: Callable[[], None], device: torch.device, steps: int = 2) -> float | None:
    """Share of the step's profiled self time (CPU, or CUDA device time) spent in :data:`MATMUL_OPS`."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        synchronizer(device)()
    rows = prof.key_averages()
    if not cuda:
        total = sum(r.self_cpu_time_total for r in rows)
        matmul = sum(r.self_cpu_time_total for r in rows if r.key in MATMUL_OPS)
    else:
        device_time = lambda r: getattr(r, "self_device_time_total", 0) or 0  # noqa: E731
        kernel = lambda r: getattr(r, "device_type", None) == torch.autograd.DeviceType.CUDA  # noqa: E731
        total = sum(device_time(r) for r in rows if kernel(r))
        matmul = sum(device_time(r) for r in rows if r.key in MATMUL_OPS and not kernel(r))
    return matmul / total if total > 0 else None
