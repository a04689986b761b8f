"""Anchoring an audit log's signed tree heads on chain, in batches, in the background.

An :class:`Anchorer` watches one actor's log (any :class:`TreeHeadSource`;
the ``LogStore`` is the real one) and anchors its newest signed head in the
AnchorRegistry when either trigger of its :class:`AnchorPolicy` fires:

- ``every_records`` records have been appended since the last anchor, or
- the oldest unanchored record has waited ``interval_s`` seconds.

One transaction covers every record appended so far, and at most one is in
flight, so the number of transactions tracks time and volume, never the
number of records.

The chain is allowed to be away. Appending records is the store's business
and never waits for the chain; when an anchor fails the anchorer retries with
exponential backoff (``initial_backoff_s`` doubling up to ``max_backoff_s``),
each time signing the head that is newest *then*, so the first anchor after an
outage covers everything appended during it. :meth:`Anchorer.flush` anchors
everything appended so far before a job ends, or raises
:class:`~ledger.errors.AnchorError` when it cannot within its timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fedgov.errors import ConfigurationError, FedgovError
from ledger._polling import PollingThread
from ledger.anchor_registry import MAX_LOG_NAME_BYTES
from ledger.errors import AnchorError
from ledger.tree_head import log_id_for

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ledger.anchor_registry import AnchoredHead
    from ledger.tree_head import SignedTreeHead, SigningDomain

__all__ = ["AnchorPolicy", "Anchorer", "HeadRegistry", "TreeHeadSource"]

_log = logging.getLogger(__name__)


class TreeHeadSource(Protocol):
    """An append-only log whose heads can be signed (``LogStore`` is one).

    ``size`` must be cheap: the anchorer reads it several times a second.
    """

    @property
    def size(self) -> int:
        """The number of records in the log."""
        ...

    def sign_head(self, account: LocalAccount, domain: SigningDomain) -> SignedTreeHead:
        """Sign the log's current head (all ``size`` records) for ``domain``."""
        ...


class HeadRegistry(Protocol):
    """Where heads get anchored (:class:`~ledger.anchor_registry.AnchorRegistry`)."""

    @property
    def domain(self) -> SigningDomain:
        """The EIP-712 domain heads must be signed under."""
        ...

    def latest(self, log_id: bytes) -> AnchoredHead | None:
        """The newest anchored head of ``log_id``, if any."""
        ...

    def anchor(
        self, signed: SignedTreeHead, *, log_name: str, sender: LocalAccount
    ) -> AnchoredHead:
        """Anchor ``signed``; raise a ledger error if it is not accepted."""
        ...


