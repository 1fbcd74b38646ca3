"""The experiment engine: cache keys, a smoke run, determinism, resume, mesh loss with flips, model files."""
import dataclasses
import json

import pytest
import torch

from hgnlib import profiles, skeleton
from hgnlib.data.dataset import load_split
from hgnlib.errors import DataError
from hgnlib.experiments import ExperimentConfig, run_experiment, seed_spread
from hgnlib.experiments import runs as runs_module
from hgnlib.experiments import train as train_module
from hgnlib.experiments.artifacts import load_model
from hgnlib.experiments.evaluate import predict
from hgnlib.fitting import FitConfig
from hgnlib.metrics import mean_over_actions, mpjpe, per_group

TINY_FIT = FitConfig(steps=1, refine_steps=1, shape_frames=8, shape_steps=2, screen_frames=4, screen_steps=2)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    return tmp_path


def smoke_recipe(monkeypatch, **changes):
    """Replace the smoke profile's recipe for one test."""
    smoke = profiles.PROFILES["smoke"]
    monkeypatch.setitem(profiles.PROFILES, "smoke",
                        dataclasses.replace(smoke, recipe=dataclasses.replace(smoke.recipe, **changes)))


def run(config, smoke_dataset, **kwargs):
    return run_experiment(config, data_folder=smoke_dataset[0], progress=False, **kwargs)


def test_key_changes_with_every_field():
    base = ExperimentConfig("hgn-64", profile="smoke")
    changed = {"model": "hgn-128", "data": "h36m", "source_2d": "detected", "padded": True, "lambda_m": 0.0,
               "profile": "quick", "seed": 1, "flip_train": True, "flip_test": True, "overrides": (("epochs", 3),),
               "body": "smpl", "hem": "release", "fusion": "inplace", "train_stride": 2, "test_stride": 3}
    together = {"mesh_targets": {"body": "smpl", "mesh_targets": "authors_smpl"},
                "padding": {"padded": True, "padding": "release"}}
    assert set(changed) | set(together) == {f.name for f in dataclasses.fields(ExperimentConfig)}
    keys = {dataclasses.replace(base, **{k: v}).key("data") for k, v in changed.items()}
    keys |= {dataclasses.replace(base, **fields).key("data") for fields in together.values()}
    changed.update(together)
    assert len(keys) == len(changed) and base.key("data") not in keys
    assert base.key("other data") != base.key("data")
    assert base.key("data") == ExperimentConfig("hgn-64", profile="smoke").key("data")


def test_lambda_m_is_irrelevant_without_mesh_outputs():
    with_mesh = ExperimentConfig("semgcn-128", lambda_m=0.01)
    assert with_mesh.lambda_m == 0.0 and with_mesh.key("d") == ExperimentConfig("semgcn-128", lambda_m=0).key("d")
    assert ExperimentConfig("hgn-128").mesh_outputs == ("mesh_c1", "mesh_c")
    assert ExperimentConfig("hgn-wo-mesh-c1-128").mesh_outputs == ("mesh_c",)


def test_bad_configurations_are_refused():
    for bad in ({"model": "nope"}, {"model": "hgn-64", "data": "other"}, {"model": "hgn-64", "lambda_m": -1},
                {"model": "hgn-64", "profile": "paper"}, {"model": "hgn-64", "source_2d": "cpn"},
                {"model": "hgn-64", "overrides": (("epoch", 3),)}):
        with pytest.raises(ValueError):
            ExperimentConfig(**bad)


def test_key_follows_the_profile(monkeypatch):
    config = ExperimentConfig("semgcn-128", profile="smoke")
    before = config.key("d")
    smoke_recipe(monkeypatch, epochs=3)
    assert config.key("d") != before


