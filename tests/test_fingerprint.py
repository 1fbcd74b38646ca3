"""Run keys and report provenance follow what the code computes, not its docstrings, comments or layout."""
import ast
import shutil
import sys
from pathlib import Path

import pytest

from hgnlib import fingerprint
from hgnlib.synthetic.synth import GENERATOR_CODE
from hgnlib.experiments.config import RESULT_CODE, code_fingerprint


def _edit_docstrings_and_comments(path: Path) -> int:
    """Rewrite every docstring of a file and add comments; returns how many docstrings were rewritten."""
    text = path.read_text()
    tree = ast.parse(text)
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                spans.append((first.value.lineno, first.value.col_offset, first.value.end_lineno,
                              first.value.end_col_offset))
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()))
    data = text.encode()
    for start_line, start_col, end_line, end_col in sorted(spans, reverse=True):
        begin, end = offsets[start_line - 1] + start_col, offsets[end_line - 1] + end_col
        data = data[:begin] + b'"""A docstring rewritten by the test:\n    with a second line."""' + data[end:]
    path.write_bytes(b"# a comment added by the test\n" + data + b"\n# another comment\n\n")
    return len(spans)


@pytest.fixture()
def package_copy(tmp_path):
    root = tmp_path / "hgnlib"
    shutil.copytree(fingerprint.package_root(), root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_docstrings_comments_and_layout_do_not_count(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text('"""Module."""\nimport math\n\ndef f(x):\n    """Doc."""\n    return math.sqrt(x)  # root\n')
    b.write_text('import math\ndef f(x):\n    # comment\n    return math.sqrt( x )\n')
    assert fingerprint.normalized_source(a) == fingerprint.normalized_source(b)
    b.write_text('import math\ndef f(x):\n    return math.sqrt(x + 1)\n')
    assert fingerprint.normalized_source(a) != fingerprint.normalized_source(b)


def test_editing_every_docstring_keeps_run_keys_and_reports_current(package_copy):
    names = (*RESULT_CODE, *GENERATOR_CODE)
    before = {group: fingerprint.code_fingerprint(package_copy, group) for group in (RESULT_CODE, GENERATOR_CODE)}
    assert before[RESULT_CODE] == code_fingerprint()  # the copy is the package
    edited = sum(_edit_docstrings_and_comments(f) for f in fingerprint.python_files(package_copy, names))
    assert edited > 100  # the edit reached the docstrings of every module
    assert {group: fingerprint.code_fingerprint(package_copy, group) for group in before} == before


@pytest.mark.parametrize("old, new", [("torch.relu_(", "torch.sigmoid_("), ("GCONV_GAIN = 1.414", "GCONV_GAIN = 1.5")])
def test_changing_a_layer_changes_run_keys(package_copy, old, new):
    layers = package_copy / "models" / "layers.py"
    before = fingerprint.code_fingerprint(package_copy, RESULT_CODE)
    text = layers.read_text()
    assert old in text
    layers.write_text(text.replace(old, new, 1))
    assert fingerprint.code_fingerprint(package_copy, RESULT_CODE) != before


#: f-strings (written with nested quotes, as Python 3.12 allows) and how Python 3.11's ast.unparse writes them back
#: (read off Python 3.11.7); Python 3.12's writes all but the last with single quotes, reused inside the fields.
FSTRINGS_AS_PYTHON_3_11_WRITES_THEM = [
    ('f\'{d["k"]}\'',
     'f"{d[\'k\']}"'),
    ('f\'x{d["k"]!r:>{w}}y\'',
     'f"x{d[\'k\']!r:>{w}}y"'),
    ('f\'<div class="s">{d["t"]}</div>\'',
     'f"""<div class="s">{d[\'t\']}</div>"""'),
    ('f\'<a href="{h(d["u"])}">{h(d["t"] or d["n"])}</a>\'',
     'f\'\'\'<a href="{h(d[\'u\'])}">{h(d[\'t\'] or d[\'n\'])}</a>\'\'\''),
    ('f\'a"{d["t"]}b\'',
     'f\'\'\'a"{d[\'t\']}b\'\'\''),
    ('f\'a"{d["t"]}"b\'',
     'f\'\'\'a"{d[\'t\']}"b\'\'\''),
    ('f\'a{d["t"]}"b\'',
     'f"""a{d[\'t\']}"b"""'),
    ('f\'a"{d["t"]}\'',
     'f\'\'\'a"{d[\'t\']}\'\'\''),
    ("f'{x!r}: {y:.1f} mm'",
     "f'{x!r}: {y:.1f} mm'"),
]


@pytest.mark.parametrize("source, expected", FSTRINGS_AS_PYTHON_3_11_WRITES_THEM)
def test_fstrings_are_written_back_as_python_3_11_writes_them(tmp_path, source, expected):
    """Run keys do not depend on the Python version: Python 3.12 lets an f-string's fields reuse its quote and writes
    such f-strings back differently, which once gave a run trained under 3.12 another key than under 3.11."""
    path = tmp_path / "m.py"
    path.write_text(f"x = {source}\n")
    assert fingerprint.normalized_source(path) == f"x = {expected}"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 writes f-strings back in its own way")
def test_normalized_source_is_python_3_11s_unparse_for_every_module():
    """On Python 3.11 the f-string rewrite changes nothing: every module of the package reads as ast.unparse writes
    it (so the keys of runs trained before the rewrite stand)."""
    for path in fingerprint.python_files(fingerprint.package_root(), ["."]):
        tree = fingerprint._strip_docstrings(ast.parse(path.read_text(encoding="utf-8")))
        assert fingerprint.normalized_source(path) == ast.unparse(tree), path
