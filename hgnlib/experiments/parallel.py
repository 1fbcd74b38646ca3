"""Many independent runs: worker processes on this machine, or one cluster job per run (``hgn reproduce --jobs N
--executor ...``).

- ``processes`` (default): N worker processes here. Small graph networks use a few cores poorly, so on a CPU N
  single-threaded workers train more samples per second than one N-threaded process (measured in notebook 03); on a
  GPU the N workers share the device (``device="cuda"``), which keeps it busy while each process waits on its small
  kernels.
- ``slurm``: one Slurm job per run through ``submitit`` (parameters such as ``timeout_min``, ``gpus_per_node`` or
  ``slurm_partition`` from ``executor_params``); the cache folder must be on a file system the nodes share.
- ``submitit-local``: the same jobs as local processes through submitit (what the tests use; a workstation can too).

The shared inputs (datasets, graphs, pseudo-ground truth) are made first, in this process, so that no two runs
compute the same cache; the runs of the given priority groups start first (``hgn reproduce``: the runs that the
seed spreads and the paper's claims rest on, so that an interrupted suite has its main answers first, ordered to
answer the claims soonest: :func:`hgnlib.experiments.suite.start_groups`), the rest longest first
(:func:`start_order`); a run already in the cache is not retrained and an
interrupted one continues from its last checkpoint, so an interrupted suite resumes where it stopped. One progress
bar follows the whole suite: the training steps done (read from each run's history, so it works for cluster jobs
too, every few seconds), weighted by each run's cost, with the time left; it is redrawn every few seconds on a
terminal (every minute into a log file) even while no run reaches a validation point, so its clock never stands still.

A time limit (``stop_at``, ``hgn reproduce --stop-after MINUTES``) fits a suite into a slot of time (a session, a
lent GPU, a cluster allocation) without losing training: once it has passed, no run starts, and each worker is stopped
right after its run's next checkpoint (at most one epoch later; a run in its last epoch is let finish); the same call
resumes from there. ``hgn runs train`` trains a chosen part of a suite the same way (:func:`choose_runs`: by label,
only runs no one has started, so that several machines share a suite). A person can bring that stop forward without a
time limit: SIGUSR1 to the suite's own process (``kill -USR1 PID``, the PID its log names) stops the workers at their
next checkpoints, as a passed time limit does. A worker stopped while it trains (by the time limit, or by a person's
SIGTERM) unwinds first, so that no temporary checkpoint file stays behind; a SIGTERM to the suite's own process ends
its workers the same way.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import json
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TextIO

import torch
from tqdm import tqdm

from ..errors import HGNError
from ..fileio import save_json
from ..fitting import default_device
from ..models.registry import get_config
from ..precision import autocast_note, autocast_products
from ..safeload import load_torch
from .config import ExperimentConfig
from .convergence import plateau_step
from .runs import METRICS_FILE, cached_result, load_data, prepare, run_dir, run_experiment
from .suite import label_matches, unmatched_patterns
from .train import CHECKPOINT, HISTORY, batches

EXECUTORS = ("processes", "slurm", "submitit-local")
#: Seconds between two looks at the runs' progress (and between two redraws of the bar on a terminal).
POLL_SECONDS = 2.0
#: Seconds between two redraws of the bar into a file that is not a terminal (a log).
LOG_SECONDS = 60.0
#: The signal with which the time limit stops the workers (SIGTERM keeps its meaning: end the worker now); sent to
#: the suite's own process, it brings the time limit forward to now.
TIME_LIMIT_SIGNAL = signal.SIGUSR1


def cost_estimate(config: ExperimentConfig) -> float:
    """A rough relative cost of one training step: nodes x blocks x channels^2 of the graph branches."""
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


def total_steps(config: ExperimentConfig) -> int:
    """The optimiser steps of a whole run (epochs x batches per epoch)."""
    recipe = config.recipe
    _, train, _ = load_data(config)
    return recipe.epochs * len(batches(torch.arange(len(train)), recipe.batch_size, 2))


def _history(folder: Path) -> list[dict]:
    try:
        return json.loads((folder / HISTORY).read_text())
    except (OSError, ValueError):
        return []


def steps_done(folder: Path, total: int) -> int:
    """The steps a run has trained so far, from its folder: all when finished, else its last history entry."""
    if (folder / METRICS_FILE).exists():
        return total
    history = _history(folder)
    return min(total, history[-1]["step"]) if history else 0


def has_started(folder: Path) -> bool:
    """Whether a run's folder shows training: a checkpoint or a history (finished runs too)."""
    return bool(_history(folder)) or (folder / CHECKPOINT).exists()


