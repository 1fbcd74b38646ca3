"""Loading files from other people without running code planted in them.

A pickle can call any function it names, so every pickle the library reads goes through an unpickler with an
allow-list of the classes and functions that file kind genuinely holds:

- :func:`load_npz`: npz archives (the Human3.6M files and the embedded dataset store dicts pickled inside 0-d
  object arrays): dicts, lists, tuples, strings, numbers and numpy array reconstruction only;
- :func:`load_smpl_pickle`: the SMPL model pickles: the same, plus scipy sparse matrices and a stand-in class
  for chumpy objects (whose state is kept, so that the arrays inside can be read);
- :func:`load_torch`: model bundles and checkpoints, through ``torch.load(weights_only=True)``.

A refused file raises :class:`~hgnlib.errors.DataError` saying what it tried to load and how to convert it.
"""
from __future__ import annotations

import importlib
import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from .errors import DataError

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_ARRAY_GLOBALS = frozenset({
    *((m, n) for m in _NUMPY_CORE for n in ("_reconstruct", "scalar")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles store bytes as latin-1 text re-encoded by this call
})
_SPARSE_MODULE = re.compile(r"scipy\.sparse(\.(_?(csc|csr|coo|base|_base|compressed|_compressed|data|_data)))?")


class RefusedPickle(pickle.UnpicklingError):
    """A pickle named a global outside the allow-list of its file kind."""


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the ``(module, name)`` globals that ``resolve`` admits."""

    def __init__(self, handle: BinaryIO, resolve: Callable[[str, str], Any | None], encoding: str = "ASCII"):
        super().__init__(handle, encoding=encoding)
        self._resolve = resolve

    def find_class(self, module: str, name: str) -> Any:
        found = self._resolve(module, name)
        if found is None:
            raise RefusedPickle(f"it asks to load {module}.{name}, which this kind of file never holds")
        return found


def _array_global(module: str, name: str) -> Any | None:
    """numpy array, dtype and scalar reconstruction; None for anything else."""
    if (module, name) not in _ARRAY_GLOBALS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core is a deprecated alias of numpy._core under numpy 2
        return getattr(importlib.import_module(module), name)


def refused_error(path: Path, exc: Exception, what: str, fix: str) -> DataError:
    """The error for a file whose pickle was refused (or could not be read)."""
    return DataError(path, f"refused to load this {what}: {exc}", fix)


def _read_member(archive: zipfile.ZipFile, member: str, resolve: Callable[[str, str], Any | None]) -> Any:
    """One ``.npy`` member: a plain array read without pickle, an object array through the allow-list."""
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"member {member} has .npy format version {version}, expected 1.0 or 2.0")
        if dtype.hasobject:
            array = AllowListUnpickler(handle, resolve, encoding="latin1").load()
            if not isinstance(array, np.ndarray):
                raise ValueError(f"member {member} unpickles to a {type(array).__name__}, not an array")
            return array
    with archive.open(member) as handle:
        return np.lib.format.read_array(io.BytesIO(handle.read()), allow_pickle=False)


def load_npz(path: Path, what: str, fix: str) -> dict[str, Any]:
    """Every array of an npz archive; object arrays (pickled dicts) only hold containers, strings, numbers and
    arrays. A 0-d object array is returned as the object it holds. Raises DataError for a refused or broken
    file (``what`` names the kind of file, ``fix`` how to get a good one)."""
    return _load_npz(path, what, fix, _array_global)


def load_smpl_npz(path: Path, fix: str) -> dict[str, Any]:
    """:func:`load_npz` for an SMPL model archive (object arrays may also hold sparse matrices and chumpy)."""
    return _load_npz(path, "SMPL model file", fix, _smpl_global)


def _load_npz(path: Path, what: str, fix: str, resolve: Callable[[str, str], Any | None]) -> dict[str, Any]:
    """:func:`load_npz` with the allow-list ``resolve``."""
    with open(path, "rb") as handle:
        if handle.read(6) == b"\x93NUMPY":
            raise DataError(path, "holds a single ndarray (.npy content), not an npz archive",
                            f"expected a {what}; {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            values = {m[:-4]: _read_member(archive, m, resolve) for m in members}
    except RefusedPickle as exc:
        raise refused_error(path, exc, what, "convert it to plain arrays and dicts of arrays in a trusted Python "
                                             f"(np.savez with only those), or {fix}") from None
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, IndexError, zipfile.BadZipFile,
            pickle.UnpicklingError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        raise DataError(path, f"not a loadable npz archive ({type(exc).__name__}: {exc})",
                        f"expected a {what}; {fix}") from None
    return {k: v.item() if v.dtype == object and v.ndim == 0 else v for k, v in values.items()}


_SMPL_BUILTINS = {"object": object, "set": set, "frozenset": frozenset}


class ChumpyStub:
    """Stands in for a pickled chumpy object, so that the original SMPL pickles load without chumpy."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _smpl_global(module: str, name: str) -> Any | None:
    """Array reconstruction, scipy sparse matrix classes, chumpy stand-ins and Python 2 object rebuilding."""
    if module == "chumpy" or module.startswith("chumpy."):
        return ChumpyStub
    if (module, name) in {("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}:
        import copyreg

        return copyreg._reconstructor  # rebuilds an object of an allowed class only (its arguments pass here too)
    if module in ("builtins", "__builtin__") and name in _SMPL_BUILTINS:
        return _SMPL_BUILTINS[name]  # chumpy objects keep sets of names in their state
    if _SPARSE_MODULE.fullmatch(module) and name.isidentifier():
        import scipy.sparse as sp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy.sparse.csc and the like are deprecated aliases
            found = getattr(importlib.import_module(module), name, None)
        sparse_types = tuple(t for t in (getattr(sp, "spmatrix", None), getattr(sp, "sparray", None)) if t)
        return found if isinstance(found, type) and issubclass(found, sparse_types) else None
    return _array_global(module, name)


def load_smpl_pickle(path: Path, fix: str) -> Any:
    """The object of an SMPL model pickle (latin-1, Python 2 era), through the SMPL allow-list."""
    with open(path, "rb") as handle:
        try:
            return AllowListUnpickler(handle, _smpl_global, encoding="latin1").load()
        except RefusedPickle as exc:
            raise refused_error(path, exc, "SMPL model file", fix) from None


def _to_device(obj: Any, device: Any) -> Any:
    """``obj`` with its tensors moved to ``device``, except byte tensors: the random generators' states, which
    PyTorch takes only on the CPU (``Generator.set_state``, ``torch.set_rng_state``, ``torch.cuda.set_rng_state``)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj if obj.dtype == torch.uint8 else obj.to(device)
    if isinstance(obj, dict):
        return {key: _to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(value, device) for value in obj)
    return obj


def load_torch(path: Path, what: str, fix: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True`` (tensors, containers, strings and numbers only), the tensors on
    ``map_location`` except the random generators' states, which stay on the CPU (a training checkpoint resumed on a
    GPU restores them from there). The rule lives here rather than in the trainer's call because
    ``experiments/train.py`` is part of the result fingerprint: editing it would give every trained run a new key."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "GLOBAL" in line), None)
        if detail is not None:
            raise DataError(path, f"refused to load this {what}: it holds more than tensors and plain values "
                                  f"({detail})", fix) from None
        reason = next((line for line in lines if "Unsupported" in line), type(exc).__name__)
        raise DataError(path, f"not a {what} torch can read ({reason})", fix) from None
    except Exception as exc:  # a file torch cannot read at all fails in many ways
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(path, f"not a {what} torch can read ({type(exc).__name__}: {first})", fix) from None
    return loaded if str(map_location) == "cpu" else _to_device(loaded, map_location)