def test_smoke_run_beats_mean_pose_is_deterministic_and_cached(cache, smoke_dataset, tmp_path_factory, monkeypatch):
    smoke_recipe(monkeypatch, train_limit=None)  # every smoke training sample: about 190 steps
    config = ExperimentConfig("semgcn-128", profile="smoke")
    result = run(config, smoke_dataset)
    split = load_split(smoke_dataset[0], "gt", train_stride=4, test_stride=4)
    mean = split.train.targets.mean(0).expand_as(split.test.targets)
    baseline = mean_over_actions(per_group(mpjpe(mean, split.test.targets), split.test.action, skeleton.ACTIONS))
    m = result.metrics
    assert m["mpjpe"] < baseline and m["pa_mpjpe"] < m["mpjpe"]
    assert set(m["per_joint"]) == set(skeleton.H36M17_NAMES) and set(m["per_body_part"]) == set(skeleton.BODY_PARTS)
    assert 0 <= m["auc"] <= m["pck"] <= 100 and "mpvpe" not in m
    assert [h["epoch"] for h in result.history] == [0.5, 1.0, 1.5, 2.0]
    assert {p.name for p in result.path.iterdir()} >= {"config.json", "history.json", "checkpoint.pt", "model.pt",
                                                       "predictions.npz", "metrics.json"}
    with monkeypatch.context() as patch:  # a cache hit: nothing trains
        patch.setattr(runs_module, "train_model", lambda *a, **k: pytest.fail("a cached run was trained again"))
        assert run(config, smoke_dataset).metrics == m
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path_factory.mktemp("fresh")))
    assert run(config, smoke_dataset).metrics == m


def test_interrupted_run_resumes_to_the_same_metrics(cache, smoke_dataset, tmp_path_factory, monkeypatch):
    config = ExperimentConfig("semgcn-128", profile="smoke", seed=3, flip_train=True, flip_test=True)
    reference = run(config, smoke_dataset)
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path_factory.mktemp("interrupted")))
    save = train_module.save_checkpoint

    def save_then_stop(path, state):
        save(path, state)
        if state["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(config, smoke_dataset)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    with pytest.raises(runs_module.InterruptedRunError, match="--resume"):
        run(config, smoke_dataset, resume=False)
    resumed = run(config, smoke_dataset)
    assert resumed.metrics == reference.metrics and resumed.history == reference.history


def test_longer_run_continues_the_shorter_one_to_the_same_metrics(cache, smoke_dataset, tmp_path_factory,
                                                                  monkeypatch):
    """A 3-epoch run starts from the finished 2-epoch run of the same configuration and ends exactly like a 3-epoch
    run trained from scratch; a restart starts from scratch."""
    config = ExperimentConfig("semgcn-128", profile="smoke", seed=2, flip_train=True, overrides=(("epochs", 3),))
    fresh = run(config, smoke_dataset)
    assert fresh.info["continued_from"] is None
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path_factory.mktemp("continued")))
    shorter = run(runs_module.with_epochs(config, 2), smoke_dataset)  # the profile's own 2 epochs: no override
    assert shorter.config.overrides == () and shorter.config.recipe.epochs == 2
    continued = run(config, smoke_dataset)
    assert continued.info["continued_from"] == {"run": shorter.key, "epochs": 2}
    assert continued.metrics == fresh.metrics and continued.history == fresh.history
    assert continued.history[:len(shorter.history)] == shorter.history
    restarted = run(config, smoke_dataset, restart=True)
    assert restarted.info["continued_from"] is None and restarted.metrics == fresh.metrics


def test_hgn_with_mesh_loss_and_flips_reports_mpvpe_and_saves_a_usable_model(cache, smoke_dataset, monkeypatch):
    smoke_recipe(monkeypatch, epochs=1, train_limit=128, fit=TINY_FIT, prediction_samples=32)
    config = ExperimentConfig("hgn-64", profile="smoke", lambda_m=0.01, flip_train=True, flip_test=True)
    result = run(config, smoke_dataset)
    mpvpe = result.metrics["mpvpe"]
    assert set(mpvpe) == {"mesh_c", "mesh_c1"} and all(0 < v < 2000 for v in mpvpe.values())
    assert torch.isfinite(torch.tensor(result.metrics["mpjpe"]))
    model, info = load_model(result.model_path)
    assert info["input"]["layout"] == "h36m17" and info["key"] == result.key
    assert info["output"]["nodes"]["joints"] == 17
    predictions = result.predictions()
    assert len(predictions["index"]) == 32 and predictions["pred_mesh_c"].shape[0] == 32
    again = predict(model, torch.from_numpy(predictions["inputs"]), flip_test=True)["joints"]
    assert torch.allclose(again, torch.from_numpy(predictions["pred_joints"]), atol=1e-5)


