"""docs/audit-log.md's witness walkthrough, run as typed, then attacked.

An honest job on anvil leaves four actor logs in ``state/``; the
walkthrough's shell lines then make the policy, start a witness, publish
and show checkpoints, and have the auditor require the witness's quorum.
Then the policy asks for a witness that never cosigned, and the auditor
fails naming the unwitnessed records; a forged cosignature fails too.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.chain import AnvilProcess, Chain
from ledger.cosignature import Cosigner
from ledger.keys import PlaintextKeyWarning
from ledger.note import Note, NoteSignature
from tests.audit_federation import run_job, small_job
from tests.audit_fixtures import harness
from tests.chain_fixtures import requires_anvil

REPO = Path(__file__).parents[2]
DOCS = REPO / "docs" / "audit-log.md"
WITNESS_NAME = "witness.lakeview-civic.example/w1"


def _walkthrough() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Walkthrough") :]
    block = re.search(r"```console\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the walkthrough's console block is gone"
    return [line[2:] for line in block[1].splitlines() if line.startswith("$ ")]


def _shell_env(rpc: str, registry: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FEDGOV_KEY_PASSWORD"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["FEDGOV_RPC"] = rpc
    env["FEDGOV_REGISTRY"] = registry
    return env


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
@pytest.mark.anvil
@requires_anvil
def test_the_walkthrough_runs_as_typed_and_the_auditor_requires_the_quorum(
    tmp_path: Path,
) -> None:
    # Prepare: an honest, anchored job; the walkthrough's commands.
    assert _port_free(7380), "the walkthrough's witness port 7380 is taken"
    commands = _walkthrough()
    assert len(commands) == 7
    assert commands[3].endswith(" &")
    with AnvilProcess() as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlaintextKeyWarning)
            for env in harness(chain, tmp_path):
                run_job(env, small_job(), tmp_path / "run")
        shell_env = _shell_env(anvil.url, env.registry.address)

        def run(command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

        # Act: the walkthrough, the witness in the background.
        made = [run(command) for command in commands[:3]]
        witness = subprocess.Popen(
            ["bash", "-c", "exec " + commands[3].removesuffix(" &")],
            cwd=tmp_path,
            env=shell_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert witness.stdout is not None
            started = witness.stdout.readline()
            published, shown, verified = (run(command) for command in commands[4:])
            # Attack 1: the policy asks for a second witness that never cosigned.
            absent = Cosigner(
                "witness.northfield.example/w1", Ed25519PrivateKey.generate()
            )
            strict = (
                (tmp_path / "policy.txt")
                .read_text()
                .replace(
                    "quorum civic\n",
                    f"witness north {absent.vkey}\ngroup both all civic north\nquorum both\n",
                )
            )
            (tmp_path / "strict.txt").write_text(strict)
            unwitnessed = run(commands[6].replace("policy.txt", "strict.txt"))
            lenient = run(
                commands[6].replace("policy.txt", "strict.txt") + " --allow-unanchored"
            )
        finally:
            witness.terminate()
            witness.wait(timeout=30)

        # Attack 2: a cosignature forged into one log's store.
        store = sorted((tmp_path / "state" / "departments").glob("*/audit-0x*.db"))[0]
        with sqlite3.connect(store) as db:
            # The note `publish` stored (every signed head's own came before).
            (stored,) = db.execute(
                "SELECT note FROM checkpoints ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            (count,) = db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
            note = Note.parse(stored)
            real = note.signatures[1]
            forged = NoteSignature(
                real.name, real.key_id, real.signature[:8] + bytes(64)
            )
            db.execute(
                "INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)",
                (
                    int(note.text.split("\n")[1]),
                    Note(note.text, (note.signatures[0], forged)).format(),
                ),
            )
        forged_run = run(commands[6])

    # Assert
    assert [m.returncode for m in made] == [0, 0, 0], [m.stderr for m in made]
    policy = (tmp_path / "policy.txt").read_text().splitlines()
    assert sum(line.startswith("log lakeview.fedgov/0x") for line in policy) == 4
    assert policy[-2].startswith(f"witness civic {WITNESS_NAME}+")
    assert policy[-1] == "quorum civic"
    assert f"witness {WITNESS_NAME} on http://127.0.0.1:7380: 4 logs" in started
    assert published.returncode == 0, published.stdout + published.stderr
    assert published.stdout.count(f"cosigned by {WITNESS_NAME}") == 4
    assert shown.returncode == 0
    assert shown.stdout.count(f"# cosigned by {WITNESS_NAME}") == 4
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert all(log["witnessed_size"] == log["records"] > 0 for log in report["logs"])
    assert unwitnessed.returncode == 1
    assert "FAILED: [witness]" in unwitnessed.stderr
    assert "are not witnessed" in unwitnessed.stderr
    lenient_report = json.loads(lenient.stdout)
    assert lenient.returncode == 0
    assert lenient_report["ok"] is True
    assert {w["check"] for w in lenient_report["warnings"]} >= {"witness"}
    assert forged_run.returncode == 1
    label = store.relative_to(tmp_path)
    assert f"[witness] {label}: checkpoint {count}: note not verified" in (
        forged_run.stderr
    )
