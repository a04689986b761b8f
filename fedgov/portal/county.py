"""What the portal knows of the county, kept up to date as the files grow.

:class:`County` reads, never writes: the actors' audit logs (read-only, only
the records appended since it last looked: a log is append-only), the tree
heads anchored on chain, the departments' budget ledgers and the run folders.
Each request asks for a :meth:`County.refresh` first; it costs one small
query per log file while nothing changed, and is rate-limited, so a page for a
county of 100,000 records renders from memory.

Proofs: the portal keeps, per log, the RFC 9162 tree over the stored leaf
hashes (64 bytes a record), so the inclusion proof of any record under the
latest anchored head is served without rereading the log. The browser checks
it against the anchored root (:mod:`fedgov.portal.web`); a record edited in
place no longer hashes to what was anchored, and its proof fails there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fedgov.portal import _sources as src
from fedgov.portal.register import (
    RecordRef,
    RegisterBuilder,
    RegisterEntry,
    parse_record,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from fedgov.portal.settings import PortalSettings

__all__ = [
    "BudgetPoint",
    "BudgetSeries",
    "County",
    "LogView",
    "RecordProof",
]

_READ_BATCH = 20_000
"""Records read from a log per query while catching up."""


@dataclass
class _Log:
    source: src.ActorLog
    meta: src.LogFileInfo
    tree: src.MerkleTree = field(default_factory=src.MerkleTree)
    anchored: src.AnchoredHead | None = None
    anchor_count: int = 0
    unreadable: str = ""

    @property
    def log_id(self) -> str:
        return self.meta.log_id.hex()


@dataclass(frozen=True)
class LogView:
    """One actor's log as the audit page shows it."""

    log_id: str
    path: str
    actor: str
    role: str
    department: str
    size: int
    signed_heads: int
    latest_signed_size: int | None
    latest_signed_ms: int | None
    anchors: int
    anchored_size: int | None
    anchored_block: int | None
    anchored_root: str | None
    root_matches_anchor: bool | None
    """Whether the stored leaf hashes rebuild the anchored root (``None``: no anchor)."""
    checkpoint_size: int | None
    """The size of the newest C2SP checkpoint the log published (``None``: none)."""
    checkpoints: int
    cosigners: tuple[str, ...]
    """Who else signed that checkpoint, as named (witnesses; checked by the auditor)."""


@dataclass(frozen=True)
class RecordProof:
    """A record, and its inclusion proof under the latest anchored head."""

    ref: RecordRef
    actor: str
    role: str
    department: str
    record: str
    """The stored record bytes (canonical JSON, as text)."""
    leaf_hash: str
    tree_size: int | None
    """Of the anchored head covering the record; ``None``: not anchored yet."""
    root: str | None
    anchored_block: int | None
    path: tuple[str, ...]
    problem: str = ""
    """Why no proof can be given although the record is anchored."""


@dataclass(frozen=True)
class BudgetPoint:
    timestamp: float
    epsilon_after: float
    kind: str
    job: str


@dataclass(frozen=True)
class BudgetSeries:
    """One department's budget on one dataset, spend by spend."""

    department: str
    dataset: str
    limit: float
    delta: float
    spent: float
    remaining: float
    points: tuple[BudgetPoint, ...]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, -1)
    return (info.st_mtime_ns, info.st_size)


