"""Where the project looks for data. One place, so that every error can say exactly where a file belongs.

``HGN_DATA_DIR`` overrides the data folder (default: ``data/`` of the repository, or of the working
directory when the package is installed elsewhere).
"""
from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository checkout that holds this package, else the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def data_dir() -> Path:
    """The data folder: ``$HGN_DATA_DIR`` or ``<repo>/data``."""
    env = os.environ.get("HGN_DATA_DIR")
    return Path(env).expanduser() if env else repo_root() / "data"


def h36m_dir() -> Path:
    """Where the user puts the licensed Human3.6M files (``data_3d_h36m.npz``, 2D files, authors' JSON)."""
    return data_dir() / "h36m"


def smpl_dir() -> Path:
    """Where the user puts the licensed SMPL model files (``SMPL_NEUTRAL.pkl`` ...)."""
    return data_dir() / "smpl"


def mpi_inf_3dhp_dir() -> Path:
    """Where the user puts the MPI-INF-3DHP test set (``TS1/annot_data.mat`` ...)."""
    return data_dir() / "mpi_inf_3dhp"


def embedded_dir(size: float = 1.0) -> Path:
    """The generated synthetic Human3.6M-format dataset of a given size (``data/embedded`` at the default size)."""
    return data_dir() / ("embedded" if size == 1.0 else f"embedded-size{size:g}")


def cache_dir() -> Path:
    """Derived artefacts: graph hierarchies, pseudo-ground truth, experiment results."""
    return data_dir() / "cache"
