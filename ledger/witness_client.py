"""The log's side of ``tlog-witness``: submit checkpoints, keep cosignatures.

:class:`WitnessClient` speaks ``add-checkpoint`` to one witness (HTTP/1.1,
one kept-alive connection). The log sends the size the witness last
cosigned and a consistency proof from it; when that size is not what the
witness holds (``409``, e.g. the first time, or after another process of
the log submitted), it retries once from the size the witness names. The
answer's cosignatures are verified against the witness's key before they
are kept: an unverifiable answer is a :class:`~ledger.errors.WitnessError`.

:func:`publish_checkpoint` is what an actor runs: sign its log's latest
signed head as a checkpoint, have every witness cosign it, and store the
note with the cosignatures it got beside its heads
(:meth:`ledger.store.LogStore.add_checkpoint`).
"""

from __future__ import annotations

import http.client
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fedgov.errors import ConfigurationError
from ledger.checkpoint import Checkpoint, origin_for, sign_checkpoint
from ledger.cosignature import CosignatureVerifier
from ledger.errors import MalformedNoteError, UnverifiedNoteError, WitnessError
from ledger.keys import key_password
from ledger.layout import note_key_path
from ledger.note import Note, NoteSignature, NoteSigner, open_note
from ledger.note_keys import load_or_create_note_key
from ledger.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from ledger.note import VerifierKey
    from ledger.store import LogStore
    from ledger.witness_policy import WitnessPolicy

__all__ = [
    "CheckpointPublisher",
    "PublishedCheckpoint",
    "WitnessClient",
    "checkpoint_signer",
    "publish_checkpoint",
    "witnessed_size",
]

_POWER = "sign checkpoints of this log"


