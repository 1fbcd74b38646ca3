"""Shared fixtures: the anny body model, the smoke-profile embedded dataset (built once per session) and untrained
HGN-64 models."""
import pytest
import torch

from hgnlib.profiles import get_profile


@pytest.fixture(scope="session")
def anny_body():
    from hgnlib.body.anny import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="session")
def smoke_dataset(anny_body):
    """The embedded dataset at the smoke profile's size, in the project's data folder (generated if absent).

    The notebooks' nbval run reads the same folder, so the suite generates it once.
    """
    from hgnlib.data.folders import dataset_folder
    from hgnlib.synthetic.synth import SynthConfig, ensure_embedded, read_manifest

    folder = dataset_folder("embedded", "smoke")
    ensure_embedded(folder, SynthConfig(size=get_profile("smoke").synth_size), progress=False, body=anny_body)
    return folder, read_manifest(folder)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: tiny batches run fastest so, and OpenMP's busy waiting cannot stall them when
    the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
