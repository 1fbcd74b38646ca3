"""Batch reproduction: train what the notebooks need, execute them with papermill, render HTML and a summary page.

Output goes to ``reports/<data>-<profile>/``: ``<notebook>.ipynb`` (executed), ``<notebook>.html``, ``style.css``,
``run.json`` and ``index.html``, the summary page: the outputs of the cells tagged ``report`` (the tables next to
the paper's values and the figures) and a link to every full page (:mod:`hgnlib.report_pages`). The embedded-quick
executions are also copied back into ``notebooks/`` (:mod:`hgnlib.notebook_files`). A failing notebook stops the run
with the notebook, the cell and the error named, and leaves no partial file behind.

Before the notebooks run, every training run they need (:func:`hgnlib.experiments.suite.all_configs`) is trained
in ``jobs`` parallel worker processes; the notebooks then read the result cache. Runs the project ships beside a
profile's reports (``reports/<data>-<profile>/runs/``, :mod:`hgnlib.experiments.transfer`) are imported into the
cache first, so a fresh clone renders those reports, or resumes that suite, without training what they hold again.

``run.json`` records what the reports were made from (:func:`provenance`: the fingerprint of the code that
determines results, of the embedded data's generator, and of every notebook's cells); :func:`stale_reports` says
what changed since, so a test keeps the committed reports in step with the code. Rendering only some notebooks
(``pattern``) into a folder that holds the others updates their pages and keeps the rest, as ``run.json`` records.
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .errors import HGNError
from .fileio import atomic_path, save_json
from .notebook_files import NotebookFailed, cell_sources, execute, notebook_dir, store_outputs  # noqa: F401 (re-export)
from .paths import repo_root
from .report_pages import notebook_page, notebook_title, report_outputs, summary_page, write_stylesheet


def notebook_paths(pattern: str = "*.ipynb") -> list[Path]:
    """The project's notebooks in execution order (their names start with a number)."""
    return sorted(notebook_dir().glob(pattern))


def notebook_fingerprint(path: Path) -> str:
    """A hash of a notebook's cells (types and sources; not outputs, metadata or papermill's injected cell)."""
    digest = hashlib.sha256()
    for cell_type, source in cell_sources(json.loads(Path(path).read_text())):
        digest.update(cell_type.encode() + b"\0" + source.encode() + b"\0")
    return digest.hexdigest()[:16]


def provenance(data: str, notebooks: list[Path]) -> dict:
    """What reports of ``data`` are made from: result-code and data-generator fingerprints, each notebook's hash."""
    from .experiments.config import code_fingerprint

    made_from = {"code": code_fingerprint(), "notebooks": {nb.name: notebook_fingerprint(nb) for nb in notebooks}}
    if data == "embedded":
        from .synthetic.synth import generator_fingerprint

        made_from["generator"] = generator_fingerprint()
    return made_from


def _changed_fingerprints(recorded: dict, current: dict) -> dict[str, str]:
    """The code and data-generator fingerprints of ``current`` (a :func:`provenance`) that differ from ``recorded``
    (``run.json``'s), each with what it says."""
    return {key: f"the {what} changed (fingerprint {recorded.get(key)} in run.json, {current[key]} now)"
            for key, what in (("code", "result-determining code (hgnlib.experiments.config.RESULT_CODE)"),
                              ("generator", "embedded data generator"))
            if key in current and recorded.get(key) != current[key]}


def stale_reports(out: Path, data: str, pattern: str = "*.ipynb") -> list[str]:
    """Why the reports in ``out`` would differ from what ``hgn reproduce`` makes now (empty: they are current)."""
    summary_path = Path(out) / "run.json"
    if not summary_path.exists():
        return [f"{summary_path} is missing"]
    recorded = json.loads(summary_path.read_text()).get("provenance", {})
    current = provenance(data, notebook_paths(pattern))
    problems = list(_changed_fingerprints(recorded, current).values())
    for name, digest in current["notebooks"].items():
        if not (Path(out) / name).exists() or not (Path(out) / name).with_suffix(".html").exists():
            problems.append(f"{name} has no executed copy or HTML page in {out}")
        elif recorded.get("notebooks", {}).get(name) != digest:
            problems.append(f"notebooks/{name} changed since the reports were made")
    return problems


def pretrain(data: str, profile: str, jobs: int, log: Callable[[str], None] = print, **run_options) -> bool:
    """Train every run the notebooks need, ``jobs`` at a time, the seed-spread and claim runs first (cached runs are
    skipped; ``run_options``: device, executor, executor_params and stop_at of
    :func:`hgnlib.experiments.parallel.run_many`). Returns whether all of them are trained."""
    from .experiments.parallel import run_many
    from .experiments.suite import all_configs, start_groups

    return run_many(all_configs(data, profile), jobs=jobs, log=log, first=start_groups(data, profile),
                    **run_options)