class WitnessClient:
    """Submits checkpoints to the witness ``vkey`` at ``url`` (its submission prefix)."""

    def __init__(self, url: str, vkey: VerifierKey, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("url", f"{url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.verifier = CosignatureVerifier(vkey)
        self._path = parts.path.rstrip("/") + "/add-checkpoint"
        self._connect: Callable[[], http.client.HTTPConnection] = (
            (lambda: http.client.HTTPSConnection(parts.netloc, timeout=timeout))
            if parts.scheme == "https"
            else (lambda: http.client.HTTPConnection(parts.netloc, timeout=timeout))
        )
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self.verifier.name

    def add_checkpoint(
        self,
        note: Note,
        proof_from: Callable[[int], Sequence[bytes]],
        known_size: int = 0,
    ) -> tuple[NoteSignature, ...]:
        """Have the witness cosign ``note``; return its verified cosignatures.

        ``known_size`` is the size this witness last cosigned as far as the
        log knows; ``proof_from(old)`` the consistency proof from ``old`` to
        the checkpoint's size.
        """
        size = Checkpoint.parse(note.text).tree_size
        old = known_size if known_size <= size else 0
        for attempt in range(2):
            request = AddCheckpointRequest(old, tuple(proof_from(old)), note)
            status, content_type, body = self._post(request.encode())
            if status == http.client.OK:
                return self._cosignatures(note, body)
            if status != http.client.CONFLICT or attempt:
                raise WitnessError(
                    self.url, status, body.decode(errors="replace").strip()
                )
            old = _conflict_size(self.url, content_type, body)
            if old > size:
                raise WitnessError(
                    self.url,
                    status,
                    f"it cosigned size {old} of this log, more than this "
                    f"checkpoint's {size}: it saw a longer history than this log holds",
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _cosignatures(self, note: Note, body: bytes) -> tuple[NoteSignature, ...]:
        try:
            lines = body.decode("utf-8")
            cosigned = Note.parse(note.text + "\n" + lines)
            return open_note(cosigned, [self.verifier])
        except (UnicodeDecodeError, MalformedNoteError, UnverifiedNoteError) as e:
            raise WitnessError(
                self.url,
                http.client.OK,
                f"answered no valid cosignature by {self.name}: {e}",
            ) from e

    def _post(self, body: bytes) -> tuple[int, str, bytes]:
        with self._lock:
            for attempt in range(2):
                if self._connection is None:
                    self._connection = self._connect()
                try:
                    self._connection.request(
                        "POST",
                        self._path,
                        body=body,
                        headers={"Content-Type": "text/plain; charset=utf-8"},
                    )
                    response = self._connection.getresponse()
                    return (
                        response.status,
                        response.getheader("Content-Type", ""),
                        response.read(),
                    )
                except (OSError, http.client.HTTPException) as e:
                    self._connection.close()
                    self._connection = None
                    # A kept-alive connection the server closed: redial once.
                    if attempt:
                        raise WitnessError(self.url, 0, str(e)) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> WitnessClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


_log = logging.getLogger(__name__)


def _conflict_size(url: str, content_type: str, body: bytes) -> int:
    text = body.decode(errors="replace")
    if content_type.split(";")[0].strip() != SIZE_CONTENT_TYPE or not (
        text.endswith("\n") and text[:-1].isdigit()
    ):
        raise WitnessError(url, 409, f"a conflict without a size: {text[:80]!r}")
    return int(text)


@dataclass(frozen=True)
class PublishedCheckpoint:
    """A checkpoint as stored: the note with every cosignature it got."""

    checkpoint: Checkpoint
    note: Note
    cosigned_by: tuple[str, ...]
    """The witnesses (key names) whose cosignature it carries."""
    failures: tuple[WitnessError, ...]
    """The witnesses that did not cosign, and why."""


def witnessed_size(store: LogStore, verifier: CosignatureVerifier) -> int:
    """The largest checkpoint size ``store`` holds a valid cosignature of ``verifier`` for."""
    size = 0
    for text in store.checkpoints():
        note = Note.parse(text)
        try:
            open_note(note, [verifier])
        except UnverifiedNoteError:
            continue
        size = max(size, Checkpoint.parse(note.text).tree_size)
    return size


def publish_checkpoint(
    store: LogStore, signer: NoteSigner, witnesses: Sequence[WitnessClient]
) -> PublishedCheckpoint:
    """Checkpoint ``store``'s latest signed head, have it cosigned, store it.

    ``signer`` is the log's note key, named after its origin. Witnesses that
    refuse or cannot be reached are reported in ``failures``; the note is
    stored with the cosignatures of the others (with none when all failed).
    """
    latest = store.latest_tree_head()
    if latest is None:
        raise ConfigurationError(
            "store", f"{store.path} has no signed head to publish as a checkpoint"
        )
    checkpoint = Checkpoint(signer.name, latest.head.tree_size, latest.head.root_hash)
    note = sign_checkpoint(checkpoint, signer)
    size = checkpoint.tree_size

    def proof_from(old: int) -> tuple[bytes, ...]:
        if old in (0, size):
            return ()
        return store.consistency_proof(old, size).hashes

    cosignatures: list[NoteSignature] = []
    cosigned_by: list[str] = []
    failures: list[WitnessError] = []
    for witness in witnesses:
        try:
            got = witness.add_checkpoint(
                note, proof_from, witnessed_size(store, witness.verifier)
            )
        except WitnessError as e:
            failures.append(e)
            continue
        cosignatures.extend(got)
        cosigned_by.append(witness.name)
    note = note.with_signatures(cosignatures)
    store.add_checkpoint(note)
    return PublishedCheckpoint(checkpoint, note, tuple(cosigned_by), tuple(failures))


def checkpoint_signer(store: LogStore, county: str) -> NoteSigner:
    """The note signer of ``store``'s checkpoints in ``county``.

    Its Ed25519 key lives beside the log (:func:`ledger.layout.note_key_path`),
    created on first use, sealed with ``$FEDGOV_KEY_PASSWORD`` when set.
    """
    key = load_or_create_note_key(
        note_key_path(store.path), password=key_password(), power=_POWER
    )
    return NoteSigner(origin_for(county, store.actor, store.log_name), key)


class CheckpointPublisher:
    """Publishes a log's latest signed head as a checkpoint of ``county``.

    Used where heads are signed (:class:`ledger.actor_log.ActorLog`), so
    every signed head is also a C2SP checkpoint, cosigned by the witnesses
    of ``policy`` that have a URL. A witness that refuses or is away is
    logged; the note is kept with the cosignatures that came.
    """

    def __init__(self, county: str, policy: WitnessPolicy | None = None) -> None:
        origin_for(county, "0x" + "00" * 20, "audit")  # the county must name origins
        self.county = county
        self.witnesses = tuple(
            WitnessClient(w.url, w.vkey)
            for w in (policy.witnesses if policy is not None else ())
            if w.url is not None
        )

    def publish(self, store: LogStore) -> PublishedCheckpoint:
        """Checkpoint ``store``'s latest signed head; have it cosigned; store it."""
        published = publish_checkpoint(
            store, checkpoint_signer(store, self.county), self.witnesses
        )
        for failure in published.failures:
            _log.warning(
                "checkpoint %s size %d: %s",
                published.checkpoint.origin,
                published.checkpoint.tree_size,
                failure,
            )
        return published

    def close(self) -> None:
        for witness in self.witnesses:
            witness.close()
