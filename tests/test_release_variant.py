"""Body and mesh targets in the experiment, the paper profile's SMPL requirement, the release preset, padding."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hgnlib import profiles, skeleton
from hgnlib.cli import main
from hgnlib.data.h36m import AUTHORS_ACTIONS, AUTHORS_TO_H36M17, FIRST_ACTION_IDX, THREE_D_FILE, load_3d
from hgnlib.experiments import ExperimentConfig, run_experiment
from hgnlib.experiments.artifacts import load_model
from hgnlib.experiments.runs import MissingMeshInputsError, check_mesh_inputs, missing_mesh_inputs, model_graphs
from hgnlib.experiments.variants import RELEASE_DIFFERENCES, apply_variant, differences_table, variant_settings
from hgnlib.fitting import FitConfig
from hgnlib.models.graph import as_graph, synthetic_graph
from hgnlib.models.layers import SemGConv
from hgnlib.models.registry import ModelConfig, build_model
from hgnlib.skeleton import TEST_SUBJECTS, TRAIN_SUBJECTS

from smpl_testmodel import write_test_smpl


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    return tmp_path


def test_mesh_settings_default_by_profile_and_are_in_the_key():
    paper = ExperimentConfig("hgn-128", data="h36m", profile="paper")
    assert (paper.body, paper.mesh_targets, paper.hem) == ("smpl", "authors_smpl", "release")
    quick = ExperimentConfig("hgn-128")
    assert (quick.body, quick.mesh_targets, quick.hem, quick.padding, quick.fusion) == (
        "anny", "fit", "graclus", "inert", "paper")
    stand_in = ExperimentConfig("hgn-128", data="h36m", profile="paper", body="anny")
    assert (stand_in.mesh_targets, stand_in.hem) == ("fit", "graclus")
    keys = {quick.key("d")}
    for change in ({"body": "smpl"}, {"hem": "release"}, {"padded": True, "padding": "release"},
                   {"fusion": "inplace"}, {"train_stride": 5}, {"test_stride": 50}):
        keys.add(ExperimentConfig("hgn-128", **change).key("d"))
    assert len(keys) == 7
    # Models without meshes share their runs whatever the mesh settings.
    assert (ExperimentConfig("semgcn-128", data="h36m", profile="paper").key("d")
            == ExperimentConfig("semgcn-128", data="h36m", profile="paper", body="anny", hem="release").key("d"))


@pytest.mark.parametrize("fields, message", [
    ({"body": "anny", "mesh_targets": "authors_smpl"}, "body='smpl'"),
    ({"padding": "release"}, "padded=True"),
    ({"hem": "metis"}, "hem must be"),
    ({"body": "star"}, "body must be"),
    ({"test_stride": 0}, "test_stride"),
])
def test_bad_mesh_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig("hgn-128", **fields)
    with pytest.raises(ValueError, match="fusion"):
        ExperimentConfig("semgcn-128", fusion="inplace")


def test_release_preset_sets_every_difference_and_each_alone_wins():
    fields, overrides = variant_settings("release", "hgn-128", "quick")
    assert fields == {"fusion": "inplace", "hem": "release", "padding": "release", "padded": True}
    assert overrides == {"loss": "release", "loss_scale": 100.0, "init": "release"}
    fields, overrides = variant_settings("release", "hgn-128", "paper")
    assert (fields["train_stride"], fields["test_stride"], overrides["epochs"]) == (5, 50, 150)
    assert "fusion" not in variant_settings("release", "semgcn-128", "quick")[0]
    assert variant_settings("release", "semgcn-128", "quick") == ({}, {"loss": "release", "loss_scale": 100.0,
                                                                       "init": "release"})
    assert variant_settings("paper", "hgn-128", "quick") == ({}, {})
    # the standard profile takes the released initialisation and loss form: the paper variant sets them back
    assert variant_settings("paper", "semgcn-128", "standard") == ({}, {"loss": "paper", "init": "paper"})
    config = apply_variant(ExperimentConfig("hgn-128", overrides=(("lr", 2e-3),)), "release")
    assert (config.fusion, config.hem, config.padding, config.padded) == ("inplace", "release", "release", True)
    assert dict(config.overrides) == {"lr": 2e-3, "loss": "release", "loss_scale": 100.0, "init": "release"}
    table = differences_table()
    assert all(d.item in table for d in RELEASE_DIFFERENCES)
    assert len(table.splitlines()) == len(RELEASE_DIFFERENCES) + 2


def test_paper_profile_without_licensed_files_stops_with_one_line(data_dir, capsys):
    config = ExperimentConfig("hgn-128", data="h36m", profile="paper")
    with pytest.raises(MissingMeshInputsError, match="SMPL_NEUTRAL.pkl.*Human36M_subject1_smpl_param.json"):
        check_mesh_inputs(config, data_dir / "h36m")
    code = main(["train", "--model", "hgn-128", "--data", "h36m", "--profile", "paper"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hgn: error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "--body anny" in err
    # The anny stand-in, asked for explicitly, needs no licensed mesh file.
    assert missing_mesh_inputs(ExperimentConfig("hgn-128", data="h36m", profile="paper", body="anny")) == []


def test_paper_profile_finds_smpl_and_the_authors_files(data_dir):
    write_test_smpl(data_dir / "smpl" / "SMPL_NEUTRAL.pkl")
    folder = data_dir / "h36m"
    folder.mkdir()
    config = ExperimentConfig("hgn-128", data="h36m", profile="paper")
    assert [p.name for p in missing_mesh_inputs(config, folder)] == [
        f"Human36M_subject{s[1:]}_smpl_param.json" for s in (*TRAIN_SUBJECTS, *TEST_SUBJECTS)]
    for s in (*TRAIN_SUBJECTS, *TEST_SUBJECTS):
        (folder / f"Human36M_subject{s[1:]}_smpl_param.json").write_text(json.dumps({}))
    assert missing_mesh_inputs(config, folder) == []


def test_release_padding_gives_fake_nodes_uniform_semgconv_rows():
    adjacency = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
    mask = torch.tensor([True, True, True, False])
    inert = SemGConv(2, 3, as_graph(adjacency, mask))
    release = SemGConv(2, 3, as_graph(adjacency, mask, "release"))
    assert inert.normalized_adjacency()[3].abs().sum() == 0
    torch.testing.assert_close(release.normalized_adjacency()[3], torch.full((4,), 0.25))
    # Real rows are the same softmax over their entries in both.
    torch.testing.assert_close(release.normalized_adjacency()[:3], inert.normalized_adjacency()[:3])
    assert len(release.edge_logits) == len(inert.edge_logits)


def test_release_padding_changes_real_nodes_inert_does_not():
    def graphs(padding):
        fine, coarse = synthetic_graph(96, 3.0, num_fake=13, seed=11), synthetic_graph(48, 3.0, num_fake=3, seed=12)
        return {"mesh_c1": as_graph(fine.adjacency, fine.mask, padding),
                "mesh_c": as_graph(coarse.adjacency, coarse.mask, padding)}
    x = torch.randn(8, 17, 2, generator=torch.Generator().manual_seed(0))
    outs = {}
    for padding in ("inert", "release"):
        torch.manual_seed(0)
        model = build_model(ModelConfig("padded", "hgn", "semgconv", 16), graphs(padding))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        outs[padding] = model.train()(x)
    assert (outs["inert"]["joints"] - outs["release"]["joints"]).abs().max() > 1e-3
    fake = ~graphs("release")["mesh_c"].mask
    assert outs["release"]["mesh_c"][:, fake].abs().max() == 0


def test_readme_holds_the_current_table_of_differences():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert differences_table() in readme


def test_paper_profile_builds_the_smpl_hierarchy_with_the_release_matching(data_dir):
    write_test_smpl(data_dir / "smpl" / "SMPL_NEUTRAL.pkl")
    graphs, hierarchy = model_graphs(ExperimentConfig("hgn-128", data="h36m", profile="paper"))
    assert hierarchy.body_name == "smpl" and hierarchy.options["hem"] == "release"
    assert hierarchy.options["levels"] == 9
    assert graphs["mesh_c"].num_nodes == hierarchy.coarse_levels[1].num_nodes
    _, stand_in = model_graphs(ExperimentConfig("hgn-128", data="h36m", profile="paper", body="anny"))
    assert stand_in.body_name == "anny" and stand_in.options["hem"] == "graclus"


def test_a_run_trains_on_smpl_graphs_and_targets(data_dir, smoke_dataset, monkeypatch):
    smoke = profiles.PROFILES["smoke"]
    tiny = FitConfig(steps=1, refine_steps=1, shape_frames=8, shape_steps=2, screen_frames=4, screen_steps=2)
    monkeypatch.setitem(profiles.PROFILES, "smoke", dataclasses.replace(
        smoke, recipe=dataclasses.replace(smoke.recipe, fit=tiny, train_limit=256, epochs=1)))
    write_test_smpl(data_dir / "smpl" / "SMPL_NEUTRAL.pkl")
    config = ExperimentConfig("hgn-64", profile="smoke", body="smpl")
    result = run_experiment(config, data_folder=smoke_dataset[0], progress=False)
    stored = json.loads((result.path / "config.json").read_text())["config"]
    assert (stored["body"], stored["mesh_targets"], stored["hem"]) == ("smpl", "fit", "release")
    _, hierarchy = model_graphs(config)
    _, info = load_model(result.model_path)
    assert hierarchy.body_name == "smpl"
    assert info["output"]["nodes"] == {"joints": 17, **{name: level.num_nodes for name, level in
                                                         hierarchy.mesh_levels.items()}}
    assert set(result.metrics["mpvpe"]) == {"mesh_c1", "mesh_c"}


def write_authors_files(dataset: Path, folder: Path, stride: int, seed: int = 0) -> None:
    """The authors' JSON files (joints, SMPL parameters, images, cameras) of every sequence of ``dataset``'s
    ``data_3d_h36m.npz``, at every ``stride``-th frame, in their standard formats (SMPL parameters random)."""
    rng = np.random.default_rng(seed)
    positions = load_3d(dataset / THREE_D_FILE)
    images = {"images": [{"id": c, "width": 1000, "height": 1002, "action_idx": 2, "subaction_idx": 1,
                          "cam_idx": c, "frame_idx": 0} for c in (1, 2, 3, 4)], "annotations": []}
    cameras = {str(c): {"R": np.eye(3).tolist(), "t": [0.0, 0.0, 5000.0], "f": [1145.0, 1145.0],
                        "c": [500.0, 500.0]} for c in (1, 2, 3, 4)}
    for subject, sequences in positions.items():
        joints, params = {}, {}
        for name, world in sequences.items():
            action, sub = name.rsplit(" ", 1)
            key, ours = str(AUTHORS_ACTIONS.index(action) + FIRST_ACTION_IDX), skeleton.to_17(world) * 1000
            theirs = np.empty_like(ours)
            theirs[:, list(AUTHORS_TO_H36M17)] = ours
            frames = range(0, len(world), stride)
            joints.setdefault(key, {})[sub] = {str(f): theirs[f].tolist() for f in frames}
            params.setdefault(key, {})[sub] = {str(f): {"pose": (0.1 * rng.normal(size=72)).tolist(),
                                                        "shape": rng.normal(size=10).tolist(),
                                                        "trans": rng.normal(size=3).tolist()} for f in frames}
        number = subject[1:]
        for kind, content in (("data", images), ("camera", cameras), ("joint_3d", joints), ("smpl_param", params)):
            (folder / f"Human36M_subject{number}_{kind}.json").write_text(json.dumps(content))


def test_paper_profile_trains_on_smpl_and_the_authors_parameters(data_dir, smoke_dataset, capsys):
    folder = data_dir / "h36m"
    folder.mkdir()
    for name in (THREE_D_FILE, "data_2d_h36m_gt.npz"):
        (folder / name).symlink_to(smoke_dataset[0] / name)
    write_authors_files(smoke_dataset[0], folder, stride=10)
    write_test_smpl(data_dir / "smpl" / "SMPL_NEUTRAL.pkl")
    capsys.readouterr()
    code = main(["train", "--model", "hgn-64", "--data", "h36m", "--profile", "paper", "--data-dir", str(folder),
                 "--train-stride", "10", "--test-stride", "10", "--set", "epochs=1", "--set", "train_limit=256",
                 "--set", "val_samples=64", "--set", "prediction_samples=64", "--json"])
    assert code == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["config"]["body"], run["config"]["mesh_targets"], run["config"]["hem"]) == (
        "smpl", "authors_smpl", "release")
    assert set(run["metrics"]["mpvpe"]) == {"mesh_c1", "mesh_c"}
    assert list((folder / "pseudo_gt").glob("authors_smpl-s10-*/index.json"))
    _, info = load_model(Path(run["path"]) / "model.pt")
    _, hierarchy = model_graphs(ExperimentConfig(**{**run["config"], "overrides": ()}))
    assert hierarchy.body_name == "smpl"
    assert info["output"]["nodes"]["mesh_c"] == hierarchy.coarse_levels[1].num_nodes
