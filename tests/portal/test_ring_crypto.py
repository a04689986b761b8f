"""The browser's ring credentials against ``ledger.voting.ring``, both ways.

The hash to point, key images and the ring domain are fixed vectors from
Python; signatures made by the JavaScript (``web/src/lib/ring.js``, on
@noble/curves) verify in Python (libsecp256k1), signatures made by Python
verify in the JavaScript, and a tampered one is refused by both. The ballot-key
request the browser makes is the one ``fedgov vote issue`` reads, byte for byte.
"""

from __future__ import annotations

from typing import Any

from eth_utils.crypto import keccak

from ledger.voting import ring
from ledger.voting.ballot import (
    BallotScope,
    credential_message,
    key_request_signer,
    ring_domain,
    sign_key_request,
)
from ledger.voting.resident import BallotKeyRequest, RollKey
from tests.portal._node import js, run_js

SCOPE = BallotScope(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 7)
SCOPE_FIELDS = {"chain_id": 31337, "contract": SCOPE.contract, "consultation_id": 7}
VOTING_ADDRESS = "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1"
ROLL_KEY = RollKey(
    bytes.fromhex("0e1a5cb3a3e3e3a2e9c3c7d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1")
)
# Fixed ballot secrets: the vectors must not change from run to run.
PAIRS = [ring.BallotKeyPair(bytes([i + 1]) * 32) for i in range(5)]
KEYS = [p.public for p in PAIRS]
DOMAIN = ring_domain(SCOPE)
MESSAGE = credential_message(SCOPE, VOTING_ADDRESS)


def _hex_signature(signature: ring.RingSignature) -> dict[str, Any]:
    return {
        "key_image": signature.key_image.hex(),
        "challenge": signature.challenge.to_bytes(32, "big").hex(),
        "responses": [s.to_bytes(32, "big").hex() for s in signature.responses],
    }


def _python_signature(document: dict[str, Any]) -> ring.RingSignature:
    return ring.RingSignature(
        key_image=bytes.fromhex(document["key_image"]),
        challenge=int(document["challenge"], 16),
        responses=tuple(int(s, 16) for s in document["responses"]),
    )


def test_the_ring_domain_hash_to_point_and_key_images_match_python() -> None:
    # Prepare
    operations = [{"op": "ring_domain", "scope": SCOPE_FIELDS}]
    for key in KEYS:
        operations.append(
            {"op": "hash_to_point", "domain": DOMAIN.hex(), "key": key.hex()}
        )
    for pair in PAIRS:
        operations.append(
            {"op": "key_image", "domain": DOMAIN.hex(), "secret": pair.secret.hex()}
        )

    # Execute
    results = [r["ok"] for r in run_js(*operations)]

    # Assert
    assert results[0] == DOMAIN.hex()
    assert results[1:6] == [ring.hash_to_point(DOMAIN, k).hex() for k in KEYS]
    assert results[6:] == [ring.key_image(DOMAIN, p).hex() for p in PAIRS]


def test_a_javascript_ring_signature_verifies_in_python_and_tampering_fails() -> None:
    # Prepare: one signature per signer position, so every branch of the ring is walked.
    operations = [
        {
            "op": "ring_sign",
            "domain": DOMAIN.hex(),
            "message": MESSAGE.hex(),
            "keys": [k.hex() for k in KEYS],
            "secret": pair.secret.hex(),
        }
        for pair in PAIRS
    ]

    # Execute
    signatures = [_python_signature(r["ok"]) for r in run_js(*operations)]

    # Assert
    for pair, signature in zip(PAIRS, signatures, strict=True):
        assert ring.verify(DOMAIN, MESSAGE, KEYS, signature)
        assert signature.key_image == ring.key_image(DOMAIN, pair)
        tampered = ring.RingSignature(
            signature.key_image,
            signature.challenge,
            (signature.responses[0] ^ 1, *signature.responses[1:]),
        )
        assert not ring.verify(DOMAIN, MESSAGE, KEYS, tampered)
        other = credential_message(SCOPE, "0x" + "11" * 20)
        assert not ring.verify(DOMAIN, other, KEYS, signature)


def test_a_python_ring_signature_verifies_in_javascript_and_tampering_fails() -> None:
    # Prepare
    signature = ring.sign(DOMAIN, MESSAGE, KEYS, PAIRS[3])
    honest = _hex_signature(signature)
    flipped = dict(
        honest, challenge=(signature.challenge ^ 1).to_bytes(32, "big").hex()
    )
    wrong_image = dict(honest, key_image=ring.key_image(DOMAIN, PAIRS[0]).hex())
    zero = dict(honest, responses=["00" * 32, *honest["responses"][1:]])
    base = {"op": "ring_verify", "domain": DOMAIN.hex(), "message": MESSAGE.hex()}
    keys = [k.hex() for k in KEYS]

    # Execute
    results = run_js(
        {**base, "keys": keys, "signature": honest},
        {**base, "keys": keys, "signature": flipped},
        {**base, "keys": keys, "signature": wrong_image},
        {**base, "keys": keys, "signature": zero},
        {**base, "keys": list(reversed(keys)), "signature": honest},
        {**base, "keys": ["02" + "00" * 32, *keys[1:]], "signature": honest},
    )

    # Assert
    assert [r["ok"] for r in results] == [True, False, False, False, False, False]


def test_a_browser_ballot_key_request_is_the_command_line_s() -> None:
    # Prepare
    roll_key_file = {
        "format": "fedgov-roll-key-v1",
        "address": ROLL_KEY.address,
        "private_key": ROLL_KEY.private_key.hex(),
    }

    # Execute
    made = js(
        {"op": "request_ballot_key", "scope": SCOPE_FIELDS, "roll_key": roll_key_file}
    )
    signed = js(
        {
            "op": "sign_key_request",
            "scope": SCOPE_FIELDS,
            "roll_key": ROLL_KEY.private_key.hex(),
            "ballot_key": KEYS[0].hex(),
        }
    )
    recovered = js(
        {
            "op": "key_request_signer",
            "scope": SCOPE_FIELDS,
            "ballot_key_hash": keccak(KEYS[0]).hex(),
            "signature": sign_key_request(SCOPE, ROLL_KEY.account, KEYS[0]).hex(),
        }
    )

    # Assert: the request reads as `fedgov vote issue` reads it, signed by the
    # roll key over the wallet's own ballot key; RFC 6979 makes signatures equal.
    request = BallotKeyRequest.from_document(made["request"])
    wallet = made["wallet"]
    own = ring.BallotKeyPair(bytes.fromhex(wallet["ballot_secret"])).public
    assert request.scope == SCOPE
    assert request.ballot_key == own
    assert request.signer == ROLL_KEY.address == request.roll_key
    assert wallet["message_prefix"] == ""
    assert wallet["inverse"] is None
    assert bytes.fromhex(signed) == sign_key_request(SCOPE, ROLL_KEY.account, KEYS[0])
    assert recovered == ROLL_KEY.address
    assert key_request_signer(SCOPE, keccak(own), request.signature) == ROLL_KEY.address
