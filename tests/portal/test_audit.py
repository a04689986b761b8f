"""The auditors' page: logs, a re-run of ``fedgov audit verify``, downloads."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedgov.cli import main
from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import Cosigner
from ledger.export import read_export
from ledger.note import NoteSigner
from ledger.store import LogStore
from tests.portal._county import copy_state
from tests.portal.conftest import client_for

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.testclient import TestClient

    from tests.portal._county import County

pytestmark = pytest.mark.anvil


def _rerun(client: TestClient, token: str) -> dict[str, Any]:
    """Start an audit with the bearer token and wait for its report."""
    started = client.post(
        "/audit/verify",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if client.app.state.portal.audits.running() is None:  # type: ignore[attr-defined]
            report = client.get("/audit/report.json")
            if report.status_code == 200:
                answer: dict[str, Any] = report.json()
                return answer
        time.sleep(0.2)
    raise AssertionError("the audit did not finish")


def test_the_audit_re_runs_and_passes_on_an_honest_county(
    county: County, tmp_path: Path
) -> None:
    # Prepare
    client = client_for(county.settings(data_dir=tmp_path / "data"))
    before = client.get("/audit")

    # Execute
    stored = _rerun(client, county.auditor_token)
    page = client.get("/audit")

    # Assert: the same report `fedgov audit verify --json` prints.
    assert "No audit has run from this portal yet" in before.text
    assert stored["format"] == "fedgov-portal-audit-v1"
    assert stored["by"] == "ada"
    report = stored["report"]
    assert report["ok"]
    assert report["failures"] == []
    assert (report["rounds"], report["queries"], len(report["logs"])) == (2, 1, 7)
    assert '<span class="badge good">PASSED</span>' in page.text
    assert page.text.count('<span class="badge good">match</span>') == 7


def test_a_tampered_log_fails_the_audit_and_its_export_shows_why(
    county: County, tmp_path: Path
) -> None:
    # Prepare: a department rewrote one of its records after anchoring.
    state = copy_state(county, tmp_path / "state")
    log = next((state / "departments" / "health-site-2").glob("audit-0x*.db"))
    with sqlite3.connect(log) as db:
        db.execute("DROP TRIGGER records_no_update")
        (data,) = db.execute("SELECT data FROM records WHERE idx = 1").fetchone()
        db.execute(
            "UPDATE records SET data = ? WHERE idx = 1",
            (data.replace(b'"record_count":', b'"record_count":1', 1),),
        )
    client = client_for(
        county.settings(state_dirs=(state,), data_dir=tmp_path / "data")
    )
    portal = client.app.state.portal  # type: ignore[attr-defined]
    portal.county.refresh(force=True)
    log_id = next(
        v.log_id for v in portal.county.logs() if v.department == "health-site-2"
    )

    # Execute
    stored = _rerun(client, county.auditor_token)
    page = client.get("/audit")
    export = client.get(f"/audit/logs/{log_id}.jsonl")
    (tmp_path / "export.jsonl").write_bytes(export.content)

    # Assert: the page says FAILED and names the record; the export holds the
    # edited record as the file has it, and the command line fails it too.
    report = stored["report"]
    assert not report["ok"]
    first = report["failures"][0]
    assert first["check"] == "integrity"
    assert first["index"] == 1
    assert '<span class="badge bad">FAILED</span>' in page.text
    assert "record 1" in page.text
    assert "health-site-2" in page.text
    assert first["log"].startswith("departments/health-site-2/audit-0x")
    assert str(tmp_path) not in page.text  # logs named within the state folder
    assert export.status_code == 200
    assert (
        'attachment; filename="health-site-2-audit-0x'
        in export.headers["content-disposition"]
    )
    assert (
        read_export(tmp_path / "export.jsonl").records[1].count(b'"record_count":1')
        == 1
    )
    argv = ["audit", "verify", "--rpc", county.rpc_url, "--registry", county.registry]
    assert main([*argv, "--log", str(tmp_path / "export.jsonl"), "--no-epsilon"]) == 1


def test_no_report_yet_and_unknown_logs_answer_404(
    county: County, tmp_path: Path
) -> None:
    # Prepare
    client = client_for(county.settings(data_dir=tmp_path / "data"))

    # Execute
    report = client.get("/audit/report.json")
    export = client.get(f"/audit/logs/{'00' * 32}.jsonl")

    # Assert
    assert report.status_code == 404
    assert report.json() == {"error": "no audit has run yet"}
    assert export.status_code == 404


def test_the_report_download_is_the_stored_json(county: County, tmp_path: Path) -> None:
    # Prepare
    client = client_for(county.settings(data_dir=tmp_path / "data"))
    stored = _rerun(client, county.auditor_token)

    # Execute
    download = client.get("/audit/report.json")

    # Assert
    assert (
        download.headers["content-disposition"]
        == 'attachment; filename="audit-report.json"'
    )
    assert json.loads(download.content) == stored


def test_a_logs_checkpoint_and_its_cosigners_are_shown_and_exported(
    county: County, tmp_path: Path
) -> None:
    # Prepare: every log publishes checkpoints of its signed heads by itself;
    # health-site-1's newest head is also published cosigned by one witness.
    state = copy_state(county, tmp_path / "state")
    log = next((state / "departments" / "health-site-1").glob("audit-0x*.db"))
    with LogStore(log) as store:
        head = store.latest_tree_head()
        assert head is not None
        published_before = len(store.checkpoints())
        origin = origin_for("lakeview", store.actor, store.log_name)
        note = sign_checkpoint(
            Checkpoint(origin, head.head.tree_size, head.head.root_hash),
            NoteSigner(origin, Ed25519PrivateKey.generate()),
        )
        witness = Cosigner(
            "witness.lakeview.example/civic", Ed25519PrivateKey.generate()
        )
        store.add_checkpoint(
            note.with_signatures([witness.cosign(note.text, 1_764_000_000)])
        )
        published = store.checkpoints()
    client = client_for(
        county.settings(state_dirs=(state,), data_dir=tmp_path / "data")
    )
    portal = client.app.state.portal  # type: ignore[attr-defined]
    portal.county.refresh(force=True)
    views = {v.department or v.role: v for v in portal.county.logs()}

    # Execute
    page = client.get("/audit")
    export = client.get(f"/audit/logs/{views['health-site-1'].log_id}.jsonl")
    (tmp_path / "export.jsonl").write_bytes(export.content)

    # Assert
    cosigned = views["health-site-1"]
    assert (cosigned.checkpoint_size, cosigned.checkpoints) == (
        head.head.tree_size,
        published_before + 1,
    )
    assert cosigned.cosigners == ("witness.lakeview.example/civic",)
    assert views["health-site-2"].checkpoint_size is not None
    assert views["health-site-2"].cosigners == ()
    assert (
        f"checkpoint at size {head.head.tree_size}, cosigned by "
        "witness.lakeview.example/civic" in page.text
    )
    assert page.text.count('<div class="checkpoint">') == sum(
        1 for view in views.values() if view.checkpoint_size is not None
    )
    assert read_export(tmp_path / "export.jsonl").checkpoints == tuple(published)
