"""Every ``fedgov`` command the README and docs show exists and a test runs it.

A documented command is a code span or a code-block line starting with
``fedgov``. Its command path (``fedgov budget set``) is resolved against the
real parsers (so a command the docs name but the CLI lacks fails here), and
some test must invoke that path: an argument list given to ``fedgov.cli.main``
or to a ``fedgov`` process, or to a command group's own parser
(``CONFIGURED``), found in the tests' source. A document whose commands a
test runs line by line, as the user types them, names that test in
``VERBATIM``; the audit log's witness walkthrough and docs/access.md's
walkthrough are run line by line too (``tests/ledger/test_witness_docs.py``,
``tests/fedgov/commands/test_access_docs.py``).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from fedgov.cli import COMMANDS
from tests.fedgov.commands.test_access_docs import walkthrough
from tests.ledger.test_witness_docs import _walkthrough

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VERBATIM = {
    "docs/voting.md": "tests/ledger/voting/test_docs.py",
    "docs/personalisation.md": "tests/fedgov/commands/test_personalisation_docs.py",
}
"""Documents whose every command a test runs exactly as written."""
CONFIGURED = {"ledger.log_cli": ("ledger", "log")}
"""Command modules some tests drive through their own ``configure``d parser:
a call with string arguments in such a test runs that command group."""

_SPAN = re.compile(r"`(fedgov [^`]+)`")
_FENCE = re.compile(r"^```")


def documented(path: Path) -> list[tuple[int, str]]:
    """``(line, command)`` for each fedgov command shown in ``path``."""
    found: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced:
            text = line.strip().removeprefix("$ ")
            if text.startswith("fedgov "):
                found.append((number, text.rstrip("\\").strip()))
        else:
            found += [(number, span) for span in _SPAN.findall(line)]
    # "fedgov data: error: ..." is output, not a command.
    return [(n, text) for n, text in found if not text.split()[1].endswith(":")]


@cache
def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"fedgov {command}")
    importlib.import_module(COMMANDS[command][0]).configure(parser)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_path(words: list[str]) -> tuple[str, ...]:
    """The subcommands ``words`` (after ``fedgov``) name, as the CLI parses them."""
    if not words or words[0] not in COMMANDS:
        return ()
    path = [words[0]]
    parser = _parser(words[0])
    for word in words[1:]:
        choices = _subcommands(parser)
        if word not in choices:
            break
        path.append(word)
        parser = choices[word]
    return tuple(path)


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _invoked(elements: list[ast.expr]) -> list[str] | None:
    """The string arguments of an argument list that runs a fedgov command."""
    strings = [
        e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None
        for e in elements
    ]
    if "fedgov" in strings:
        start: int | None = strings.index("fedgov") + 1
    else:
        # main([...]): the command first, or after the executable's path.
        start = next((i for i, word in enumerate(strings) if word is not None), None)
        if (
            start is None
            or strings[start] not in COMMANDS
            or any(isinstance(e, ast.Constant) for e in elements[:start])
        ):
            return None
    if start is None:
        return None
    words = []
    for element in elements[start:]:
        if not (isinstance(element, ast.Constant) and isinstance(element.value, str)):
            break
        words.append(element.value)
    return words


def _invocations(tree: ast.Module) -> list[list[str]]:
    """The fedgov argument lists (after ``fedgov``) a test module's source holds."""
    prefixes = [
        CONFIGURED[node.module]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module in CONFIGURED
        and any(alias.name == "configure" for alias in node.names)
    ]
    found: list[list[str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple):
            words = _invoked(list(node.elts))
            if words:
                found.append(words)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("fedgov "):
                found.append(_words(node.value)[1:])
        elif prefixes and isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found += [[*prefix, first.value] for prefix in prefixes]
    return found


@cache
def _tested_paths() -> frozenset[tuple[str, ...]]:
    """Every command path some test invokes, with its prefixes."""
    invocations = [_words(line)[1:] for line in _walkthrough()]
    invocations += [words[1:] for words in walkthrough()]
    for source in (ROOT / "tests").rglob("*.py"):
        if source.resolve() != Path(__file__).resolve():
            tree = ast.parse(source.read_text(encoding="utf-8"))
            invocations += _invocations(tree)
    paths: set[tuple[str, ...]] = set()
    for words in invocations:
        path = command_path(words)
        paths.update(path[:n] for n in range(1, len(path) + 1))
    return frozenset(paths)


CASES = [
    pytest.param(doc, line, text, id=f"{doc.relative_to(ROOT)}:{line}")
    for doc in DOCUMENTS
    for line, text in documented(doc)
]


def test_the_documents_show_commands() -> None:
    assert len(CASES) > 30


@pytest.mark.parametrize(("doc", "line", "text"), CASES)
def test_a_documented_command_exists_and_a_test_runs_it(
    doc: Path, line: int, text: str
) -> None:
    path = command_path(_words(text)[1:])
    where = f"{doc.relative_to(ROOT)}:{line}: {text!r}"
    assert path, f"{where} names no fedgov command"
    relative = str(doc.relative_to(ROOT))
    if relative in VERBATIM:
        runner = ROOT / VERBATIM[relative]
        assert doc.name in runner.read_text(encoding="utf-8"), runner
        return
    assert path in _tested_paths(), f"{where}: no test runs 'fedgov {' '.join(path)}'"
