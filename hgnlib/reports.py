"""Batch reproduction: execute the notebooks with papermill, render them to HTML, write a summary page.

Output goes to ``reports/<data>-<profile>/``: ``<notebook>.ipynb`` (executed), ``<notebook>.html`` and
``index.html``. A failing notebook stops the run with the notebook, the cell and the error named.
"""
from __future__ import annotations

import html
import time
from pathlib import Path

from .errors import HGNError
from .fileio import atomic_path, save_json
from .paths import repo_root


class NotebookFailed(HGNError):
    """A notebook raised during batch execution."""


def notebook_paths(pattern: str = "*.ipynb") -> list[Path]:
    """The project's notebooks in execution order (their names start with a number)."""
    return sorted((repo_root() / "notebooks").glob(pattern))


def reproduce(data: str = "embedded", profile: str = "quick", out_dir: str | Path | None = None,
              pattern: str = "*.ipynb", log=print) -> Path:
    """Execute every notebook matching ``pattern`` with ``data`` and ``profile`` as parameters; render reports."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    out = Path(out_dir) if out_dir else repo_root() / "reports" / f"{data}-{profile}"
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    done = []
    for nb in notebook_paths(pattern):
        start = time.perf_counter()
        log(f"executing {nb.name} (data={data}, profile={profile})")
        target = out / nb.name
        with atomic_path(target) as tmp:
            try:
                papermill.execute_notebook(str(nb), str(tmp), parameters={"data": data, "profile": profile},
                                           kernel_name="python3", progress_bar=False, cwd=str(nb.parent),
                                           language="python")
            except papermill.PapermillExecutionError as exc:
                raise NotebookFailed(f"{nb.name}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue}") from None
        body, _ = exporter.from_notebook_node(nbformat.read(target, as_version=4))
        with atomic_path(target.with_suffix(".html")) as tmp:
            tmp.write_text(body)
        done.append({"notebook": nb.name, "html": target.with_suffix(".html").name,
                     "seconds": round(time.perf_counter() - start, 1)})
    save_json(out / "run.json", {"data": data, "profile": profile, "notebooks": done})
    _write_index(out, data, profile, done)
    log(f"reports written to {out}")
    return out


def _write_index(out: Path, data: str, profile: str, done: list[dict]) -> None:
    source = ("the embedded synthetic Human3.6M-format dataset (not the paper's data)" if data == "embedded"
              else "real Human3.6M supplied by the user")
    items = "\n".join(f'<li><a href="{html.escape(d["html"])}">{html.escape(d["notebook"])}</a> '
                      f'({d["seconds"]} s)</li>' for d in done)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>HGN reproduction: {data}, {profile}</title>"
            f"</head><body><h1>HGN reproduction: data = {html.escape(data)}, profile = {html.escape(profile)}</h1>"
            f"<p>Every number on these pages comes from {html.escape(source)}, profile "
            f"<code>{html.escape(profile)}</code>.</p><ol>{items}</ol></body></html>")
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page)
