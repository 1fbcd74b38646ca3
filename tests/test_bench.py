"""``hgn bench``: a tiny run writes the JSON it promises, fast and reference models agree, bad arguments are messages.

Nothing here asserts on speed: the runs are one or two steps of small batches, timed only to fill the file.
"""
from __future__ import annotations

import json

import pytest
import torch

from hgnlib.cli import main
from hgnlib.models.graph import synthetic_graph
from hgnlib.tools.bench import BenchError, check_batch_sizes, check_models, run_bench, table_rows, training_step
from hgnlib.tools.profiling import peak_step_memory

TINY = dict(batch_sizes=[4], iters=1, warmup=1, repeats=1, ref_iters=1, progress=False, latency=False)


def check_entry(entry: dict, batch: str = "4") -> None:
    row = entry["batch_sizes"][batch]
    for key in ("train_samples_per_s", "infer_samples_per_s", "train_step_s", "infer_step_s"):
        assert row[key] > 0
    assert row["peak_memory_bytes"] > row["peak_memory"]["resident_bytes"] > 0
    assert 0 < row["matmul_share"] <= 1
    assert row["reference"]["train_samples_per_s"] > 0 and row["reference"]["infer_samples_per_s"] > 0
    assert set(row["speedup"]) == {"train", "infer"}
    equal = entry["equal"]
    assert equal["equal"] and equal["dtype"] == "float64"
    assert equal["outputs_train_max_abs_diff"] <= 1e-9 * max(1.0, equal["outputs_train_scale"])
    assert equal["grads_scale"] > 0


@pytest.mark.slow
def test_cli_tiny_run_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--models", "semgcn-128", "--batch-sizes", "4", "--iters", "1", "--warmup", "1",
                 "--repeats", "1", "--ref-iters", "1", "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert {"machine", "settings", "models", "epoch", "goal"} <= set(result)
    machine = result["machine"]
    assert {"cpu", "cores", "torch", "torch_threads", "device_name", "native_bf16", "date"} <= set(machine)
    assert machine["device"] == "cpu" and machine["torch"] == torch.__version__
    check_entry(result["models"]["semgcn-128"])
    assert result["epoch"]["skipped"] and "CUDA" in result["epoch"]["reason"]
    assert result["goal"]["met"] is None and result["goal"]["min_speedup"] == 10
    latency = result["deployment_latency"]
    assert latency["model"] == "semgcn-128" and set(latency["ms_per_frame"]) == {"pytorch", "onnxruntime"}
    assert latency["max_abs_diff"] < 1e-4 and all(v > 0 for per in latency["ms_per_frame"].values() for v in per.values())
    printed = capsys.readouterr().out
    assert "semgcn-128" in printed and "speedup train" in printed and str(out) in printed


def test_hgn_on_padded_mesh_graphs_matches_its_reference(tmp_path):
    graphs = {"mesh_c1": synthetic_graph(96, 3.0, num_fake=13, seed=11),
              "mesh_c": synthetic_graph(48, 3.0, num_fake=3, seed=12)}
    result = run_bench(models=["hgn-64"], graphs=graphs, out=tmp_path / "b.json", **TINY)
    entry = result["models"]["hgn-64"]
    check_entry(entry)
    assert result["settings"]["mesh_graph_nodes"] == {"mesh_c1": 96, "mesh_c": 48}
    assert json.loads((tmp_path / "b.json").read_text())["models"]["hgn-64"]["params"] == entry["params"]
    assert [row["equal"] for row in table_rows(result)] == ["yes"]


def test_peak_memory_counts_the_resident_state_and_the_step():
    model = torch.nn.Linear(64, 32)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = model

        def forward(self, x):
            return {"joints": self.layer(x)}

    net = Net()
    optimizer = torch.optim.Adam(net.parameters())
    x, targets = torch.randn(16, 64), {"joints": torch.randn(16, 32)}
    step = training_step(net, x, targets, optimizer)
    step()
    memory = peak_step_memory(step, net, optimizer, [x, *targets.values()], torch.device("cpu"))
    params = (64 * 32 + 32) * 4
    # parameters, their gradients and Adam's two moments, plus the inputs and targets
    assert memory["resident_bytes"] >= 4 * params + (16 * 64 + 16 * 32) * 4
    assert memory["bytes"] == memory["resident_bytes"] + memory["step_growth_bytes"]
    assert memory["step_growth_bytes"] > 0


