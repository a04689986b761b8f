"""Relaying actors' signed tree heads to the AnchorRegistry.

Departments sign their heads (they hold their keys) but may not reach the
chain: in a simulation the embedded EVM lives only in the coordinator's
process, and a county may not want every department to hold ether.
:class:`AnchorRelay` runs next to the chain, watches the actors' log files,
and submits the newest signed head of each log to the registry. The
registry checks the signature and the signer's role, so the relay needs no
authority of its own: it only pays for the transactions.

Per log, a head is relayed when its :class:`AnchorPolicy`
says so: ``every_records`` records signed but unanchored, or the oldest of
them waiting ``interval_s`` seconds; never per record. When the chain
fails, the log is retried after an exponential backoff; its records are
durable on disk meanwhile and the next anchor covers them all.
:meth:`AnchorRelay.flush` anchors everything signed so far (end of a job).

The relay reads the newest head straight from the log's SQLite file,
read-only (:mod:`ledger.log_files`), so polling costs one small
query per log, never a rehash of the log, and never interferes with the
process writing it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fedgov.errors import ConfigurationError, FedgovError
from ledger._polling import PollingThread
from ledger.errors import AnchorError
from ledger.log_files import LatestHead, read_latest_head
from ledger.tree_head import recover_signer

if TYPE_CHECKING:
    from collections.abc import Iterable

    from eth_account.signers.local import LocalAccount

    from ledger.anchor_registry import AnchoredHead
    from ledger.tree_head import SignedTreeHead, SigningDomain

__all__ = [
    "AnchorPolicy",
    "AnchorRelay",
    "HeadRegistry",
    "LatestHead",
    "RelayStatus",
    "read_latest_head",
]

_log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RelayStatus:
    """Where one watched log stands."""

    path: Path
    anchored_size: int | None
    """Size of its newest anchor (``None``: not read from the chain yet)."""
    anchors_sent: int
    failures: int
    last_error: str | None


class _Watched:
    def __init__(self, path: Path, backoff_s: float) -> None:
        self.path = path
        self.anchored_size: int | None = None
        self.pending_since: float | None = None
        self.retry_at = 0.0
        self.backoff_s = backoff_s
        self.anchors_sent = 0
        self.failures = 0
        self.last_error: str | None = None


class AnchorRelay(PollingThread):
    """Anchors the signed heads of the log files it watches; ``sender`` pays.

    Call :meth:`poll` when logs may have grown (after a round), or
    :meth:`start` a background thread that polls every ``policy.poll_s``.
    Thread-safe.
    """

    def __init__(
        self,
        registry: HeadRegistry,
        *,
        sender: LocalAccount,
        policy: AnchorPolicy | None = None,
        logs: Iterable[Path] = (),
    ) -> None:
        self._registry = registry
        self._sender = sender
        self._policy = policy or AnchorPolicy()
        self._watched: dict[Path, _Watched] = {}
        self._lock = threading.RLock()
        super().__init__()
        for path in logs:
            self.watch(path)

    @property
    def policy(self) -> AnchorPolicy:
        return self._policy

    def watch(self, path: Path) -> None:
        """Relay the heads of the log file ``path`` (it may not exist yet)."""
        with self._lock:
            self._watched.setdefault(
                Path(path), _Watched(Path(path), self._policy.initial_backoff_s)
            )

    def status(self) -> list[RelayStatus]:
        """Every watched log's anchoring state."""
        with self._lock:
            return [
                RelayStatus(
                    w.path, w.anchored_size, w.anchors_sent, w.failures, w.last_error
                )
                for w in self._watched.values()
            ]

    def poll(self) -> list[AnchoredHead]:
        """Anchor the heads that are due; chain failures are retried later."""
        anchored: list[AnchoredHead] = []
        with self._lock:
            now = time.monotonic()
            for watched in self._watched.values():
                if now < watched.retry_at:
                    continue
                try:
                    result = self._relay(watched, now, force=False)
                except FedgovError as e:
                    self._failed(watched, now, e)
                    continue
                if result is not None:
                    anchored.append(result)
        return anchored

    def flush(self, timeout_s: float = 60.0) -> list[AnchoredHead]:
        """Anchor every head signed before this call; raise :class:`AnchorError`
        naming the first log that could not be anchored within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            targets = {
                path: latest.signed.head.tree_size
                for path in self._watched
                if (latest := read_latest_head(path, self._registry.domain)) is not None
            }
        anchored: list[AnchoredHead] = []
        backoff = self._policy.initial_backoff_s
        while True:
            with self._lock:
                for path in list(targets):
                    watched = self._watched[path]
                    try:
                        result = self._relay(watched, time.monotonic(), force=True)
                    except FedgovError as e:
                        self._failed(watched, time.monotonic(), e)
                        continue
                    if result is not None:
                        anchored.append(result)
                    if (watched.anchored_size or 0) >= targets[path]:
                        del targets[path]
            if not targets:
                return anchored
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                path, size = next(iter(targets.items()))
                watched = self._watched[path]
                latest = read_latest_head(path, self._registry.domain)
                log_id = latest.signed.head.log_id if latest is not None else bytes(32)
                raise AnchorError(
                    log_id, size, f"{path}: {watched.last_error or 'timed out'}"
                )
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, self._policy.max_backoff_s)

    def _relay(
        self, watched: _Watched, now: float, *, force: bool
    ) -> AnchoredHead | None:
        latest = read_latest_head(watched.path, self._registry.domain)
        if latest is None:
            return None
        signed = latest.signed
        if watched.anchored_size is None:
            on_chain = self._registry.latest(signed.head.log_id)
            watched.anchored_size = 0 if on_chain is None else on_chain.tree_size
        size = signed.head.tree_size
        if size <= watched.anchored_size:
            watched.pending_since = None
            return None
        if watched.pending_since is None:
            watched.pending_since = now
        policy = self._policy
        due = (
            force
            or size - watched.anchored_size >= policy.every_records
            or now - watched.pending_since >= policy.interval_s
        )
        if not due:
            return None
        if signed.signer != latest.actor or (
            recover_signer(signed, self._registry.domain) != signed.signer
        ):
            raise ConfigurationError(
                str(watched.path),
                f"its head at size {size} is not signed by the log's actor {latest.actor}",
            )
        result = self._registry.anchor(
            signed, log_name=latest.log_name, sender=self._sender
        )
        watched.anchored_size = result.tree_size
        watched.pending_since = None
        watched.retry_at = 0.0
        watched.backoff_s = policy.initial_backoff_s
        watched.anchors_sent += 1
        watched.last_error = None
        _log.info(
            "relayed %s's head at size %d (block %d)",
            latest.actor,
            result.tree_size,
            result.block_number,
        )
        return result

    def _failed(self, watched: _Watched, now: float, error: FedgovError) -> None:
        # Re-read the anchored size from the chain next time: the failed
        # transaction may have been mined after all.
        watched.anchored_size = None
        watched.failures += 1
        watched.last_error = str(error)
        watched.retry_at = now + watched.backoff_s
        _log.warning(
            "relaying %s failed (retry in %.1f s): %s",
            watched.path,
            watched.backoff_s,
            error,
        )
        watched.backoff_s = min(watched.backoff_s * 2, self._policy.max_backoff_s)

    # -- background thread ------------------------------------------------------

    @property
    def _poll_s(self) -> float:
        return self._policy.poll_s

    @property
    def _thread_name(self) -> str:
        return "anchor-relay"

    def _tick(self) -> None:
        try:
            self.poll()
        # The thread must outlive any failure; poll() already handles
        # the ledger's own, so anything here is unexpected.
        except Exception:
            _log.exception("anchor relay poll failed")
