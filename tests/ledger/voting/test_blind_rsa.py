"""RSA blind signatures: the RFC 9474 test vector, round trips, and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pss
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.voting import blind_rsa
from ledger.voting.blind_rsa import (
    FEDGOV_SUITE,
    PREFIX_BYTES,
    RFC9474_SHA384_PSS_DETERMINISTIC,
    PreparedMessage,
)
from ledger.voting.errors import CredentialError

if TYPE_CHECKING:
    from Crypto.PublicKey.RSA import RsaKey

_VECTOR = json.loads(
    (Path(__file__).parent / "data/rfc9474_sha384_pss_deterministic.json").read_text()
)


def _vector_key() -> RsaKey:
    n, e, d = (int(_VECTOR[k], 16) for k in ("n", "e", "d"))
    return RSA.construct((n, e, d))


def test_blind_sign_finalize_reproduce_the_rfc_vector() -> None:
    # Prepare: the vector fixes the salt and the blind (through its inverse)
    key = _vector_key()
    message = PreparedMessage(b"", bytes.fromhex(_VECTOR["msg"]))
    inverse = int(_VECTOR["inv"], 16)
    suite = RFC9474_SHA384_PSS_DETERMINISTIC

    # Execute
    blinding = blind_rsa._blind_with(
        key.public_key(),
        message,
        suite=suite,
        salt=bytes.fromhex(_VECTOR["salt"]),
        r=pow(inverse, -1, key.n),
    )
    blind_signature = blind_rsa.blind_sign(key, blinding.blinded_message, suite=suite)
    signature = blind_rsa.finalize(
        key.public_key(), message, blind_signature, blinding.inverse, suite=suite
    )

    # Assert
    assert blinding.blinded_message.hex() == _VECTOR["blinded_message"]
    assert blind_signature.hex() == _VECTOR["blind_sig"]
    assert signature.hex() == _VECTOR["sig"]


def test_encoding_matches_the_rfc_vector() -> None:
    encoded = blind_rsa._emsa_pss_encode(
        bytes.fromhex(_VECTOR["msg"]),
        _vector_key().size_in_bits() - 1,
        suite=RFC9474_SHA384_PSS_DETERMINISTIC,
        salt=bytes.fromhex(_VECTOR["salt"]),
    )

    assert encoded.hex() == _VECTOR["encoded_message"]


@settings(max_examples=10, deadline=None)
@given(message=st.binary(max_size=200))
def test_credentials_are_standard_pss_signatures(
    credential_key: RsaKey, message: bytes
) -> None:
    # Prepare
    public_key = credential_key.public_key()
    prepared = blind_rsa.prepare(message)
    blinding = blind_rsa.blind(public_key, prepared)

    # Execute
    signature = blind_rsa.finalize(
        public_key,
        prepared,
        blind_rsa.blind_sign(credential_key, blinding.blinded_message),
        blinding.inverse,
    )

    # Assert: pycryptodome's own verifier accepts it over prefix || message
    assert len(prepared.prefix) == PREFIX_BYTES
    pss.new(public_key, salt_bytes=FEDGOV_SUITE.salt_bytes).verify(
        SHA256.new(prepared.prefix + message), signature
    )
    assert not blind_rsa.verify(
        public_key, PreparedMessage(prepared.prefix, message + b"!"), signature
    )


def test_the_signer_sees_a_fresh_value_for_the_same_message(
    credential_key: RsaKey,
) -> None:
    # Prepare
    prepared = blind_rsa.prepare(b"same voting key")

    # Execute
    first = blind_rsa.blind(credential_key.public_key(), prepared)
    second = blind_rsa.blind(credential_key.public_key(), prepared)

    # Assert
    assert first.blinded_message != second.blinded_message


def test_deterministic_suites_add_no_prefix() -> None:
    assert blind_rsa.prepare(b"m", suite=RFC9474_SHA384_PSS_DETERMINISTIC).prefix == b""


@pytest.mark.parametrize(
    ("blinded", "reason"),
    [
        (b"\x01" * 255, "unexpected input size"),
        (b"\xff" * 256, "invalid message"),
    ],
)
def test_blind_sign_refuses_malformed_input(
    credential_key: RsaKey, blinded: bytes, reason: str
) -> None:
    with pytest.raises(CredentialError, match=reason) as raised:
        blind_rsa.blind_sign(credential_key, blinded)

    assert raised.value.step == "BlindSign"


def test_finalize_refuses_a_tampered_answer(credential_key: RsaKey) -> None:
    # Prepare: the signer's answer with one bit flipped
    prepared = blind_rsa.prepare(b"voting key")
    blinding = blind_rsa.blind(credential_key.public_key(), prepared)
    answer = bytearray(blind_rsa.blind_sign(credential_key, blinding.blinded_message))
    answer[-1] ^= 1

    # Execute, Assert
    with pytest.raises(CredentialError, match="invalid signature") as raised:
        blind_rsa.finalize(
            credential_key.public_key(), prepared, bytes(answer), blinding.inverse
        )
    assert raised.value.step == "Finalize"


def test_finalize_refuses_a_wrong_length(credential_key: RsaKey) -> None:
    with pytest.raises(CredentialError, match="unexpected input size"):
        blind_rsa.finalize(
            credential_key.public_key(), blind_rsa.prepare(b"m"), b"\x01" * 10, 1
        )


@settings(max_examples=25, deadline=None)
@given(flip=st.integers(0, 256 * 8 - 1), message=st.binary(max_size=64))
def test_verify_agrees_with_pycryptodome(
    credential_key: RsaKey, flip: int, message: bytes
) -> None:
    # Prepare: a valid signature, and the same with one bit flipped
    public_key = credential_key.public_key()
    prepared = PreparedMessage(b"\x07" * PREFIX_BYTES, message)
    valid = pss.new(credential_key, salt_bytes=32).sign(SHA256.new(prepared.prepared))
    flipped = bytearray(valid)
    flipped[flip // 8] ^= 1 << (flip % 8)

    # Execute, Assert
    for signature in (valid, bytes(flipped)):
        try:
            pss.new(public_key, salt_bytes=32).verify(
                SHA256.new(prepared.prepared), signature
            )
            theirs = True
        except ValueError:
            theirs = False
        assert blind_rsa.verify(public_key, prepared, signature) is theirs
    assert blind_rsa.verify(public_key, prepared, valid)
