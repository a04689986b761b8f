"""``fedgov audit verify|export`` against a real JSON-RPC chain (anvil)."""

from __future__ import annotations

import json
import shutil
import warnings
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from fedgov.files import write_json_atomic
from ledger.chain import AnvilProcess, Chain
from ledger.keys import PlaintextKeyWarning
from ledger.service import HostedLog, LogServer
from ledger.store import LogStore
from ledger.transport import InsecureTransportWarning
from tests.audit_federation import run_job, small_job
from tests.audit_fixtures import harness
from tests.chain_fixtures import requires_anvil

if TYPE_CHECKING:
    from pathlib import Path


def test_verify_without_logs_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Act
    code = main(
        [
            "audit",
            "verify",
            "--rpc",
            "http://127.0.0.1:9",
            "--registry",
            "0x" + "ab" * 20,
        ]
    )

    # Assert
    assert code == 1
    assert "give --log, --state-dir or --service" in capsys.readouterr().err


def test_export_needs_a_state_folder_with_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Act
    code = main(
        ["audit", "export", "--state-dir", str(tmp_path), "--out", str(tmp_path)]
    )

    # Assert
    assert code == 1
    assert "no actor log under" in capsys.readouterr().err


@pytest.mark.anvil
@requires_anvil
def test_verify_and_export_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    with AnvilProcess() as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlaintextKeyWarning)
            for env in harness(chain, tmp_path):
                result = run_job(env, small_job(), tmp_path / "run")
        record = tmp_path / "run" / "run_record.json"
        write_json_atomic(record, result.record)
        common = [
            "audit",
            "verify",
            "--rpc",
            anvil.url,
            "--registry",
            env.registry.address,
            "--roles",
            env.roles.address,
            "--run-record",
            str(record),
        ]

        # Act
        exported = main(
            [
                "audit",
                "export",
                "--state-dir",
                str(tmp_path / "state"),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        exports = sorted((tmp_path / "x").glob("*.jsonl"))
        honest = main([*common, *(a for p in exports for a in ("--log", str(p)))])
        honest_out = capsys.readouterr().out
        from_state = main([*common, "--state-dir", str(tmp_path / "state"), "--json"])
        as_json = json.loads(capsys.readouterr().out)
        stores = [LogStore(path) for path in env.log_paths()]
        with pytest.warns(InsecureTransportWarning):
            server = LogServer([HostedLog(store) for store in stores], insecure=True)
        ids = [a for store in stores for a in ("--log-id", "0x" + store.log_id.hex())]
        with server, pytest.warns(InsecureTransportWarning):
            served = main(
                [*common, "--service", server.target, "--service-insecure", *ids]
            )
        capsys.readouterr()
        withheld = tmp_path / "withheld"
        shutil.copytree(tmp_path / "state", withheld)
        for log in (withheld / "coordinator").glob("audit-0x*.db*"):
            log.unlink()
        without_coordinator = main([*common, "--state-dir", str(withheld)])
        without_err = capsys.readouterr().err
        narrowed = main(
            [
                *common[:-2],  # the run record is the coordinator's
                "--state-dir",
                str(withheld),
                "--only",
                "dept-0",
                "--only",
                "dept-1",
            ]
        )
        narrowed_out = capsys.readouterr().out
        lines = exports[1].read_text().splitlines()
        lines[7] = lines[7].replace('"record_count":1000', '"record_count":999')
        exports[1].write_text("\n".join(lines) + "\n")
        tampered = main([*common, *(a for p in exports for a in ("--log", str(p)))])
        tampered_err = capsys.readouterr().err

    # Assert
    assert (exported, honest, from_state, served) == (0, 0, 0, 0)
    assert len(exports) == 4
    assert "audit OK: 4 logs, 40 records, 2 rounds of 1 job(s)" in honest_out
    assert as_json["ok"] is True
    assert as_json["records"] == 40
    assert without_coordinator == 1
    assert "FAILED: [coverage] audit, anchor in block" in without_err
    assert "the AnchorRegistry lists log 0x" in without_err
    assert "coordinator" in without_err
    assert narrowed == 0
    assert "narrowed with --only dept-0 dept-1: 2 log(s)" in narrowed_out
    assert tampered == 1
    assert (
        f"FAILED: [integrity] {exports[1]}, record 5: records [5, 8) do not hash"
        in (tampered_err)
    )


@pytest.mark.parametrize("flag", ["--registry", "--roles"])
def test_an_address_that_is_not_one_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    addresses = {"--registry": "0x" + "ab" * 20, flag: "0xnotanaddress"}
    code = main(
        [
            "audit",
            "verify",
            "--rpc",
            "http://127.0.0.1:9",
            *(part for pair in addresses.items() for part in pair),
            "--state-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{flag}: must be a 0x-prefixed 20-byte hex address" in err
    assert "Traceback" not in err
