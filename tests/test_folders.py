"""(data, profile) -> dataset folder: one rule for the commands, the result cache and the tests."""
from pathlib import Path

import pytest

from hgnlib import paths
from hgnlib.data.folders import dataset_folder
from hgnlib.errors import HGNError
from hgnlib.profiles import get_profile


def test_dataset_folder_follows_data_profile_and_the_given_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    assert dataset_folder("embedded", "smoke") == paths.embedded_dir(get_profile("smoke").synth_size)
    assert dataset_folder("embedded", "smoke") != dataset_folder("embedded", "full")
    assert dataset_folder("h36m", "paper") == paths.h36m_dir()
    assert dataset_folder("embedded", "smoke", tmp_path / "mine") == Path(tmp_path / "mine")
    assert not any(tmp_path.iterdir())  # nothing generated unless asked
    with pytest.raises(HGNError, match="unknown data 'coco'"):
        dataset_folder("coco", "smoke")
