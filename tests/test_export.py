"""`hgn export`: the ONNX file of a model file runs in ONNX Runtime and equals PyTorch to 1e-4, on any batch size; its
metadata and outputs are named; latency is measured for both runtimes."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from hgnlib.cli import main  # noqa: E402
from hgnlib.errors import DataError  # noqa: E402
from hgnlib.experiments.artifacts import INPUT_CONVENTION, load_model, save_model  # noqa: E402
from hgnlib.export import INPUT_NAME, check_onnx, export_onnx, measure_latency, onnx_metadata  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory, untrained_hgn64):
    """An untrained HGN-64 (joints and both coarse meshes) written as a model file, exported with `hgn export --check`
    (one export for the whole module: it takes seconds)."""
    folder = tmp_path_factory.mktemp("export")
    model, graphs = untrained_hgn64()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that evaluation mode matters
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = save_model(folder / "model.pt", model, "hgn-64", graphs, key="testkey")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["export", str(path), "--out", str(folder / "model.onnx"), "--check", "--json"])
    return path, folder / "model.onnx", code, json.loads(out.getvalue())


def test_cli_export_reports_the_check(exported):
    _, onnx_path, code, report = exported
    assert code == 0 and onnx_path.exists()
    assert report["outputs"] == ["joints", "mesh_c", "mesh_c1"] and report["model"] == "hgn-64"
    assert report["max_abs_diff"] <= 1e-4


def test_onnx_runtime_equals_pytorch(exported):
    import onnxruntime as ort

    model_path, onnx_path, _, _ = exported
    model, _ = load_model(model_path)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    names = [o.name for o in session.get_outputs()]
    assert names == ["joints", "mesh_c", "mesh_c1"]
    generator = torch.Generator().manual_seed(1)
    for batch in (1, 3, 33):  # the batch axis is dynamic
        x = torch.rand(batch, 17, 2, generator=generator) * 0.8 - 0.4
        with torch.no_grad():
            expected = model(x)
        got = dict(zip(names, session.run(names, {INPUT_NAME: x.numpy()})))
        for name in names:
            assert got[name].shape == tuple(expected[name].shape)
            assert np.abs(got[name] - expected[name].numpy()).max() <= 1e-4, name
    assert check_onnx(onnx_path, model_path, batch_sizes=(2, 5)) <= 1e-4


def test_metadata_travels_in_the_file(exported):
    _, onnx_path, _, _ = exported
    meta = onnx_metadata(onnx_path)
    assert meta["hgn.model"] == "hgn-64" and meta["hgn.key"] == "testkey" and meta["hgn.format"] == "hgn-model/1"
    assert meta["hgn.input"]["layout"] == INPUT_CONVENTION["layout"] == "h36m17"
    assert meta["hgn.input"]["formula"] == INPUT_CONVENTION["formula"] and meta["hgn.input"]["shape"][1:] == [17, 2]
    assert meta["hgn.output"]["units"] == "metres" and meta["hgn.output"]["names"] == ["joints", "mesh_c", "mesh_c1"]


def test_measure_latency(exported):
    model_path, onnx_path, _, _ = exported
    report = measure_latency(model_path, batch=8, repeats=2, warmup=1, onnx_path=onnx_path)
    assert report["model"] == "hgn-64" and report["batch_sizes"] == [1, 8] and report["max_abs_diff"] <= 1e-4
    for runtime in ("pytorch", "onnxruntime"):
        assert set(report["ms_per_frame"][runtime]) == {"1", "8"}
        assert all(v > 0 for v in report["ms_per_frame"][runtime].values())
    json.dumps(report)  # JSON-ready for the benchmark file


def test_export_refuses_what_is_not_a_model(tmp_path, capsys):
    (tmp_path / "x.pt").write_text("not a model")
    with pytest.raises(DataError, match="not a model file"):
        export_onnx(tmp_path / "x.pt", tmp_path / "x.onnx")
    assert main(["export", str(tmp_path / "x.pt"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "hgn-model/1" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()
