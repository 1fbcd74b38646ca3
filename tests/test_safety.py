"""Files from strangers run no code, and every bad input of issue 14 ends in a one-line error (or a reported fill).

Each malicious file holds an object whose unpickling would create a marker file; every entry point must refuse it
with a clean ``hgn: error: ... fix: ...`` and leave no marker.
"""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hgnlib.cli import main
from hgnlib.errors import DataError
from hgnlib.experiments.artifacts import FORMAT, save_model



class Planted:
    """Unpickling this runs Python code that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).touch()",)


def _refused(capsys, argv: list[str], marker: Path) -> str:
    """Run the command line; assert exit 2, a clean one-message error, no traceback and no marker."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hgn: error: ") and "Traceback" not in err and "fix:" in err
    assert len(err.strip().splitlines()) <= 2  # the problem, then the fix
    assert not marker.exists(), "code planted in the file ran"
    return err


def _semgcn():
    from hgnlib.models.registry import build_model, get_config, prepare_graphs

    graphs = prepare_graphs(None, get_config("semgcn-128").graphs)
    torch.manual_seed(0)
    return build_model("semgcn-128", graphs), graphs


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    model, graphs = _semgcn()
    return save_model(tmp_path_factory.mktemp("model") / "model.pt", model, "semgcn-128", graphs)


@pytest.fixture
def keypoints_csv(tmp_path) -> Path:
    from hgnlib import skeleton

    rng = np.random.default_rng(0)
    base = np.array([[500, 400], [470, 400], [470, 550], [470, 700], [530, 400], [530, 550], [530, 700],
                     [500, 330], [500, 260], [500, 235], [500, 200], [560, 260], [600, 330], [620, 400],
                     [440, 260], [400, 330], [380, 400]], dtype=float)
    header = ",".join(f"{n}_{a}" for n in skeleton.H36M17_NAMES for a in ("x", "y"))
    rows = [",".join(f"{v:.2f}" for v in (base + rng.normal(0, 2, base.shape)).ravel()) for _ in range(3)]
    path = tmp_path / "kp.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


# ------------------------------------------------------------------------------------------- malicious pickles


def test_planted_model_bundle_runs_no_code_in_eval_export_and_lift(capsys, tmp_path, keypoints_csv):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil" / "model.pt"
    evil.parent.mkdir()
    torch.save({"format": FORMAT, "model": Planted(marker), "graphs": {}, "state_dict": {}}, evil)
    for argv in (["eval", str(evil)], ["export", str(evil), "--out", str(tmp_path / "m.onnx")],
                 ["lift", str(keypoints_csv), "--model", str(evil), "--width", "1000", "--height", "1000"]):
        err = _refused(capsys, argv, marker)
        assert "refused" in err and "GLOBAL" in err


def test_planted_checkpoint_runs_no_code_on_resume(capsys, tmp_path, monkeypatch, smoke_dataset):
    from hgnlib.experiments import ExperimentConfig
    from hgnlib.experiments.runs import run_dir

    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "cache"))
    folder = str(smoke_dataset[0])
    config = ExperimentConfig("semgcn-128", profile="smoke", overrides=(("train_limit", 128),))
    out = run_dir(config, folder)
    out.mkdir(parents=True)
    marker = tmp_path / "marker"
    torch.save({"model": Planted(marker)}, out / "checkpoint.pt")
    err = _refused(capsys, ["train", "--model", "semgcn-128", "--profile", "smoke", "--data-dir", folder,
                            "--set", "train_limit=128", "--resume"], marker)
    assert "checkpoint" in err and "--restart" in err


def test_planted_h36m_npz_runs_no_code_in_data_check(capsys, tmp_path):
    marker = tmp_path / "marker"
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "data_3d_h36m.npz", positions_3d=np.array({"S1": {"Walk": Planted(marker)}}, dtype=object))
    err = _refused(capsys, ["data", "check", "--dir", str(data)], marker)
    assert "refused" in err and "builtins.exec" in err


