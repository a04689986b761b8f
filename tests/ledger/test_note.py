"""C2SP signed notes: the specification's example, Go's vectors, and every rule.

Vectors:
- ``SPEC_*``: the example of c2sp.org/signed-note ("Verifier keys", Example);
- ``GO_*``: golang.org/x/mod/sumdb/note's note_test.go (the reference
  implementation the format comes from): its PeterNeumann key, and the
  exact signature Go's ``note.Sign`` makes with it.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import MalformedNoteError, UnverifiedNoteError
from ledger.note import (
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    SignatureType,
    VerifierKey,
    key_id,
    open_note,
    sign_note,
)

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
    "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
GO_SKEY_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNED = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p"
    "ZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _go_signer() -> NoteSigner:
    return NoteSigner(
        "PeterNeumann", Ed25519PrivateKey.from_private_bytes(GO_SKEY_SEED)
    )


def test_the_specification_example_verifies() -> None:
    vkey = VerifierKey.parse(SPEC_VKEY)

    verified = open_note(Note.parse(SPEC_NOTE), [NoteVerifier(vkey)])

    assert [s.name for s in verified] == ["example.com/foo"]
    assert vkey.key_id == 0x530D903A
    assert str(vkey) == SPEC_VKEY


def test_go_reference_key_signs_exactly_as_go_does() -> None:
    signer = _go_signer()

    signed = sign_note(GO_TEXT, signer)

    assert str(signer.vkey) == GO_VKEY
    assert signed.format() == GO_SIGNED
    assert open_note(Note.parse(GO_SIGNED), [NoteVerifier(VerifierKey.parse(GO_VKEY))])


def test_key_id_is_the_first_four_bytes_of_the_named_hash() -> None:
    public = VerifierKey.parse(GO_VKEY).public_key
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4]

    assert key_id("PeterNeumann", SignatureType.ED25519, public) == int.from_bytes(
        expected, "big"
    )
    # The same key under the cosignature type is another key id.
    assert key_id("PeterNeumann", SignatureType.COSIGNATURE_V1, public) != 0xC74F20A3


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "key ID",
        ),
        ("PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "type"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10", "base64"),
        ("PeterNeumann+c74f20a3", "name\\+id\\+key"),
        (
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "spaces",
        ),
        ("PeterNeumann+zz4f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "hex"),
        ("PeterNeumann+4b2a7f5a+AQ==", "32 bytes"),
    ],
)
def test_bad_verifier_keys_are_refused(vkey: str, match: str) -> None:
    with pytest.raises(MalformedNoteError, match=match):
        VerifierKey.parse(vkey)


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (GO_TEXT + "\u2014 PeterNeumann x08go/ZJ=\n", "blank line"),
        (GO_SIGNED[:-1], "does not end with a newline"),
        (GO_SIGNED.replace("\u2014 ", "- "), "start with"),
        (GO_SIGNED.replace("PeterNeumann x08", "Peter+Neumann x08"), "without spaces"),
        (GO_SIGNED.replace("x08go/", "x08go!"), "base64"),
        (GO_TEXT + "\n\u2014 PeterNeumann AAAA\n", "shorter than 5 bytes"),
        (GO_SIGNED.replace("answer", "ans\twer"), "control character"),
        (GO_SIGNED.replace("answer", "ans\rwer"), "control character"),
        (GO_SIGNED.encode().replace(b"answer", b"ans\xffwer"), "UTF-8"),
        (GO_TEXT + "\n" + "\u2014 a AAAAAAA=\n" * (MAX_SIGNATURES + 1), "more than"),
    ],
)
def test_malformed_notes_are_refused(note: str | bytes, match: str) -> None:
    with pytest.raises(MalformedNoteError, match=match):
        Note.parse(note)


def test_unknown_signatures_are_ignored_and_known_ones_checked() -> None:
    # Prepare: the Go note, plus a stranger's signature and a forged one
    # under a known name with another id (an unknown key, so ignored).
    stranger = NoteSigner("stranger.example", Ed25519PrivateKey.generate())
    note = Note.parse(GO_SIGNED).with_signatures(
        [stranger.sign(GO_TEXT), NoteSignature("PeterNeumann", 0xDEADBEEF, b"\0" * 64)]
    )
    verifier = NoteVerifier(VerifierKey.parse(GO_VKEY))

    verified = open_note(note, [verifier])

    assert [s.name for s in verified] == ["PeterNeumann"]


def test_a_known_key_whose_signature_fails_rejects_the_note() -> None:
    signature = Note.parse(GO_SIGNED).signatures[0]
    forged = Note(GO_TEXT, (signature,)).with_signatures(
        [NoteSignature(signature.name, signature.key_id, b"\1" * 64)]
    )

    with pytest.raises(
        UnverifiedNoteError, match="PeterNeumann\\+c74f20a3 does not verify"
    ):
        open_note(forged, [NoteVerifier(VerifierKey.parse(GO_VKEY))])


def test_an_altered_text_no_longer_verifies() -> None:
    altered = GO_SIGNED.replace("answer", "Answer")

    with pytest.raises(UnverifiedNoteError, match="does not verify"):
        open_note(Note.parse(altered), [NoteVerifier(VerifierKey.parse(GO_VKEY))])


def test_a_note_signed_by_no_known_key_is_rejected() -> None:
    with pytest.raises(UnverifiedNoteError, match="no signature by a known key"):
        open_note(Note.parse(SPEC_NOTE), [NoteVerifier(VerifierKey.parse(GO_VKEY))])


def test_verifiers_take_only_their_own_signature_type() -> None:
    cosigning = VerifierKey(
        "w.example", SignatureType.COSIGNATURE_V1, VerifierKey.parse(GO_VKEY).public_key
    )

    with pytest.raises(MalformedNoteError, match="not an Ed25519 note key"):
        NoteVerifier(cosigning)


_texts = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=30),
    min_size=1,
    max_size=5,
).map(lambda lines: "".join(f"{line}\n" for line in lines))


@given(text=_texts)
def test_any_valid_text_signs_formats_parses_and_verifies(text: str) -> None:
    signer = _go_signer()

    note = Note.parse(sign_note(text, signer).format())

    assert note.text == text
    assert open_note(note, [NoteVerifier(signer.vkey)])
