"""Fingerprints of code by its meaning: what keys the result cache, the generated data and the reports' provenance.

A module's fingerprint hashes its syntax tree written back as source (``ast.unparse``) with every docstring
removed, so comments, docstrings, blank lines and formatting do not count, while any change to what the code
computes (a statement, an expression, a constant, a signature) does. The text is the same on every Python from 3.11
on (3.11 to 3.13 checked): f-strings are written back as Python 3.11 writes them (:func:`_fstring_text`), so that a
run trained under Python 3.12 (a GPU image, say) keys the same as one trained under 3.11. Python 3.10 writes other
constructs back differently (``(a, b) = ...``), which is why the project needs 3.11.
"""
from __future__ import annotations

import ast
import hashlib
import re
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


#: The quotes in the order Python 3.11's ``ast.unparse`` tries them for an f-string.
_QUOTES = ("'", '"', '"""', "'''")


def _unquoted(text: str) -> tuple[str, str]:
    """The quote and the inside of an f-string literal ``f<quote>...<quote>``."""
    quote = text[1:4] if text[1:4] in _QUOTES[2:] else text[1]
    return quote, text[1 + len(quote):len(text) - len(quote)]


def _fstring_text(node: ast.JoinedStr) -> str:
    """The f-string ``node`` written back as Python 3.11 writes it, on any Python from 3.11 on.

    Python 3.11 picks the quote part by part (literal text and replacement fields alike): it keeps the quotes that
    the part does not contain, those whose character differs from the part's last character first, and uses the
    first quote left. Python 3.12 (PEP 701) lets a field hold the string's own quote, and its ``ast.unparse`` picks
    the quote from the literal parts alone (``f'{d['k']}'`` where 3.11 writes ``f"{d['k']}"``), so the same code
    would otherwise fingerprint differently there."""
    text = ast.unparse(node)
    _, body = _unquoted(text)
    quotes = list(_QUOTES)
    for value in node.values:
        _, part = _unquoted(ast.unparse(ast.JoinedStr(values=[value])))
        left = [q for q in quotes if q not in part]
        if not left:  # a part holding every quote: keep this Python's own choice
            return text
        if part:
            left.sort(key=lambda q: q[0] == part[-1])
        quotes = left
    return f"f{quotes[0]}{body}{quotes[0]}"


class _FStringPlaceholders(ast.NodeTransformer):
    """Replaces each outermost f-string by a name, remembering its text (:func:`_fstring_text`)."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.Name:
        name = f"__hgn_fstring_{len(self.texts)}__"
        self.texts[name] = _fstring_text(node)
        return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)


def normalized_source(path: str | Path) -> str:
    """The code of a Python file without docstrings, comments or formatting, the same text on Python 3.11 to 3.13."""
    path = Path(path)
    tree = _strip_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    placeholders = _FStringPlaceholders()
    text = ast.unparse(placeholders.visit(tree))
    return re.sub(r"__hgn_fstring_\d+__", lambda match: placeholders.texts[match.group(0)], text)


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
