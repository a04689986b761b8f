"""The witness over real HTTP: it cosigns a consistent log, and refuses attacks.

Each attack is answered with the status c2sp.org/tlog-witness requires and
leaves the witness's state as it was: a fork (same size, other root), a
rollback (smaller size), a bad consistency proof, an unknown origin, a bad
or missing log signature, a stale old size, and malformed requests.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedgov.errors import ConfigurationError
from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import CosignatureVerifier, Cosigner, cosignature_timestamp
from ledger.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from ledger.note import Note, NoteSignature, NoteSigner, NoteVerifier, open_note
from ledger.witness import AddCheckpointRequest, Witness
from ledger.witness_http import MAX_BODY, WitnessServer
from ledger.witness_state import WitnessState, origin_hash
from tests.ledger._log_fixtures import ACTOR, OTHER

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ORIGIN = origin_for("lakeview", ACTOR.address, "audit")
NOW = 1_764_000_000


@dataclass
class Setup:
    tree: MerkleTree
    log: NoteSigner
    witness: Cosigner
    state: WitnessState
    server: WitnessServer

    def note(self, size: int, root: bytes | None = None) -> Note:
        root = self.tree.root(size) if root is None else root
        return sign_checkpoint(Checkpoint(ORIGIN, size, root), self.log)

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(self.tree.consistency_proof(old, new)) if 0 < old < new else ()

    def post(self, body: bytes, path: str = "/add-checkpoint") -> tuple[int, str, str]:
        host = self.server.url.removeprefix("http://")
        connection = http.client.HTTPConnection(host, timeout=10)
        try:
            connection.request("POST", path, body=body)
            response = connection.getresponse()
            return (
                response.status,
                response.getheader("Content-Type", ""),
                response.read().decode(),
            )
        finally:
            connection.close()

    def add(
        self, old: int, note: Note, proof: tuple[bytes, ...] | None = None
    ) -> tuple[int, str, str]:
        size = Checkpoint.parse(note.text).tree_size
        proof = self.proof(old, size) if proof is None else proof
        return self.post(AddCheckpointRequest(old, proof, note).encode())

    def stored(self) -> tuple[int, bytes] | None:
        latest = self.state.latest(ORIGIN)
        return None if latest is None else (latest.tree_size, latest.root_hash)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    tree = MerkleTree(leaf_hash(b"record %d" % i) for i in range(20))
    log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    witness = Cosigner("witness.lakeview.example/civic", Ed25519PrivateKey.generate())
    with WitnessState(tmp_path / "witness.db") as state:
        core = Witness(
            witness, {ORIGIN: [NoteVerifier(log.vkey)]}, state, clock=lambda: NOW
        )
        with WitnessServer(core, "127.0.0.1:0") as server:
            yield Setup(tree, log, witness, state, server)


def _cosignature(setup: Setup, note: Note, body: str) -> NoteSignature:
    (signature,) = open_note(
        Note.parse(note.text + "\n" + body), [CosignatureVerifier(setup.witness.vkey)]
    )
    return signature


def test_cosigns_a_first_checkpoint_then_a_consistent_one(setup: Setup) -> None:
    first, second = setup.note(7), setup.note(13)

    answers = [setup.add(0, first), setup.add(7, second)]

    assert [status for status, _, _ in answers] == [200, 200]
    assert cosignature_timestamp(_cosignature(setup, second, answers[1][2])) == NOW
    assert setup.stored() == (13, setup.tree.root(13))


def test_resubmitting_the_same_checkpoint_is_cosigned_again(setup: Setup) -> None:
    note = setup.note(7)
    setup.add(0, note)

    status, _, body = setup.add(7, note)

    assert status == 200
    assert _cosignature(setup, note, body).name == setup.witness.name


def test_an_empty_log_is_cosigned_with_the_empty_root(setup: Setup) -> None:
    status, _, _ = setup.add(0, setup.note(0, EMPTY_ROOT))

    assert status == 200
    assert setup.stored() == (0, EMPTY_ROOT)


def test_the_monitoring_endpoint_serves_the_cosigned_checkpoint(setup: Setup) -> None:
    note = setup.note(7)
    setup.add(0, note)
    host = setup.server.url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=10)

    connection.request("GET", f"/{origin_hash(ORIGIN)}/checkpoint")
    served = Note.parse(connection.getresponse().read())
    connection.request("GET", f"/{'0' * 64}/checkpoint")
    unknown = connection.getresponse()
    unknown.read()
    connection.close()

    verified = open_note(
        served, [NoteVerifier(setup.log.vkey), CosignatureVerifier(setup.witness.vkey)]
    )
    assert served.text == note.text
    assert {s.name for s in verified} == {ORIGIN, setup.witness.name}
    assert unknown.status == 404


def _forked(setup: Setup) -> tuple[int, str, str]:
    return setup.add(7, setup.note(7, hashlib.sha256(b"fork").digest()))


def _forked_later(setup: Setup) -> tuple[int, str, str]:
    # A size 13 tree whose first 7 leaves differ: its honest-looking proof
    # from 7 cannot lead to the root the witness cosigned at 7.
    other = MerkleTree(leaf_hash(b"other %d" % i) for i in range(13))
    return setup.add(
        7,
        setup.note(13, other.root(13)),
        tuple(other.consistency_proof(7, 13)),
    )


def _bad_proof(setup: Setup) -> tuple[int, str, str]:
    proof = list(setup.proof(7, 13))
    proof[0] = hashlib.sha256(b"wrong").digest()
    return setup.add(7, setup.note(13), tuple(proof))


def _rollback(setup: Setup) -> tuple[int, str, str]:
    return setup.add(7, setup.note(5), ())


def _rollback_claiming_old(setup: Setup) -> tuple[int, str, str]:
    return setup.add(5, setup.note(5), ())


def _stale_old_size(setup: Setup) -> tuple[int, str, str]:
    return setup.add(3, setup.note(13))


def _unknown_origin(setup: Setup) -> tuple[int, str, str]:
    other = origin_for("lakeview", OTHER.address, "audit")
    signer = NoteSigner(other, Ed25519PrivateKey.generate())
    return setup.add(
        7, sign_checkpoint(Checkpoint(other, 13, setup.tree.root(13)), signer)
    )


def _bad_signature(setup: Setup) -> tuple[int, str, str]:
    note = setup.note(13)
    good = note.signatures[0]
    forged = NoteSignature(good.name, good.key_id, bytes(64))
    return setup.add(7, Note(note.text, (forged,)))


def _wrong_key(setup: Setup) -> tuple[int, str, str]:
    # Signed under the log's name by someone else's key: an unknown key.
    impostor = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    return setup.add(
        7, sign_checkpoint(Checkpoint(ORIGIN, 13, setup.tree.root(13)), impostor)
    )


def _old_zero_with_proof(setup: Setup) -> tuple[int, str, str]:
    return setup.add(0, setup.note(13), setup.proof(7, 13))


def _old_above_size(setup: Setup) -> tuple[int, str, str]:
    return setup.add(13, setup.note(7), ())


def _malformed(setup: Setup) -> tuple[int, str, str]:
    return setup.post(b"old 07\n\n" + setup.note(13).format().encode())


def _too_many_proof_lines(setup: Setup) -> tuple[int, str, str]:
    line = b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    return setup.post(b"old 7\n" + line * 64 + b"\n" + setup.note(13).format().encode())


def _unsigned(setup: Setup) -> tuple[int, str, str]:
    return setup.post(b"old 7\n\n" + setup.note(13).text.encode())


def _too_large(setup: Setup) -> tuple[int, str, str]:
    return setup.post(b"x" * (MAX_BODY + 1))


def _wrong_endpoint(setup: Setup) -> tuple[int, str, str]:
    return setup.post(AddCheckpointRequest(7, (), setup.note(7)).encode(), "/add")


@pytest.mark.parametrize(
    ("attack", "status", "says"),
    [
        (_forked, 422, "another root"),
        (_forked_later, 422, "not consistent"),
        (_bad_proof, 422, "not consistent"),
        (_rollback, 400, "larger than"),
        (_rollback_claiming_old, 409, "7\n"),
        (_stale_old_size, 409, "7\n"),
        (_unknown_origin, 404, "unknown log origin"),
        (_bad_signature, 403, "does not verify"),
        (_wrong_key, 403, "no signature by a known key"),
        (_old_zero_with_proof, 409, "7\n"),
        (_old_above_size, 400, "larger than"),
        (_malformed, 400, "leading zeros"),
        (_too_many_proof_lines, 400, "more than 63"),
        (_unsigned, 400, "malformed note"),
        (_too_large, 413, "at most"),
        (_wrong_endpoint, 404, "no such endpoint"),
    ],
)
def test_attacks_are_answered_as_the_specification_says_and_nothing_is_stored(
    setup: Setup, attack: object, status: int, says: str
) -> None:
    # Prepare: the witness has cosigned the log at size 7.
    assert setup.add(0, setup.note(7))[0] == 200
    before = setup.stored()

    got, content_type, body = attack(setup)  # type: ignore[operator]

    assert (got, says in body) == (status, True), body
    if status == 409:
        assert content_type == "text/x.tlog.size"
        assert body == "7\n"
    assert setup.stored() == before


@pytest.mark.parametrize(
    ("size", "root", "proof_from", "says"),
    [
        (13, None, 7, "no consistency proof"),
        (0, hashlib.sha256(b"not empty").digest(), None, "empty tree"),
    ],
)
def test_a_new_log_is_checked_too(
    setup: Setup, size: int, root: bytes | None, proof_from: int | None, says: str
) -> None:
    proof = setup.proof(proof_from, size) if proof_from else ()

    status, _, body = setup.add(0, setup.note(size, root), proof)

    assert (status, says in body) == (422, True)
    assert setup.stored() is None


def test_a_validly_signed_inconsistent_checkpoint_is_logged_as_evidence(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.add(0, setup.note(7))

    with caplog.at_level(logging.WARNING, logger="ledger.witness"):
        _forked(setup)

    assert "refused a validly signed checkpoint" in caplog.text
    assert ORIGIN in caplog.text


def test_concurrent_submissions_never_roll_the_log_back(setup: Setup) -> None:
    # Many clients race from size 0 with checkpoints of growing sizes: one
    # wins, the others get 409; whatever the order, the state only grows.
    results: list[int] = []

    def submit(size: int) -> None:
        results.append(setup.add(0, setup.note(size))[0])

    threads = [threading.Thread(target=submit, args=(size,)) for size in range(1, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [200] + [409] * 9
    stored = setup.stored()
    assert stored is not None
    assert stored[1] == setup.tree.root(stored[0])


def test_the_state_survives_a_restart(setup: Setup, tmp_path: Path) -> None:
    setup.add(0, setup.note(7))

    with WitnessState(tmp_path / "witness.db") as reopened:
        latest = reopened.latest(ORIGIN)

    assert latest is not None
    assert latest.tree_size == 7


def test_the_state_file_is_private_and_refused_when_others_may_write_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    WitnessState(path).close()
    assert path.stat().st_mode & 0o777 == 0o600

    path.chmod(0o664)

    with pytest.raises(ConfigurationError, match="others may rewrite"):
        WitnessState(path)
