"""``fedgov vote``: the one-process rehearsal, and a node that outlives its commands.

The consultation over many commands, as docs/voting.md shows it, is run line
by line by ``test_docs.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from fedgov.notices import WARNED_ENV
from ledger.chain import Chain
from ledger.voting._signers import InsecureDevKeyWarning, dev_account
from ledger.voting.cli import CONTRACT_ENV, RPC_URL_ENV
from ledger.voting.consultation import ConsultationContract
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings(
    "ignore::ledger.voting._signers.InsecureDevKeyWarning"
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["vote", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_rehearse_runs_a_consultation_on_the_embedded_chain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _run(
        capsys, "rehearse", "--residents", "4", "--abstain", "1", "--no-reveal", "1"
    )

    assert code == 0, out
    assert "chain: embedded py-evm" in out
    assert "re-tally matches" in out
    assert "22 of 22 abuses rejected as expected" in out
    assert "3 abusive ballots named, not counted" in out
    assert out.rstrip().endswith("OK")


def test_commands_that_need_a_lasting_chain_say_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RPC_URL_ENV, raising=False)

    code, out = _run(capsys, "status", "--contract", "0x" + "11" * 20, "--id", "1")

    assert code == 1
    assert "--rpc-url: required" in out
    assert "fedgov vote node" in out


def test_dev_accounts_are_anvils_and_warn() -> None:
    with pytest.warns(InsecureDevKeyWarning, match="public knowledge"):
        account = dev_account(1)

    assert account.address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(
    argv: list[str], port: int, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Run ``fedgov vote node ...`` (``argv`` after ``fedgov``) on ``port``.

    Returns the process and the variables it told the user to export.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "fedgov", *argv, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
        cwd=cwd,
    )
    assert process.stdout is not None
    lines = []
    exports: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("export "):
            name, value = line.removeprefix("export ").strip().split("=", 1)
            exports[name] = value
            if name == CONTRACT_ENV:
                return process, exports
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("".join(lines))


def _stop_node(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


@pytest.mark.anvil
@requires_anvil
def test_the_node_keeps_its_chain_and_contracts_across_restarts(tmp_path: Path) -> None:
    # Prepare
    port = _free_port()
    node = ["vote", "node", "--dir", str(tmp_path)]
    process, exports = _start_node(node, port)
    address = exports[CONTRACT_ENV]
    try:
        chain = Chain.connect(f"http://127.0.0.1:{port}", accounts=[])
        blocks = chain.block_number
    finally:
        first_exit = _stop_node(process)

    # Execute
    process, exports = _start_node(node, port)
    again = exports[CONTRACT_ENV]
    try:
        chain = Chain.connect(f"http://127.0.0.1:{port}", accounts=[])
        contract = ConsultationContract.at(chain, again)
        restarted_blocks = chain.block_number
    finally:
        second_exit = _stop_node(process)

    # Assert
    assert first_exit == second_exit == 0
    assert again == address == contract.address
    assert restarted_blocks >= blocks >= 3
    deployment = json.loads((tmp_path / "deployment.json").read_text())
    assert deployment["consultation"] == address


@pytest.mark.anvil
@requires_anvil
def test_blind_rsa_credentials_still_run_over_many_commands_and_warn(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Prepare: the portal's kind of consultation, from the command line
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEDGOV_VOTE_KEY_PASSPHRASE", "correct horse")
    monkeypatch.delenv(WARNED_ENV, raising=False)  # a fresh command's warnings
    process, exports = _start_node(["vote", "node", "--dir", "chain"], _free_port())
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    steps = [
        "enroll --out alice.key",
        "keygen --out credential-key.pem",
        "create --roll roll.json --key credential-key.pem --question Q? "
        "--option yes --option no --dev-account 1",
        "request --id 1 --roll-key alice.key --wallet alice.wallet --out alice.request",
        "issue --id 1 --roll roll.json --key credential-key.pem --resident alice "
        "--request alice.request --out alice.response --dev-account 1",
        "accept --wallet alice.wallet --response alice.response",
        "advance-time 3600",
        "commit --wallet alice.wallet --choice no --receipt alice.receipt "
        "--dev-account 2",
        "tally --id 1 --verify",
    ]

    # Execute
    said = []
    try:
        for step in steps:
            code, out = _run(capsys, *step.split())
            assert code == 0, (step, out)
            said.append(out)
            if step.startswith("enroll"):
                address = out.split("roll key ")[1].split()[0]
                (tmp_path / "residents.txt").write_text(f"alice {address}\n")
                code, out = _run(capsys, "roll", "residents.txt", "--out", "roll.json")
                assert code == 0, out
    finally:
        stopped = _stop_node(process)

    # Assert
    assert stopped == 0
    everything = "\n".join(said)
    assert "credential verified for voting key" in everything
    # Said once for the command (fedgov.notices; how it reaches the terminal is
    # fedgov.cli's logging, tested there).
    assert "blind-rsa-credentials" in os.environ[WARNED_ENV].split("\n")
    assert "re-tally matches the contract" in everything
