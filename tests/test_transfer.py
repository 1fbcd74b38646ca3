"""Runs carried between caches (hgn runs export / import): a finished run arrives whole, a started one resumes to
the numbers of an uninterrupted run, and a damaged, altered or foreign folder is refused file by file."""
import json
import shutil

import numpy as np
import pytest

from hgnlib import paths, profiles
from hgnlib.cli import main
from hgnlib.errors import DataError, HGNError
from hgnlib.experiments import ExperimentConfig, cached_result, run_experiment
from hgnlib.experiments import train as train_module
from hgnlib.experiments import transfer
from hgnlib.experiments.parallel import choose_runs
from hgnlib.experiments.runs import METRICS_FILE, run_dir
from hgnlib.experiments.train import CHECKPOINT

SMALL = (("evals_per_epoch", 1), ("prediction_samples", 16), ("train_limit", 256), ("val_samples", 64))


def small(seed: int = 0, epochs: int = 2, model: str = "semgcn-128") -> ExperimentConfig:
    return ExperimentConfig(model, profile="smoke", seed=seed, overrides=(*SMALL, ("epochs", epochs)))


class Stop(Exception):
    pass


def train_until_interrupted(config: ExperimentConfig, monkeypatch, epochs: int) -> None:
    """Train ``config`` and stop it (as a kill would) once the checkpoint and history of ``epochs`` epochs are
    written."""
    real_save = train_module.save_json

    def save(path, history):
        real_save(path, history)
        if path.name == "history.json" and history[-1]["epoch"] == epochs:
            raise Stop

    monkeypatch.setattr(train_module, "save_json", save)
    with pytest.raises(Stop):
        run_experiment(config, progress=False)
    monkeypatch.setattr(train_module, "save_json", real_save)


def use_cache(folder, monkeypatch, smoke_dataset):
    """Point the data folder at ``folder`` (the session's smoke dataset linked in)."""
    monkeypatch.setenv("HGN_DATA_DIR", str(folder))
    dataset = paths.embedded_dir(profiles.PROFILES["smoke"].synth_size)
    if not dataset.exists():
        dataset.parent.mkdir(parents=True, exist_ok=True)
        dataset.symlink_to(smoke_dataset[0], target_is_directory=True)


@pytest.fixture
def exported(tmp_path, monkeypatch, smoke_dataset):
    """A cache with a finished run and a run stopped after 1 of 3 epochs, exported to ``tmp_path/export``; returns
    (finished config, started config, export folder)."""
    use_cache(tmp_path / "a", monkeypatch, smoke_dataset)
    finished, started = small(0, model="hgn-64"), small(1, epochs=3)  # mesh outputs in the finished run
    run_experiment(finished, progress=False)
    train_until_interrupted(started, monkeypatch, epochs=1)
    # a run of the same profile under a key this code no longer gives (older code or settings): not exported
    shutil.copytree(run_dir(finished), run_dir(finished).parent / "0123456789abcdef")
    rows = transfer.export_runs(tmp_path / "export", "embedded", "smoke")
    assert {(r["key"], r["state"]) for r in rows} == {(run_dir(finished).name, "finished"),
                                                    (run_dir(started).name, "started")}
    return finished, started, tmp_path / "export"


def test_exported_runs_import_whole_and_resume_like_an_uninterrupted_run(exported, tmp_path, monkeypatch,
                                                                        smoke_dataset):
    finished, started, export = exported
    assert not (export / run_dir(finished).name / CHECKPOINT).exists()  # a finished run ships its results only
    original, predictions = cached_result(finished).metrics, cached_result(finished).predictions()
    uninterrupted = run_experiment(started, progress=False).metrics  # the stopped run, finished in its own cache

    use_cache(tmp_path / "b", monkeypatch, smoke_dataset)
    assert cached_result(finished) is None
    rows = transfer.import_runs(export)
    assert [r["action"] for r in rows] == ["imported", "imported"]
    assert cached_result(finished).metrics == original
    restored, stored = cached_result(finished).predictions(), predictions  # written again from model.pt
    assert "pred_mesh_c" in stored and restored.keys() == stored.keys() and all(np.array_equal(restored[k], stored[k]) for k in stored)
    assert cached_result(started) is None and (run_dir(started) / CHECKPOINT).exists()
    saved = []
    real_save = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint",
                        lambda path, state: (saved.append(state["epoch"]), real_save(path, state)))
    assert run_experiment(started, progress=False).metrics == uninterrupted
    assert saved == [2, 3]  # resumed after the exported epoch, not from scratch

    again = transfer.import_runs(export)  # a second import changes nothing here
    assert [r["action"] for r in again] == ["kept: finished here already"] * 2