def check_patterns(configs: list[ExperimentConfig], patterns: Sequence[str]) -> None:
    """Refuse a label pattern that matches no run of ``configs`` (a typo would otherwise choose nothing)."""
    unmatched = unmatched_patterns((c.label for c in configs), patterns)
    if unmatched:
        raise HGNError(f"no run of the suite matches {unmatched}: patterns are shell-style and matched against whole "
                       f"labels, such as {configs[0].label!r} (`hgn status` lists them); fix: add '*' where the label "
                       "goes on, and quote the pattern")


def choose_runs(configs: list[ExperimentConfig], first: Sequence[Iterable[ExperimentConfig]] = (),
                patterns: Sequence[str] = (), waiting: bool = False,
                limit: int | None = None) -> list[ExperimentConfig]:
    """The unfinished runs of ``configs`` whose labels match ``patterns`` (:func:`.suite.label_matches`; every run
    without), only those that nothing in this cache has trained with ``waiting`` (so that machines sharing a suite
    train different runs), at most ``limit``, in the order they start (:func:`start_order`)."""
    check_patterns(configs, patterns)
    chosen = [c for c in start_order(list(dict.fromkeys(configs)), first)
              if label_matches(c.label, patterns) and cached_result(c) is None
              and not (waiting and has_started(run_dir(c)))]
    return chosen if limit is None else chosen[:limit]


def suite_status(configs: list[ExperimentConfig], first: Sequence[Iterable[ExperimentConfig]] = ()) -> list[dict]:
    """Where each run of a suite stands, in the order the runs start (:func:`start_order`): its state ('finished';
    'started': running or interrupted, it has a checkpoint or a history; 'waiting'), steps done of its total, the last
    and best validation MPJPE so far, the step from which its validation error has plateaued so far
    (:func:`~hgnlib.experiments.convergence.plateau_step`; None before), and the final test MPJPE once finished."""
    rows = []
    for config in start_order(list(dict.fromkeys(configs)), first):
        folder, total = run_dir(config), total_steps(config)
        history = _history(folder)
        result = cached_result(config)
        rows.append({"run": config.label,
                     "state": "finished" if result else "started" if has_started(folder) else "waiting",
                     "steps": steps_done(folder, total), "total_steps": total, "cost": cost_estimate(config) * total,
                     "val_mpjpe_last": history[-1]["mpjpe"] if history else None,
                     "val_mpjpe_best": min(h["mpjpe"] for h in history) if history else None,
                     "plateau_step": plateau_step([h["step"] for h in history], [h["mpjpe"] for h in history])
                     if history else None,
                     "test_mpjpe": result.metrics["mpjpe"] if result else None})
    return rows


def status_summary(rows: list[dict]) -> str:
    """One line: runs per state and the cost-weighted share of the suite's steps done (as the suite's bar counts)."""
    states = {state: sum(r["state"] == state for r in rows) for state in ("finished", "started", "waiting")}
    total = sum(r["cost"] for r in rows)
    share = 100.0 * sum(r["cost"] * r["steps"] / r["total_steps"] for r in rows if r["total_steps"]) / total \
        if total else 100.0
    return (f"{len(rows)} runs: " + ", ".join(f"{n} {state}" for state, n in states.items())
            + f"; {share:.1f} % of the suite's cost-weighted steps done")


class _SuiteBar(tqdm):
    """tqdm with the suite's own estimate of the time left (``{eta}`` in its format)."""

    eta = "?"

    @property
    def format_dict(self) -> dict:
        return {**super().format_dict, "eta": self.eta}


