"""Publishing checkpoints: the log submits, witnesses cosign, the store keeps them."""

from __future__ import annotations

import hashlib
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedgov.errors import ConfigurationError
from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import Cosigner
from ledger.export import read_export, verify_exported_log
from ledger.merkle import MerkleTree, leaf_hash
from ledger.note import Note, NoteSigner, NoteVerifier
from ledger.store import LogStore
from ledger.witness import Witness
from ledger.witness_client import WitnessClient, publish_checkpoint
from ledger.witness_http import WitnessServer
from ledger.witness_policy import WitnessPolicy, judge_checkpoints
from ledger.witness_state import WitnessState
from tests.ledger._log_fixtures import ACTOR, DOMAIN, make_record

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ORIGIN = origin_for("lakeview", ACTOR.address, "audit")
LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    with LogStore(tmp_path / "log.db", actor=ACTOR.address) as opened:
        opened.append_many(make_record(i) for i in range(6))
        opened.sign_head(ACTOR, DOMAIN)
        yield opened


def _witness(
    stack: ExitStack, tmp_path: Path, name: str
) -> tuple[Cosigner, WitnessServer]:
    cosigner = Cosigner(f"{name}.example/w", Ed25519PrivateKey.generate())
    state = stack.enter_context(WitnessState(tmp_path / f"{name}.db"))
    witness = Witness(cosigner, {ORIGIN: [NoteVerifier(LOG.vkey)]}, state)
    return cosigner, stack.enter_context(WitnessServer(witness, "127.0.0.1:0"))


def _grow(store: LogStore, count: int) -> None:
    start = store.size
    store.append_many(make_record(i) for i in range(start, start + count))
    store.sign_head(ACTOR, DOMAIN)


def test_publish_gathers_cosignatures_and_stores_them_with_the_heads(
    store: LogStore, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        (a, server_a), (b, server_b) = (_witness(stack, tmp_path, n) for n in "ab")
        clients = [
            WitnessClient(server_a.url, a.vkey),
            WitnessClient(server_b.url, b.vkey),
        ]
        first = publish_checkpoint(store, LOG, clients)
        _grow(store, 5)

        second = publish_checkpoint(store, LOG, clients)

    assert first.cosigned_by == second.cosigned_by == (a.name, b.name)
    assert second.checkpoint == Checkpoint(ORIGIN, 11, store.root(11))
    assert [Note.parse(n) for n in store.checkpoints()] == [first.note, second.note]
    policy = WitnessPolicy.parse(
        f"log {LOG.vkey}\nwitness a {a.vkey}\nwitness b {b.vkey}\n"
        "group both all a b\nquorum both\n".encode()
    )
    tree = MerkleTree(leaf_hash(d) for d in store.encoded_records(0))
    verdict = judge_checkpoints(
        policy,
        actor=ACTOR.address,
        log_name="audit",
        checkpoints=store.checkpoints(),
        tree=tree,
    )
    assert (verdict.witnessed_size, verdict.problems) == (11, ())


def test_a_witness_that_is_down_is_reported_and_the_others_cosign(
    store: LogStore, tmp_path: Path
) -> None:
    down = Cosigner("down.example/w", Ed25519PrivateKey.generate())
    with ExitStack() as stack:
        up, server = _witness(stack, tmp_path, "up")
        published = publish_checkpoint(
            store,
            LOG,
            [
                WitnessClient("http://127.0.0.1:9", down.vkey, timeout=2),
                WitnessClient(server.url, up.vkey),
            ],
        )

    assert published.cosigned_by == (up.name,)
    (failure,) = published.failures
    assert failure.status == 0
    assert "could not be reached" in str(failure)


def test_the_client_catches_up_from_the_size_the_witness_names(
    store: LogStore, tmp_path: Path
) -> None:
    # Another process of the log had the witness cosign size 6; this store
    # never recorded it, so it offers old size 0, gets 409 "6", and retries
    # with a proof from 6.
    with ExitStack() as stack:
        cosigner, server = _witness(stack, tmp_path, "w")
        client = WitnessClient(server.url, cosigner.vkey)
        note6 = sign_checkpoint(Checkpoint(ORIGIN, 6, store.root(6)), LOG)
        client.add_checkpoint(note6, lambda old: ())
        _grow(store, 4)

        published = publish_checkpoint(store, LOG, [client])

    assert published.cosigned_by == (cosigner.name,)
    assert published.failures == ()


def test_a_witness_ahead_of_the_log_is_a_failure(
    store: LogStore, tmp_path: Path
) -> None:
    longer = MerkleTree(leaf_hash(d) for d in store.encoded_records(0))
    longer.extend(leaf_hash(b"more %d" % i) for i in range(3))
    with ExitStack() as stack:
        cosigner, server = _witness(stack, tmp_path, "w")
        client = WitnessClient(server.url, cosigner.vkey)
        client.add_checkpoint(
            sign_checkpoint(Checkpoint(ORIGIN, 9, longer.root(9)), LOG), lambda _: ()
        )

        published = publish_checkpoint(store, LOG, [client])

    (failure,) = published.failures
    assert "saw a longer history" in failure.detail


def test_an_answer_not_signed_by_the_witness_key_is_refused(
    store: LogStore, tmp_path: Path
) -> None:
    expected = Cosigner("w.example/w", Ed25519PrivateKey.generate())
    with ExitStack() as stack:
        _, server = _witness(stack, tmp_path, "w")  # another key than expected

        published = publish_checkpoint(
            store, LOG, [WitnessClient(server.url, expected.vkey)]
        )

    (failure,) = published.failures
    assert "no valid cosignature" in failure.detail
    assert Note.parse(store.checkpoints()[0]).signatures == published.note.signatures
    assert len(published.note.signatures) == 1  # the log's own only


def test_the_store_refuses_a_checkpoint_of_no_signed_head(store: LogStore) -> None:
    forged = sign_checkpoint(Checkpoint(ORIGIN, 6, hashlib.sha256(b"x").digest()), LOG)
    unsigned = sign_checkpoint(Checkpoint(ORIGIN, 5, store.root(5)), LOG)

    for note in (forged, unsigned):
        with pytest.raises(ConfigurationError, match="no head"):
            store.add_checkpoint(note)
    assert store.checkpoints() == []


def test_the_store_keeps_one_origin_per_log(store: LogStore) -> None:
    store.add_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, 6, store.root(6)), LOG))
    other = origin_for("northfield", ACTOR.address, "audit")
    signer = NoteSigner(other, Ed25519PrivateKey.generate())

    with pytest.raises(ConfigurationError, match="one log publishes under one origin"):
        store.add_checkpoint(
            sign_checkpoint(Checkpoint(other, 6, store.root(6)), signer)
        )


def test_checkpoints_are_append_only_in_the_file(store: LogStore) -> None:
    store.add_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, 6, store.root(6)), LOG))

    with pytest.raises(Exception, match="append-only"):
        store._db.execute("DELETE FROM checkpoints")


def test_checkpoints_travel_in_exports_and_imports(
    store: LogStore, tmp_path: Path
) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 6, store.root(6)), LOG)
    store.add_checkpoint(note)
    store.export(tmp_path / "log.jsonl")

    exported = read_export(tmp_path / "log.jsonl")
    verify_exported_log(exported)
    with LogStore.import_export(tmp_path / "log.jsonl", tmp_path / "copy.db") as copy:
        copied = copy.checkpoints()

    assert exported.checkpoints == (note.format(),) == tuple(copied)
