"""``fedgov vote``: the one-process simulation, and a consultation over many commands."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from ledger.chain import AnvilProcess, Chain
from ledger.voting._signers import InsecureDevKeyWarning, dev_account
from ledger.voting.cli import CONTRACT_ENV, KEY_PASSPHRASE_ENV, RPC_URL_ENV
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


def test_simulate_runs_a_consultation_on_the_embedded_chain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _run(
        capsys, "simulate", "--residents", "4", "--abstain", "1", "--no-reveal", "1"
    )

    assert code == 0, out
    assert "chain: embedded py-evm" in out
    assert "re-tally matches" in out
    assert "20 of 20 abuses rejected as expected" in out
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


@pytest.mark.anvil
@requires_anvil
def test_a_consultation_over_many_commands(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Prepare: a chain that outlives each command, and the registrar's files
    monkeypatch.setenv(KEY_PASSPHRASE_ENV, "correct horse battery staple")
    (tmp_path / "residents.txt").write_text("alice\nbob\n\ncarol\n")
    with AnvilProcess() as anvil:
        monkeypatch.setenv(RPC_URL_ENV, anvil.url)
        registrar, relayer = "--dev-account=1", "--dev-account=2"
        code, out = _run(
            capsys, "deploy", "--dev-account=0", "--registrar", dev_account(1).address
        )
        assert code == 0, out
        contract = re.search(r"Consultation (0x[0-9a-fA-F]{40})", out)
        assert contract is not None
        monkeypatch.setenv(CONTRACT_ENV, contract.group(1))
        roll, key = str(tmp_path / "roll.json"), str(tmp_path / "key.pem")

        # Execute: registrar opens; alice and bob get credentials and vote
        steps: list[tuple[str, ...]] = [
            ("roll", str(tmp_path / "residents.txt"), "--out", roll),
            ("keygen", "--out", key),
            (
                "create",
                "--roll",
                roll,
                "--key",
                key,
                "--question",
                "New bus line?",
                "--option",
                "yes",
                "--option",
                "no",
                registrar,
            ),
        ]
        for name in ("alice", "bob"):
            wallet, request = (
                str(tmp_path / f"{name}.wallet"),
                str(tmp_path / f"{name}.req"),
            )
            response = str(tmp_path / f"{name}.resp")
            steps += [
                ("request", "--id", "1", "--wallet", wallet, "--out", request),
                (
                    "issue",
                    "--id",
                    "1",
                    "--roll",
                    roll,
                    "--key",
                    key,
                    "--resident",
                    name,
                    "--request",
                    request,
                    "--out",
                    response,
                    registrar,
                ),
                (
                    "accept",
                    "--wallet",
                    wallet,
                    "--response",
                    response,
                    "--resident",
                    name,
                ),
            ]
        steps.append(("advance-time", "3600"))
        for name, choice in (("alice", "yes"), ("bob", "1")):
            steps.append(
                (
                    "commit",
                    "--wallet",
                    str(tmp_path / f"{name}.wallet"),
                    "--choice",
                    choice,
                    "--receipt",
                    str(tmp_path / f"{name}.receipt"),
                    relayer,
                )
            )
        steps += [
            ("check", str(tmp_path / "alice.receipt")),
            ("advance-time", "86400"),
            ("reveal", "--wallet", str(tmp_path / "alice.wallet"), "--forget", relayer),
            ("reveal", "--wallet", str(tmp_path / "bob.wallet"), relayer),
            ("advance-time", "86400"),
            ("finalize", "--id", "1", relayer),
            ("status", "--id", "1"),
            ("check", str(tmp_path / "alice.receipt")),
            ("tally", "--id", "1", "--verify"),
        ]
        outputs = []
        for step in steps:
            code, out = _run(capsys, *step)
            assert code == 0, (step, out)
            outputs.append(out)
        twice, again = _run(
            capsys,
            "issue",
            "--id",
            "1",
            "--roll",
            roll,
            "--key",
            key,
            "--resident",
            "alice",
            "--request",
            str(tmp_path / "alice.req"),
            "--out",
            str(tmp_path / "again.resp"),
            registrar,
        )

    # Assert
    assert "roll of 3 residents" in outputs[0]
    assert "consultation 1 created" in outputs[2]
    assert "recorded as cast: yes" in outputs[-2]
    assert "revealed (counted): yes" in outputs[-2]
    assert "tally: yes: 1, no: 1" in outputs[-3]
    assert "re-tally matches the contract" in outputs[-1]
    assert not (tmp_path / "alice.wallet").exists()  # --forget
    assert twice == 1
    assert "issuance closed" in again
    assert "salt" not in (tmp_path / "bob.receipt").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_node(directory: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedgov",
            "vote",
            "node",
            "--dir",
            str(directory),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith(f"export {CONTRACT_ENV}="):
            return process, line.split("=", 1)[1].strip()
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
    process, address = _start_node(tmp_path, port)
    try:
        chain = Chain.connect(f"http://127.0.0.1:{port}", accounts=[])
        blocks = chain.block_number
    finally:
        first_exit = _stop_node(process)

    # Execute
    process, again = _start_node(tmp_path, port)
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


@pytest.mark.slow
def test_fifty_residents_complete_a_consultation_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _run(capsys, "simulate", "--residents", "50", "--seed", "7")

    assert code == 0, out
    assert "50 residents, 51 credentials, 51 ballots, 50 reveals" in out
    assert "50 receipts check out" in out
    assert out.rstrip().endswith("OK")
