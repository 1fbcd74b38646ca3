"""Errors that users see: each names the file, what was found, what was expected and how to fix it."""
from __future__ import annotations

from pathlib import Path


class HGNError(Exception):
    """Base class of the errors the command line turns into a message instead of a traceback."""


class DataError(HGNError):
    """A data file is missing or does not hold what the standard format says."""

    def __init__(self, path: str | Path | None, problem: str, fix: str | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(where + problem + (f"\n  fix: {fix}" if fix else ""))


class MissingFileError(DataError):
    """A licensed or generated file is not where the project looks for it."""
