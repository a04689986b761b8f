"""Ring-credential consultations through the portal, and the attacks they stop.

The browser's own code (run by node, as in ``test_votes.py``) makes the ballot
key, the roll key's request and the ring-signed ballot; the desk records the
key, the relayer sends the ballot, and ``fedgov vote tally --verify`` and
``fedgov vote check`` accept what it made. Then the attacks of issue 12: a
ballot the registrar casts without a recorded key, two ballots by one ballot
key, a tampered ring signature — each refused by the relayer, and each named
by both re-tallies (Python's and the browser's) when sent straight to the chain.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest
from eth_account import Account

from fedgov.cli import main
from ledger.voting import resident, ring
from ledger.voting._clock import advance_to
from ledger.voting.ballot import (
    commitment,
    credential_message,
    fresh_salt,
    ring_domain,
    sign_authorization,
    sign_key_request,
)
from ledger.voting.registrar import Registrar
from ledger.voting.ring_ballot import registered_keys, verify_ballot
from ledger.voting.roll import Roll
from ledger.voting.tally import retally
from tests.portal._county import roll_keys
from tests.portal._node import js
from tests.portal.conftest import client_for

if TYPE_CHECKING:
    from pathlib import Path

    from eth_account.signers.local import LocalAccount
    from starlette.testclient import TestClient

    from ledger.voting.consultation import ConsultationInfo
    from ledger.voting.resident import RollKey
    from tests.portal._county import County

pytestmark = pytest.mark.anvil

RING_SIZE = 2


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
        {name: key.address for name, key in keys.items()},
        folder=folder,
        ring_size=RING_SIZE,
    )
    desk = county.desk(roll, blind_rsa=False)
    client = client_for(county.settings(registrar_desk=desk))
    return number, keys, client


def _browser_key(
    client: TestClient, number: int, key: RollKey
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The browser's wallet and request; the desk records the key."""
    info = client.get(f"/api/consultations/{number}").json()
    made = js(
        {
            "op": "request_ballot_key",
            "scope": info["scope"],
            "roll_key": _roll_key_file(key),
        }
    )
    answer = _post(client, f"/api/consultations/{number}/credentials", made["request"])
    assert answer.status_code == 200, answer.text
    return made["wallet"], answer.json()


def _browser_ballot(
    client: TestClient, number: int, wallet: dict[str, Any], choice: int
) -> dict[str, Any]:
    events = client.get(f"/api/consultations/{number}/events").json()
    cast: dict[str, Any] = js(
        {
            "op": "cast_ballot",
            "wallet": wallet,
            "choice": choice,
            "keys": [e["ballot_key"] for e in events["issued"]],
            "ring_size": events["ring_size"],
        }
    )
    return cast


def _cli_key(
    county: County, info: ConsultationInfo, folder: Path, name: str, key: RollKey
) -> resident.Wallet:
    registrar = Registrar(
        county.consultation,
        account=county.registrar_account,
        roll=Roll.load(folder / "roll.json"),
    )
    wallet, request = resident.request_ballot_key(info, key)
    registrar.record(info, name, request)
    return wallet


def _commit_directly(
    county: County,
    info: ConsultationInfo,
    members: tuple[int, ...],
    signature: ring.RingSignature,
    sender: LocalAccount,
) -> str:
    """A ballot sent to the contract by ``sender``, past any relayer's checks."""
    voting = Account.create()
    ballot = commitment(info.scope, voting.address, 0, fresh_salt())
    county.consultation.commit_ring(
        info.consultation_id,
        voting_key=voting.address,
        commitment=ballot,
        ring=members,
        signature=signature,
        authorization=sign_authorization(info.scope, voting, ballot),
        sender=sender,
    )
    return str(voting.address)