def test_import_refuses_damaged_altered_and_foreign_runs(exported, tmp_path, monkeypatch, smoke_dataset, capsys):
    finished, started, export = exported
    done, partial = export / run_dir(finished).name, export / run_dir(started).name
    use_cache(tmp_path / "b", monkeypatch, smoke_dataset)

    # another configuration written into config.json (and the index rewritten to match, as someone altering an
    # export on purpose would): the key disagrees
    stored = json.loads((done / "config.json").read_text())
    stored["config"]["seed"] = 7
    (done / "config.json").write_text(json.dumps(stored))
    transfer.write_index(export)
    # bytes changed after export: the index's SHA-256 no longer matches
    with open(partial / CHECKPOINT, "ab") as f:
        f.write(b"\0")
    rows = {r["key"]: r["action"] for r in transfer.import_runs(export)}
    assert rows[done.name].startswith("skipped: trained by other code or settings")
    assert rows[partial.name].startswith("skipped:") and "SHA-256" in rows[partial.name]
    assert not (paths.cache_dir() / "runs" / done.name).exists()
    assert not (paths.cache_dir() / "runs" / partial.name / CHECKPOINT).exists()

    # a file an export never writes (e.g. a pickle), and a link in place of a file (the checkpoint repaired)
    with open(partial / CHECKPOINT, "r+b") as f:
        f.truncate((partial / CHECKPOINT).stat().st_size - 1)
    index = json.loads((export / transfer.INDEX).read_text())
    entries = {entry["key"]: entry for entry in index["runs"]}
    entries[done.name]["files"]["extra.pkl"] = {"bytes": 0, "sha256": ""}
    (export / transfer.INDEX).write_text(json.dumps(index))
    shutil.copyfile(partial / "history.json", tmp_path / "history.json")
    (partial / "history.json").unlink()
    (partial / "history.json").symlink_to(tmp_path / "history.json")
    entries[partial.name]["files"]["history.json"]["sha256"] = transfer._sha256(tmp_path / "history.json")
    (export / transfer.INDEX).write_text(json.dumps(index))
    actions = {r["key"]: r["action"] for r in transfer.import_runs(export)}
    assert "do not belong to a" in actions[done.name] and "extra.pkl" in actions[done.name]
    assert "not a plain file" in actions[partial.name]
    assert main(["runs", "import", str(export)]) == 1  # the command says so and fails
    assert "2 skipped" in capsys.readouterr().out

    with pytest.raises(DataError, match="runs export"):
        transfer.import_runs(tmp_path / "nowhere")


def test_import_skips_runs_trained_on_other_data(exported, tmp_path, monkeypatch, smoke_dataset):
    _, _, export = exported
    use_cache(tmp_path / "b", monkeypatch, smoke_dataset)
    real = transfer.resolve_data
    monkeypatch.setattr(transfer, "resolve_data", lambda config: (real(config)[0], "another dataset"))
    rows = transfer.import_runs(export)
    assert [r["action"] for r in rows] == ["skipped: trained on other data than this machine's dataset of its "
                                           "profile"] * 2
    assert not (paths.cache_dir() / "runs").exists() or not any((paths.cache_dir() / "runs").iterdir())


def test_reproduce_imports_the_runs_shipped_beside_the_reports(exported, tmp_path, monkeypatch, smoke_dataset):
    finished, _, export = exported
    use_cache(tmp_path / "b", monkeypatch, smoke_dataset)
    root = tmp_path / "repo"
    shutil.copytree(export, root / "reports" / "embedded-smoke" / "runs")
    monkeypatch.setattr(paths, "repo_root", lambda: root)
    from hgnlib import reports

    logged = []
    monkeypatch.setattr(reports, "pretrain", lambda *a, **k: True)
    monkeypatch.setattr(reports, "notebook_paths", lambda pattern: [])
    monkeypatch.setattr(reports, "render", lambda out, summary: None)
    monkeypatch.setattr("hgnlib.claims.judge", lambda data, profile: {})
    reports.reproduce("embedded", "smoke", tmp_path / "out", jobs=1, log=logged.append)
    assert any("2 imported" in line for line in logged)
    assert (run_dir(finished) / METRICS_FILE).exists()


def test_export_into_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="not a folder"):
        transfer.export_runs(tmp_path / "file", "embedded", "smoke")


def test_runs_train_chooses_runs_by_label_state_and_limit(exported, tmp_path, monkeypatch, smoke_dataset, capsys):
    finished, started, export = exported
    fresh = small(2)
    configs = [finished, started, fresh]
    assert set(choose_runs(configs)) == {started, fresh}  # finished runs are never chosen
    assert choose_runs(configs, first=[[fresh]]) == [fresh, started]  # in the order they start
    assert choose_runs(configs, waiting=True) == [fresh]  # nothing trained in this cache
    assert choose_runs(configs, first=[[fresh]], limit=1) == [fresh]
    assert choose_runs(configs, patterns=[started.label.replace("seed1", "*")]) == [started]
    with pytest.raises(HGNError, match="no run of the suite matches"):
        choose_runs(configs, patterns=["semgcn-128"])  # matched against whole labels

    # the command on the smoke suite: a run chosen by its label is trained, then no longer chosen, and exported alone
    chosen = ["--profile", "smoke", "--select", "semgcn-128 gt seed0"]
    assert main(["runs", "train", *chosen, "--jobs", "1"]) == 0
    assert "1 run(s) of embedded data, profile smoke chosen" in capsys.readouterr().out
    assert cached_result(ExperimentConfig("semgcn-128", profile="smoke")) is not None
    assert main(["runs", "train", *chosen, "--list"]) == 0
    assert "0 run(s) of embedded data, profile smoke chosen" in capsys.readouterr().out
    assert main(["runs", "export", str(tmp_path / "one"), *chosen]) == 0
    index = json.loads((tmp_path / "one" / transfer.INDEX).read_text())
    assert [r["label"] for r in index["runs"]] == ["semgcn-128 gt seed0"]
    assert main(["runs", "export", str(tmp_path / "none"), "--profile", "smoke", "--select", "semgcn-128"]) == 1
    assert "no run in this cache matched --select ['semgcn-128']" in capsys.readouterr().out
