"""The auditor's JSON report is a stable, versioned interface: its keys are pinned.

A change that removes or renames a key must raise ``REPORT_VERSION`` and
update docs/audit-log.md ("The report"); this test fails until both happen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from auditor.report import (
    REPORT_FORMAT,
    REPORT_VERSION,
    AuditFinding,
    AuditReport,
    Check,
    LogSummary,
)

DOCS = Path(__file__).parents[2] / "docs" / "audit-log.md"

TOP = {
    "format",
    "version",
    "mode",
    "checks",
    "ok",
    "records",
    "new_records",
    "rounds",
    "jobs",
    "queries",
    "listed_logs",
    "only",
    "not_audited",
    "open_departments",
    "logs",
    "failures",
    "warnings",
}
LOG = {
    "label",
    "actor",
    "role",
    "department",
    "records",
    "signed_heads",
    "anchors",
    "anchored_size",
    "witnessed_size",
    "new_records",
    "verified_from",
    "consistency_proof",
}
FINDING = {"check", "log", "message", "index", "block", "text"}


def _report() -> AuditReport:
    log = LogSummary(
        label="state/coordinator/audit-0x….db",
        actor="0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
        role="coordinator",
        department="",
        records=12,
        signed_heads=3,
        anchors=2,
        anchored_size=10,
        new_records=2,
        verified_from=8,
        consistency_proof=("ab" * 32,),
    )
    finding = AuditFinding(
        Check.ANCHOR, log.label, "records [10, 12) are not anchored", 10
    )
    return AuditReport(
        logs=(log,),
        failures=(finding,),
        warnings=(),
        jobs=("job",),
        rounds=1,
        mode="incremental",
        checks=("integrity", "anchor"),
    )


def test_the_report_keys_are_pinned_and_json_serialisable() -> None:
    data = json.loads(json.dumps(_report().to_json()))

    assert set(data) == TOP
    assert (
        (data["format"], data["version"])
        == (REPORT_FORMAT, REPORT_VERSION)
        == (
            "fedgov-audit-report",
            1,
        )
    )
    assert set(data["logs"][0]) == LOG
    assert set(data["failures"][0]) == FINDING
    assert data["new_records"] == 2
    assert data["logs"][0]["consistency_proof"] == ["ab" * 32]
    assert data["failures"][0]["text"].startswith("[anchor] ")


def test_the_documented_schema_names_every_key() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### The report (`--json`)") :]
    section = section[: section.index("\n## ")]
    documented = set(re.findall(r"`([a-z_]+)`", section))

    assert documented >= TOP
    assert documented >= LOG
    assert documented >= FINDING
    assert f"version {REPORT_VERSION}" in section
