"""(data, profile) -> the dataset folder: the one rule every command, the result cache and the tests follow."""
from __future__ import annotations

from pathlib import Path

from .. import paths
from ..errors import HGNError
from ..profiles import get_profile

DATA_KINDS = ("embedded", "h36m")


def dataset_folder(data: str, profile: str, data_dir: str | Path | None = None, generate: bool = False,
                   progress: bool = False) -> Path:
    """The dataset folder of ``data`` ('embedded' | 'h36m') for ``profile``: ``data_dir`` when given (used as it is),
    else the embedded dataset at the profile's size (generated first, with a progress bar when ``progress``, where
    ``generate`` and it is absent or stale) or the Human3.6M folder of the licensed files."""
    if data not in DATA_KINDS:
        raise HGNError(f"unknown data {data!r}; use one of {list(DATA_KINDS)}")
    if data_dir is not None:
        return Path(data_dir)
    if data == "h36m":
        return paths.h36m_dir()
    size = get_profile(profile).synth_size
    folder = paths.embedded_dir(size)
    if generate:
        from ..synthetic.synth import SynthConfig, ensure_embedded

        ensure_embedded(folder, SynthConfig(size=size), progress=progress)
    return folder
