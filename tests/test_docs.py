"""The `hgn ...` commands that the README, docs/, the data and report READMEs and the notebooks show exist: every
subcommand and every option they name is one the command line accepts."""
import argparse
import re
from pathlib import Path

from hgnlib.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "reports").glob("*/README.md")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]


def _subcommands(parser: argparse.ArgumentParser) -> dict:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _problems(snippet: str, parser: argparse.ArgumentParser) -> list[str]:
    tokens = snippet.replace("\\|", "|").split()
    i = 0
    while i < len(tokens) and tokens[i] in _subcommands(parser):
        parser = _subcommands(parser)[tokens[i]]
        i += 1
    if _subcommands(parser) and i < len(tokens):
        return [f"no subcommand {tokens[i]!r}"]
    options = {name for action in parser._actions for name in action.option_strings}
    return [f"no option {name}" for token in tokens[i:] for name in re.findall(r"--[a-z][a-z-]*", token)
            if name not in options]


def test_documented_commands_exist():
    parser = build_parser()
    seen, problems = 0, []
    for document in DOCUMENTS:
        for snippet in sorted(set(re.findall(r"`hgn ([^`]*)`", document.read_text(encoding="utf-8")))):
            seen += 1
            problems += [f"{document.relative_to(ROOT)}: `hgn {snippet}`: {p}" for p in _problems(snippet, parser)]
    assert seen > 50, "the documents name hardly any hgn command: is the pattern still right?"
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_wrong_command():
    parser = build_parser()
    assert _problems("data synth --size 4", parser) == []
    assert _problems("data synthesise", parser) == ["no subcommand 'synthesise'"]
    assert _problems("train --model hgn-128 --lamda-m 0.01", parser) == ["no option --lamda-m"]
