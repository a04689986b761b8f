"""The browser's ballot cryptography against the Python implementation, both ways.

Python's values are fixed vectors for the JavaScript (``web/src/lib``), and
what the JavaScript makes is read and checked by Python: the credential
message, the commitment, both EIP-712 signatures (RFC 6979 makes them
byte-identical), RFC 9474 blinding and finalization, the voting files, and
RFC 9162 inclusion proofs (every transparency-dev/merkle vector).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from Crypto.Hash import SHA256
from Crypto.Signature import pss
from eth_account import Account
from eth_utils.crypto import keccak

from ledger.merkle import MerkleTree, leaf_hash
from ledger.voting import blind_rsa
from ledger.voting.ballot import (
    BallotScope,
    authorization_signer,
    commitment,
    credential_message,
    request_signer,
    sign_authorization,
    sign_request,
)
from ledger.voting.receipt import Receipt
from ledger.voting.registrar import generate_credential_key
from ledger.voting.resident import CredentialRequest, RollKey, Wallet
from ledger.voting.roll import entry_commitment
from tests.portal._node import js, run_js

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

SCOPE = BallotScope(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 7)
SCOPE_FIELDS = {"chain_id": 31337, "contract": SCOPE.contract, "consultation_id": 7}
# Fixed keys and salts: the vectors must not change from run to run.
VOTING_KEY = Account.from_key(
    bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe512961708279f8b1a3b5b0d6c4f0a1")
)
ROLL_KEY = RollKey(
    bytes.fromhex("0e1a5cb3a3e3e3a2e9c3c7d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1")
)
SALTS = [bytes([i]) * 32 for i in (0, 7, 255)]
RFC9162 = Path(__file__).parents[1] / "ledger" / "data" / "rfc9162" / "inclusion"


@pytest.fixture(scope="module")
def credential_key() -> RsaKey:
    return generate_credential_key()


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_credential_messages_and_commitments_match_python() -> None:
    # Prepare
    cases = [(choice, salt) for choice in (0, 1, 15) for salt in SALTS]

    # Execute
    results = run_js(
        {
            "op": "credential_message",
            "scope": SCOPE_FIELDS,
            "voting_key": VOTING_KEY.address,
        },
        *(
            {
                "op": "commitment",
                "scope": SCOPE_FIELDS,
                "voting_key": VOTING_KEY.address,
                "choice": choice,
                "salt": salt.hex(),
            }
            for choice, salt in cases
        ),
    )

    # Assert
    assert results[0]["ok"] == credential_message(SCOPE, VOTING_KEY.address).hex()
    assert [r["ok"] for r in results[1:]] == [
        commitment(SCOPE, VOTING_KEY.address, choice, salt).hex()
        for choice, salt in cases
    ]


def test_eip712_signatures_are_byte_identical_to_eth_account() -> None:
    # Prepare
    blinded = bytes(range(256))
    ballot = commitment(SCOPE, VOTING_KEY.address, 1, SALTS[1])

    # Execute
    request, authorization = run_js(
        {
            "op": "sign_request",
            "scope": SCOPE_FIELDS,
            "roll_key": ROLL_KEY.private_key.hex(),
            "blinded_message": blinded.hex(),
        },
        {
            "op": "sign_ballot",
            "scope": SCOPE_FIELDS,
            "voting_key": bytes(VOTING_KEY.key).hex(),
            "commitment": ballot.hex(),
        },
    )

    # Assert: deterministic (RFC 6979) signatures, so the bytes agree exactly.
    assert request["ok"] == sign_request(SCOPE, ROLL_KEY.account, blinded).hex()
    assert authorization["ok"] == sign_authorization(SCOPE, VOTING_KEY, ballot).hex()
    assert request_signer(SCOPE, keccak(blinded), bytes.fromhex(request["ok"])) == (
        ROLL_KEY.address
    )


def test_javascript_recovers_the_signer_python_made() -> None:
    # Prepare
    blinded = bytes(range(256))
    signature = sign_request(SCOPE, ROLL_KEY.account, blinded)

    # Execute
    signer = js(
        {
            "op": "request_signer",
            "scope": SCOPE_FIELDS,
            "blinded_message_hash": keccak(blinded).hex(),
            "signature": signature.hex(),
        }
    )

    # Assert
    assert signer == ROLL_KEY.address


def test_roll_entries_match_python() -> None:
    # Execute
    entries = run_js(
        *(
            {"op": "entry_commitment", "resident": name, "salt": salt.hex()}
            for name in ("alice", "Zoë Ünlü", "resident 42")
            for salt in SALTS
        )
    )

    # Assert
    assert [e["ok"] for e in entries] == [
        entry_commitment(name, salt).hex()
        for name in ("alice", "Zoë Ünlü", "resident 42")
        for salt in SALTS
    ]


def test_a_browser_credential_is_the_command_line_s(
    credential_key: RsaKey, tmp_path: Path
) -> None:
    # Prepare
    modulus = credential_key.n.to_bytes(256, "big").hex()
    roll_key = {
        "format": "fedgov-roll-key-v1",
        "address": ROLL_KEY.address,
        "private_key": ROLL_KEY.private_key.hex(),
    }

    # Execute: the browser asks, the registrar (Python) blind-signs, the
    # browser unblinds and verifies.
    made = js(
        {
            "op": "request_credential",
            "scope": SCOPE_FIELDS,
            "modulus": modulus,
            "roll_key": roll_key,
        }
    )
    request = CredentialRequest.load(_write(tmp_path / "request.json", made["request"]))
    blind_signature = blind_rsa.blind_sign(credential_key, request.blinded_message)
    accepted = js(
        {
            "op": "accept_credential",
            "wallet": made["wallet"],
            "modulus": modulus,
            "blind_signature": blind_signature.hex(),
        }
    )

    # Assert: the request and the wallet are fedgov vote's files, the
    # credential verifies with fedgov's verifier and pycryptodome's.
    assert request.scope == SCOPE
    assert request.signer == ROLL_KEY.address
    wallet = Wallet.load(_write(tmp_path / "wallet.json", accepted))
    assert wallet.inverse is None
    assert wallet.credential is not None
    assert blind_rsa.verify(
        credential_key.public_key(), wallet.prepared_message, wallet.credential
    )
    verifier = pss.new(credential_key.public_key(), salt_bytes=32)
    verifier.verify(SHA256.new(wallet.prepared_message.prepared), wallet.credential)


def test_a_browser_ballot_is_what_the_contract_and_check_expect(
    credential_key: RsaKey, tmp_path: Path
) -> None:
    # Prepare: a Python wallet holding a credential.
    voting = Account.create()
    message = blind_rsa.prepare(credential_message(SCOPE, voting.address))
    blinding = blind_rsa.blind(credential_key.public_key(), message)
    credential = blind_rsa.finalize(
        credential_key.public_key(),
        message,
        blind_rsa.blind_sign(credential_key, blinding.blinded_message),
        blinding.inverse,
    )
    wallet = Wallet(
        scope=SCOPE,
        voting_key=bytes(voting.key),
        message_prefix=message.prefix,
        blinded_message=blinding.blinded_message,
        inverse=None,
        credential=credential,
    )
    wallet.save(tmp_path / "python.wallet")
    document = json.loads((tmp_path / "python.wallet").read_text())

    # Execute: the browser casts it, then writes the receipt.
    cast = js({"op": "cast_ballot", "wallet": document, "choice": 2})
    mined = {"transaction_hash": "ab" * 32, "block_number": 99}
    receipt = js(
        {"op": "receipt", "wallet": cast["wallet"], "mined": mined, "with_choice": True}
    )

    # Assert
    ballot = cast["ballot"]
    salt = bytes.fromhex(cast["wallet"]["salt"])
    assert ballot["commitment"] == commitment(SCOPE, voting.address, 2, salt).hex()
    assert (
        authorization_signer(
            SCOPE,
            voting.address,
            bytes.fromhex(ballot["commitment"]),
            bytes.fromhex(ballot["authorization"]),
        )
        == voting.address
    )
    assert (ballot["credential"], ballot["message_prefix"]) == (
        credential.hex(),
        message.prefix.hex(),
    )
    loaded = Receipt.load(_write(tmp_path / "receipt.json", receipt))
    assert (loaded.scope, loaded.voting_key, loaded.block_number) == (
        SCOPE,
        voting.address,
        99,
    )
    assert (loaded.choice, loaded.salt) == (2, salt)
    assert Wallet.load(_write(tmp_path / "cast.wallet", cast["wallet"])).commitment == (
        bytes.fromhex(ballot["commitment"])
    )


def test_a_wrong_answer_or_a_wrong_key_file_is_refused(credential_key: RsaKey) -> None:
    # Prepare
    modulus = credential_key.n.to_bytes(256, "big").hex()
    roll_key = {
        "format": "fedgov-roll-key-v1",
        "address": Account.create().address,
        "private_key": ROLL_KEY.private_key.hex(),
    }
    good_key = {**roll_key, "address": ROLL_KEY.address}
    made = js(
        {
            "op": "request_credential",
            "scope": SCOPE_FIELDS,
            "modulus": modulus,
            "roll_key": good_key,
        }
    )
    answer = blind_rsa.blind_sign(
        credential_key, bytes.fromhex(made["request"]["blinded_message"])
    )
    tampered = bytes([answer[0] ^ 1]) + answer[1:]

    # Execute
    wrong_key, wrong_answer = run_js(
        {"op": "roll_key", "document": roll_key},
        {
            "op": "accept_credential",
            "wallet": made["wallet"],
            "modulus": modulus,
            "blind_signature": tampered.hex(),
        },
    )

    # Assert
    assert "the key is" in wrong_key["error"]
    assert wrong_answer["error"] == "invalid signature"


def test_new_roll_keys_are_fedgov_vote_enroll_files(tmp_path: Path) -> None:
    # Execute
    document = js({"op": "new_roll_key"})

    # Assert
    key = RollKey.load(_write(tmp_path / "alice.key", document))
    assert key.address == document["address"]


def test_every_rfc9162_inclusion_vector() -> None:
    # Prepare
    cases = sorted(RFC9162.rglob("*.json"))
    vectors = [json.loads(path.read_text()) for path in cases]

    def b64hex(value: str) -> str:
        return base64.b64decode(value).hex()

    # Execute
    results = run_js(
        *(
            {
                "op": "verify_inclusion",
                "index": case["leafIdx"],
                "size": case["treeSize"],
                "leaf_hash": b64hex(case["leafHash"]),
                "proof": [b64hex(p) for p in case["proof"] or []],
                "root": b64hex(case["root"]),
            }
            for case in vectors
        )
    )

    # Assert: accepted exactly when the vector wants it, and never an exception.
    assert len(cases) == 98
    assert [r.get("ok") for r in results] == [not case["wantErr"] for case in vectors]


def test_proofs_of_the_python_tree_verify_in_javascript() -> None:
    # Prepare
    records = [f'{{"record":{i}}}'.encode() for i in range(37)]
    tree = MerkleTree(leaf_hash(r) for r in records)
    picks = [(0, 37), (36, 37), (17, 37), (5, 6), (31, 32)]

    # Execute
    results = run_js(
        *(
            {
                "op": "verify_inclusion",
                "index": index,
                "size": size,
                "leaf_hash": js({"op": "leaf_hash", "data": records[index].hex()}),
                "proof": [p.hex() for p in tree.inclusion_proof(index, size)],
                "root": tree.root(size).hex(),
            }
            for index, size in picks
        ),
        {
            "op": "verify_inclusion",
            "index": 17,
            "size": 37,
            "leaf_hash": leaf_hash(b"tampered").hex(),
            "proof": [p.hex() for p in tree.inclusion_proof(17, 37)],
            "root": tree.root(37).hex(),
        },
    )

    # Assert
    assert [r["ok"] for r in results] == [True] * len(picks) + [False]
