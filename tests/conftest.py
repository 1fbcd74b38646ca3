"""Shared fixtures: the anny body model and the smoke-profile embedded dataset (built once per session)."""
import pytest
import torch

from hgnlib import paths
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
    from hgnlib.data.synth import SynthConfig, ensure_embedded, read_manifest

    size = get_profile("smoke").synth_size
    folder = paths.embedded_dir(size)
    ensure_embedded(folder, SynthConfig(size=size), progress=False, body=anny_body)
    return folder, read_manifest(folder)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: tiny batches run fastest so, and OpenMP's busy waiting cannot stall them when
    the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
