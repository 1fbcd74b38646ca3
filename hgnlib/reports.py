"""Batch reproduction: train what the notebooks need, execute them with papermill, render HTML and a summary page.

Output goes to ``reports/<data>-<profile>/``: ``<notebook>.ipynb`` (executed), ``<notebook>.html``, ``run.json``
and ``index.html``, the summary page: for every notebook its title, a link to the full page, and the outputs of its
cells tagged ``report`` (the tables next to the paper's values and the figures). A failing notebook stops the run
with the notebook, the cell and the error named, and leaves no partial file behind.

Before the notebooks run, every training run they need (:func:`hgnlib.experiments.suite.all_configs`) is trained
in ``jobs`` parallel worker processes; the notebooks then read the result cache.

``run.json`` records what the reports were made from (:func:`provenance`: the fingerprint of the code that
determines results, of the embedded data's generator, and of every notebook's cells); :func:`stale_reports` says
what changed since, so a test keeps the committed reports in step with the code.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .errors import HGNError
from .fileio import atomic_path, save_json
from .paths import repo_root
from .tables import data_note

REPORT_TAG = "report"


class NotebookFailed(HGNError):
    """A notebook raised during batch execution."""


def notebook_paths(pattern: str = "*.ipynb") -> list[Path]:
    """The project's notebooks in execution order (their names start with a number)."""
    return sorted((repo_root() / "notebooks").glob(pattern))


def notebook_fingerprint(path: Path) -> str:
    """A hash of a notebook's cells (types and sources; not outputs or metadata)."""
    digest = hashlib.sha256()
    for cell in json.loads(Path(path).read_text())["cells"]:
        source = cell["source"]
        digest.update(cell["cell_type"].encode() + b"\0" + ("".join(source) if isinstance(source, list)
                                                              else source).encode() + b"\0")
    return digest.hexdigest()[:16]


def provenance(data: str, notebooks: list[Path]) -> dict:
    """What reports of ``data`` are made from: result-code and data-generator fingerprints, each notebook's hash."""
    from .experiments.config import code_fingerprint

    made_from = {"code": code_fingerprint(), "notebooks": {nb.name: notebook_fingerprint(nb) for nb in notebooks}}
    if data == "embedded":
        from .data.synth import generator_fingerprint

        made_from["generator"] = generator_fingerprint()
    return made_from


def stale_reports(out: Path, data: str, pattern: str = "*.ipynb") -> list[str]:
    """Why the reports in ``out`` would differ from what ``hgn reproduce`` makes now (empty: they are current)."""
    summary_path = Path(out) / "run.json"
    if not summary_path.exists():
        return [f"{summary_path} is missing"]
    recorded = json.loads(summary_path.read_text()).get("provenance", {})
    current = provenance(data, notebook_paths(pattern))
    problems = [f"the {what} changed (fingerprint {recorded.get(key)} in run.json, {current[key]} now)"
                for key, what in (("code", "result-determining code (hgnlib.experiments.config.RESULT_CODE)"),
                                  ("generator", "embedded data generator")) if key in current and
                recorded.get(key) != current[key]]
    for name, digest in current["notebooks"].items():
        if not (Path(out) / name).exists() or not (Path(out) / name).with_suffix(".html").exists():
            problems.append(f"{name} has no executed copy or HTML page in {out}")
        elif recorded.get("notebooks", {}).get(name) != digest:
            problems.append(f"notebooks/{name} changed since the reports were made")
    return problems


def pretrain(data: str, profile: str, jobs: int, log: Callable[[str], None] = print, **run_options) -> None:
    """Train every run the notebooks need, ``jobs`` at a time (cached runs are skipped; ``run_options``: device,
    executor and executor_params of :func:`hgnlib.experiments.parallel.run_many`)."""
    from .experiments.parallel import run_many
    from .experiments.suite import all_configs

    run_many(all_configs(data, profile), jobs=jobs, log=log, **run_options)