def test_a_browser_ring_ballot_is_relayed_checked_and_counted_with_the_cli_s(
    county: County, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: alice uses the portal, bob the command line, carol the portal.
    number, keys, client = _consultation(county, tmp_path)
    contract = county.consultation
    info = contract.info(number)
    alice, answer = _browser_key(client, number, keys["alice"])
    bob = _cli_key(county, info, tmp_path, "bob", keys["bob"])
    carol, _ = _browser_key(client, number, keys["carol"])
    advance_to(county.chain, info.commit_start)

    # Execute: both browser ballots through the relayer, bob's directly; all reveal.
    casts = [_browser_ballot(client, number, w, c) for w, c in ((alice, 2), (carol, 1))]
    mined = [
        _post(client, f"/api/consultations/{number}/ballots", cast["ballot"])
        for cast in casts
    ]
    receipt = js(
        {
            "op": "receipt",
            "wallet": casts[0]["wallet"],
            "mined": mined[0].json(),
            "with_choice": True,
        }
    )
    bob, _ = resident.cast_ballot(contract, bob, info, 0, relayer=county.relayer)
    advance_to(county.chain, info.commit_end)
    revealed = [
        _post(
            client,
            f"/api/consultations/{number}/reveals",
            {
                "voting_key": cast["wallet"]["voting_address"],
                "choice": cast["wallet"]["choice"],
                "salt": cast["wallet"]["salt"],
            },
        )
        for cast in casts
    ]
    resident.reveal_ballot(contract, bob, relayer=county.relayer)
    advance_to(county.chain, info.reveal_end)
    contract.finalize(number, sender=county.relayer)
    (tmp_path / "alice.receipt").write_text(json.dumps(receipt))

    # Assert: each browser ballot names a ring of RING_SIZE recorded keys and
    # signs nothing the desk made; the command line checks the receipt and
    # counts all three; the browser's recount agrees with Python's.
    assert answer["blind_signature"] == ""
    assert [m.status_code for m in mined + revealed] == [200] * 4, [
        m.text for m in mined + revealed
    ]
    assert all(len(cast["ballot"]["ring"]) == RING_SIZE for cast in casts)
    chain = ["--rpc-url", county.rpc_url]
    assert main(["vote", "check", str(tmp_path / "alice.receipt"), *chain]) == 0
    tally = ["--contract", contract.address, "--id", str(number), "--verify"]
    assert main(["vote", "tally", *chain, *tally]) == 0
    printed = capsys.readouterr().out
    assert "counted as chosen: yes" in printed
    assert "tally (events):   {'yes': 1, 'no': 1, 'later': 1}" in printed
    events = client.get(f"/api/consultations/{number}/events").json()
    recount = js({"op": "retally", "events": events})
    python = retally(contract, number)
    assert recount["problems"] == []
    assert python.matches
    assert tuple(recount["tally"]) == python.tally == (1, 1, 1)


def test_the_desk_records_ballot_keys_only_where_they_belong(
    county: County, tmp_path: Path
) -> None:
    # Prepare: a ring consultation and a blind RSA one; the desk holds no
    # credential key.
    number, keys, client = _consultation(county, tmp_path)
    (tmp_path / "rsa").mkdir()
    rsa_number, _ = county.open_consultation(
        {name: key.address for name, key in keys.items()}, folder=tmp_path / "rsa"
    )
    ring_info = client.get(f"/api/consultations/{number}").json()
    rsa_info = client.get(f"/api/consultations/{rsa_number}").json()
    ballot_key = js(
        {
            "op": "request_ballot_key",
            "scope": ring_info["scope"],
            "roll_key": _roll_key_file(keys["alice"]),
        }
    )["request"]
    blinded = js(
        {
            "op": "request_credential",
            "scope": rsa_info["scope"],
            "modulus": rsa_info["modulus"],
            "roll_key": _roll_key_file(keys["alice"]),
        }
    )["request"]
    # Signed by alice's roll key, but 0x02 || 0 is no point of the curve.
    scope = county.consultation.info(number).scope
    off_curve = resident.BallotKeyRequest(
        scope=scope,
        ballot_key=b"\x02" + bytes(32),
        roll_key=keys["alice"].address,
        signature=sign_key_request(scope, keys["alice"].account, b"\x02" + bytes(32)),
    ).to_document()

    # Execute
    blind_here = _post(
        client,
        f"/api/consultations/{number}/credentials",
        {**blinded, "consultation_id": number},
    )
    no_key = _post(client, f"/api/consultations/{rsa_number}/credentials", blinded)
    bad_point = _post(client, f"/api/consultations/{number}/credentials", off_curve)
    recorded = _post(client, f"/api/consultations/{number}/credentials", ballot_key)

    # Assert
    assert blind_here.json()["error"] == (
        f"request: consultation {number} takes ballot-key requests (ring credentials)"
    )
    assert no_key.json()["error"] == (
        f"request: consultation {rsa_number} uses blind RSA credentials and this "
        "desk holds no credential key: hand the request to the registrar (fedgov "
        "vote issue)"
    )
    assert bad_point.json()["error"] == (
        "ballot_key: is not a compressed point of secp256k1"
    )
    assert recorded.status_code == 200, recorded.text


def test_a_ballot_the_registrar_signs_without_a_recorded_key_is_refused_and_named(
    county: County, tmp_path: Path
) -> None:
    # Prepare: two residents recorded keys; the registrar holds none of them,
    # so it signs with a key of its own over a ring it names by numbers.
    number, keys, client = _consultation(county, tmp_path)
    info = county.consultation.info(number)
    for name in ("alice", "bob"):
        _browser_key(client, number, keys[name])
    recorded = registered_keys(county.consultation.events(number).issued)
    advance_to(county.chain, info.commit_start)
    own = ring.BallotKeyPair.generate()
    voting = Account.create()
    message = credential_message(info.scope, voting.address)
    forged = ring.sign(ring_domain(info.scope), message, [recorded[0], own.public], own)
    ballot = commitment(info.scope, voting.address, 0, bytes(32))
    body = {
        "voting_key": voting.address,
        "commitment": ballot.hex(),
        "ring": [0, 1],
        "key_image": forged.key_image.hex(),
        "challenge": forged.challenge.to_bytes(32, "big").hex(),
        "responses": [s.to_bytes(32, "big").hex() for s in forged.responses],
        "authorization": sign_authorization(info.scope, voting, ballot).hex(),
    }
    nonce = county.chain.w3.eth.get_transaction_count(county.relayer.address)

    # Execute: through the portal's relayer, then straight to the contract.
    relayed = _post(client, f"/api/consultations/{number}/ballots", body)
    spent = county.chain.w3.eth.get_transaction_count(county.relayer.address) - nonce
    stuffed = _commit_directly(county, info, (0, 1), forged, county.registrar_account)

    # Assert: the relayer paid for nothing; the contract took the ballot (it
    # cannot verify ring signatures) and both re-tallies refuse to count it.
    assert relayed.status_code == 400
    assert relayed.json()["error"] == "ballot: its ring signature does not verify"
    assert spent == 0
    python = retally(county.consultation, number)
    named = [p for p in python.problems if stuffed in p]
    assert named == [
        f"ballot of {stuffed} (block {county.chain.block_number}): not counted: "
        "its ring signature does not verify"
    ]
    assert python.committed == 0
    events = client.get(f"/api/consultations/{number}/events").json()
    recount = js({"op": "retally", "events": events})
    assert named[0] in recount["problems"]
    assert recount["committed"] == 0


def test_two_ballots_by_one_ballot_key_count_once_and_the_second_is_named(
    county: County, tmp_path: Path
) -> None:
    # Prepare: alice's browser casts; then her ballot key signs a second ballot
    # for a fresh voting key.
    number, keys, client = _consultation(county, tmp_path)
    info = county.consultation.info(number)
    alice, _ = _browser_key(client, number, keys["alice"])
    _browser_key(client, number, keys["bob"])
    advance_to(county.chain, info.commit_start)
    first = _browser_ballot(client, number, alice, 0)
    assert (
        _post(
            client, f"/api/consultations/{number}/ballots", first["ballot"]
        ).status_code
        == 200
    )
    fresh = js(
        {
            "op": "request_ballot_key",
            "scope": _scope(info),
            "roll_key": _roll_key_file(keys["alice"]),
        }
    )
    again = {
        **alice,
        **{k: fresh["wallet"][k] for k in ("voting_key", "voting_address")},
    }
    second = _browser_ballot(client, number, again, 1)

    # Execute: the relayer is asked, then the ballot goes straight on chain.
    relayed = _post(client, f"/api/consultations/{number}/ballots", second["ballot"])
    body = second["ballot"]
    signature = ring.RingSignature(
        key_image=bytes.fromhex(body["key_image"]),
        challenge=int(body["challenge"], 16),
        responses=tuple(int(s, 16) for s in body["responses"]),
    )
    county.consultation.commit_ring(
        number,
        voting_key=body["voting_key"],
        commitment=bytes.fromhex(body["commitment"]),
        ring=tuple(body["ring"]),
        signature=signature,
        authorization=bytes.fromhex(body["authorization"]),
        sender=county.relayer,
    )

    # Assert: same key image; one ballot counted, the other named by both.
    assert body["key_image"] == first["ballot"]["key_image"]
    assert relayed.status_code == 400
    assert (
        relayed.json()["error"] == "ballot: this ballot key has already cast a ballot"
    )
    python = retally(county.consultation, number)
    expected = (
        f"ballot of {body['voting_key']} (block {county.chain.block_number}): not "
        "counted: a second ballot by one ballot key (its key image is the ballot of "
        f"{first['ballot']['voting_key']}'s)"
    )
    assert expected in python.problems
    assert python.committed == 1
    events = client.get(f"/api/consultations/{number}/events").json()
    recount = js({"op": "retally", "events": events})
    assert expected in recount["problems"]
    assert recount["committed"] == 1


def test_a_tampered_ring_signature_is_rejected_by_both_re_tallies(
    county: County, tmp_path: Path
) -> None:
    # Prepare: one honest browser ballot; then its events with a response altered.
    number, keys, client = _consultation(county, tmp_path)
    info = county.consultation.info(number)
    alice, _ = _browser_key(client, number, keys["alice"])
    _browser_key(client, number, keys["carol"])
    advance_to(county.chain, info.commit_start)
    cast = _browser_ballot(client, number, alice, 1)
    assert (
        _post(
            client, f"/api/consultations/{number}/ballots", cast["ballot"]
        ).status_code
        == 200
    )
    events = client.get(f"/api/consultations/{number}/events").json()
    tampered = json.loads(json.dumps(events))
    response = bytearray.fromhex(tampered["committed"][0]["responses"][0])
    response[-1] ^= 1
    tampered["committed"][0]["responses"][0] = response.hex()
    chain_events = county.consultation.events(number)
    (event,) = chain_events.committed
    recorded = registered_keys(chain_events.issued)
    altered = dataclasses.replace(
        event,
        args={
            **event.args,
            "responses": [bytes(response), *event.args["responses"][1:]],
        },
    )

    # Execute
    honest = js({"op": "retally", "events": events})
    recount = js({"op": "retally", "events": tampered})

    # Assert
    where = f"ballot of {event.args['votingKey']} (block {event.block_number})"
    assert honest["problems"] == []
    assert (
        f"{where}: not counted: its ring signature does not verify"
        in (recount["problems"])
    )
    assert recount["committed"] == 0
    assert verify_ballot(info.scope, recorded, event) is None
    assert verify_ballot(info.scope, recorded, altered) == (
        "its ring signature does not verify"
    )


def _scope(info: ConsultationInfo) -> dict[str, Any]:
    return {
        "chain_id": info.scope.chain_id,
        "contract": info.scope.contract,
        "consultation_id": info.consultation_id,
    }
