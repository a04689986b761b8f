"""Voting through the portal's API with the browser's own code (run by node).

What the page script does, step by step, goes through the same endpoints
here; the browser itself drives the page in ``test_browser.py``. A ballot made
this way is counted by ``fedgov vote tally --verify`` next to one cast with
the command line, and its receipt is the one ``fedgov vote check`` reads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from fedgov.cli import main
from ledger.voting import resident
from ledger.voting._clock import advance_to
from ledger.voting.registrar import Registrar
from ledger.voting.roll import Roll
from ledger.voting.tally import retally
from tests.portal._county import roll_keys
from tests.portal._node import js
from tests.portal.conftest import client_for

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.testclient import TestClient

    from ledger.voting.resident import RollKey
    from tests.portal._county import County

pytestmark = pytest.mark.anvil


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    """POST as the page script does: JSON, with the CSRF cookie's token."""
    if "fedgov-csrf" not in client.cookies:
        client.get("/")
    return client.post(
        path, json=body, headers={"X-CSRF-Token": client.cookies["fedgov-csrf"]}
    )


def _roll_key_file(key: RollKey) -> dict[str, str]:
    return {
        "format": "fedgov-roll-key-v1",
        "address": key.address,
        "private_key": key.private_key.hex(),
    }


def _consultation(
    county: County, folder: Path
) -> tuple[int, dict[str, RollKey], TestClient]:
    keys = roll_keys()
    number, roll = county.open_consultation(
        {name: key.address for name, key in keys.items()}, folder=folder
    )
    client = client_for(county.settings(registrar_desk=county.desk(roll)))
    return number, keys, client


def _browser_credential(
    client: TestClient, number: int, key: RollKey
) -> tuple[dict[str, Any], dict[str, Any]]:
    info = client.get(f"/api/consultations/{number}").json()
    made = js(
        {
            "op": "request_credential",
            "scope": info["scope"],
            "modulus": info["modulus"],
            "roll_key": _roll_key_file(key),
        }
    )
    answer = _post(client, f"/api/consultations/{number}/credentials", made["request"])
    assert answer.status_code == 200, answer.text
    response = answer.json()
    wallet = js(
        {
            "op": "accept_credential",
            "wallet": made["wallet"],
            "modulus": info["modulus"],
            "blind_signature": response["blind_signature"],
        }
    )
    return wallet, response


