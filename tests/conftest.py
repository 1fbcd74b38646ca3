"""Shared fixtures: the anny body model, the smoke-profile embedded dataset (built once per session) and untrained
HGN-64 models.

Every test process computes on one thread (:data:`hgnlib.notebook_files.SMOKE_THREADS`), and so do the notebook
kernels nbval starts (they inherit ``OMP_NUM_THREADS``): the smoke copies' stored numbers were made so, whatever the
machine's core count, and the test command's pytest-xdist workers (``-n``) share the cores without OpenMP's busy
waiting in one stalling another. Under xdist, the controller makes the smoke dataset before the workers start, since
tests and notebooks in every worker read it.
"""
import os

from hgnlib.notebook_files import SMOKE_THREADS

os.environ["OMP_NUM_THREADS"] = str(SMOKE_THREADS)

import pytest  # noqa: E402
import torch  # noqa: E402

from hgnlib.profiles import get_profile  # noqa: E402

torch.set_num_threads(SMOKE_THREADS)


def _make_smoke_dataset(body=None):
    """The embedded dataset at the smoke profile's size in the project's data folder (generated if absent)."""
    from hgnlib.data.folders import dataset_folder
    from hgnlib.synthetic.synth import SynthConfig, ensure_embedded, read_manifest

    folder = dataset_folder("embedded", "smoke")
    ensure_embedded(folder, SynthConfig(size=get_profile("smoke").synth_size), progress=False, body=body)
    return folder, read_manifest(folder)


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller makes the smoke dataset once, before its workers run anything that reads it."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput") \
            and not config.option.collectonly:
        _make_smoke_dataset()


@pytest.fixture(scope="session")
def anny_body():
    from hgnlib.body.anny import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="session")
def smoke_dataset(anny_body):
    """The embedded dataset at the smoke profile's size, in the project's data folder (generated if absent).

    The notebooks' nbval run reads the same folder, so the suite generates it once.
    """
    return _make_smoke_dataset(anny_body)


@pytest.fixture(scope="session")
def untrained_hgn64():
    """A maker of untrained HGN-64 models (seed 0, joints and both coarse-mesh outputs) with their graphs: each call
    returns a fresh ``(model, graphs)``; the graphs are built once per session."""
    from hgnlib.graphs import body_hierarchy
    from hgnlib.models.registry import build_model, get_config, hierarchy_graphs, prepare_graphs

    graphs = prepare_graphs(hierarchy_graphs(body_hierarchy("anny")), get_config("hgn-64").graphs)

    def make():
        torch.manual_seed(0)
        return build_model("hgn-64", graphs), graphs

    return make
