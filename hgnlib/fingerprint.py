"""Fingerprints of code by its meaning: what keys the result cache, the generated data and the reports' provenance.

A module's fingerprint hashes its syntax tree written back as source (``ast.unparse``) with every docstring
removed, so comments, docstrings, blank lines and formatting do not count, while any change to what the code
computes (a statement, an expression, a constant, a signature) does.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Iterable

_WITH_DOCSTRINGS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if not isinstance(node, _WITH_DOCSTRINGS):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree


def normalized_source(path: str | Path) -> str:
    """The code of a Python file without docstrings, comments or formatting."""
    path = Path(path)
    return ast.unparse(_strip_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))


def python_files(root: Path, names: Iterable[str | Path]) -> list[Path]:
    """The ``.py`` files of ``names`` (files or packages, relative to ``root`` or absolute), sorted within each
    package."""
    files: list[Path] = []
    for name in names:
        path = root / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def code_fingerprint(root: str | Path, names: Iterable[str | Path]) -> str:
    """A short hash of the meaning of the modules ``names`` (files or packages, relative to ``root`` or absolute);
    a file is named in the hash by its path under ``root`` (by its file name when it lies elsewhere)."""
    root = Path(root)
    digest = hashlib.sha256()
    for file in python_files(root, names):
        name = file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name
        digest.update(name.encode() + b"\0" + normalized_source(file).encode() + b"\0")
    return digest.hexdigest()[:16]


def package_root() -> Path:
    """The folder of the ``hgnlib`` package."""
    return Path(__file__).resolve().parent
