"""Independent runs in parallel worker processes (``hgn reproduce --jobs N``).

Small graph networks use a few cores poorly, so on a CPU N single-threaded workers train more samples per second
than one N-threaded process (measured in notebook 03). The shared inputs (datasets, graphs, pseudo-ground
truth) are made first, in this process, so that no two workers compute the same cache; then each worker trains
its runs with ``cores // N`` threads; the longest runs start first. Results land in the cache; a run that is
already there is not retrained. The runs of one worker are deterministic like any run (a run's numbers depend on
the thread count it trained with, which its ``metrics.json`` records).
"""
from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
from typing import Callable

import torch
from tqdm import tqdm

from ..models.registry import get_config
from .config import ExperimentConfig
from .runs import cached_result, prepare, run_experiment


def cost_estimate(config: ExperimentConfig) -> float:
    """A rough relative cost of a run: nodes x blocks x channels^2 of its graph branches (for ordering only)."""
    from ..models.hgn import SKELETON
    from ..models.registry import HGN_SPECS

    model = get_config(config.model)
    nodes = {SKELETON: 17, "mesh_c": 49, "mesh_c1": 91}
    if model.kind in HGN_SPECS:
        work = sum(nodes[b.graph] * b.blocks for b in HGN_SPECS[model.kind].branches)
    elif model.kind == "graphsh":
        work = 17 * 8
    else:
        work = 1
    return work * model.channels ** 2 * (2 if config.flip_test else 1)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _train_one(config: ExperimentConfig) -> str:
    return run_experiment(config, progress=False).key


def run_many(configs: list[ExperimentConfig], jobs: int = 1, log: Callable[[str], None] = print,
             progress: bool = True) -> None:
    """Train every configuration not yet in the cache, ``jobs`` at a time."""
    todo = list({c: None for c in configs if cached_result(c) is None})
    if not todo:
        return
    for config in tqdm({(c.data, c.source_2d, c.profile, c.padded, c.mesh_outputs, c.lambda_m > 0): c
                        for c in todo}.values(), desc="shared inputs", disable=not progress):
        prepare(config)
    todo.sort(key=cost_estimate, reverse=True)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    log(f"training {len(todo)} runs in {jobs} worker process(es) of {threads} thread(s)")
    if jobs <= 1:
        for config in tqdm(todo, desc="runs", disable=not progress):
            run_experiment(config, progress=False)
        return
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                     initargs=(threads,)) as pool:
        pending = {pool.submit(_train_one, c): c for c in todo}
        with tqdm(total=len(pending), desc="runs", disable=not progress) as bar:
            for done in futures.as_completed(pending):
                if done.exception() is not None:  # stop here; the finished runs stay cached
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise RuntimeError(f"training {pending[done].label} failed") from done.exception()
                bar.update(1)
                bar.set_postfix_str(pending[done].label)