def test_planted_embedded_npz_runs_no_code(tmp_path):
    from hgnlib.synthetic.synth import BODY_FILE, load_body_params

    marker = tmp_path / "marker"
    np.savez(tmp_path / BODY_FILE, pose=np.array({"S1": Planted(marker)}, dtype=object),
             translation=np.zeros(3), phenotype=np.zeros(3))
    with pytest.raises(DataError, match="refused"):
        load_body_params(tmp_path, "S1", "Walk")
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pkl", "npz"])
def test_planted_smpl_model_runs_no_code(capsys, tmp_path, monkeypatch, kind):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "data"))
    marker = tmp_path / "marker"
    folder = tmp_path / "data" / "smpl"
    folder.mkdir(parents=True)
    if kind == "pkl":
        with open(folder / "SMPL_NEUTRAL.pkl", "wb") as f:
            pickle.dump({"v_template": Planted(marker)}, f, protocol=2)
    else:
        np.savez(folder / "SMPL_NEUTRAL.npz", v_template=np.array(Planted(marker), dtype=object))
    err = _refused(capsys, ["body", "info", "--model", "smpl"], marker)
    assert "refused" in err


def test_numpy_functions_are_not_admitted_by_the_smpl_reader(tmp_path):
    """Only numpy's array reconstruction passes: a numpy function that runs code (numpy.testing's runstring)
    is refused like any other."""
    from hgnlib.safeload import load_smpl_pickle

    class ViaNumpy:
        def __reduce__(self):
            from numpy.testing._private.utils import runstring
            return runstring, ("x = 1", {})

    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"f": ViaNumpy()}, protocol=2))
    with pytest.raises(DataError, match="runstring"):
        load_smpl_pickle(path, "fix")


def test_checkpoint_loads_onto_another_device_with_rng_states_on_cpu(tmp_path):
    """A training checkpoint loaded for another device (the meta device stands in for a GPU here) has its weights
    there and its random generators' states on the CPU, where PyTorch restores them from (a CUDA resume once failed
    with 'RNG state must be a torch.ByteTensor')."""
    from hgnlib.safeload import load_torch

    model, _ = _semgcn()
    torch.save({"model": model.state_dict(), "generator": torch.Generator().manual_seed(3).get_state(),
                "torch_rng": torch.get_rng_state(), "cuda_rng": [torch.get_rng_state()],
                "history": [{"epoch": 1.0, "loss": 0.5}]}, tmp_path / "c.pt")
    state = load_torch(tmp_path / "c.pt", "checkpoint", "fix", map_location="meta")
    assert {t.device.type for t in state["model"].values()} == {"meta"}
    assert state["generator"].device.type == state["torch_rng"].device.type == state["cuda_rng"][0].device.type \
        == "cpu"
    generator = torch.Generator()
    generator.set_state(state["generator"])
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(3).get_state())
    assert state["history"] == [{"epoch": 1.0, "loss": 0.5}]


def test_real_files_still_load(tmp_path, model_file):
    """The allow-lists admit what the project writes: a bundle, a checkpoint-like dict, an H36M npz."""
    from hgnlib.data.h36m import load_3d, save_3d
    from hgnlib.experiments.artifacts import load_model
    from hgnlib.safeload import load_torch

    load_model(model_file)
    model, _ = _semgcn()
    optimizer = torch.optim.Adam(model.parameters())
    torch.save({"optimizer": optimizer.state_dict(), "generator": torch.Generator().get_state(),
                "history": [{"epoch": 1.0, "loss": 0.5}], "config": {"overrides": [["lr", 1e-3]]}}, tmp_path / "c.pt")
    assert load_torch(tmp_path / "c.pt", "checkpoint", "fix")["history"][0]["loss"] == 0.5
    poses = {"S1": {"Walk 1": np.zeros((4, 32, 3), dtype=np.float32)}}
    save_3d(tmp_path / "data_3d_h36m.npz", poses)
    assert load_3d(tmp_path / "data_3d_h36m.npz")["S1"]["Walk 1"].shape == (4, 32, 3)


# ------------------------------------------------------------------------------------------- silent wrong results


def test_nan_weights_are_an_error_naming_the_model(capsys, tmp_path, keypoints_csv):
    model, graphs = _semgcn()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = save_model(tmp_path / "nan.pt", model, "semgcn-128", graphs)
    err = _refused(capsys, ["lift", str(keypoints_csv), "--model", str(path), "--width", "1000", "--height", "1000",
                            "--out", str(tmp_path / "o.json")], tmp_path / "none")
    assert "semgcn-128" in err and "NaN" in err and not (tmp_path / "o.json").exists()