def reproduce(data: str = "embedded", profile: str = "quick", out_dir: str | Path | None = None,
              pattern: str = "*.ipynb", jobs: int = 0, log: Callable[[str], None] = print, **run_options) -> Path:
    """Execute every notebook matching ``pattern`` with ``data`` and ``profile`` as parameters; render reports.

    ``jobs`` > 0 trains the notebooks' runs first in that many worker processes (or cluster jobs: ``run_options``
    of :func:`pretrain`); 0 lets the notebooks train. When a time limit (``stop_at``) stops the training before
    every run is trained, no notebook is executed (they would train the rest themselves): the same call resumes.
    """
    out = Path(out_dir) if out_dir else repo_root() / "reports" / f"{data}-{profile}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    from .experiments.transfer import import_shipped

    notebooks = notebook_paths(pattern)
    made_from = provenance(data, notebooks)
    previous = _previous_render(out, data, profile, notebooks, made_from)  # refused before any training
    imported = import_shipped(data, profile)
    if imported:
        log(imported)
    if run_options.get("stop_at") is not None and jobs <= 0:
        raise HGNError("a time limit (--stop-after) needs the runs trained by worker processes first: --jobs 1 or more")
    if jobs > 0 and not pretrain(data, profile, jobs, log, **run_options):
        log(f"no notebook executed: the suite is not trained yet (`hgn status --data {data} --profile {profile}` "
            "says where it stands)")
        return out
    trained = time.perf_counter() - started
    done = []
    for nb in notebooks:
        start = time.perf_counter()
        log(f"executing {nb.name} (data={data}, profile={profile})")
        execute(nb, out / nb.name, {"data": data, "profile": profile})
        done.append({"notebook": nb.name, "title": "", "seconds": round(time.perf_counter() - start, 1)})
    total = time.perf_counter() - started
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if previous is None:
        summary = {"data": data, "profile": profile, "jobs": jobs, "pretrain_seconds": round(trained, 1),
                   "total_seconds": round(total, 1), "finished": finished, "notebooks": done, "provenance": made_from}
    else:
        summary = _merge_render(previous, done, made_from, {"finished": finished, "total_seconds": round(total, 1)})
    from .claims import CLAIMS_FILE, judge

    save_json(out / CLAIMS_FILE, judge(data, profile))
    render(out, summary)
    for nb in notebooks:
        if store_outputs(out / nb.name, nb, data, profile):
            log(f"stored the {profile} outputs in {nb}")
    log(f"reports written to {out} in {total:.0f} s")
    return out


def _previous_render(out: Path, data: str, profile: str, notebooks: list[Path], made_from: dict) -> dict | None:
    """The ``run.json`` a render of only some notebooks updates, or None when this render makes ``out`` afresh.

    A render of a subset (``--notebooks GLOB``) into a folder that holds every other notebook's pages keeps those
    pages; it is refused when the code or the data generator changed since they were made (they would mix)."""
    path = Path(out) / "run.json"
    names = {nb.name for nb in notebooks}
    if names == {nb.name for nb in notebook_paths("*.ipynb")} or not path.exists():
        return None
    previous = json.loads(path.read_text())
    if (previous.get("data"), previous.get("profile")) != (data, profile):
        return None
    if not {e["notebook"] for e in previous["notebooks"]} - names:
        return None
    changed = _changed_fingerprints(previous.get("provenance", {}), made_from)
    if changed:
        raise HGNError(f"{path} records pages made with another {' and '.join(changed)} fingerprint "
                       f"({'; '.join(changed.values())}): rendering only {', '.join(sorted(names))} would mix the "
                       f"two; re-render every notebook (`hgn reproduce --data {data} --profile {profile}` without "
                       "--notebooks)")
    return previous


def _merge_render(previous: dict, done: list[dict], made_from: dict, when: dict) -> dict:
    """``previous`` (a ``run.json``) with the notebooks in ``done`` replaced by their new executions, their hashes
    updated and the partial render listed under ``updates`` (when, which notebooks, how long); the first render's
    timings stay as they were."""
    fresh = {entry["notebook"]: entry for entry in done}
    kept = [entry for entry in previous["notebooks"] if entry["notebook"] not in fresh]
    provenance_now = {**previous["provenance"],
                      "notebooks": {**previous["provenance"]["notebooks"], **made_from["notebooks"]}}
    update = {**when, "notebooks": sorted(fresh)}
    return {**previous, "notebooks": sorted(kept + done, key=lambda e: e["notebook"]), "provenance": provenance_now,
            "updates": [*previous.get("updates", []), update]}


def render(out: Path, summary: dict) -> None:
    """Write the HTML pages, the stylesheet, ``run.json`` and ``index.html`` from the executed notebooks in ``out``.

    ``summary`` is ``run.json``'s content; its notebooks' titles are filled in here.
    """
    import nbformat

    data, profile = summary["data"], summary["profile"]
    write_stylesheet(out)
    done = []
    for entry in summary["notebooks"]:
        executed = nbformat.read(out / entry["notebook"], as_version=4)
        page = Path(out) / Path(entry["notebook"]).with_suffix(".html")
        with atomic_path(page) as tmp:
            tmp.write_text(notebook_page(executed, entry["notebook"], data, profile))
        entry["title"] = notebook_title(executed)
        done.append({**entry, "html": page.name, "report": report_outputs(executed)})
    save_json(Path(out) / "run.json", summary)
    with atomic_path(Path(out) / "index.html") as tmp:
        tmp.write_text(summary_page(summary, done))