def test_unknown_model_is_a_message(tmp_path, capsys):
    assert main(["bench", "--models", "hgn-1000", "--out", str(tmp_path / "b.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'hgn-1000'" in err and "hgn-128" in err and "Traceback" not in err
    assert not (tmp_path / "b.json").exists()


def test_small_batch_size_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--batch-sizes", "64", "1"])
    assert exc.value.code == 2 and "at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--iters", "0"])


def test_api_checks_its_arguments():
    with pytest.raises(BenchError, match="at least 2"):
        check_batch_sizes([4, 1])
    with pytest.raises(BenchError, match="unknown model"):
        check_models(["semgcn-128", "nope"])
    assert check_models(["martinez", "martinez"]) == ["martinez"]
    with pytest.raises(BenchError, match="--iters"):
        run_bench(models=["martinez"], batch_sizes=[4], iters=0, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_a_message(tmp_path, capsys):
    assert main(["bench", "--models", "martinez", "--device", "cuda", "--out", str(tmp_path / "b.json")]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_cuda_graph_step_refuses_cpu_tensors():
    from hgnlib.tools.bench import mse_sum
    from hgnlib.tools.cuda_graphs import GraphedStep

    model = torch.nn.Linear(2, 3)
    with pytest.raises(ValueError, match="CUDA graphs need CUDA tensors"):
        GraphedStep(model, torch.optim.Adam(model.parameters()), mse_sum, torch.zeros(4, 2), {"y": torch.zeros(4, 3)})


def test_sharing_measurement_checks_its_arguments():
    from hgnlib.tools.sharing import shared_rate

    with pytest.raises(ValueError, match="at least 1"):
        shared_rate(None, torch.device("cpu"), 0)


@pytest.mark.slow
def test_sharing_measurement_runs_the_workers_and_reports_the_speedup():
    from hgnlib.tools.sharing import shared_rate

    graphs = {"mesh_c1": synthetic_graph(12, seed=1), "mesh_c": synthetic_graph(7, seed=2)}
    out = shared_rate(graphs, torch.device("cpu"), 2, steps=2, warmup=1)
    assert out["jobs"] == 2 and out["steps_per_process"] == 2
    assert out["one_process_steps_per_s"] > 0 and out["shared_steps_per_s"] > 0
    assert out["speedup"] == pytest.approx(out["shared_steps_per_s"] / out["one_process_steps_per_s"])
    assert out["efficiency"] == pytest.approx(out["speedup"] / 2)


def test_suite_projection_times_steps_with_the_threads_of_one_worker(monkeypatch):
    """The step times and the sharing speed-up must come from processes of the same threads (one worker's share of
    the cores), or a CPU suite's projection is too short by the speed-up of the extra threads."""
    import hgnlib.experiments.parallel as parallel
    import hgnlib.tools.bench as bench
    import hgnlib.tools.sharing as sharing

    seen = []

    def fake_time(fn, iters, warmup, repeats, device):
        seen.append(torch.get_num_threads())
        return {"seconds": 0.01, "runs": [0.01]}

    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(bench, "time_per_call", fake_time)
    monkeypatch.setattr(sharing, "shared_rate", lambda *a, **k: {"speedup": 1.5})
    graphs = {"mesh_c1": synthetic_graph(12, seed=1), "mesh_c": synthetic_graph(7, seed=2)}
    own = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = bench.suite_section("smoke", torch.device("cpu"), graphs, 2, 1, 0, 1, 0, lambda _: None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(own)
    assert seen and set(seen) == {2}
    assert out["threads_per_process"] == 2 and out["jobs"] == 2
    assert out["projected_seconds"] == pytest.approx(out["one_process_seconds"] / 1.5)
    assert out["one_process_seconds"] == pytest.approx(sum(r["steps"] * 0.01 for r in out["runs"]))