def test_nan_weights_are_an_error_in_eval(capsys, tmp_path, smoke_dataset):
    model, graphs = _semgcn()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = save_model(tmp_path / "nan.pt", model, "semgcn-128", graphs)
    err = _refused(capsys, ["eval", str(path), "--data-dir", str(smoke_dataset[0]), "--test-stride", "50"],
                   tmp_path / "none")
    assert "semgcn-128" in err and "NaN" in err


@pytest.mark.parametrize("setting", ["epochs=0", "epochs=abc", "lr=-1", "batch_size=1", "lr_decay=2",
                                     "amp=1", "train_limit=-5", "epochs=1.5"])
def test_bad_overrides_are_refused_before_a_run_folder_exists(capsys, tmp_path, monkeypatch, setting):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "cache"))
    err = _refused(capsys, ["train", "--model", "semgcn-128", "--profile", "smoke", "--set", setting],
                   tmp_path / "none")
    assert setting.split("=")[0] in err
    assert not (tmp_path / "cache").exists()


def test_output_paths_are_checked_before_any_work(capsys, tmp_path, keypoints_csv, model_file):
    for argv in (["lift", str(keypoints_csv), "--model", str(model_file), "--width", "1000", "--height", "1000",
                  "--out", str(tmp_path / "o.txt")],
                 ["lift", str(keypoints_csv), "--model", "no-such-model", "--out", str(tmp_path)],
                 ["export", str(model_file), "--out", str(tmp_path / "m.txt")],
                 ["export", "no-such-model", "--out", str(tmp_path / "m.txt")],
                 ["lift", str(tmp_path), "--model", str(model_file), "--width", "1000", "--height", "1000",
                  "--out", str(tmp_path / "o.json")],
                 ["eval", str(tmp_path)]):
        _refused(capsys, argv, tmp_path / "none")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kp.csv"]


def test_bundle_without_its_entries_is_a_message(capsys, tmp_path):
    for bad in ({"format": FORMAT}, {"format": FORMAT, "model": {"name": "semgcn-128"}, "graphs": [], "state_dict": {}},
                {"format": FORMAT, "model": {"name": "semgcn-128", "channels": "x"}, "graphs": {}, "state_dict": {}}):
        torch.save(bad, tmp_path / "m.pt")
        _refused(capsys, ["eval", str(tmp_path / "m.pt")], tmp_path / "none")


def test_person_outside_the_image_and_filled_joints_are_reported(capsys, tmp_path, keypoints_csv, model_file):
    rows = keypoints_csv.read_text().splitlines()
    header, first = rows[0], np.array(rows[1].split(","), dtype=float)
    shifted = first.copy()
    shifted[0::2] += 1500  # every x beyond the right edge of a 1000 px image
    holes = first.copy()
    holes[2 * 11: 2 * 17] = np.nan  # six arm joints missing
    lines = [header] + [",".join("" if np.isnan(v) else f"{v:.2f}" for v in r) for r in (first, shifted, holes)]
    keypoints_csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "o.json"
    assert main(["lift", str(keypoints_csv), "--model", str(model_file), "--width", "1000", "--height", "1000",
                 "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    warnings = json.loads(out.read_text())["warnings"]
    assert len(warnings) == 2 and all(f"hgn: warning: {w}" in err for w in warnings)
    assert "entirely outside" in warnings[0] and "ids 1)" in warnings[0] and "ids 2)" in warnings[1]


def test_resumed_run_reports_the_total_training_time(tmp_path, monkeypatch, smoke_dataset):
    from hgnlib.experiments import ExperimentConfig
    from hgnlib.experiments.runs import run_experiment
    from hgnlib.experiments.train import CHECKPOINT

    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "cache"))
    config = ExperimentConfig("martinez", profile="smoke", overrides=(("train_limit", 128), ("epochs", 1)))
    first = run_experiment(config, data_folder=smoke_dataset[0], progress=False)
    state = torch.load(first.path / CHECKPOINT, weights_only=True)
    state["seconds"] = 1000.0  # as if the epoch had taken 1000 s before an interruption
    torch.save(state, first.path / CHECKPOINT)
    (first.path / "metrics.json").unlink()
    resumed = run_experiment(config, data_folder=smoke_dataset[0], progress=False)
    assert resumed.seconds == 1000.0 and resumed.metrics == first.metrics


