"""A transparency-log witness (C2SP ``tlog-witness``): ``add-checkpoint``.

A witness is configured with the note keys of the logs it follows (by
origin) and keeps, per log, the latest checkpoint it cosigned
(:class:`~ledger.witness_state.WitnessState`). A log submits a new
checkpoint with the size of that previous one and a consistency proof
from it; the witness checks, in the specification's order:

==========================================================  ======
the request parses (old size line, at most 63 proof lines,  400
blank line, a checkpoint note)
the checkpoint's origin is a configured log                 404
no trusted signature, or a trusted key's fails              403
old size > checkpoint size                                  400
old size is not the size it last cosigned (0: none)         409 + ``<size>\\n``, ``text/x.tlog.size``
size 0 with another root than SHA-256("")                   422
old size 0 with a proof; a proof that does not verify       422
same size, other root                                       422
==========================================================  ======

and otherwise stores the checkpoint, then answers ``200`` with its
``cosignature/v1`` line, timestamped. Nothing is stored for a refused
request; a validly signed checkpoint that breaks consistency is logged as a
warning with its note, as evidence that the log forked.

This module is the protocol without HTTP (:mod:`ledger.witness_http` serves
it); :class:`AddCheckpointRequest` is also what clients send.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from ledger.checkpoint import Checkpoint
from ledger.cosignature import Cosigner
from ledger.errors import MalformedNoteError, ProofError, UnverifiedNoteError
from ledger.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from ledger.note import Note, Verifier, open_note
from ledger.witness_state import StoredCheckpoint, WitnessState

__all__ = [
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "Witness",
    "WitnessResponse",
]

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_TEXT = "text/plain; charset=utf-8"
_OLD = re.compile(r"old (0|[1-9][0-9]*)")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddCheckpointRequest:
    """An ``add-checkpoint`` body: old size, consistency proof, checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: Note

    def __post_init__(self) -> None:
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedNoteError(
                f"{len(self.proof)} proof lines, more than {MAX_PROOF_LINES}"
            )
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise MalformedNoteError(f"every proof hash is {HASH_SIZE} bytes")

    def encode(self) -> bytes:
        lines = [f"old {self.old_size}"]
        lines += [base64.b64encode(h).decode("ascii") for h in self.proof]
        return (
            "".join(f"{line}\n" for line in lines) + "\n" + self.note.format()
        ).encode()

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpointRequest:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedNoteError(f"the request is not UTF-8: {e}") from e
        head, blank, note = text.partition("\n\n")
        if not blank:
            raise MalformedNoteError("no blank line before the checkpoint")
        lines = head.split("\n")
        match = _OLD.fullmatch(lines[0])
        if match is None:
            raise MalformedNoteError(
                f"the first line {lines[0][:40]!r} is not 'old <size>' without leading zeros"
            )
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise MalformedNoteError(
                f"{len(lines) - 1} proof lines, more than {MAX_PROOF_LINES}"
            )
        proof = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                proof.append(base64.b64decode(line.encode("ascii"), validate=True))
            except (UnicodeEncodeError, binascii.Error) as e:
                raise MalformedNoteError(f"proof line {number} is not base64") from e
        return cls(int(match[1]), tuple(proof), Note.parse(note))


@dataclass(frozen=True)
class WitnessResponse:
    """What to answer: HTTP status, content type and body."""

    status: int
    content_type: str
    body: bytes


def _answer(status: HTTPStatus, message: str) -> WitnessResponse:
    return WitnessResponse(int(status), _TEXT, (message + "\n").encode())


class Witness:
    """Cosigns checkpoints of the logs in ``logs`` (origin -> their note keys)."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Sequence[Verifier]],
        state: WitnessState,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self._logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self._state = state
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def origins(self) -> tuple[str, ...]:
        """The logs this witness follows."""
        return tuple(sorted(self._logs))

    def add_checkpoint(self, body: bytes) -> WitnessResponse:
        """Answer one ``add-checkpoint`` request body."""
        try:
            request = AddCheckpointRequest.parse(body)
            checkpoint = Checkpoint.parse(request.note.text)
        except MalformedNoteError as e:
            return _answer(HTTPStatus.BAD_REQUEST, str(e))
        keys = self._logs.get(checkpoint.origin)
        if keys is None:
            return _answer(
                HTTPStatus.NOT_FOUND, f"unknown log origin {checkpoint.origin!r}"
            )
        try:
            verified = open_note(request.note, keys)
        except UnverifiedNoteError as e:
            return _answer(HTTPStatus.FORBIDDEN, str(e))
        if request.old_size > checkpoint.tree_size:
            return _answer(
                HTTPStatus.BAD_REQUEST,
                f"old size {request.old_size} is larger than the checkpoint's "
                f"{checkpoint.tree_size}",
            )
        with self._lock:
            return self._advance(request, checkpoint, Note(request.note.text, verified))

    def _advance(
        self, request: AddCheckpointRequest, checkpoint: Checkpoint, signed: Note
    ) -> WitnessResponse:
        stored = self._state.latest(checkpoint.origin)
        stored_size = 0 if stored is None else stored.tree_size
        if request.old_size != stored_size:
            return _conflict(stored_size)
        problem = _inconsistency(request, checkpoint, stored)
        if problem is not None:
            _log.warning(
                "witness: refused a validly signed checkpoint of %s: %s; the note "
                "follows as evidence\n%s",
                checkpoint.origin,
                problem,
                signed.format(),
            )
            return _answer(HTTPStatus.UNPROCESSABLE_ENTITY, problem)
        cosignature = self.cosigner.cosign(signed.text, max(1, int(self._clock())))
        changed = self._state.advance(
            checkpoint.origin,
            stored_size,
            checkpoint.tree_size,
            checkpoint.root_hash,
            signed.with_signatures([cosignature]).format(),
        )
        if changed is not None:  # another process sharing the state file won
            return _conflict(changed)
        _log.info(
            "witness: cosigned %s at size %d", checkpoint.origin, checkpoint.tree_size
        )
        return WitnessResponse(int(HTTPStatus.OK), _TEXT, cosignature.line().encode())

    def monitored(self, hashed: str) -> WitnessResponse:
        """The latest cosigned checkpoint of the log whose origin hashes to ``hashed``."""
        stored = self._state.latest_by_hash(hashed)
        if stored is None:
            return _answer(HTTPStatus.NOT_FOUND, "no checkpoint cosigned for that log")
        return WitnessResponse(int(HTTPStatus.OK), _TEXT, stored.note.encode())


def _conflict(size: int) -> WitnessResponse:
    return WitnessResponse(
        int(HTTPStatus.CONFLICT), SIZE_CONTENT_TYPE, f"{size}\n".encode()
    )


def _inconsistency(
    request: AddCheckpointRequest,
    checkpoint: Checkpoint,
    stored: StoredCheckpoint | None,
) -> str | None:
    """Why ``checkpoint`` is not consistent with the stored one, or ``None``."""
    if checkpoint.tree_size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        return "a checkpoint of size 0 must carry the empty tree's root"
    if stored is None or stored.tree_size == 0:
        if request.proof:
            return "old size 0 takes no consistency proof"
        return None
    stored_size = stored.tree_size
    try:
        verify_consistency(
            stored_size,
            checkpoint.tree_size,
            stored.root_hash,
            checkpoint.root_hash,
            request.proof,
        )
    except ProofError as e:
        if stored_size == checkpoint.tree_size:
            return f"size {stored_size} was cosigned with another root: {e.reason}"
        return f"not consistent with the cosigned size {stored_size}: {e.reason}"
    return None
