"""C2SP cosignatures: the specification's example, known vectors, forgeries.

Vectors:
- the cosigned checkpoint of c2sp.org/tlog-cosignature (its witness key is
  not published, so its key ID and timestamp are what can be checked) and
  the signed message the specification spells out for it;
- a real witness's cosignature vkey (``remora.n621.de``, from
  transparency-dev/formats' tests): its key ID follows the 0x04 rule;
- transparency-dev/formats' ``CoSigV1Timestamp`` vector;
- a known cosignature: Go's PeterNeumann test key cosigning the
  specification's checkpoint at the specification's time. Ed25519 is
  deterministic, so its bytes are fixed; they were computed with another
  Ed25519 implementation than fedgov's (below), and tlog-scales verifies
  fedgov's cosignatures too (test_c2sp_interop.py).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosignature import (
    CosignatureVerifier,
    Cosigner,
    cosignature_timestamp,
    cosigned_message,
)
from ledger.errors import MalformedNoteError, UnverifiedNoteError
from ledger.note import Note, NoteSignature, SignatureType, VerifierKey, open_note
from tests.ledger.test_checkpoint import SPEC_CHECKPOINT
from tests.ledger.test_note import GO_SKEY_SEED

SPEC_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXE"
    "hZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SPEC_MESSAGE = (
    "cosignature/v1\n"
    "time 1679315147\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
WITNESS_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
# Computed apart from fedgov's code: pycryptodome's Ed25519 over SPEC_MESSAGE
# (the specification's text) with Go's PeterNeumann seed, the key ID from
# SHA-256("witness.example.com/w1\n\x04" || public key) by hand.
KNOWN_COSIGNATURE = (
    "\u2014 witness.example.com/w1 1GorGwAAAABkGFDLJeR//pqzhnEKVvEm2wWbh2RJ6oru5+cUUf"
    "m5X9NnlaGr8aSH9QE5RVZD4QGlxl2F5UpVIIi94p178KLfqPPsAA==\n"
)


def _cosigner() -> Cosigner:
    return Cosigner(
        "witness.example.com/w1", Ed25519PrivateKey.from_private_bytes(GO_SKEY_SEED)
    )


def test_the_specification_example_carries_its_time_and_key_id() -> None:
    note = Note.parse(SPEC_CHECKPOINT + SPEC_COSIGNATURE)
    cosignature = note.signatures[1]

    assert cosignature.key_id == 0x8D66CF3F
    assert cosignature_timestamp(cosignature) == 1679315147
    assert cosigned_message(note.text.encode(), 1679315147) == SPEC_MESSAGE.encode()


def test_a_real_witness_vkey_follows_the_cosignature_key_id_rule() -> None:
    vkey = VerifierKey.parse(WITNESS_VKEY)

    assert vkey.signature_type is SignatureType.COSIGNATURE_V1
    assert str(vkey) == WITNESS_VKEY


def test_transparency_dev_timestamp_vector() -> None:
    raw = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7"
        "S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
    )

    signature = NoteSignature("w", int.from_bytes(raw[:4], "big"), raw[4:])

    assert cosignature_timestamp(signature) == 1727964367


def test_the_known_cosignature() -> None:
    text = Note.parse(SPEC_CHECKPOINT).text

    line = _cosigner().cosign(text, 1679315147).line()

    assert line == KNOWN_COSIGNATURE
    verified = open_note(
        Note.parse(SPEC_CHECKPOINT + KNOWN_COSIGNATURE),
        [CosignatureVerifier(_cosigner().vkey)],
    )
    assert [s.name for s in verified] == ["witness.example.com/w1"]


@pytest.mark.parametrize(
    "tamper",
    [
        # Another time than the one signed.
        lambda sig: (1679315148).to_bytes(8, "big") + sig[8:],
        # A zero time: a cosignature must carry one.
        lambda sig: bytes(8) + sig[8:],
        # A time past 2^63 - 1.
        lambda sig: (2**63).to_bytes(8, "big") + sig[8:],
        # Truncated.
        lambda sig: sig[:-1],
        # One bit of the Ed25519 signature flipped.
        lambda sig: sig[:20] + bytes([sig[20] ^ 1]) + sig[21:],
    ],
)
def test_tampered_cosignatures_fail(tamper: object) -> None:
    note = Note.parse(SPEC_CHECKPOINT + KNOWN_COSIGNATURE)
    good = note.signatures[1]
    bad = NoteSignature(good.name, good.key_id, tamper(good.signature))  # type: ignore[operator]

    with pytest.raises(UnverifiedNoteError, match="does not verify"):
        open_note(Note(note.text, (bad,)), [CosignatureVerifier(_cosigner().vkey)])


def test_a_cosignature_is_not_a_note_signature_of_the_same_key() -> None:
    # The same Ed25519 key under type 0x01 has another key id: the
    # cosignature is an unknown signature to a note verifier.
    note = Note.parse(SPEC_CHECKPOINT + KNOWN_COSIGNATURE)
    vkey = VerifierKey(
        "witness.example.com/w1",
        SignatureType.COSIGNATURE_V1,
        _cosigner().vkey.public_key,
    )

    assert vkey.key_id == note.signatures[1].key_id
    assert (
        VerifierKey(vkey.name, SignatureType.ED25519, vkey.public_key).key_id
        != vkey.key_id
    )


def test_a_cosigner_refuses_a_zero_time() -> None:
    with pytest.raises(MalformedNoteError, match="timestamp"):
        _cosigner().cosign(Note.parse(SPEC_CHECKPOINT).text, 0)
