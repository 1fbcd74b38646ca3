"""Suites of runs: resuming after a kill without redoing finished runs, the suite's progress, submitit jobs, and the
convergence study's plateau."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from hgnlib import paths, profiles
from hgnlib.claims import CLAIMS
from hgnlib.experiments import ExperimentConfig, cached_result, run_experiment
from hgnlib.experiments import parallel
from hgnlib.experiments import train as train_module
from hgnlib.experiments.config import code_fingerprint
from hgnlib.experiments.convergence import plateau_step, study_summary, suite_study_configs
from hgnlib.experiments.runs import METRICS_FILE, run_dir
from hgnlib.experiments.train import CHECKPOINT


#: Smaller smoke runs (as overrides, so that child processes train the same configuration).
SMALL = (("evals_per_epoch", 1), ("prediction_samples", 16), ("train_limit", 256), ("val_samples", 64))


def small(model: str, seed: int = 0, *overrides, **fields) -> ExperimentConfig:
    return ExperimentConfig(model, profile="smoke", seed=seed, overrides=(*SMALL, *overrides), **fields)


@pytest.fixture
def suite_cache(tmp_path, monkeypatch, smoke_dataset):
    """An empty cache whose smoke dataset is the session's (no regeneration)."""
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    paths.embedded_dir(profiles.PROFILES["smoke"].synth_size).symlink_to(smoke_dataset[0], target_is_directory=True)
    return tmp_path


def test_plateau_is_where_the_last_quarter_stops_improving():
    steps = [100, 200, 400, 800, 1600, 3200, 6400]
    # falls fast, then by 1 % per doubling from step 1600 on: flat (< 2 % over the last quarter) from there
    errors = [200.0, 150.0, 110.0, 100.0, 99.0, 98.0, 97.1]
    assert plateau_step(steps, errors) == 1600
    # a temporary flat stretch followed by a new drop is not a plateau
    assert plateau_step(steps, [200.0, 150.0, 149.0, 148.0, 120.0, 119.5, 119.0]) == 3200
    assert plateau_step(steps, [200.0, 180.0, 160.0, 140.0, 120.0, 100.0, 80.0]) is None
    # a worse validation point does not count as progress or as a plateau's end (best so far)
    assert plateau_step(steps, [200.0, 150.0, 110.0, 100.0, 130.0, 99.5, 99.0]) == 1600
    with pytest.raises(ValueError):
        plateau_step([1, 2], [1.0])


def _kill_after_first_checkpoint(config: ExperimentConfig, env: dict) -> None:
    """Train ``config`` in a child process and SIGKILL it once its first checkpoint is on disk."""
    code = ("import sys, json; from hgnlib.experiments import ExperimentConfig, run_experiment; "
            "d = json.loads(sys.argv[1]); d['overrides'] = tuple(map(tuple, d['overrides'])); "
            "run_experiment(ExperimentConfig(**d), progress=False)")
    child = subprocess.Popen([sys.executable, "-c", code, json.dumps(config.to_dict())], env=env,
                             start_new_session=True)
    checkpoint = run_dir(config) / CHECKPOINT
    deadline = time.time() + 300
    while not checkpoint.exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert checkpoint.exists() and not (run_dir(config) / METRICS_FILE).exists(), "the child was not interrupted"


@pytest.mark.slow
def test_a_killed_suite_resumes_without_redoing_finished_runs(suite_cache, monkeypatch):
    finished = small("semgcn-128", 0)
    killed = small("semgcn-128", 1, ("epochs", 12))
    run_experiment(finished, progress=False)
    stamp = (run_dir(finished) / METRICS_FILE).stat().st_mtime_ns
    _kill_after_first_checkpoint(killed, {**os.environ, "OMP_NUM_THREADS": "1"})
    import torch
    epochs_before = torch.load(run_dir(killed) / CHECKPOINT, weights_only=True)["epoch"]

    saved = []
    real_save = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint", lambda path, state: (saved.append(state["epoch"]),
                                                                              real_save(path, state)))
    parallel.run_many([finished, killed], jobs=1, progress=False, log=lambda _: None)
    assert (run_dir(finished) / METRICS_FILE).stat().st_mtime_ns == stamp  # not retrained
    assert saved == list(range(epochs_before + 1, 13))  # continued from the checkpoint, not from scratch
    assert cached_result(killed).history[-1]["epoch"] == 12