def test_output_init_scale_shrinks_the_first_predictions():
    from hgnlib.models.registry import build_model

    x = torch.randn(8, 17, 2)
    torch.manual_seed(0)
    plain = build_model("semgcn-128").eval()(x)["joints"]
    torch.manual_seed(0)
    model = build_model("semgcn-128")
    train_module.scale_output_init(model, 0.1)
    assert torch.allclose(model.eval()(x)["joints"], 0.1 * plain, atol=1e-6)


def test_model_file_errors(tmp_path):
    with pytest.raises(DataError, match="no model file"):
        load_model(tmp_path / "absent.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="expected 'hgn-model/1'"):
        load_model(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("not a torch file")
    with pytest.raises(DataError, match="torch can read"):
        load_model(tmp_path / "junk.pt")


def test_seed_spread():
    class R:
        def __init__(self, v):
            self.metrics = {"mpjpe": v}

    spread = seed_spread([R(1.0), R(3.0)])
    assert spread == {"mean": 2.0, "std": pytest.approx(2 ** 0.5), "min": 1.0, "max": 3.0, "n": 2}
    assert json.dumps(spread)


def test_overrides_change_the_recipe_and_the_key():
    base = ExperimentConfig("semgcn-128", profile="smoke")
    changed = ExperimentConfig("semgcn-128", profile="smoke", overrides=(("lr", 2e-3), ("epochs", 3)))
    assert changed.recipe.epochs == 3 and changed.recipe.lr == 2e-3 and base.recipe.epochs != 3
    assert changed.key("d") != base.key("d")
    assert changed.overrides == (("epochs", 3), ("lr", 2e-3))  # order does not matter


def test_mixed_precision_run(cache, smoke_dataset, monkeypatch):
    smoke_recipe(monkeypatch, epochs=1, train_limit=256)
    result = run(ExperimentConfig("semgcn-128", profile="smoke", overrides=(("amp", True),)), smoke_dataset)
    assert 0 < result.metrics["mpjpe"] < 5000 and "amp=True" in result.config.label


def test_recipe_loss_form_and_scale_reach_the_loss(cache, smoke_dataset, monkeypatch):
    seen = []
    real = train_module.hgn_loss
    monkeypatch.setattr(train_module, "hgn_loss", lambda *a, **k: (seen.append(a[3]), real(*a, **k))[1])
    overrides = (("epochs", 1), ("train_limit", 128), ("loss", "release"), ("loss_scale", 100.0))
    run(ExperimentConfig("hgn-64", profile="smoke", lambda_m=0.01, overrides=overrides), smoke_dataset)
    assert seen and all(w.reduction == "mse" and w.pose == 100.0 and w.mesh == pytest.approx(1.0) for w in seen)
    with pytest.raises(ValueError, match="loss must be one of"):
        profiles.Recipe(loss="l1")
    with pytest.raises(ValueError, match="init must be one of"):
        profiles.Recipe(init="kaiming")


def test_batchnorm_reestimation_averages_the_batches_under_the_final_weights():
    from hgnlib.experiments.batchnorm import batch_indices, reestimate_batchnorm
    from hgnlib.models.layers import NodeBatchNorm

    torch.manual_seed(0)
    # Dropout before the batch norm: were it active during the re-estimation, the mean would come out noisy.
    model = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(3, 4), NodeBatchNorm(4, torch.tensor([1, 0, 1])))
    inputs = torch.randn(256, 3, 3) * 5 + 2
    stale = model[2].running_mean.clone()
    assert reestimate_batchnorm(model, inputs, batches=4, batch_size=64) == 1
    features = model[1](inputs)[:, [0, 2]].reshape(-1, 4)  # real nodes only: the mask leaves node 1 out
    torch.testing.assert_close(model[2].running_mean, features.mean(0))  # 4 x 64 = every sample once
    assert not torch.allclose(model[2].running_mean, stale)
    assert not model.training and not model[2].training and model[2].momentum == 0.1
    order = batch_indices(10, 3, 4, seed=7)  # 12 draws from 10: all ten before any twice
    assert order.shape == (3, 4) and set(order.flatten()[:10].tolist()) == set(range(10))
    assert torch.equal(order, batch_indices(10, 3, 4, seed=7))
    with pytest.raises(ValueError, match="no batch-norm layers"):
        reestimate_batchnorm(torch.nn.Linear(3, 3), inputs)
