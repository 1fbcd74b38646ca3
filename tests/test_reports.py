"""Batch execution: parameters injected, HTML and index rendered, a failing notebook named with its cell."""
import json

import nbformat
import pytest

from hgnlib import reports
from hgnlib.paths import repo_root


def _notebook(path, body, report=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo notebook\ntext"),
                nbformat.v4.new_code_cell('data = "h36m"\nprofile = "quick"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    if report:
        nb.cells.append(nbformat.v4.new_code_cell(report, metadata={"tags": ["report"]}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_reproduce_renders_reports(tmp_path, monkeypatch):
    # The smoke profile: its dataset is the one the suite already has (judging the claims looks runs up by their
    # data); the notebook's own defaults differ from what is injected, so the printout shows the injection.
    nb = _notebook(tmp_path / "00_demo.ipynb", 'print(f"profile={profile} data={data}")',
                   report='import pandas as pd\nprint("summary line")\npd.DataFrame({"MPJPE ours": [12.5]})')
    monkeypatch.setattr(reports, "notebook_paths", lambda pattern="*.ipynb": [nb])
    out = reports.reproduce("embedded", "smoke", tmp_path / "out", log=lambda *a: None)
    executed = nbformat.read(out / "00_demo.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "profile=smoke data=embedded" in printed
    assert (out / "00_demo.html").read_text().count("profile=smoke") >= 1
    index = (out / "index.html").read_text()
    assert "00_demo.html" in index and "embedded synthetic" in index and "smoke" in index
    assert "Demo notebook" in index and "summary line" in index and "MPJPE ours" in index and "12.5" in index
    assert "profile=smoke" not in index  # only the cells tagged report are gathered


def test_failing_notebook_is_named_and_leaves_nothing(tmp_path, monkeypatch):
    nb = _notebook(tmp_path / "05_broken.ipynb", 'raise ValueError("bad table")')
    monkeypatch.setattr(reports, "notebook_paths", lambda pattern="*.ipynb": [nb])
    with pytest.raises(reports.NotebookFailed, match=r"05_broken.ipynb: cell \d+ raised ValueError: bad table"):
        reports.reproduce("embedded", "smoke", tmp_path / "out", log=lambda *a: None)
    assert not list((tmp_path / "out").glob("*.ipynb")) and not list((tmp_path / "out").glob(".*"))


def test_a_suite_stopped_by_its_time_limit_executes_no_notebook(tmp_path, monkeypatch):
    from hgnlib.errors import HGNError

    nb = _notebook(tmp_path / "00_demo.ipynb", 'print("executed")')
    monkeypatch.setattr(reports, "notebook_paths", lambda pattern="*.ipynb": [nb])
    calls = []
    monkeypatch.setattr(reports, "pretrain", lambda *a, **k: calls.append(k) and False)  # stopped: not all trained
    logged = []
    out = reports.reproduce("embedded", "smoke", tmp_path / "out", jobs=2, log=logged.append, stop_at=60.0)
    assert calls == [{"stop_at": 60.0}]
    assert not list(out.glob("*.ipynb")) and not (out / "index.html").exists()
    assert "no notebook executed" in logged[-1]
    with pytest.raises(HGNError, match="--jobs 1 or more"):
        reports.reproduce("embedded", "smoke", tmp_path / "out", jobs=0, stop_at=60.0)


def test_stale_reports_name_what_changed(tmp_path, monkeypatch):
    nb = _notebook(tmp_path / "00_demo.ipynb", 'print("v1")')
    monkeypatch.setattr(reports, "notebook_paths", lambda pattern="*.ipynb": [nb])
    out = reports.reproduce("embedded", "smoke", tmp_path / "out", log=lambda *a: None)
    assert reports.stale_reports(out, "embedded") == []
    _notebook(nb, 'print("v2")')
    assert reports.stale_reports(out, "embedded") == ["notebooks/00_demo.ipynb changed since the reports were made"]
    summary = json.loads((out / "run.json").read_text())
    summary["provenance"]["code"] = "0" * 16
    (out / "run.json").write_text(json.dumps(summary))
    assert any("result-determining code" in p for p in reports.stale_reports(out, "embedded"))
    (out / "00_demo.html").unlink()
    assert any("no executed copy or HTML page" in p for p in reports.stale_reports(out, "embedded"))


def test_rendering_some_notebooks_keeps_the_others(tmp_path, monkeypatch):
    import fnmatch

    from hgnlib.errors import HGNError

    first = _notebook(tmp_path / "00_demo.ipynb", 'print("first v1")', report='print("first table")')
    second = _notebook(tmp_path / "01_more.ipynb", 'print("second v1")', report='print("second table v1")')
    monkeypatch.setattr(reports, "notebook_paths",
                        lambda pattern="*.ipynb": [p for p in (first, second) if fnmatch.fnmatch(p.name, pattern)])
    out = reports.reproduce("embedded", "smoke", tmp_path / "out", log=lambda *a: None)
    whole = json.loads((out / "run.json").read_text())

    def page(name):
        return (out / name).read_text()

    first_page = page("00_demo.html")
    _notebook(second, 'print("second v2")', report='print("second table v2")')
    assert reports.stale_reports(out, "embedded") == ["notebooks/01_more.ipynb changed since the reports were made"]
    reports.reproduce("embedded", "smoke", out, "01_*.ipynb", log=lambda *a: None)
    summary = json.loads((out / "run.json").read_text())
    assert [e["notebook"] for e in summary["notebooks"]] == ["00_demo.ipynb", "01_more.ipynb"]
    assert summary["notebooks"][0] == whole["notebooks"][0] and summary["finished"] == whole["finished"]
    assert [u["notebooks"] for u in summary["updates"]] == [["01_more.ipynb"]]
    assert reports.stale_reports(out, "embedded") == []
    assert page("00_demo.html") == first_page and "second v2" in page("01_more.html")  # the same page again
    index = (out / "index.html").read_text()
    assert "first table" in index and "second table v2" in index and "second table v1" not in index
    assert "Re-executed" in index and "01_more.ipynb only" in index
    # pages made by other result code are not mixed with new ones
    summary["provenance"]["code"] = "0" * 16
    (out / "run.json").write_text(json.dumps(summary))
    with pytest.raises(HGNError, match="another code fingerprint .*re-render every notebook"):
        reports.reproduce("embedded", "smoke", out, "01_*.ipynb", log=lambda *a: None)


def test_committed_quick_reports_are_current():
    """The committed reports of the README's main command come from this code, these notebooks and this data."""
    out = repo_root() / "reports" / "embedded-quick"
    problems = reports.stale_reports(out, "embedded")
    assert not problems, (f"{out} is out of date: " + "; ".join(problems) +
                          ". Run `python3 tasks.py reproduce` and commit reports/embedded-quick.")