def test_a_second_identical_run_waits_and_reuses_the_first(capsys, tmp_path, monkeypatch, smoke_dataset):
    """The second run starts while the first holds the run's lock (inside it, before training): it waits, then
    returns the first one's result without training (same training time, to the digit)."""
    import threading

    from hgnlib.experiments import ExperimentConfig, runs

    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "cache"))
    config = ExperimentConfig("martinez", profile="smoke", overrides=(("train_limit", 128), ("epochs", 1)))
    inside = threading.Event()
    prepare = runs.prepare
    monkeypatch.setattr(runs, "prepare", lambda *a, **k: (inside.set(), prepare(*a, **k)))
    results = {}
    first = threading.Thread(target=lambda: results.update(first=runs.run_experiment(
        config, data_folder=smoke_dataset[0], progress=False)))
    first.start()
    assert inside.wait(60)
    results["second"] = runs.run_experiment(config, data_folder=smoke_dataset[0], progress=False)
    first.join()
    assert "waiting for another process that trains the same run" in capsys.readouterr().err
    assert results["second"].seconds == results["first"].seconds > 0
    assert results["second"].metrics == results["first"].metrics


def _coco(tmp_path, **changes) -> Path:
    from hgnlib.lift import write_coco_results

    coco = np.array([[500, 200], [510, 190], [490, 190], [520, 195], [480, 195], [560, 260], [440, 260], [600, 330],
                     [400, 330], [620, 400], [380, 400], [530, 400], [470, 400], [530, 550], [470, 550], [530, 700],
                     [470, 700]], dtype=float)
    points = np.stack([np.concatenate([coco + t, np.ones((17, 1))], -1) for t in range(2)])
    path = write_coco_results(tmp_path / "kp.json", points)
    dets = json.loads(path.read_text())
    dets[0].update(changes)
    path.write_text(json.dumps(dets))
    return path


@pytest.mark.parametrize("changes, message", [({"score": "high"}, "score 'high'"), ({"image_id": [1]}, "image_id"),
                                              ({"image_id": {"a": 1}}, "image_id")])
def test_bad_coco_fields_are_messages(tmp_path, changes, message):
    from hgnlib.lift import read_keypoints

    with pytest.raises(DataError, match=message):
        read_keypoints(_coco(tmp_path, **changes), width=1000, height=1000)


def test_string_image_sizes_of_a_coco_file_are_a_message_unless_given(tmp_path):
    from hgnlib.lift import read_keypoints

    path = _coco(tmp_path)
    path.write_text(json.dumps({"annotations": json.loads(path.read_text()),
                                "images": [{"id": 0, "width": "1000", "height": "1000"}]}))
    with pytest.raises(DataError, match=r"images\[0\]\.width"):
        read_keypoints(path)
    assert len(read_keypoints(path, layout="coco17", width=1000, height=1000)) == 2


@pytest.mark.parametrize("extra, message", [({"width": np.array("wide")}, "'width' is"),
                                            ({"scores": np.ones((2, 16))}, "'scores' are shape"),
                                            ({"frame_ids": np.array(3)}, "'frame_ids' has shape"),
                                            ({"frame_ids": np.arange(5)}, "'frame_ids' has shape")])
def test_bad_npz_entries_are_messages(tmp_path, keypoints_csv, extra, message):
    from hgnlib.lift import read_keypoints

    points = read_keypoints(keypoints_csv, width=1000, height=1000).points[:2, :, :2]
    np.savez(tmp_path / "kp.npz", keypoints=points, height=np.array(1000), **extra)
    with pytest.raises(DataError, match=message):
        read_keypoints(tmp_path / "kp.npz")
    if "width" in extra:  # a size given on the command line wins: the file's is not read
        assert read_keypoints(tmp_path / "kp.npz", width=1000, height=1000).width == 1000


@pytest.mark.parametrize("frame", ["nan", "1e30", "2.5"])
def test_bad_csv_frame_numbers_are_messages(keypoints_csv, frame):
    from hgnlib.lift import read_keypoints

    lines = keypoints_csv.read_text().splitlines()
    lines = ["frame," + lines[0]] + [f"{frame if i == 1 else i}," + line for i, line in enumerate(lines[1:])]
    keypoints_csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="'frame' column holds .* on data row 2"):
        read_keypoints(keypoints_csv, width=1000, height=1000)
