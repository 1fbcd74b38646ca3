"""bfloat16 autocast on a CPU without fast bfloat16 kernels: the command line warns before training."""
import pytest

import hgnlib.experiments as experiments
from hgnlib import precision
from hgnlib.cli import main
from hgnlib.experiments import ExperimentConfig, parallel
from hgnlib.profiles import get_profile


def test_gpus_count_as_native_and_float32_needs_no_warning(monkeypatch):
    assert precision.native_bf16("cuda")
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.slow_autocast_note(False, "cpu") is None


def test_the_note_depends_on_the_cpu(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.slow_autocast_note(True, "cpu") is None
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    note = precision.slow_autocast_note(True, "cpu")
    assert "bfloat16" in note and "--device cuda" in note and "amp=false" in note


def test_the_quick_profile_trains_in_float32_and_the_standard_under_autocast():
    assert not get_profile("quick").recipe.amp and get_profile("standard").recipe.amp


class Stop(Exception):
    pass


def test_hgn_train_warns_before_training(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)

    def refuse(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(experiments, "run_experiment", refuse)
    with pytest.raises(Stop):
        main(["train", "--model", "hgn-64", "--profile", "smoke", "--amp", "--device", "cpu"])
    assert "no fast bfloat16 kernels" in capsys.readouterr().err


@pytest.mark.parametrize("amp, warned", [(True, True), (False, False)])
def test_a_suite_warns_once_before_training_on_such_a_cpu(monkeypatch, amp, warned):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    monkeypatch.setattr(parallel, "cached_result", lambda config: None)
    monkeypatch.setattr(parallel, "prepare", lambda config: None)
    trained = []
    monkeypatch.setattr(parallel, "run_experiment", lambda config, **kwargs: trained.append(config))
    configs = [ExperimentConfig("semgcn-128", profile="smoke", seed=s, overrides=(("amp", amp),)) for s in (0, 1)]
    logged = []
    parallel.run_many(configs, jobs=1, progress=False, device="cpu", log=logged.append)
    notes = [line for line in logged if "bfloat16" in line]
    assert len(notes) == (1 if warned else 0) and len(trained) == 2
