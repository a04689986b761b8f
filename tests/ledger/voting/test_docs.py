"""Every command docs/voting.md shows, run as a user types it, in the order shown.

The commands are read from the page itself, so a change to the page is a
change to the test. What a user does by hand between the commands is done
here too, and only that:

- ``fedgov vote node`` is given a free ``--port`` (the page leaves it at the
  default 8545, which another test or program may hold), and the exports the
  page shows as ``0x...`` take the values the node prints, as the page says;
- after ``fedgov vote enroll``, the registrar writes ``residents.txt`` with the
  address it printed (and two more residents, so the roll is not a roll of one);
- ``--rpc-url http://127.0.0.1:8545`` points at the test's own anvil.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from ledger.chain import AnvilProcess
from ledger.voting.cli import CONTRACT_ENV, RPC_URL_ENV
from ledger.voting.resident import RollKey
from tests.chain_fixtures import requires_anvil
from tests.ledger.voting.test_cli import _free_port, _start_node, _stop_node

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.filterwarnings(
    "ignore::ledger.voting._signers.InsecureDevKeyWarning"
)

_PAGE = Path(__file__).resolve().parents[3] / "docs" / "voting.md"
_DEFAULT_RPC_URL = "http://127.0.0.1:8545"


def _section(heading: str) -> str:
    """The text of the page under ``heading``, up to the next heading."""
    after = _PAGE.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    return re.split(r"\n#{2,3} ", after, maxsplit=1)[0]


def _fenced(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def _commands(block: str) -> Iterator[list[str]]:
    """Each command line of a shell block, continuations joined, comments dropped."""
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield words


def _run(capsys: pytest.CaptureFixture[str], words: list[str]) -> tuple[int, str]:
    assert words[0] == "fedgov", words
    code = main(words[1:])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.anvil
@requires_anvil
def test_the_consultation_over_many_commands_runs_as_documented(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Prepare
    (block,) = _fenced(
        _section("### Over many commands (each role on its own)"), "bash"
    )
    commands = list(_commands(block))
    monkeypatch.chdir(tmp_path)
    node = None
    outputs: dict[str, str] = {}

    # Execute: every line, in order
    try:
        for words in commands:
            line = shlex.join(words)
            if words[-1] == "&":  # the node, in the background
                assert words[:3] == ["fedgov", "vote", "node"], line
                node, printed = _start_node(words[1:-1], _free_port(), cwd=tmp_path)
            elif words[0] == "export":
                for assignment in words[1:]:
                    name, value = assignment.split("=", 1)
                    if node is not None and name in printed:
                        value = printed[name]  # the page shows "0x..."
                    monkeypatch.setenv(name, value)
            else:
                code, out = _run(capsys, words)
                assert code == 0, (line, out)
                outputs[line] = out
                if words[:3] == ["fedgov", "vote", "enroll"]:
                    _write_residents(tmp_path / "residents.txt", out)
        # The registrar tries again once the commit window has passed.
        again, refused = _run(
            capsys,
            [
                "fedgov",
                *[
                    "vote",
                    "issue",
                    "--id",
                    "1",
                    "--roll",
                    "roll.json",
                ],
                *[
                    "--resident",
                    "alice",
                    "--request",
                    "alice.request",
                    "--out",
                    "again.response",
                ],
                "--dev-account",
                "1",
            ],
        )
    finally:
        stopped = None if node is None else _stop_node(node)

    # Assert
    assert stopped == 0
    said = "\n".join(outputs.values())
    assert {RPC_URL_ENV, CONTRACT_ENV} <= set(printed)
    assert os.environ[RPC_URL_ENV] == printed[RPC_URL_ENV]
    assert "roll of 3 residents" in said
    assert "consultation 1 created" in said
    assert "credential issued to alice" in said
    assert "recorded as cast: yes" in said
    assert "credentials 1, ballots 1, revealed 1, unrevealed 0" in said
    assert "tally: yes: 1, no: 0" in said
    assert "OVER-ISSUANCE" not in said
    assert "re-tally matches the contract" in said
    assert not (tmp_path / "alice.wallet").exists()  # --forget
    assert "salt" not in (tmp_path / "alice.receipt").read_text()
    assert (tmp_path / "alice.key").stat().st_mode & 0o077 == 0
    assert again == 1
    assert "issuance closed when the commit window opened" in refused


def _write_residents(path: Path, enrolled: str) -> None:
    """The registrar's list: alice as enrolled, and two more residents."""
    match = re.search(r"roll key (0x[0-9a-fA-F]{40})", enrolled)
    assert match is not None, enrolled
    others = [f"{name} {RollKey.generate().address}" for name in ("bob", "carol")]
    path.write_text("\n".join([f"alice {match.group(1)}", *others]) + "\n")


_REHEARSALS = [
    pytest.param(
        words,
        marks=[pytest.mark.anvil, requires_anvil] if _DEFAULT_RPC_URL in words else [],
        id=shlex.join(words),
    )
    for words in _commands(
        _fenced(_section("### In one process (a rehearsal)"), "bash")[0]
    )
]


@pytest.mark.slow
@pytest.mark.parametrize("words", _REHEARSALS)
def test_each_documented_rehearsal_runs_as_typed(
    capsys: pytest.CaptureFixture[str], words: list[str]
) -> None:
    with contextlib.ExitStack() as stack:
        # Prepare: the page's dev chain is the test's own anvil
        if _DEFAULT_RPC_URL in words:
            url = stack.enter_context(AnvilProcess()).url
            words = [url if w == _DEFAULT_RPC_URL else w for w in words]

        # Execute
        code, out = _run(capsys, words)

    # Assert
    assert code == 0, out
    assert "re-tally matches" in out
    assert "22 of 22 abuses rejected as expected" in out
    assert out.rstrip().endswith("OK")
    if words == ["fedgov", "vote", "rehearse"]:
        # Mallory's ballot and three the re-tally names are on chain, uncounted.
        assert "50 residents, 51 credentials, 54 ballots, 50 reveals" in out
        assert "50 receipts check out" in out


@pytest.mark.slow
def test_the_documented_python_rehearsal_runs() -> None:
    (snippet,) = _fenced(_section("### In one process (a rehearsal)"), "python")

    exec(compile(snippet, str(_PAGE), "exec"), {})  # its own asserts must hold
