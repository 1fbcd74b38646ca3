"""How well worker processes share one device: ``hgn bench --suite ... --jobs N`` measures it.

``hgn reproduce --device cuda --jobs N`` trains N runs at once in N processes on one GPU. Whether that is N times
faster than one process depends on how busy one process keeps the device: a small model launched op by op leaves
it idle between kernels, and other processes' kernels can fill the gaps, until the device (or the host's cores)
are saturated. :func:`shared_rate` starts ``jobs`` processes that each train HGN-128 (batch 64, random data on the
device) for the same number of steps, released together by a barrier, and reports the aggregate steps per second
against one process alone. Every process, the lone one included, runs the threads a worker of ``hgn reproduce
--jobs N`` would get (:func:`hgnlib.experiments.parallel.worker_threads`), so the speed-up compares like with like.
"""
from __future__ import annotations

import queue
import time
from typing import Mapping

import torch

#: The model whose step the sharing measurement runs (the suite's most frequent and largest).
SHARED_MODEL = "hgn-128"
#: How long the parent waits for a worker's result before giving up on the measurement.
WORKER_TIMEOUT_S = 300


def _worker(graphs: Mapping | None, device: str, steps: int, warmup: int, amp: bool, seed: int, threads: int,
            barrier, results) -> None:
    from ..models.registry import build_model
    from ..precision import autocast_products
    from .bench import bf16_autocast, random_batch, train_once
    from .profiling import synchronizer

    try:
        torch.set_num_threads(threads)
        dev = torch.device(device)
        torch.manual_seed(seed)
        model = build_model(SHARED_MODEL, graphs).to(dev)
        x, targets = random_batch(model, 64, dev, seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        params = [p for p in model.parameters() if p.requires_grad]
        cast = bf16_autocast(dev, amp)
        sync = synchronizer(dev)
        with autocast_products(amp, dev):  # as the suite's workers train
            for _ in range(warmup):
                train_once(model, params, optimizer, x, targets, cast)
            sync()
            barrier.wait()
            start = time.perf_counter()
            for _ in range(steps):
                train_once(model, params, optimizer, x, targets, cast)
            sync()
        results.put(("ok", time.perf_counter() - start))
    except BaseException as exc:  # noqa: BLE001 (reported to the parent, which raises)
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def _timed(graphs: Mapping | None, device: torch.device, jobs: int, steps: int, warmup: int, amp: bool,
           seed: int, threads: int) -> float:
    """Seconds until all of ``jobs`` processes of ``threads`` threads have trained ``steps`` steps each, started
    together."""
    ctx = torch.multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(jobs), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(graphs, str(device), steps, warmup, amp, seed + i, threads, barrier,
                                                    results))
               for i in range(jobs)]
    for w in workers:
        w.start()
    try:
        outcomes = [results.get(timeout=WORKER_TIMEOUT_S) for _ in workers]
    except queue.Empty:
        for w in workers:
            w.kill()
        raise RuntimeError(f"a worker of the sharing measurement gave no result in {WORKER_TIMEOUT_S} s") from None
    for w in workers:
        w.join()
    errors = [value for status, value in outcomes if status != "ok"]
    if errors:
        raise RuntimeError(f"a worker of the sharing measurement failed: {errors[0]}")
    return max(value for _, value in outcomes)


def shared_rate(graphs: Mapping | None, device: torch.device, jobs: int, steps: int = 200, warmup: int = 10,
                amp: bool = False, seed: int = 0) -> dict:
    """Aggregate training steps per second of ``jobs`` processes sharing ``device``, against one process, every
    process with the threads of one of ``jobs`` workers."""
    from ..experiments.parallel import worker_threads

    if jobs < 1 or steps < 1:
        raise ValueError(f"jobs and steps must be at least 1, got {jobs} and {steps}")
    threads = worker_threads(jobs, device)
    alone = steps / _timed(graphs, device, 1, steps, warmup, amp, seed, threads)
    together = jobs * steps / _timed(graphs, device, jobs, steps, warmup, amp, seed, threads) if jobs > 1 else alone
    return {"model": SHARED_MODEL, "batch_size": 64, "amp": amp, "jobs": jobs, "threads_per_process": threads,
            "steps_per_process": steps,
            "one_process_steps_per_s": alone, "shared_steps_per_s": together, "speedup": together / alone,
            "efficiency": together / alone / jobs}