def test_a_browser_ballot_is_relayed_checked_and_counted_with_the_cli_s(
    county: County, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a consultation; alice uses the portal, bob the command line.
    number, keys, client = _consultation(county, tmp_path)
    contract = county.consultation
    info = contract.info(number)
    wallet, response = _browser_credential(client, number, keys["alice"])
    roll = Roll.load(tmp_path / "roll.json")
    registrar = Registrar(
        contract, account=county.registrar_account, roll=roll, key=county.credential_key
    )
    bob, request = resident.request_credential(info, keys["bob"])
    bob = resident.accept_credential(
        bob, info, registrar.issue(info, "bob", request).blind_signature
    )
    advance_to(county.chain, info.commit_start)

    # Execute: alice commits through the relayer, bob directly; both reveal.
    cast = js({"op": "cast_ballot", "wallet": wallet, "choice": 2})
    mined = _post(client, f"/api/consultations/{number}/ballots", cast["ballot"])
    assert mined.status_code == 200, mined.text
    receipt = js(
        {
            "op": "receipt",
            "wallet": cast["wallet"],
            "mined": mined.json(),
            "with_choice": True,
        }
    )
    bob, _ = resident.cast_ballot(contract, bob, info, 0, relayer=county.relayer)
    advance_to(county.chain, info.commit_end)
    reveal = {k: cast["wallet"][k] for k in ("choice", "salt")}
    revealed = _post(
        client,
        f"/api/consultations/{number}/reveals",
        {"voting_key": cast["wallet"]["voting_address"], **reveal},
    )
    assert revealed.status_code == 200, revealed.text
    resident.reveal_ballot(contract, bob, relayer=county.relayer)
    advance_to(county.chain, info.reveal_end)
    contract.finalize(number, sender=county.relayer)
    (tmp_path / "alice.receipt").write_text(json.dumps(receipt))

    # Assert: the command line checks alice's receipt and recounts both
    # ballots; the browser's recount agrees with Python's.
    assert response["roll_entry"] == roll.entry("alice").commitment.hex()
    checked = client.post(
        "/receipts",
        data={
            "receipt": json.dumps(receipt),
            "csrf_token": client.cookies["fedgov-csrf"],
        },
    )
    assert checked.status_code == 200, checked.text
    assert 'id="recorded">yes' in checked.text
    assert 'id="choice-matches">yes' in checked.text
    chain = ["--rpc-url", county.rpc_url]
    assert main(["vote", "check", str(tmp_path / "alice.receipt"), *chain]) == 0
    tally = ["--contract", contract.address, "--id", str(number), "--verify"]
    assert main(["vote", "tally", *chain, *tally]) == 0
    printed = capsys.readouterr().out
    assert "counted as chosen: yes" in printed
    assert "tally (events):   {'yes': 1, 'no': 0, 'later': 1}" in printed
    events = client.get(f"/api/consultations/{number}/events").json()
    recount = js({"op": "retally", "events": events})
    python = retally(contract, number)
    assert recount["problems"] == []
    assert python.matches
    assert tuple(recount["tally"]) == python.tally == (1, 0, 1)
    assert events["finalized_tally"] == [1, 0, 1]


def test_the_browser_recount_names_a_forged_event_as_python_does(
    county: County, tmp_path: Path
) -> None:
    # Prepare: one revealed ballot, then its events with the salt altered.
    number, keys, client = _consultation(county, tmp_path)
    info = county.consultation.info(number)
    wallet, _ = _browser_credential(client, number, keys["carol"])
    advance_to(county.chain, info.commit_start)
    cast = js({"op": "cast_ballot", "wallet": wallet, "choice": 1})
    assert (
        _post(
            client, f"/api/consultations/{number}/ballots", cast["ballot"]
        ).status_code
        == 200
    )
    advance_to(county.chain, info.commit_end)
    body = {
        "voting_key": cast["wallet"]["voting_address"],
        "choice": 1,
        "salt": cast["wallet"]["salt"],
    }
    assert (
        _post(client, f"/api/consultations/{number}/reveals", body).status_code == 200
    )
    events = client.get(f"/api/consultations/{number}/events").json()
    forged = json.loads(json.dumps(events))
    forged["revealed"][0]["salt"] = "00" * 32
    forged["issued"][0]["request_signature"] = "11" * 65

    # Execute
    honest = js({"op": "retally", "events": events})
    recount = js({"op": "retally", "events": forged})

    # Assert
    key, block = events["revealed"][0]["voting_key"], events["revealed"][0]["block"]
    assert honest["problems"] == []
    assert honest["tally"] == [0, 1, 0]
    assert (
        f"reveal of {key} (block {block}): choice and salt do not match the commitment"
        in (recount["problems"])
    )
    assert any(
        "its request is not signed by the roll key" in p for p in recount["problems"]
    )
    assert "tally: [0,0,0] from events, [0,1,0] in the contract" in recount["problems"]


def test_the_relayer_pays_for_nothing_the_contract_would_refuse(
    county: County, tmp_path: Path
) -> None:
    # Prepare
    number, keys, client = _consultation(county, tmp_path)
    info = county.consultation.info(number)
    wallet, _ = _browser_credential(client, number, keys["alice"])
    cast = js({"op": "cast_ballot", "wallet": wallet, "choice": 0})
    ballot = cast["ballot"]
    other = js(
        {"op": "cast_ballot", "wallet": {**wallet, "commitment": None}, "choice": 1}
    )
    nonce = county.chain.w3.eth.get_transaction_count(county.relayer.address)
    path = f"/api/consultations/{number}/ballots"

    # Execute
    early = _post(client, path, ballot)
    advance_to(county.chain, info.commit_start)
    swapped = _post(
        client, path, {**ballot, "commitment": other["ballot"]["commitment"]}
    )
    forged = _post(client, path, {**ballot, "credential": "00" * 256})
    short = _post(client, path, {**ballot, "authorization": "00"})
    spent = county.chain.w3.eth.get_transaction_count(county.relayer.address) - nonce
    first = _post(client, path, ballot)
    again = _post(client, path, other["ballot"])
    bad_reveal = _post(
        client,
        f"/api/consultations/{number}/reveals",
        {
            "voting_key": ballot["voting_key"],
            "choice": 0,
            "salt": cast["wallet"]["salt"],
        },
    )

    # Assert: each refusal names why, and nothing was sent before the good one.
    assert early.status_code == 400
    assert "commit window is not open" in early.json()["error"]
    assert swapped.json()["error"] == "ballot: ballot is not signed by its voting key"
    assert "credential does not verify" in forged.json()["error"]
    assert short.json()["error"] == "authorization: must be 65 bytes, got 1"
    assert spent == 0
    assert first.status_code == 200
    assert again.json()["error"] == "ballot: this voting key has already cast a ballot"
    assert "reveal window is not open" in bad_reveal.json()["error"]


def test_the_desk_issues_only_to_roll_keys_on_the_roll_once(
    county: County, tmp_path: Path
) -> None:
    # Prepare
    number, keys, client = _consultation(county, tmp_path)
    info = client.get(f"/api/consultations/{number}").json()
    outsider = roll_keys(("mallory",))["mallory"]
    path = f"/api/consultations/{number}/credentials"

    def request_of(key: RollKey, claimed: str | None = None) -> dict[str, Any]:
        made = js(
            {
                "op": "request_credential",
                "scope": info["scope"],
                "modulus": info["modulus"],
                "roll_key": _roll_key_file(key),
            }
        )
        request: dict[str, Any] = made["request"]
        if claimed is not None:
            request["roll_key"] = claimed
        return request

    # Execute
    stranger = _post(client, path, request_of(outsider))
    impostor = _post(client, path, request_of(outsider, keys["bob"].address))
    first = _post(client, path, request_of(keys["bob"]))
    second = _post(client, path, request_of(keys["bob"]))
    malformed = _post(client, path, {"format": "fedgov-credential-request-v2"})
    no_csrf = client.post(path, json=request_of(keys["carol"]))

    # Assert
    assert stranger.status_code == 400
    assert "is on no entry of the roll" in stranger.text
    assert impostor.status_code == 400
    assert impostor.json()["error"] == (
        f"signature: is not roll key {keys['bob'].address}'s signature"
    )
    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"] == (
        "request: this roll key's resident already holds a credential"
    )
    assert malformed.status_code == 400
    assert "malformed credential request" in malformed.text
    assert no_csrf.status_code == 403