@pytest.mark.slow
def test_a_time_limit_stops_workers_at_checkpoints_and_the_suite_resumes(suite_cache, monkeypatch):
    """After the time limit every worker stops right after its run's next checkpoint (none runs to its end, no
    temporary file stays behind), nothing is reported as complete, and the same call later continues from there."""
    configs = [small("semgcn-128", seed, ("epochs", 20)) for seed in (5, 6)]
    histories = [run_dir(c) / train_module.HISTORY for c in configs]

    def passed(limit):  # the limit passes once both runs have trained an epoch (spawned workers start slowly)
        if all(h.exists() for h in histories):
            limit.deadline = min(limit.deadline, time.time())
            return True
        return False

    monkeypatch.setattr(parallel.TimeLimit, "passed", passed)
    monkeypatch.setattr(parallel, "POLL_SECONDS", 0.05)
    logged = []
    assert parallel.run_many(configs, jobs=2, progress=False, log=logged.append, stop_at=time.time() + 3600) is False
    assert "time limit reached: 0 of 2 runs finished" in logged[-1]
    import torch
    stopped = []
    for config in configs:
        folder = run_dir(config)
        assert not (folder / METRICS_FILE).exists()
        assert not [p.name for p in folder.iterdir() if ".tmp" in p.name]
        state = torch.load(folder / CHECKPOINT, weights_only=True)
        assert 2 <= state["epoch"] < 20  # one epoch at least after the limit passed, far from the end
        assert json.loads((folder / train_module.HISTORY).read_text())[-1]["epoch"] >= state["epoch"]
        stopped.append(state["epoch"])

    saved = []
    real_save = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint", lambda path, state: (saved.append(state["epoch"]),
                                                                              real_save(path, state)))
    assert parallel.run_many(configs, jobs=1, progress=False, log=lambda _: None) is True
    assert saved == list(range(stopped[0] + 1, 21)) + list(range(stopped[1] + 1, 21))
    assert all(cached_result(c).history[-1]["epoch"] == 20 for c in configs)


