"""C2SP checkpoints: the specification's example, strict parsing, fedgov origins."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from ledger.checkpoint import (
    Checkpoint,
    LogOrigin,
    origin_for,
    parse_origin,
    sign_checkpoint,
)
from ledger.errors import MalformedNoteError
from ledger.merkle import EMPTY_ROOT
from ledger.note import Note, NoteSigner, NoteVerifier, open_note
from tests.ledger._log_fixtures import ACTOR

# c2sp.org/tlog-checkpoint, the example at the top of the specification.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDe"
    "OoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def test_the_specification_example_parses() -> None:
    note = Note.parse(SPEC_CHECKPOINT)

    checkpoint = Checkpoint.parse(note.text)

    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.tree_size == 20852163
    assert checkpoint.root_hash == base64.b64decode(
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    )
    assert checkpoint.text() == note.text
    assert [(s.name, s.key_id) for s in note.signatures] == [
        ("example.com/behind-the-sofa", 0x033DE0AE)
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("example.com/log\n5\n", "at least 3 lines"),
        (
            "example.com/log\n05\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
            "leading",
        ),
        (
            "example.com/log\n-1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
            "decimal",
        ),
        ("example.com/log\n5\nnot base64!\n", "base64"),
        (
            "example.com/log\n5\n" + base64.b64encode(b"x" * 31).decode() + "\n",
            "31 bytes",
        ),
        ("\n5\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n", "origin"),
        (
            "example.com/log\n5\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n\n",
            "extension",
        ),
        ("example.com/log\n5\n" + base64.b64encode(EMPTY_ROOT).decode(), "newline"),
        (
            f"example.com/log\n{2**64}\n"
            + base64.b64encode(EMPTY_ROOT).decode()
            + "\n",
            "uint64",
        ),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, match: str) -> None:
    with pytest.raises(MalformedNoteError, match=match):
        Checkpoint.parse(text)


@given(
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text("abc xyz=+/", min_size=1, max_size=8), max_size=3),
)
def test_text_and_parse_round_trip(
    size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint("lakeview.fedgov/log", size, root, tuple(extensions))

    assert Checkpoint.parse(checkpoint.text()) == checkpoint


def test_fedgov_origins_name_county_actor_and_log() -> None:
    origin = origin_for("lakeview", ACTOR.address.lower(), "audit")

    assert origin == f"lakeview.fedgov/{ACTOR.address}/audit"
    assert parse_origin(origin) == LogOrigin("lakeview", ACTOR.address, "audit")
    # Not fedgov's form, or an address not checksummed: not ours.
    assert parse_origin("example.com/behind-the-sofa") is None
    assert parse_origin(origin.replace(ACTOR.address, ACTOR.address.lower())) is None


@pytest.mark.parametrize(
    ("county", "log_name", "argument"),
    [
        ("Lakeview", "audit", "county"),
        ("lake view", "audit", "county"),
        ("-lakeview", "audit", "county"),
        ("", "audit", "county"),
        ("lakeview", "audit log", "log_name"),
        ("lakeview", "a+b", "log_name"),
    ],
)
def test_origins_refuse_what_a_key_name_cannot_hold(
    county: str, log_name: str, argument: str
) -> None:
    with pytest.raises(ConfigurationError, match=argument):
        origin_for(county, ACTOR.address, log_name)


def test_a_checkpoint_is_signed_by_the_key_named_after_its_origin() -> None:
    origin = origin_for("lakeview", ACTOR.address, "audit")
    signer = NoteSigner(origin, Ed25519PrivateKey.generate())
    checkpoint = Checkpoint(origin, 0, EMPTY_ROOT)

    note = sign_checkpoint(checkpoint, signer)

    assert open_note(Note.parse(note.format()), [NoteVerifier(signer.vkey)])
    with pytest.raises(ConfigurationError, match="named after its origin"):
        sign_checkpoint(
            checkpoint, NoteSigner("other.example/log", Ed25519PrivateKey.generate())
        )