def test_receipts_are_validated_and_a_tampered_one_is_rejected(
    county: County, tmp_path: Path
) -> None:
    # Prepare: a committed ballot and its receipt.
    number, keys, client = _consultation(county, tmp_path)
    info = county.consultation.info(number)
    wallet, _ = _browser_credential(client, number, keys["alice"])
    advance_to(county.chain, info.commit_start)
    cast = js({"op": "cast_ballot", "wallet": wallet, "choice": 0})
    mined = _post(client, f"/api/consultations/{number}/ballots", cast["ballot"]).json()
    receipt = js(
        {
            "op": "receipt",
            "wallet": cast["wallet"],
            "mined": mined,
            "with_choice": False,
        }
    )
    tampered = {**receipt, "commitment": "ab" * 32}
    csrf = client.cookies["fedgov-csrf"]

    def check(text: str, **extra: Any) -> Any:
        return client.post(
            "/receipts", data={"receipt": text, "csrf_token": csrf}, **extra
        )

    # Execute
    good = check(json.dumps(receipt))
    bad = check(json.dumps(tampered))
    upload = client.post(
        "/receipts",
        data={"csrf_token": csrf},
        files={
            "receipt_file": ("r.json", json.dumps(receipt).encode(), "application/json")
        },
    )
    not_json = check("{not json")
    wrong_kind = check(json.dumps({**receipt, "format": "fedgov-voting-wallet-v1"}))
    missing = check(
        json.dumps({k: v for k, v in receipt.items() if k != "block_number"})
    )
    huge = check(" " * 20_000 + json.dumps(receipt))
    empty = check("")
    no_csrf = client.post("/receipts", data={"receipt": json.dumps(receipt)})

    # Assert
    assert good.status_code == 200
    assert 'id="recorded">yes' in good.text
    assert "not revealed yet" not in good.text  # still in the commit window
    assert bad.status_code == 422
    assert 'id="recorded">NO' in bad.text
    assert "the contract holds a different commitment for this voting key" in bad.text
    assert upload.status_code == 200
    assert 'id="recorded">yes' in upload.text
    assert not_json.status_code == 400
    assert "receipt: not JSON" in not_json.text
    assert wrong_kind.status_code == 400
    assert "receipt: not a fedgov-ballot-receipt-v1 file" in wrong_kind.text
    assert missing.status_code == 400
    assert "malformed receipt" in missing.text
    assert huge.status_code == 400
    assert "exceeded maximum size of 16KB" in huge.text
    assert empty.status_code == 400
    assert "paste a receipt" in empty.text
    assert no_csrf.status_code == 403
