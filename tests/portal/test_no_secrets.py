"""No page, download or API answer of a populated county shows a secret or a record.

The crawl covers every page and API route of a county that trained, answered
a query and is holding a consultation (a resident has asked for a credential
and committed a ballot through the portal, not yet revealed), signed in as an
auditor after an audit ran. It looks for every key the county holds (audit
keys, at-rest keys, the registrar's credential key, the accounts' keys, the
auditor token), the resident's secrets (roll key, voting key, blind inverse,
salt), the roll's salts, and the department's sensitive and identifying
column values.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING, Any

import pytest

from department_nodes.analytics import department_records
from fedgov.data import ColumnRole, get_dataset
from ledger.voting._clock import advance_to
from ledger.voting.roll import Roll
from tests.portal._county import JOB_ID, QUERY_ID, roll_keys
from tests.portal._node import js
from tests.portal.conftest import client_for

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.testclient import TestClient

    from tests.portal._county import County

pytestmark = pytest.mark.anvil


def _forms(secret: str) -> set[str]:
    """The ways a hex or text secret could be written on a page."""
    forms = {secret}
    if re.fullmatch(r"(0x)?[0-9a-fA-F]+", secret) and len(secret) >= 16:
        body = secret.removeprefix("0x").lower()
        raw = bytes.fromhex(body if len(body) % 2 == 0 else "0" + body)
        forms |= {
            body,
            body.upper(),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        }
    return {f for f in forms if len(f) >= 16}


def _record_values(state_dir: Path) -> set[str]:
    """Sensitive and identifying values of a department's records, as text
    (read through a vault under ``state_dir``, as the department reads them)."""
    schema = get_dataset("randhie").schema
    records = department_records(
        "randhie", "health-site-1", seed=0, state_dir=state_dir
    )
    values: set[str] = set()
    for column in schema.columns:
        if column.name not in records.columns:
            continue
        series = records[column.name].dropna()
        if ColumnRole.DIRECT_IDENTIFIER in column.roles:
            values |= {str(int(v)) for v in series if int(v) >= 10_000}
        elif ColumnRole.SENSITIVE in column.roles:
            values |= {repr(float(v)) for v in series if float(v) != int(float(v))}
    return values


def _leaks(body: str, secrets: dict[str, str], values: set[str]) -> list[str]:
    """What of ``secrets`` and ``values`` ``body`` shows."""
    found = [
        name
        for name, secret in secrets.items()
        if any(f in body for f in _forms(secret))
    ]
    if "private_key" in body or "PRIVATE KEY" in body:
        found.append("a private key field")
    found += [
        f"record value {v}"
        for v in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", body)
        if v in values
    ]
    return found


def _crawl(client: TestClient, county: County, consultation: int) -> dict[str, str]:
    bodies: dict[str, str] = {}
    portal = client.app.state.portal  # type: ignore[attr-defined]
    portal.county.refresh(force=True)
    log_ids = [log.log_id for log in portal.county.logs()]
    paths = [
        "/",
        "/consultations",
        f"/consultations/{consultation}",
        f"/consultations/{consultation}/vote",
        "/receipts",
        "/register",
        f"/register/entry?kind=training&id={JOB_ID}",
        f"/register/entry?kind=query&id={QUERY_ID}",
        "/budgets",
        "/jobs",
        f"/jobs/entry?id={JOB_ID}",
        "/audit",
        "/audit/report.json",
        "/signin",
        "/api/register",
        f"/api/register/entry?kind=training&id={JOB_ID}",
        f"/api/register/entry?kind=query&id={QUERY_ID}",
        "/api/budgets",
        f"/api/jobs/progress?id={JOB_ID}",
        f"/api/consultations/{consultation}",
        f"/api/consultations/{consultation}/events",
        "/no-such-page",
        "/register?department=<x>",
        *(f"/audit/logs/{log_id}.jsonl" for log_id in log_ids),
    ]
    for path in paths:
        answer = client.get(path)
        assert answer.status_code in (200, 400, 404), (path, answer.status_code)
        bodies[path] = answer.text
    return bodies


def test_nothing_secret_and_no_record_value_reaches_a_response(
    county: County, tmp_path: Path
) -> None:
    # Prepare: a consultation with a credential issued and a ballot committed.
    keys = roll_keys()
    number, roll_path = county.open_consultation(
        {name: key.address for name, key in keys.items()}, folder=tmp_path
    )
    client = client_for(
        county.settings(registrar_desk=county.desk(roll_path), data_dir=tmp_path / "d")
    )
    client.get("/")
    csrf = {"X-CSRF-Token": client.cookies["fedgov-csrf"]}
    info = client.get(f"/api/consultations/{number}").json()
    alice = keys["alice"]
    made = js(
        {
            "op": "request_credential",
            "scope": info["scope"],
            "modulus": info["modulus"],
            "roll_key": {
                "format": "fedgov-roll-key-v1",
                "address": alice.address,
                "private_key": alice.private_key.hex(),
            },
        }
    )
    answer = client.post(
        f"/api/consultations/{number}/credentials", json=made["request"], headers=csrf
    ).json()
    wallet = js(
        {
            "op": "accept_credential",
            "wallet": made["wallet"],
            "modulus": info["modulus"],
            "blind_signature": answer["blind_signature"],
        }
    )
    advance_to(county.chain, info["commit_start"])
    cast: dict[str, Any] = js({"op": "cast_ballot", "wallet": wallet, "choice": 1})
    mined = client.post(
        f"/api/consultations/{number}/ballots", json=cast["ballot"], headers=csrf
    ).json()
    receipt = js(
        {
            "op": "receipt",
            "wallet": cast["wallet"],
            "mined": mined,
            "with_choice": False,
        }
    )
    checked = client.post(
        "/receipts",
        data={"receipt": json.dumps(receipt), "csrf_token": csrf["X-CSRF-Token"]},
    )
    client.post(
        "/audit/verify",
        headers={
            "Authorization": f"Bearer {county.auditor_token}",
            "Accept": "application/json",
        },
    )
    while client.app.state.portal.audits.running() is not None:  # type: ignore[attr-defined]
        time.sleep(0.2)
    client.post(
        "/signin",
        data={"csrf_token": csrf["X-CSRF-Token"], "token": county.auditor_token},
    )
    secrets = dict(county.secrets)
    secrets |= {
        f"roll key of {name}": key.private_key.hex() for name, key in keys.items()
    }
    secrets |= {
        f"roll salt of {entry.resident}": entry.salt.hex()
        for entry in Roll.load(roll_path).entries
        if entry.resident != "alice"  # alice's own answer carries hers, to her
    }
    secrets |= {
        "voting key": cast["wallet"]["voting_key"],
        "blind inverse": made["wallet"]["inverse"],
        "ballot salt (before the reveal)": cast["wallet"]["salt"],
        "session key": client.app.state.portal.auditors._key.hex(),  # type: ignore[attr-defined]
    }
    values = _record_values(tmp_path / "reader")

    # Execute
    bodies = _crawl(client, county, number)
    bodies["POST /receipts"] = checked.text

    # Assert: the scan finds what is planted, and nothing in the responses.
    assert len(values) > 1_000
    assert len(secrets) > 20
    planted = f"<td>{min(values)}</td> 0x{secrets['voting key'].upper()}"
    assert len(_leaks(planted, secrets, values)) == 2
    assert 'id="recorded">yes' in checked.text
    assert "auditor <strong>ada</strong>" in bodies["/audit"]
    leaks = {where: _leaks(body, secrets, values) for where, body in bodies.items()}
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}