class County:
    """The county's logs, anchors, budgets and runs, read as they grow.

    Thread-safe: every request thread may call :meth:`refresh` and the views.
    """

    def __init__(
        self,
        settings: PortalSettings,
        chain: src.Chain,
        *,
        min_refresh_s: float = 1.0,
        min_anchor_refresh_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.chain = chain
        self.registry = (
            src.AnchorRegistry.at(chain, settings.registry)
            if settings.registry
            else None
        )
        self.consultations = (
            src.ConsultationContract.at(chain, settings.consultation)
            if settings.consultation
            else None
        )
        self._min_refresh_s = min_refresh_s
        self._min_anchor_refresh_s = min_anchor_refresh_s
        self._lock = threading.RLock()
        self._logs: dict[Path, _Log] = {}
        self._by_id: dict[str, _Log] = {}
        self._register = RegisterBuilder()
        self._entries: list[RegisterEntry] = []
        self._refreshed = 0.0
        self._anchors_refreshed = 0.0
        self._budgets: dict[Path, tuple[tuple[int, int], list[src.BudgetStatus]]] = {}
        self._runs: dict[Path, tuple[tuple[int, ...], src.RunFolder | None]] = {}
        self.version = 0
        """Grows whenever something the pages show changed."""

    # -- refreshing ---------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Catch up with the files and the chain (at most once a second)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._refreshed < self._min_refresh_s:
                return
            self._refreshed = now
            changed = False
            for source in src.actor_logs(self.settings.state_dirs):
                changed |= self._catch_up(source)
            if changed:
                self._entries = self._register.entries()
            if force or now - self._anchors_refreshed >= self._min_anchor_refresh_s:
                self._anchors_refreshed = now
                changed |= self._refresh_anchors()
            if changed:
                self.version += 1

    def _catch_up(self, source: src.ActorLog) -> bool:
        log = self._logs.get(source.path)
        meta = src.read_log_info(source.path)
        if meta is None:
            return False
        if log is None:
            log = self._logs[source.path] = _Log(source, meta)
            self._by_id[log.log_id] = log
        log.meta = meta
        start = log.tree.size
        if meta.size <= start:
            return False
        while start < meta.size:
            end = min(start + _READ_BATCH, meta.size)
            for row in src.read_rows(source.path, start, end):
                if row.index != log.tree.size:
                    log.unreadable = f"record {log.tree.size} is missing"
                    return True
                log.tree.append(row.leaf_hash)
                record = parse_record(row.data)
                if record is not None:
                    self._register.add(
                        record,
                        RecordRef(log.log_id, row.index),
                        role=source.role,
                        department=source.department,
                    )
            start = end
        return True

    def _refresh_anchors(self) -> bool:
        # Only a signed head can be anchored, and anchored sizes only grow:
        # a log whose newest signed head is anchored already needs no call.
        # Otherwise one call, and the latest anchor (a call and a log query)
        # only when the log was anchored again since.
        if self.registry is None:
            return False
        changed = False
        for log in self._logs.values():
            signed = src.latest_signed_size(log.source.path)
            anchored = log.anchored.tree_size if log.anchored is not None else None
            if signed is None or (anchored is not None and signed <= anchored):
                continue
            count = self.registry.anchor_count(log.meta.log_id)
            if count != log.anchor_count:
                log.anchored = self.registry.latest(log.meta.log_id)
                log.anchor_count = count
                changed = True
        return changed

    # -- views ------------------------------------------------------------------------

    def register(self) -> list[RegisterEntry]:
        """Every job and query, newest first."""
        with self._lock:
            return list(self._entries)

    def entry(self, kind: str, job: str) -> RegisterEntry | None:
        with self._lock:
            return next(
                (e for e in self._entries if e.kind == kind and e.id == job), None
            )

    def log_of(self, log_id: str) -> tuple[src.ActorLog, src.LogFileInfo] | None:
        with self._lock:
            log = self._by_id.get(log_id)
            return None if log is None else (log.source, log.meta)

    def logs(self) -> list[LogView]:
        """Every actor's log: size, signed heads, anchors."""
        with self._lock:
            views = []
            for log in self._logs.values():
                heads = [
                    signed.head for signed, _ in src.read_head_entries(log.source.path)
                ]
                cosigned = src.latest_checkpoint(log.source.path)
                anchored = log.anchored
                matches = None
                if anchored is not None and anchored.tree_size <= log.tree.size:
                    matches = log.tree.root(anchored.tree_size) == anchored.root_hash
                elif anchored is not None:
                    matches = False
                views.append(
                    LogView(
                        log_id=log.log_id,
                        path=str(log.source.path),
                        actor=log.meta.actor,
                        role=log.source.role,
                        department=log.source.department,
                        size=log.meta.size,
                        signed_heads=len(heads),
                        latest_signed_size=heads[-1].tree_size if heads else None,
                        latest_signed_ms=heads[-1].timestamp if heads else None,
                        anchors=log.anchor_count,
                        anchored_size=None if anchored is None else anchored.tree_size,
                        anchored_block=None
                        if anchored is None
                        else anchored.block_number,
                        anchored_root=None
                        if anchored is None
                        else anchored.root_hash.hex(),
                        root_matches_anchor=matches,
                        checkpoint_size=None
                        if cosigned is None
                        else cosigned.tree_size,
                        checkpoints=0 if cosigned is None else cosigned.checkpoints,
                        cosigners=() if cosigned is None else cosigned.cosigners,
                    )
                )
            return views

    def proofs(self, refs: Sequence[RecordRef]) -> list[RecordProof]:
        """Each record with its inclusion proof under its log's latest anchor."""
        with self._lock:
            out = []
            for ref in refs:
                log = self._by_id.get(ref.log_id)
                if log is None:
                    continue
                data = src.read_record(log.source.path, ref.index) or b""
                anchored = log.anchored
                covered = anchored is not None and ref.index < anchored.tree_size
                path: tuple[str, ...] = ()
                problem = ""
                if covered and anchored is not None:
                    if anchored.tree_size > log.tree.size:
                        # The chain holds a longer history of this log than
                        # the file: a truncated file, or a forked log.
                        problem = (
                            f"the anchored head covers {anchored.tree_size} records, "
                            f"this log file holds {log.tree.size}"
                        )
                    else:
                        path = tuple(
                            p.hex()
                            for p in log.tree.inclusion_proof(
                                ref.index, anchored.tree_size
                            )
                        )
                out.append(
                    RecordProof(
                        ref=ref,
                        actor=log.meta.actor,
                        role=log.source.role,
                        department=log.source.department,
                        record=data.decode("utf-8", errors="replace"),
                        leaf_hash=log.tree.leaf_hash(ref.index).hex(),
                        tree_size=anchored.tree_size if covered and anchored else None,
                        root=anchored.root_hash.hex() if covered and anchored else None,
                        anchored_block=anchored.block_number
                        if covered and anchored
                        else None,
                        path=path,
                        problem=problem,
                    )
                )
            return out

    def log_paths(self) -> list[Path]:
        with self._lock:
            return [log.source.path for log in self._logs.values()]

    def budgets(self) -> list[BudgetSeries]:
        """Each department's budget per dataset (re-read when its ledger changes)."""
        series = []
        for state_dir in self.settings.state_dirs:
            for status in self._budget_statuses(state_dir):
                series.append(
                    BudgetSeries(
                        department=status.department,
                        dataset=status.dataset,
                        limit=status.limit.epsilon,
                        delta=status.limit.delta,
                        spent=status.spent,
                        remaining=status.remaining,
                        points=tuple(
                            BudgetPoint(r.timestamp, r.epsilon_after, r.kind, r.job_id)
                            for r in status.history
                        ),
                    )
                )
        return series

    def _budget_statuses(self, state_dir: Path) -> list[src.BudgetStatus]:
        files = sorted((state_dir / "departments").glob("*/budget.ledger"))
        stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        key = (len(files), hash(stamp))
        with self._lock:
            cached = self._budgets.get(state_dir)
            if cached is not None and cached[0] == key:
                return cached[1]
        statuses = src.budget_statuses(state_dir, key=self.settings.budget_key)
        with self._lock:
            self._budgets[state_dir] = (key, statuses)
        return statuses

    def runs(self) -> list[src.RunFolder]:
        """Every run folder, each re-read only when one of its files changed."""
        runs_dir = self.settings.runs_dir
        if runs_dir is None or not runs_dir.is_dir():
            return []
        found = []
        for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
            stamp = tuple(
                part for name in src.RUN_FILES for part in _stamp(folder / name)
            )
            with self._lock:
                cached = self._runs.get(folder)
            if cached is None or cached[0] != stamp:
                cached = (stamp, src.run_folder(folder))
                with self._lock:
                    self._runs[folder] = cached
            if cached[1] is not None:
                found.append(cached[1])
        return found

    def run_of(self, job: str) -> src.RunFolder | None:
        """The run folder of training job ``job`` (by the job id it names)."""
        for run in self.runs():
            record: dict[str, Any] = run.run_record or {}
            progress: dict[str, Any] = run.progress or {}
            named = record.get("job", {}).get("job-id") or progress.get("job-id")
            if str(named or "") == job:
                return run
        return None