class SuiteProgress:
    """One bar for a suite of runs: cost-weighted training steps done, with the time left.

    A run's steps show only when it writes its history (at its checkpoints, an epoch apart), so the share done
    moves in steps minutes apart. The time left is measured at each of those moves (the rate since the bar started)
    and counts down between them. tqdm's own estimate divided the share gained by the time up to now, so it grew
    between two moves (on the standard profile, from 84 to 316 hours in the quarter of an hour before the first
    checkpoints)."""

    def __init__(self, configs: list[ExperimentConfig], enabled: bool = True, file: TextIO | None = None,
                 redraw_seconds: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.runs = [(run_dir(c), total_steps(c), cost_estimate(c)) for c in configs]
        total = sum(steps * cost for _, steps, cost in self.runs)
        self.scale = 100.0 / total if total else 0.0
        file = file or sys.stderr
        if redraw_seconds is None:
            redraw_seconds = POLL_SECONDS if file.isatty() else LOG_SECONDS
        self.clock = clock
        self.started = clock()
        self.initial = self._last = self.done()
        self._end: float | None = None  # when the suite ends, at the rate measured at the last move
        # miniters=0: redrawn at every look once redraw_seconds have passed, not only when the share done has grown
        # by as much as its largest step so far (tqdm's default, which froze the clock between validation points)
        self.bar = _SuiteBar(total=100.0, initial=self.initial, desc=f"suite ({len(configs)} runs)",
                             disable=not enabled, bar_format="{l_bar}{bar}| {n:.1f}% [{elapsed}<{eta}{postfix}]",
                             file=file, miniters=0, mininterval=redraw_seconds)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        if enabled:
            self._poller.start()

    def done(self) -> float:
        """Percent of the suite's weighted steps done."""
        return self.scale * sum(steps_done(folder, steps) * cost for folder, steps, cost in self.runs)

    def seconds_left(self) -> float | None:
        """The time left: at the rate since the bar started, measured when the share done last moved, less the time
        since; None before it has moved."""
        return None if self._end is None else max(0.0, self._end - self.clock())

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.refresh()

    def refresh(self, note: str | None = None) -> None:
        done = self.done()
        if done != self._last:
            now, gained, self._last = self.clock(), done - self.initial, done
            self._end = now + (100.0 - done) * (now - self.started) / gained if gained > 0 else None
        left = self.seconds_left()
        self.bar.eta = "?" if left is None else tqdm.format_interval(left)
        self.bar.update(done - self.bar.n)
        if note:
            self.bar.set_postfix_str(note)

    def close(self) -> None:
        self._stop.set()
        if self._poller.is_alive():
            self._poller.join()
        self.refresh()
        self.bar.close()


def _on_gpu(device: str | torch.device | None) -> bool:
    return device is not None and str(device).startswith("cuda")


def worker_threads(jobs: int, device: str | torch.device | None = None) -> int:
    """Threads of each of ``jobs`` worker processes: one on a GPU (the device does the work), else the CPU's cores
    shared out among the workers."""
    return 1 if _on_gpu(device) else max(1, (os.cpu_count() or 1) // jobs)


class _Stopped(BaseException):
    """Raised in a worker process while it trains, by SIGTERM or by the time limit's SIGUSR1."""


#: In a worker process: where it reports each run it starts (None elsewhere), whether it is training now, and
#: whether the time limit has stopped it.
_reports: Any = None
_training = False
_stopping = False


def _on_sigterm(signum, frame) -> None:
    """A person or the pool ends the worker: the training unwinds first (no temporary checkpoint file stays)."""
    if _training:
        raise _Stopped
    os._exit(1)


def _on_time_limit(signum, frame) -> None:
    """The time limit stops the worker: its training unwinds and it starts no other run; the pool's shutdown then
    ends it the usual way."""
    global _stopping
    _stopping = True
    if _training:
        raise _Stopped


def _init_worker(threads: int, reports: Any = None) -> None:
    global _reports
    torch.set_num_threads(threads)
    _reports = reports
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(TIME_LIMIT_SIGNAL, _on_time_limit)


def _train_one(config: ExperimentConfig, device: str | None = None, threads: int | None = None) -> str | None:
    global _training
    if threads:
        torch.set_num_threads(threads)
    if _stopping:
        return None
    if _reports is not None:
        _reports.put((os.getpid(), str(run_dir(config)), time.time()))
    _training = True
    try:
        with autocast_products(config.recipe.amp, device or default_device()):
            return run_experiment(config, progress=False, device=device).key
    except _Stopped:
        if not _stopping:
            os._exit(1)
        _history_from_checkpoint(run_dir(config))
        return None
    finally:
        _training = False


def _history_from_checkpoint(folder: Path) -> None:
    """Make a stopped run's history file the one its checkpoint holds: a stop that lands between the two writes of
    an epoch's end (checkpoint, then history: possible when epochs are shorter than the time limit's polling) would
    otherwise leave the history an epoch behind the checkpoint that a resume continues from."""
    checkpoint = folder / CHECKPOINT
    if not checkpoint.exists():
        return
    history = load_torch(checkpoint, "training checkpoint", f"delete {checkpoint} or pass --restart")["history"]
    if _history(folder) != history:
        save_json(folder / HISTORY, history)


class TimeLimit:
    """Whether the workers of a pool may be stopped without losing training, once the ``deadline`` (``time.time()``)
    has passed.

    Workers report each run they start (:func:`_train_one`). After the deadline a worker may be stopped when its run
    has finished, started after the deadline, or written its history (the last file of an epoch's checkpoint) after
    the deadline without having reached its last epoch (that one ends with the test evaluation: it is let finish).
    """

    def __init__(self, deadline: float, reports: Any):
        self.deadline = deadline
        self.reports = reports
        self.requested = False  # whether a person brought the deadline forward (:func:`_stopping_on_request`)
        self.workers: dict[int, tuple[Path, float]] = {}  # pid -> (run folder, when it started the run)

    def passed(self) -> bool:
        return time.time() >= self.deadline

    def read_reports(self) -> None:
        """Take the workers' reports off their queue (each poll, so that a long suite's reports never fill its
        pipe and block a worker)."""
        while not self.reports.empty():
            pid, folder, started = self.reports.get()
            self.workers[pid] = (Path(folder), started)

    def _checkpointed(self, folder: Path, epochs: int) -> bool:
        history = folder / HISTORY
        try:
            if history.stat().st_mtime < self.deadline:
                return False
        except OSError:
            return False
        entries = _history(folder)
        return bool(entries) and entries[-1]["epoch"] < epochs

    def may_stop(self, running: dict[Path, ExperimentConfig]) -> bool:
        """Whether every worker may be stopped now; ``running``: the folders and configurations of the runs not yet
        finished."""
        self.read_reports()
        return all(running.get(folder) is None or started >= self.deadline
                   or self._checkpointed(folder, running[folder].recipe.epochs)
                   for folder, started in self.workers.values())


def _submitit_executor(kind: str, folder: Path, params: dict[str, Any]):
    try:
        import submitit
    except ImportError:
        raise HGNError(f"the '{kind}' executor needs submitit: pip install submitit") from None
    executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm" if kind == "slurm" else "local")
    executor.update_parameters(**params)
    return executor


def start_order(configs: list[ExperimentConfig],
                first: Sequence[Iterable[ExperimentConfig]] = ()) -> list[ExperimentConfig]:
    """``configs`` in the order they start: those of ``first[0]`` in their order, then of ``first[1]`` ..., then the
    rest, longest (cost x steps) first."""
    rank: dict[ExperimentConfig, tuple[int, float]] = {}
    for index, members in enumerate(first):
        for position, config in enumerate(members):
            rank.setdefault(config, (index, position))
    return sorted(configs, key=lambda c: rank.get(c) or (len(first), -cost_estimate(c) * total_steps(c)))


def remaining_cost(config: ExperimentConfig) -> float:
    """The cost-weighted steps a run still has to train (0 once finished)."""
    if cached_result(config) is not None:
        return 0.0
    total = total_steps(config)
    return cost_estimate(config) * (total - steps_done(run_dir(config), total))


def run_many(configs: list[ExperimentConfig], jobs: int = 1, log: Callable[[str], None] = print,
             progress: bool = True, device: str | None = None, executor: str = "processes",
             executor_params: dict[str, Any] | None = None,
             first: Sequence[Iterable[ExperimentConfig]] = (), stop_at: float | None = None) -> bool:
    """Train every configuration not yet in the cache, ``jobs`` at a time, the groups of ``first`` before the rest,
    stopping at checkpoints once the time ``stop_at`` (``time.time()``) has passed (see the module doc). Returns
    whether every configuration is in the cache."""
    if executor not in EXECUTORS:
        raise HGNError(f"unknown executor {executor!r}; choose one of {EXECUTORS}")
    if stop_at is not None and executor != "processes":
        raise HGNError(f"a time limit stops worker processes at their checkpoints, not {executor} jobs: give the "
                       "jobs their own limit (--executor-param timeout_min=...) and resubmit to resume")
    configs = list(dict.fromkeys(configs))
    todo = [c for c in configs if cached_result(c) is None]
    if not todo:
        return True
    for config in tqdm({(c.data, c.source_2d, c.profile, c.padded, c.mesh_outputs, c.lambda_m > 0): c
                        for c in todo}.values(), desc="shared inputs", disable=not progress):
        prepare(config)
    todo = start_order(todo, first)
    note = autocast_note(any(c.recipe.amp for c in todo), device or default_device())
    if note and executor == "processes":  # cluster jobs train on other machines
        log(note)
    bar = SuiteProgress(configs, enabled=progress)
    stopped = None
    try:
        if executor != "processes":
            _run_submitit(todo, executor, executor_params or {}, device, bar, log)
        elif jobs <= 1 and stop_at is None:
            log(f"training {len(todo)} runs in this process")
            for config in todo:
                bar.refresh(f"training {config.label}")
                _train_one(config, device)
        else:
            stopped = _run_pool(todo, max(1, jobs), device, bar, log, stop_at)
    finally:
        bar.close()
    complete = all(cached_result(c) is not None for c in configs)
    if not complete and stopped is not None:
        finished = sum(cached_result(c) is not None for c in configs)
        log(f"{stopped}: {finished} of {len(configs)} runs finished, the others stopped at their last checkpoint; "
            "the same command resumes them")
    return complete


def _signal_workers(signum: int) -> None:
    """Send ``signum`` to this process's worker processes (the pool's)."""
    for worker in multiprocessing.active_children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signum)


@contextlib.contextmanager
def _ending_workers_on_sigterm():
    """While the pool trains: a SIGTERM to this process (a person's ``kill``, a scheduler's end of a job) ends the
    workers too, each unwinding its training as its own SIGTERM does (no temporary checkpoint stays), before this
    process exits with status 143; without it they would train on, orphaned, beside a resumed suite."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return

    def end(signum, frame):  # the pool, broken by its ending workers, starts no other run; leaving it joins them
        _signal_workers(signal.SIGTERM)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, end)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _stopping_on_request(limit: TimeLimit):
    """While the pool trains: TIME_LIMIT_SIGNAL to this process (``kill -USR1 PID``) brings the time limit forward
    to now, so that no run starts any more and each worker stops after its run's next checkpoint."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return

    def request(signum, frame):
        limit.deadline = min(limit.deadline, time.time())
        limit.requested = True

    previous = signal.signal(TIME_LIMIT_SIGNAL, request)
    try:
        yield
    finally:
        signal.signal(TIME_LIMIT_SIGNAL, previous)


def _run_pool(todo: list[ExperimentConfig], jobs: int, device: str | None, bar: SuiteProgress,
              log: Callable[[str], None], stop_at: float | None = None) -> str | None:
    """Train ``todo`` in ``jobs`` worker processes; returns why they stopped before the end (the time limit, or a
    person's request), or None."""
    threads = worker_threads(jobs, device)
    log(f"training {len(todo)} runs in {jobs} worker processes of {threads} thread(s)"
        + (f", sharing {device}" if _on_gpu(device) else "")
        + (f", stopping at checkpoints from {time.strftime('%H:%M', time.localtime(stop_at))} on"
           if stop_at is not None else "")
        + f" (`kill -USR1 {os.getpid()}` stops them at their next checkpoints)")
    context = multiprocessing.get_context("spawn")
    reports = context.SimpleQueue()
    limit = TimeLimit(math.inf if stop_at is None else stop_at, reports)
    with futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                     initargs=(threads, reports)) as pool, _ending_workers_on_sigterm(), \
            _stopping_on_request(limit):
        pending = {pool.submit(_train_one, c, device): c for c in todo}
        while pending:
            finished, _ = futures.wait(pending, timeout=POLL_SECONDS, return_when=futures.FIRST_COMPLETED)
            for done in finished:
                config = pending.pop(done)
                if done.exception() is not None:  # stop here; finished runs stay cached, running ones checkpointed
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise RuntimeError(f"training {config.label} failed") from done.exception()
                bar.refresh(f"{config.label} finished")
            limit.read_reports()
            if limit.passed():
                pending = {f: c for f, c in pending.items() if not f.cancel()}  # no run starts any more
                if not pending or limit.may_stop({run_dir(c): c for c in pending.values()}):
                    pool.shutdown(wait=False, cancel_futures=True)
                    _signal_workers(TIME_LIMIT_SIGNAL)
                    return "stopped on request" if limit.requested else "time limit reached"
    return None


def _run_submitit(todo: list[ExperimentConfig], kind: str, params: dict[str, Any], device: str | None,
                  bar: SuiteProgress, log: Callable[[str], None]) -> None:
    from .. import paths

    executor = _submitit_executor(kind, paths.cache_dir() / "submitit", params)
    jobs = [(executor.submit(_train_one, c, device, 1 if kind == "submitit-local" else None), c) for c in todo]
    log(f"submitted {len(jobs)} {kind} jobs (logs in {paths.cache_dir() / 'submitit'})")
    while jobs:
        for job, config in [j for j in jobs if j[0].done()]:
            jobs.remove((job, config))
            try:
                job.result()
            except Exception as exc:
                raise RuntimeError(f"training {config.label} failed in job {job.job_id}: {exc}") from None
            bar.refresh(f"{config.label} finished")
        if jobs:
            time.sleep(POLL_SECONDS)
