"""Witness policies (C2SP tlog-policy): parsing, quorums, and judging a log."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedgov.errors import ConfigurationError
from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import Cosigner
from ledger.merkle import MerkleTree, leaf_hash
from ledger.note import Note, NoteSignature, NoteSigner
from ledger.witness_policy import WitnessPolicy, judge_checkpoints
from tests.ledger._log_fixtures import ACTOR

ORIGIN = origin_for("lakeview", ACTOR.address, "audit")
LOG_KEY = Ed25519PrivateKey.generate()
LOG = NoteSigner(ORIGIN, LOG_KEY)
WITNESSES = {
    name: Cosigner(f"{name.lower()}.example/w", Ed25519PrivateKey.generate())
    for name in ("X1", "X2", "X3", "Y1", "Y2", "Y3")
}


def _policy(quorum_lines: str, *, log: bool = True) -> WitnessPolicy:
    lines = [f"log {LOG.vkey}"] if log else []
    lines += [f"witness {name} {w.vkey}" for name, w in WITNESSES.items()]
    return WitnessPolicy.parse(("\n".join(lines) + "\n" + quorum_lines).encode())


# The specification's example: two of the X witnesses and one of the Y.
SPEC_GROUPS = """
group X-witnesses 2 X1 X2 X3
group Y-witnesses any Y1 Y2 Y3
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


@pytest.mark.parametrize(
    ("cosigned", "satisfied"),
    [
        ({"X1", "X2", "Y3"}, True),
        ({"X1", "X3", "Y1", "Y2"}, True),
        ({"X1", "Y1", "Y2", "Y3"}, False),
        ({"X1", "X2", "X3"}, False),
        (set(), False),
    ],
)
def test_the_specification_example_quorum(cosigned: set[str], satisfied: bool) -> None:
    assert _policy(SPEC_GROUPS).satisfied(cosigned) is satisfied


def test_quorum_none_and_a_single_witness() -> None:
    assert _policy("quorum none").satisfied(set())
    assert _policy("quorum X1").satisfied({"X1"})
    assert not _policy("quorum X1").satisfied({"X2"})