def reproduce(data: str = "embedded", profile: str = "quick", out_dir: str | Path | None = None,
              pattern: str = "*.ipynb", jobs: int = 0, log: Callable[[str], None] = print, **run_options) -> Path:
    """Execute every notebook matching ``pattern`` with ``data`` and ``profile`` as parameters; render reports.

    ``jobs`` > 0 trains the notebooks' runs first in that many worker processes (or cluster jobs: ``run_options``
    of :func:`pretrain`); 0 lets the notebooks train.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    out = Path(out_dir) if out_dir else repo_root() / "reports" / f"{data}-{profile}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if jobs > 0:
        pretrain(data, profile, jobs, log, **run_options)
    trained = time.perf_counter() - started
    exporter = HTMLExporter()
    done = []
    notebooks = notebook_paths(pattern)
    made_from = provenance(data, notebooks)
    for nb in notebooks:
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
        executed = nbformat.read(target, as_version=4)
        body, _ = exporter.from_notebook_node(executed)
        with atomic_path(target.with_suffix(".html")) as tmp:
            tmp.write_text(body)
        done.append({"notebook": nb.name, "html": target.with_suffix(".html").name, "title": _title(executed),
                     "seconds": round(time.perf_counter() - start, 1), "report": _report_outputs(executed)})
    total = time.perf_counter() - started
    summary = {"data": data, "profile": profile, "jobs": jobs, "pretrain_seconds": round(trained, 1),
               "total_seconds": round(total, 1), "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "notebooks": [{k: d[k] for k in ("notebook", "title", "seconds")} for d in done],
               "provenance": made_from}
    from .claims import CLAIMS_FILE, judge

    save_json(out / CLAIMS_FILE, judge(data, profile))
    save_json(out / "run.json", summary)
    _write_index(out, summary, done)
    log(f"reports written to {out} in {total:.0f} s")
    return out


def _title(notebook) -> str:
    """The first markdown heading of a notebook."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def _report_outputs(notebook) -> list[str]:
    """HTML fragments of the outputs of the cells tagged ``report``: tables, figures, printed text."""
    fragments = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or REPORT_TAG not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.get("name") == "stdout":
                fragments.append(f"<pre>{html.escape(output.text)}</pre>")
            elif output.output_type in ("display_data", "execute_result"):
                data = output.get("data", {})
                if "image/png" in data:
                    png = data["image/png"]
                    png = png if isinstance(png, str) else base64.b64encode(png).decode()
                    fragments.append(f'<img src="data:image/png;base64,{png.strip()}" style="max-width:100%">')
                elif "text/html" in data:
                    fragments.append(data["text/html"])
                elif "text/plain" in data:
                    fragments.append(f"<pre>{html.escape(data['text/plain'])}</pre>")
    return fragments


def _write_index(out: Path, summary: dict, done: list[dict]) -> None:
    data, profile = summary["data"], summary["profile"]
    sections = []
    for d in done:
        body = "\n".join(d["report"]) or "<p>(no summary outputs: see the full page)</p>"
        sections.append(f'<section><h2><a href="{html.escape(d["html"])}">{html.escape(d["title"] or d["notebook"])}'
                        f'</a></h2><p class="meta">{html.escape(d["notebook"])}, executed in {d["seconds"]} s</p>'
                        f"{body}</section>")
    toc = "\n".join(f'<li><a href="{html.escape(d["html"])}">{html.escape(d["title"] or d["notebook"])}</a></li>'
                    for d in done)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>HGN reproduction: {html.escape(data)}, {html.escape(profile)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}} table{{border-collapse:collapse;
font-size:0.85em}} td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} pre{{background:#f6f6f6;
padding:0.5em;overflow-x:auto}} .meta{{color:#666}} section{{border-top:2px solid #ddd;margin-top:2em}}
.note{{background:#fff4d6;padding:0.6em;border:1px solid #e6c96a}}</style></head><body>
<h1>HGN reproduction: data = {html.escape(data)}, profile = {html.escape(profile)}</h1>
<p class="note">Every number of ours on these pages comes from {html.escape(data_note(data, profile))}.
The paper's values are quoted from Li et al., BMVC 2021, for comparison only.</p>
<p class="meta">Finished {html.escape(summary["finished"])}; {summary["total_seconds"]} s in all, of which
{summary["pretrain_seconds"]} s training the runs up front ({summary["jobs"]} worker processes).</p>
<ol>{toc}</ol>
{"".join(sections)}
</body></html>"""
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page)