def test_a_stop_between_an_epochs_checkpoint_and_its_history_leaves_them_matching(suite_cache, monkeypatch):
    """The time limit's stop can land after an epoch's checkpoint is written and before its history is (epochs
    shorter than the polling): the stopped worker then writes the checkpoint's history, so that the history file
    never lags the checkpoint that a resume continues from."""
    config = small("semgcn-128", 7, ("epochs", 6))
    real_save_json = train_module.save_json

    def stop_before_the_third_history(path, obj, *args, **kwargs):
        if obj and obj[-1]["epoch"] == 3:
            parallel._stopping = True
            raise parallel._Stopped
        real_save_json(path, obj, *args, **kwargs)

    monkeypatch.setattr(train_module, "save_json", stop_before_the_third_history)
    monkeypatch.setattr(parallel, "_stopping", False)
    assert parallel._train_one(config) is None
    import torch
    folder = run_dir(config)
    state = torch.load(folder / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 3
    assert json.loads((folder / train_module.HISTORY).read_text()) == state["history"]
    assert state["history"][-1]["epoch"] == 3


def _workers_of(pid: int) -> list[int]:
    """The pool worker processes (multiprocessing's spawned children) of process ``pid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if not entry.isdigit() or int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) != pid:
                continue
            if b"spawn_main" in open(f"/proc/{entry}/cmdline", "rb").read():
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _suite_after_first_checkpoints(configs: list[ExperimentConfig], stdout) -> subprocess.Popen:
    """``run_many(configs, jobs=2)`` in a child process (its own session), returned once every run has a checkpoint."""
    code = ("import sys, json; from hgnlib.experiments import ExperimentConfig, parallel; "
            "ds = json.loads(sys.argv[1]); [d.update(overrides=tuple(map(tuple, d['overrides']))) for d in ds]; "
            "parallel.run_many([ExperimentConfig(**d) for d in ds], jobs=2, progress=False)")
    suite = subprocess.Popen([sys.executable, "-c", code, json.dumps([c.to_dict() for c in configs])],
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True, stdout=stdout)
    checkpoints = [run_dir(c) / CHECKPOINT for c in configs]
    deadline = time.time() + 300
    while not all(p.exists() for p in checkpoints) and suite.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    return suite


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process table from /proc")
def test_a_sigterm_to_the_suite_ends_its_workers_too(suite_cache):
    configs = [small("semgcn-128", seed, ("epochs", 200)) for seed in (7, 8)]
    suite = _suite_after_first_checkpoints(configs, subprocess.DEVNULL)
    try:
        checkpoints = [run_dir(c) / CHECKPOINT for c in configs]
        workers = _workers_of(suite.pid)
        assert len(workers) == 2 and all(p.exists() for p in checkpoints), "the suite did not start training"
        suite.send_signal(signal.SIGTERM)  # to the suite's process alone, as `kill PID` does
        assert suite.wait(timeout=120) == 143
        deadline = time.time() + 60
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "a worker trains on after its suite was ended"
        for config in configs:
            assert not (run_dir(config) / METRICS_FILE).exists()
            assert not [p.name for p in run_dir(config).iterdir() if ".tmp" in p.name]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(suite.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_sigusr1_to_the_suite_stops_its_workers_at_their_next_checkpoints(suite_cache, tmp_path):
    """Without a time limit, ``kill -USR1`` to the suite's process (as its log says) stops it as a passed limit does:
    each worker trains on to its run's next checkpoint, nothing is lost or half-written, and the process ends
    normally."""
    import torch

    configs = [small("semgcn-128", seed, ("epochs", 200)) for seed in (9, 10)]
    log = tmp_path / "suite.log"
    with log.open("w") as out:
        suite = _suite_after_first_checkpoints(configs, out)
    try:
        before = [torch.load(run_dir(c) / CHECKPOINT, weights_only=True)["epoch"] for c in configs]
        suite.send_signal(signal.SIGUSR1)  # to the suite's process alone
        assert suite.wait(timeout=120) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(suite.pid, signal.SIGKILL)
    logged = log.read_text()
    assert f"kill -USR1 {suite.pid}" in logged
    assert "stopped on request: 0 of 2 runs finished" in logged
    for config, epoch in zip(configs, before):
        folder = run_dir(config)
        state = torch.load(folder / CHECKPOINT, weights_only=True)
        assert epoch < state["epoch"] < 200  # trained on to a later checkpoint, far from the end
        assert json.loads((folder / train_module.HISTORY).read_text()) == state["history"]
        assert not (folder / METRICS_FILE).exists()
        assert not [p.name for p in folder.iterdir() if ".tmp" in p.name]


def test_time_limit_waits_for_each_workers_next_checkpoint(tmp_path):
    import queue

    config = small("semgcn-128", 0, ("epochs", 20))
    folder = tmp_path / "run"
    folder.mkdir()
    history = folder / train_module.HISTORY

    def write(epoch: int, when: float) -> None:
        history.write_text(json.dumps([{"epoch": epoch, "step": 4 * epoch, "mpjpe": 100.0}]))
        os.utime(history, (when, when))

    reports = queue.Queue()
    limit = parallel.TimeLimit(time.time(), reports)
    before, after = limit.deadline - 10, limit.deadline + 10
    reports.put((101, str(folder), before))
    write(3, before)
    assert not limit.may_stop({folder: config})  # its last checkpoint is older than the limit
    write(4, after)
    assert limit.may_stop({folder: config})  # it checkpointed since
    assert limit.may_stop({})  # its run has finished
    write(20, after)
    assert not limit.may_stop({folder: config})  # its last epoch: it finishes with the test evaluation
    reports.put((101, str(folder), after))
    assert limit.may_stop({folder: config})  # it started the run after the limit: nothing to lose


def test_a_time_limit_needs_worker_processes(suite_cache):
    from hgnlib.errors import HGNError

    with pytest.raises(HGNError, match="timeout_min"):
        parallel.run_many([small("semgcn-128")], executor="submitit-local", stop_at=time.time())


def test_suite_progress_counts_weighted_steps(suite_cache):
    cheap, costly = small("semgcn-128"), small("hgn-64", lambda_m=0.0)
    progress = parallel.SuiteProgress([cheap, costly], enabled=False)
    assert progress.done() == 0
    run_experiment(cheap, progress=False)
    share = parallel.cost_estimate(cheap) / (parallel.cost_estimate(cheap) + parallel.cost_estimate(costly))
    assert progress.done() == pytest.approx(100 * share)  # same steps per run: the cost weights split the bar
    progress.close()


def test_suite_progress_redraws_while_no_run_validates(suite_cache, monkeypatch):
    """The bar's clock keeps moving between validation points: a look that finds no new steps still redraws it."""
    import io

    buffer = io.StringIO()
    progress = parallel.SuiteProgress([small("semgcn-128")], enabled=True, file=buffer, redraw_seconds=0)
    monkeypatch.setattr(progress, "done", lambda: 10.0)
    draws = []
    for _ in range(4):  # the first look finds 10 %, the next three nothing new
        progress.refresh()
        draws.append(buffer.getvalue().count("suite ("))
    progress.close()
    assert draws[1] < draws[2] < draws[3]


def test_suite_progress_counts_the_time_left_down_between_checkpoints(suite_cache, monkeypatch):
    """The share done moves only at checkpoints; between two, the time left counts down instead of growing."""
    import io

    now, share = [0.0], [10.0]
    monkeypatch.setattr(parallel.SuiteProgress, "done", lambda self: share[0])
    buffer = io.StringIO()
    progress = parallel.SuiteProgress([small("semgcn-128")], enabled=True, file=buffer, redraw_seconds=0,
                                      clock=lambda: now[0])
    progress.refresh()
    assert progress.seconds_left() is None and buffer.getvalue().endswith("<?]")  # nothing trained here yet
    now[0], share[0] = 100.0, 20.0  # 10 % in 100 s: 80 % left take 800 s
    progress.refresh()
    assert progress.seconds_left() == pytest.approx(800.0)
    now[0] = 400.0  # no checkpoint for 300 s
    progress.refresh()
    assert progress.seconds_left() == pytest.approx(500.0) and buffer.getvalue().endswith("<08:20]")
    now[0], share[0] = 500.0, 60.0  # 50 % in 500 s: 40 % left take 400 s
    progress.refresh()
    assert progress.seconds_left() == pytest.approx(400.0)
    now[0] = 2000.0  # overdue: no negative time
    progress.refresh("semgcn-128 finished")
    assert progress.seconds_left() == 0.0 and buffer.getvalue().endswith("<00:00, semgcn-128 finished]")
    progress.close()


@pytest.mark.slow
def test_submitit_local_executor_trains_a_suite(suite_cache):
    pytest.importorskip("submitit")
    config = small("semgcn-128", 3)
    parallel.run_many([config], progress=False, executor="submitit-local", executor_params={"timeout_min": 10},
                      log=lambda _: None)
    result = cached_result(config)
    assert result is not None and result.metrics["mpjpe"] > 0


def test_unknown_executor_is_refused(suite_cache):
    from hgnlib.errors import HGNError

    with pytest.raises(HGNError, match="executor"):
        parallel.run_many([small("semgcn-128")], executor="kubernetes")


def test_study_summary_reads_runs_in_progress(suite_cache):
    config = ExperimentConfig("semgcn-128", profile="smoke", overrides=(("epochs", 3), ("evals_per_epoch", 2),
                                                                        ("train_limit", 256), ("val_samples", 64)))
    assert study_summary([config])["runs"][0]["steps"] == []
    run_experiment(config, progress=False)
    run = study_summary([config])["runs"][0]
    assert len(run["steps"]) == 6 and run["steps"] == sorted(run["steps"]) and len(run["mpjpe"]) == 6


def test_priority_groups_start_first_in_their_order_the_rest_longest_first(monkeypatch):
    monkeypatch.setattr(parallel, "total_steps", lambda config: 100)  # equal lengths: the order is the cost's
    hgn, semgcn, martinez = small("hgn-128"), small("semgcn-128"), small("martinez")
    hgn1, semgcn1 = hgn.with_seed(1), semgcn.with_seed(1)
    configs = [martinez, semgcn1, hgn1, semgcn, hgn]
    assert parallel.start_order(configs) == [hgn1, hgn, semgcn1, semgcn, martinez]  # no groups: longest first
    assert parallel.start_order(configs, [[martinez, semgcn], [semgcn1]]) == [martinez, semgcn, semgcn1, hgn1, hgn]


def test_claim_runs_start_in_the_order_that_answers_claims_soonest():
    """The claim whose rows need the least training left comes first (a row shared with a claim already scheduled
    costs nothing more), its runs nearest to their end first."""
    from hgnlib.claims import answer_order
    from hgnlib.experiments.suite import entries, spread_groups

    group = spread_groups("embedded", "standard")[1]
    row = {e.label: e.config.model for e in entries("4a", "embedded", "standard")}
    hgn64, graphsh = row["Ours (64 ch.)"], row["GraphSH (64 ch.)"]
    left = {(hgn64, 0): 1.0, (hgn64, 1): 3.0, (hgn64, 2): 2.0, (graphsh, 0): 4.0, (graphsh, 1): 4.0,
            (graphsh, 2): 4.0}
    order = answer_order(group, "embedded", "standard", lambda c: left.get((c.model, c.seed), 100.0))
    # HGN-64 beats SeqRes (SemGCN-128: not in this group, nothing left) needs 6; then HGN-64 beats GraphSH 12 more
    assert [(c.model, c.seed) for c in order[:6]] == [(hgn64, 0), (hgn64, 2), (hgn64, 1), (graphsh, 0),
                                                      (graphsh, 1), (graphsh, 2)]
    assert sorted(order, key=group.index) == group  # every run once


def test_reproduce_starts_the_spread_and_claim_runs_first(monkeypatch):
    from hgnlib.experiments.suite import all_configs, spread_configs, spread_groups, start_groups

    monkeypatch.setattr(parallel, "remaining_cost", lambda config: 1.0)  # no dataset needed for the order

    groups = spread_groups("embedded", "standard")
    spread_models = [c.model for c in groups[0]]
    assert spread_models == ["semgcn-128"] * 3 + ["hgn-128"] * 3  # the spread models at the profile's 3 seeds
    assert groups[1] and not set(groups[1]) & set(groups[0]) and {c.seed for c in groups[1]} == {0, 1, 2}
    assert spread_configs("embedded", "standard") == groups[0] + groups[1]
    assert len(spread_groups("embedded", "quick")) == 1  # the quick profile trains no claim rows at 3 seeds
    assert set(spread_configs("embedded", "standard")) <= set(all_configs("embedded", "standard"))
    assert [set(g) for g in start_groups("embedded", "standard")] == [set(g) for g in groups]  # the same, ordered


def test_converge_suite_summarises_the_profiles_own_spread_runs(suite_cache, tmp_path):
    from hgnlib.cli import main

    configs = suite_study_configs("smoke")
    assert {(c.model, c.seed, c.overrides) for c in configs} == {
        (m, s, ()) for m in ("hgn-128", "semgcn-128") for s in (0, 1)}  # the runs hgn reproduce trains, no overrides
    finished = configs[0]
    run_experiment(finished, progress=False)
    out = tmp_path / "study.json"
    assert main(["converge", "--suite", "--profile", "smoke", "--summary-only", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["source"] == "suite" and summary["recipe"]["epochs"] == profiles.PROFILES["smoke"].recipe.epochs
    assert summary["code"] == code_fingerprint()
    runs = {r["label"]: r for r in summary["runs"]}
    assert set(runs) == {c.label for c in configs}
    assert runs[finished.label]["steps"] == [h["step"] for h in cached_result(finished).history]
    assert all(not r["steps"] for label, r in runs.items() if label != finished.label)


def test_status_lists_each_run_as_finished_started_or_waiting(suite_cache, tmp_path):
    finished, started, waiting = small("semgcn-128", 0), small("semgcn-128", 1, ("epochs", 12)), small("martinez")
    run_experiment(finished, progress=False)
    _kill_after_first_checkpoint(started, {**os.environ, "OMP_NUM_THREADS": "1"})
    rows = {r["run"]: r for r in parallel.suite_status([waiting, started, finished], first=[[finished]])}
    assert list(rows) == [finished.label, started.label, waiting.label]  # the start order
    assert rows[finished.label]["state"] == "finished"
    assert rows[finished.label]["test_mpjpe"] == cached_result(finished).metrics["mpjpe"]
    assert rows[started.label]["state"] == "started" and rows[started.label]["test_mpjpe"] is None
    assert 0 <= rows[started.label]["steps"] < rows[started.label]["total_steps"]
    assert rows[waiting.label]["state"] == "waiting" and rows[waiting.label]["steps"] == 0
    assert rows[waiting.label]["val_mpjpe_last"] is None and rows[waiting.label]["plateau_step"] is None
    history = cached_result(finished).history
    assert rows[finished.label]["plateau_step"] == plateau_step([h["step"] for h in history],
                                                                 [h["mpjpe"] for h in history])
    assert "3 runs: 1 finished, 1 started, 1 waiting" in parallel.status_summary(list(rows.values()))


def test_status_gives_the_step_a_run_has_plateaued_from(tmp_path, monkeypatch):
    """A run whose best validation error stopped improving is plateaued from the first step it stays flat; one still
    improving by more than 2 % over its last quarter is not."""
    flat, falling = small("semgcn-128", 0), small("semgcn-128", 1)
    curves = {flat: [100, 50, 40, 39.9, 39.8, 39.8, 39.8, 39.8], falling: [100, 80, 60, 50, 40, 30, 20, 10]}
    for config, errors in curves.items():
        folder = tmp_path / config.label
        folder.mkdir()
        (folder / train_module.HISTORY).write_text(json.dumps(
            [{"step": 100 * (i + 1), "mpjpe": e} for i, e in enumerate(errors)]))
    monkeypatch.setattr(parallel, "run_dir", lambda c: tmp_path / c.label)
    monkeypatch.setattr(parallel, "total_steps", lambda c: 1000)
    monkeypatch.setattr(parallel, "cached_result", lambda c: None)
    rows = {r["run"]: r for r in parallel.suite_status([flat, falling])}
    assert rows[flat.label]["plateau_step"] == 400 and rows[falling.label]["plateau_step"] is None
    assert rows[flat.label]["state"] == rows[falling.label]["state"] == "started"


def test_status_command_prints_and_writes_the_suite(suite_cache, tmp_path, capsys):
    from hgnlib.cli import main
    from hgnlib.experiments.suite import all_configs

    out = tmp_path / "status.json"
    assert main(["status", "--profile", "smoke", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == len(all_configs("embedded", "smoke")) and {r["state"] for r in runs} == {"waiting"}
    printed = capsys.readouterr().out
    # the spread models first, in the order that answers their claim soonest: the cheaper SemGCN-128 first
    assert runs[0]["run"].startswith("semgcn-128") and "0 finished, 0 started" in printed
    claims = json.loads(out.read_text())["claims"]  # judged from the finished runs: none yet
    assert [c["claim"] for c in claims] == [c.text for c in CLAIMS] and {c["verdict"] for c in claims} == {"not trained"}
    assert all(f"{c.text} " in printed for c in CLAIMS)


def test_status_plot_draws_each_started_run_once_over_the_study(suite_cache, tmp_path, capsys):
    """``hgn status --plot`` draws the curve of every run that has validated (one colour per configuration, one line
    style per seed), none for waiting runs, and the stored convergence study's curves in grey behind them (not when the
    stored file summarises the suite's own runs); a file name that cannot take a figure is refused before anything
    is read."""
    import matplotlib.pyplot as plt

    from hgnlib.cli import main
    from hgnlib.experiments.suite import all_configs
    from hgnlib.plotting import plot_suite_progress

    configs = list(dict.fromkeys(all_configs("embedded", "smoke")))
    spread = suite_study_configs("smoke")  # HGN-128 and SemGCN-128 at each seed, as the suite trains them
    hgn = [c for c in spread if c.model == "hgn-128"][:2]
    semgcn = next(c for c in spread if c.model == "semgcn-128")
    other = next(c for c in configs if c.model == "hgn-128" and c.seed == hgn[0].seed and c.lambda_m != hgn[0].lambda_m)
    assert hgn[0].seed != hgn[1].seed and {*hgn, semgcn} <= set(configs)
    for config, errors in ((hgn[0], [90, 60, 50]), (hgn[1], [95, 70]), (semgcn, [120, 80, 75]), (other, [99, 66])):
        run_dir(config).mkdir(parents=True)
        (run_dir(config) / train_module.HISTORY).write_text(json.dumps(
            [{"step": 10 * (i + 1), "mpjpe": e, "pa_mpjpe": e / 2, "lr": 1e-3, "loss": 1.0}
             for i, e in enumerate(errors)]))
    summary = study_summary(configs, source="suite")
    reference = {"source": "study", "runs": [{"model": "hgn-128", "seed": 0, "steps": [5, 50], "mpjpe": [100, 40]}]}
    fig, ax = plt.subplots()
    plot_suite_progress(ax, summary, total_steps=60, reference=reference)
    lines = {line.get_label(): line for line in ax.get_lines()}
    plt.close(fig)
    assert {hgn[0].label, hgn[1].label, semgcn.label, other.label} <= set(lines)
    assert len([label for label in lines if not label.startswith("_")]) == 6  # 4 runs, the study, the length
    assert list(lines[hgn[1].label].get_ydata()) == [95, 70]
    assert lines[hgn[0].label].get_color() == lines[hgn[1].label].get_color() != lines[semgcn.label].get_color()
    assert lines[other.label].get_color() not in {lines[hgn[0].label].get_color(), lines[semgcn.label].get_color()}
    assert lines[hgn[0].label].get_linestyle() != lines[hgn[1].label].get_linestyle()
    assert lines["convergence study (study)"].get_color() == "0.6"
    fig, ax = plt.subplots()  # a convergence file written from the suite's own runs is not drawn a second time
    plot_suite_progress(ax, summary, total_steps=60, reference={**reference, "source": "suite"})
    assert len(ax.get_lines()) == 5 and not ax.texts  # 4 runs and the length, no grey curve or its label
    plt.close(fig)

    out = tmp_path / "progress.png"
    assert main(["status", "--profile", "smoke", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "4 started" in capsys.readouterr().out
    assert main(["status", "--profile", "smoke", "--plot", str(tmp_path / "progress.txt")]) == 2
    assert "--plot has the extension '.txt'" in capsys.readouterr().err
    assert not (tmp_path / "progress.txt").exists()


def test_workers_share_the_cores_and_take_one_thread_on_a_gpu(monkeypatch):
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 8)
    assert parallel.worker_threads(2) == 4 and parallel.worker_threads(3, "cpu") == 2
    assert parallel.worker_threads(16) == 1
    assert parallel.worker_threads(2, "cuda") == 1 and parallel.worker_threads(2, "cuda:0") == 1
