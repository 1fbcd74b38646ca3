"""Which file holds which execution: the stored notebooks, their smoke copies for nbval, normalised writing."""
import json
import re

import nbformat
import pytest

from hgnlib import notebook_files as nf
from hgnlib.reports import notebook_fingerprint

NOTEBOOKS = sorted(nf.notebook_dir().glob("*.ipynb"))


def _injected(nb: dict) -> dict:
    """The values papermill injected (empty when it injected none)."""
    cell = next((c for c in nb["cells"] if nf.INJECTED_TAG in c["metadata"].get("tags", [])), None)
    source = "" if cell is None else "".join(cell["source"])
    return dict(re.findall(r'^(\w+) = "([^"]*)"$', source, flags=re.M))


def _defaults(nb: dict) -> dict:
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    return dict(re.findall(r'^(\w+)(?:: \w+)? = "([^"]*)"', "".join(cell["source"]), flags=re.M))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebook_shows_the_stored_run_and_says_so(path):
    nb = json.loads(path.read_text())
    data, profile = nf.STORED_RUN
    assert {**_defaults(nb), **_injected(nb)}.items() >= {"data": data, "profile": profile}.items(), (
        f"{path} does not hold the {data}-{profile} outputs: run `python3 tasks.py reproduce`")
    assert f"profile `{profile}`" in "".join(nb["cells"][0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_copy_has_the_same_cells_and_smoke_outputs(path):
    copy = nf.smoke_dir() / path.name
    assert copy.exists(), f"{copy} is missing: run `python3 tasks.py notebooks {path.name}`"
    stored, smoke = json.loads(path.read_text()), json.loads(copy.read_text())
    assert nf.cell_sources(smoke) == nf.cell_sources(stored), (
        f"{copy} has drifted from {path}: run `python3 tasks.py notebooks {path.name}`")
    assert {**_defaults(smoke), **_injected(smoke)}["profile"] == "smoke"
    assert any(c.get("outputs") for c in smoke["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(nf.smoke_dir().glob("*.ipynb")), ids=lambda p: p.parent.name +
                         "/" + p.stem)
def test_stored_notebooks_are_written_as_jupyterlab_writes_them(path):
    """Opening and saving in JupyterLab (kernel ``hgn``, nbformat's writer) must leave the file unchanged."""
    text = path.read_text()
    nb = nbformat.reads(text, as_version=4)
    assert nb.metadata["kernelspec"] == nf.KERNELSPEC and "papermill" not in nb.metadata
    assert text == nbformat.writes(nb) + "\n"


def test_normalise_and_store_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"papermill": {"duration": 0.1}, "execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), cell]
    nb.metadata.update(papermill={"input_path": "/machine/path"}, kernelspec={"name": "python3"})
    executed = tmp_path / "run.ipynb"
    nbformat.write(nb, executed)
    source = tmp_path / "source.ipynb"
    assert not nf.store_outputs(executed, source, "embedded", "smoke") and not source.exists()
    assert nf.store_outputs(executed, source, *nf.STORED_RUN)
    text = source.read_text()
    assert text.endswith("}\n") and "/machine/path" not in text and '"duration"' not in text and "iopub" not in text
    assert json.loads(text)["metadata"]["kernelspec"]["name"] == nf.KERNEL_NAME


def test_fingerprint_ignores_the_injected_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]})]
    plain = tmp_path / "a.ipynb"
    nbformat.write(nb, plain)
    nb.cells.append(nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": [nf.INJECTED_TAG]}))
    injected = tmp_path / "b.ipynb"
    nbformat.write(nb, injected)
    assert notebook_fingerprint(plain) == notebook_fingerprint(injected)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nbformat.write(nb, injected)
    assert notebook_fingerprint(plain) != notebook_fingerprint(injected)