def test_comments_blank_lines_tabs_and_urls() -> None:
    text = (
        "# the county's policy\n\n"
        f"  log\t{LOG.vkey}\thttp://log.example\n"
        f"witness X1 {WITNESSES['X1'].vkey} http://127.0.0.1:7380   \n"
        "   # indented comment\nquorum X1\n"
    )

    policy = WitnessPolicy.parse(text.encode())

    assert policy.logs[0].url == "http://log.example"
    assert policy.witnesses[0].url == "http://127.0.0.1:7380"
    assert policy.log_for(ORIGIN) is not None


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ("", "no quorum line"),
        ("quorum X1\nquorum X2", "second quorum"),
        ("quorum Z", "not defined before"),
        ("group G any X1 Z\nquorum G", "'Z' is not defined"),
        ("group G 2 X1\nquorum G", "threshold '2'"),
        ("group G 0 X1 X2\nquorum G", "threshold '0'"),
        ("group G any X1\ngroup H any X1\nquorum H", "already a member"),
        ("group X1 any X2\nquorum X1", "taken"),
        ("group none any X2\nquorum none", "taken"),
        (f"witness X9 {WITNESSES['X1'].vkey}\nquorum X1", "listed twice"),
        (f"witness X9 {LOG.vkey}\nquorum X1", "type 0x01"),
        (f"log {WITNESSES['X1'].vkey}\nquorum X1", "type 0x04"),
        (f"log {LOG.vkey}\nquorum X1", "listed twice"),
        ("frobnicate X1\nquorum X1", "unknown keyword"),
        ("witness X9 not-a-vkey\nquorum X1", "witness key"),
        ("quorum X1\x0b", "control character"),
    ],
)
def test_bad_policies_are_refused_naming_the_line(lines: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        _policy(lines)


TREE = MerkleTree(leaf_hash(b"record %d" % i) for i in range(10))


def _checkpoint(size: int, *cosigners: str, root: bytes | None = None) -> str:
    note = sign_checkpoint(
        Checkpoint(ORIGIN, size, TREE.root(size) if root is None else root), LOG
    )
    return note.with_signatures(
        [WITNESSES[name].cosign(note.text, 1_764_000_000) for name in cosigners]
    ).format()


def _judge(policy: WitnessPolicy, *checkpoints: str, tree: MerkleTree = TREE):
    return judge_checkpoints(
        policy,
        actor=ACTOR.address,
        log_name="audit",
        checkpoints=checkpoints,
        tree=tree,
    )


def test_a_log_cosigned_by_the_quorum_up_to_its_size_is_witnessed() -> None:
    verdict = _judge(
        _policy(SPEC_GROUPS), _checkpoint(4), _checkpoint(10, "X1", "X3", "Y2")
    )

    assert (verdict.witnessed_size, verdict.problems) == (10, ())


def test_records_past_the_last_quorum_are_unwitnessed() -> None:
    verdict = _judge(
        _policy(SPEC_GROUPS),
        _checkpoint(6, "X1", "X2", "Y1"),
        _checkpoint(10, "X1", "Y1"),
    )

    assert verdict.witnessed_size == 6
    (problem,) = verdict.problems
    assert problem.unwitnessed
    assert problem.index == 6
    assert "records [6, 10) are not witnessed" in problem.message


def _with_bad_cosignature() -> str:
    note = Note.parse(_checkpoint(10, "X1", "X2", "Y1"))
    bad = note.signatures[1]
    forged = NoteSignature(bad.name, bad.key_id, bad.signature[:8] + bytes(64))
    return Note(note.text, (note.signatures[0], forged, *note.signatures[2:])).format()


def _impostor_signed() -> str:
    impostor = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    note = sign_checkpoint(Checkpoint(ORIGIN, 10, TREE.root(10)), impostor)
    return note.with_signatures(
        [WITNESSES[n].cosign(note.text, 1_764_000_000) for n in ("X1", "X2", "Y1")]
    ).format()


def _cosigned_only() -> str:
    note = Note.parse(_checkpoint(10, "X1", "X2", "Y1"))
    return Note(note.text, note.signatures[1:]).format()


def _other_origin() -> str:
    other = origin_for("northfield", ACTOR.address, "audit")
    signer = NoteSigner(other, LOG_KEY)  # the log's key under another county
    return sign_checkpoint(Checkpoint(other, 10, TREE.root(10)), signer).format()


@pytest.mark.parametrize(
    ("checkpoint", "says"),
    [
        (
            lambda: _checkpoint(
                10, "X1", "X2", "Y1", root=hashlib.sha256(b"f").digest()
            ),
            "fork",
        ),
        (
            lambda: _checkpoint(10, "X1", "X2", "Y1").replace("\n10\n", "\n12\n"),
            "does not verify",
        ),
        (_with_bad_cosignature, "does not verify"),
        (_impostor_signed, "not signed by the log's key"),
        (_cosigned_only, "not signed by the log's key"),
        (_other_origin, "names origin"),
        (lambda: "garbage", "malformed"),
    ],
)
def test_bad_checkpoints_are_failures_and_witness_nothing(
    checkpoint: object, says: str
) -> None:
    verdict = _judge(_policy(SPEC_GROUPS), checkpoint())  # type: ignore[operator]

    assert verdict.witnessed_size == 0
    assert any(says in p.message and not p.unwitnessed for p in verdict.problems), (
        verdict
    )


def test_a_checkpoint_beyond_the_records_names_the_truncation() -> None:
    short = MerkleTree(leaf_hash(b"record %d" % i) for i in range(8))

    verdict = _judge(
        _policy(SPEC_GROUPS), _checkpoint(10, "X1", "X2", "Y1"), tree=short
    )

    assert any("records [8, 10) were removed" in p.message for p in verdict.problems)


def test_a_policy_without_this_log_fails_it() -> None:
    verdict = _judge(_policy("quorum X1", log=False), _checkpoint(10, "X1"))

    (problem,) = verdict.problems
    assert "names no key for this log" in problem.message