@dataclass(frozen=True, kw_only=True)
class AnchorPolicy:
    """When to anchor, and how to retry while the chain is away."""

    interval_s: float = 30.0
    """Longest time a record waits unanchored (while the chain is up)."""
    every_records: int = 10_000
    """Anchor as soon as this many records are unanchored."""
    poll_s: float = 0.1
    """How often the background thread looks at the log's size."""
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("interval_s", "poll_s", "initial_backoff_s", "max_backoff_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigurationError(name, f"must be positive, got {value}")
        if self.every_records < 1:
            raise ConfigurationError(
                "every_records", f"must be at least 1, got {self.every_records}"
            )
        if self.max_backoff_s < self.initial_backoff_s:
            raise ConfigurationError(
                "max_backoff_s",
                f"must be >= initial_backoff_s ({self.initial_backoff_s}), "
                f"got {self.max_backoff_s}",
            )


class Anchorer(PollingThread):
    """Anchors one log's signed tree heads: in a background thread, or on demand.

    ``signer`` is the log owner's key (it must hold the coordinator or
    department role); ``sender`` pays for the transactions and defaults to the
    signer. Use as a context manager: the thread starts on entry, and on exit it
    stops and — unless the body raised — flushes.
    """

    def __init__(
        self,
        source: TreeHeadSource,
        registry: HeadRegistry,
        *,
        signer: LocalAccount,
        sender: LocalAccount | None = None,
        log_name: str = "audit",
        policy: AnchorPolicy | None = None,
    ) -> None:
        if not 0 < len(log_name.encode("utf-8")) <= MAX_LOG_NAME_BYTES:
            raise ConfigurationError(
                "log_name", f"must be 1..{MAX_LOG_NAME_BYTES} UTF-8 bytes"
            )
        self._source = source
        self._registry = registry
        self._signer = signer
        self._sender = sender or signer
        self._log_name = log_name
        self._policy = policy or AnchorPolicy()
        self._log_id = log_id_for(signer.address, log_name)
        # Serialises anchoring between the thread and flush(); never held
        # while waiting, so stop() and status reads stay responsive.
        self._anchor_lock = threading.RLock()
        super().__init__()
        # None until read from the chain: the log may have been anchored by an
        # earlier process, and after a failure we re-read rather than guess.
        self._anchored_size: int | None = None
        self._latest: AnchoredHead | None = None
        self._pending_since: float | None = None
        self._backoff_s = self._policy.initial_backoff_s
        self._retry_at = 0.0
        self._anchors_sent = 0
        self._failures = 0
        self._last_error: str | None = None

    @property
    def log_id(self) -> bytes:
        return self._log_id

    @property
    def latest(self) -> AnchoredHead | None:
        """The newest head this anchorer knows to be anchored."""
        return self._latest

    @property
    def anchors_sent(self) -> int:
        """Anchor transactions this anchorer got mined."""
        return self._anchors_sent

    @property
    def failures(self) -> int:
        """Failed anchoring attempts so far."""
        return self._failures

    @property
    def last_error(self) -> str | None:
        """Why the latest attempt failed; ``None`` once an attempt succeeds."""
        return self._last_error

    def anchor_now(self) -> AnchoredHead | None:
        """Anchor the log's current head if it is newer than the anchored one.

        One attempt; chain failures propagate as ledger errors. Returns the
        new anchor, or ``None`` when there was nothing new to anchor.
        """
        with self._anchor_lock:
            try:
                anchored = self._known_anchored_size()
                if self._source.size <= anchored:
                    return None
                signed = self._source.sign_head(self._signer, self._registry.domain)
                if signed.head.log_id != self._log_id:
                    raise ConfigurationError(
                        "source",
                        f"signs log 0x{signed.head.log_id.hex()}, but log "
                        f"{self._log_name!r} of {self._signer.address} is "
                        f"0x{self._log_id.hex()}",
                    )
                if signed.head.tree_size <= anchored:
                    return None
                result = self._registry.anchor(
                    signed, log_name=self._log_name, sender=self._sender
                )
            except FedgovError as e:
                self._anchored_size = None
                self._failures += 1
                self._last_error = str(e)
                raise
            self._anchored_size = result.tree_size
            self._latest = result
            self._anchors_sent += 1
            self._last_error = None
            _log.info(
                "anchored log 0x%s at tree size %d in block %d",
                self._log_id.hex(),
                result.tree_size,
                result.block_number,
            )
            return result

    def flush(self, timeout_s: float = 60.0) -> AnchoredHead | None:
        """Anchor every record appended before this call; wait at most ``timeout_s``.

        Returns the newest anchor (``None`` for an empty log); raises
        :class:`~ledger.errors.AnchorError` if the chain did not accept it in time.
        """
        target = self._source.size
        deadline = time.monotonic() + timeout_s
        backoff = self._policy.initial_backoff_s
        while True:
            try:
                self.anchor_now()
                if self._known_anchored_size() >= target:
                    return self._latest
            except FedgovError as e:
                _log.warning("flush of log 0x%s: %s", self._log_id.hex(), e)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AnchorError(self._log_id, target, self._last_error or "timed out")
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, self._policy.max_backoff_s)

    @property
    def _poll_s(self) -> float:
        return self._policy.poll_s

    @property
    def _thread_name(self) -> str:
        return f"anchorer-{self._log_id.hex()[:8]}"

    def _known_anchored_size(self) -> int:
        with self._anchor_lock:
            if self._anchored_size is None:
                latest = self._registry.latest(self._log_id)
                self._latest = latest
                self._anchored_size = 0 if latest is None else latest.tree_size
            return self._anchored_size

    def _due(self, now: float) -> bool:
        if now < self._retry_at:
            return False
        size = self._source.size
        # Unknown (at start, after a failure): assume nothing is anchored;
        # anchor_now() reads the chain before it signs anything.
        anchored = self._anchored_size or 0
        if size <= anchored:
            self._pending_since = None
            return False
        if self._pending_since is None:
            self._pending_since = now
        return (
            size - anchored >= self._policy.every_records
            or now - self._pending_since >= self._policy.interval_s
        )

    def _tick(self) -> None:
        policy = self._policy
        now = time.monotonic()
        try:
            if not self._due(now):
                return
            self.anchor_now()
            self._pending_since = None
            self._backoff_s = policy.initial_backoff_s
            self._retry_at = 0.0
        # The thread must outlive any failure; unexpected ones get a traceback.
        except Exception as e:
            self._retry_at = now + self._backoff_s
            _log.warning(
                "anchoring log 0x%s failed (retry in %.1f s): %s",
                self._log_id.hex(),
                self._backoff_s,
                e,
                exc_info=not isinstance(e, FedgovError),
            )
            self._backoff_s = min(self._backoff_s * 2, policy.max_backoff_s)
