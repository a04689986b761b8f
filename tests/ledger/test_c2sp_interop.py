"""fedgov's checkpoints and cosignatures against an independent implementation.

tlog-scales (PyPI, Apache-2.0; tlog-tiles tooling by Florian Larysch) reads
and writes C2SP checkpoints, note signatures (type 0x01), Ed25519
``cosignature/v1`` signatures (type 0x04) and vkeys with its own code. It
verifies what fedgov writes, and fedgov verifies what it writes. It writes
no Ed25519 cosignature (only ML-DSA-44), so fedgov's cosignature verifier is
checked against a vector computed with another Ed25519 library instead
(test_cosignature.py). No npm or PyPI package of Go's
``golang.org/x/mod/sumdb/note`` exists; Go's own vectors are in test_note.py.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tlog_scales import signing as ts_signing
from tlog_scales.tlog import Checkpoint as TsCheckpoint

from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import Cosigner
from ledger.note import Note, NoteSigner, NoteVerifier, VerifierKey, open_note
from tests.ledger._log_fixtures import ACTOR

ORIGIN = origin_for("lakeview", ACTOR.address, "audit")
ROOT = bytes(range(32))


def _cosigned() -> tuple[Note, NoteSigner, Cosigner]:
    log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    witness = Cosigner("witness.lakeview.example/civic", Ed25519PrivateKey.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 1234, ROOT), log)
    return (
        note.with_signatures([witness.cosign(note.text, 1_764_000_000)]),
        log,
        witness,
    )


def test_tlog_scales_verifies_fedgov_checkpoints_and_cosignatures() -> None:
    note, log, witness = _cosigned()

    parsed = TsCheckpoint.from_text(note.format())
    log_vkey = ts_signing.Vkey.from_string(str(log.vkey))
    witness_vkey = ts_signing.Vkey.from_string(str(witness.vkey))
    valid = ts_signing.VkeySet(log_vkey, witness_vkey).verify(parsed.signatures, parsed)

    assert (parsed.origin, parsed.size, parsed.root_hash) == (ORIGIN, 1234, ROOT)
    assert parsed.serialize_body() == note.text
    assert {vkey.name for vkey, _ in valid} == {ORIGIN, witness.name}
    # tlog-scales derives the same key IDs, so the same vkey strings.
    assert log_vkey.serialize() == str(log.vkey)
    assert witness_vkey.serialize() == str(witness.vkey)
    parsed.verify(log_vkey)
    parsed.verify(witness_vkey)


def test_tlog_scales_rejects_a_tampered_fedgov_checkpoint() -> None:
    note, log, witness = _cosigned()
    tampered = note.format().replace("\n1234\n", "\n1235\n")

    parsed = TsCheckpoint.from_text(tampered)
    valid = ts_signing.VkeySet(
        ts_signing.Vkey.from_string(str(log.vkey)),
        ts_signing.Vkey.from_string(str(witness.vkey)),
    ).verify(parsed.signatures, parsed)

    assert valid == set()


def test_fedgov_verifies_a_checkpoint_tlog_scales_signs() -> None:
    key = Ed25519PrivateKey.generate()
    signer = ts_signing.PlainEd25519Signer(ORIGIN, key)
    written = TsCheckpoint.make_signed(ORIGIN, 99, ROOT, [signer]).serialize()

    note = Note.parse(written)
    verified = open_note(
        note, [NoteVerifier(VerifierKey.parse(signer.vkey.serialize()))]
    )

    assert Checkpoint.parse(note.text) == Checkpoint(ORIGIN, 99, ROOT)
    assert [s.name for s in verified] == [ORIGIN]
