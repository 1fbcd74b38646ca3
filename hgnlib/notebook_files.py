"""Which file holds which execution of a notebook, and how stored notebooks are written.

- ``notebooks/<name>.ipynb``: the notebooks people open; they store the outputs of :data:`STORED_RUN` (the
  embedded data, quick profile), copied back by ``hgn reproduce`` from ``reports/embedded-quick/``.
- ``tests/notebooks/<name>.ipynb``: smoke-profile executions of the same cells, which nbval re-runs and compares
  in the test command; ``python3 tasks.py notebooks`` refreshes them (:func:`refresh_smoke_copies`).

Every stored notebook is written by :func:`write_normalised`: the ``hgn`` kernel (registered by the set-up),
no papermill bookkeeping (paths of this machine, timestamps), and the formatting JupyterLab itself writes
(one-space indentation, a trailing newline), so opening and saving a notebook in JupyterLab leaves git clean.

This module imports only the standard library at import time: ``tasks.py`` reads its paths before the
environment exists. ``python -m hgnlib.notebook_files smoke [GLOB]`` refreshes the smoke copies.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from .errors import HGNError
from .paths import data_dir, repo_root

STORED_RUN = ("embedded", "quick")
"""(data, profile) whose outputs ``notebooks/*.ipynb`` store."""
SMOKE_DIR = "tests/notebooks"
"""Where the smoke-profile executions checked by nbval live, relative to the repository root."""
SMOKE_THREADS = 1
"""The smoke executions compute on this many threads, when they are refreshed and when nbval re-runs them (the test
command's ``tests/conftest.py``): a sum's order, and so the last bits of a number, depends on the thread count, and
a few stored lines order rows by numbers that differ in those bits only."""
NOTEBOOK_DIR = "notebooks"
KERNEL_NAME = "hgn"
KERNELSPEC = {"display_name": "Python (hgn)", "language": "python", "name": KERNEL_NAME}
INJECTED_TAG = "injected-parameters"


class NotebookFailed(HGNError):
    """A notebook raised during batch execution."""


def notebook_dir() -> Path:
    """The folder of the notebooks people open."""
    return repo_root() / NOTEBOOK_DIR


def smoke_dir() -> Path:
    """The folder of the smoke-profile executions that nbval checks."""
    return repo_root() / SMOKE_DIR


def _source(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def cell_sources(nb: dict) -> list[tuple[str, str]]:
    """(type, source) of every cell but papermill's injected parameters: what a notebook *is*, not how it ran."""
    return [(c["cell_type"], _source(c)) for c in nb["cells"]
            if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]


def normalise(nb) -> None:
    """Set the ``hgn`` kernel, drop papermill's per-run metadata (machine paths, timestamps) and give its injected
    cell a fixed id (papermill draws a random one), in place."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if INJECTED_TAG in cell.metadata.get("tags", []):
            cell.id = INJECTED_TAG


def write_normalised(nb, path: str | Path) -> None:
    """Normalise ``nb`` and write it atomically as JupyterLab would (nbformat's writer: trailing newline)."""
    import nbformat

    from .fileio import atomic_path

    normalise(nb)
    with atomic_path(path) as tmp:
        nbformat.write(nb, str(tmp))


def store_outputs(executed: Path, source: Path, data: str, profile: str) -> bool:
    """Copy an executed notebook over its ``source`` when it is the :data:`STORED_RUN`; say whether it did."""
    if (data, profile) != STORED_RUN:
        return False
    import nbformat

    write_normalised(nbformat.read(str(executed), as_version=4), source)
    return True


def _encrypted_kernel_manager():
    """A kernel manager that gives the kernel CurveZMQ keys (no "running over TCP without encryption" warning)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypt_when_supported(self) -> str:
            return "auto"

    return EncryptedKernelManager


def execute(source: Path, target: Path, parameters: dict) -> None:
    """Run ``source`` with papermill and ``parameters`` into ``target`` (atomically), normalised.

    A failing cell raises :class:`NotebookFailed` naming the notebook, the cell and the error; ``target`` is untouched.
    """
    import nbformat
    import papermill

    from .fileio import atomic_path

    with atomic_path(target) as tmp:
        try:
            papermill.execute_notebook(str(source), str(tmp), parameters=parameters, kernel_name="python3",
                                       progress_bar=False, cwd=str(Path(source).parent), language="python",
                                       kernel_manager_class=_encrypted_kernel_manager())
        except papermill.PapermillExecutionError as exc:
            raise NotebookFailed(f"{Path(source).name}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue}") \
                from None
        write_normalised(nbformat.read(str(tmp), as_version=4), tmp)


def clear_smoke_runs() -> None:
    """Remove the cached smoke-profile training runs, so that the smoke copies train inside the notebooks."""
    for config in (data_dir() / "cache" / "runs").glob("*/config.json"):
        if json.loads(config.read_text())["config"]["profile"] == "smoke":
            shutil.rmtree(config.parent)


def refresh_smoke_copies(pattern: str = "*.ipynb", log=print) -> list[Path]:
    """Execute ``notebooks/<pattern>`` in the smoke profile into ``tests/notebooks/`` (after clearing smoke runs), each
    kernel on :data:`SMOKE_THREADS` threads."""
    os.environ["OMP_NUM_THREADS"] = str(SMOKE_THREADS)  # the kernels inherit it
    clear_smoke_runs()
    done = []
    for nb in sorted(notebook_dir().glob(pattern)):
        target = smoke_dir() / nb.name
        log(f"executing {nb.name} (smoke) -> {target.relative_to(repo_root())}")
        execute(nb, target, {"data": "embedded", "profile": "smoke"})
        done.append(target)
    return done


def main(argv: list[str]) -> int:
    """``smoke [GLOB]``: refresh the smoke copies."""
    if not argv or argv[0] != "smoke":
        print("usage: python -m hgnlib.notebook_files smoke [GLOB]", file=sys.stderr)
        return 2
    try:
        refresh_smoke_copies(argv[1] if len(argv) > 1 else "*.ipynb")
    except NotebookFailed as exc:
        print(f"hgn: error: {exc}; its smoke copy was left as it was. fix: correct the cell, then rerun "
              "`python3 tasks.py notebooks`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
