"""The data-use register: every training job and query, folded from audit records.

Pure: :class:`RegisterBuilder` takes the records of the actors' logs one at a
time (in any order of logs, each log in order) and keeps, per job or query,
what the register shows and where the proof lies:

- from the coordinator's log: the ``job_submit`` record (purpose, dataset,
  roster, planned rounds), each round's ``aggregate`` records (who trained or
  refused, the epsilon each department reported), the ``model_export`` (the
  job finished), and each query's ``analytics_query`` records;
- from each department's log: its ``budget_spend`` records (the epsilon it
  charged, per job or query) and its ``access_denied`` records (refusals).

A job's key is (kind, id): a training job's id is its job id, a query's its
query id (what the records' ``job`` field holds). Nothing here reads a data
value: records hold none (docs/audit-log.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fedgov.portal._sources import (
    ENTRY_DEPARTMENT,
    ENTRY_QUERY,
    PHASE_QUERY,
    ROSTER_PREFIX,
    Action,
    Metric,
    Outcome,
    Role,
)

__all__ = [
    "DepartmentUse",
    "EntryKind",
    "RecordRef",
    "RegisterBuilder",
    "RegisterEntry",
    "RoundProgress",
    "parse_record",
]


class EntryKind(StrEnum):
    TRAINING = "training"
    QUERY = "query"


@dataclass(frozen=True)
class RecordRef:
    """Where a record lies: a log (by id, hex) and an index in it."""

    log_id: str
    index: int


@dataclass(frozen=True)
class DepartmentUse:
    """One department's part in a job or query."""

    department: str
    epsilon: float
    """Epsilon charged for this job or query (sum of its budget spends)."""
    delta: float
    spends: int
    epsilon_total: float | None
    """The department's lifetime epsilon on the dataset after its last spend."""
    status: str
    """``charged``, ``refused``, or what the coordinator recorded (``ok``...)."""
    reason: str
    records: tuple[RecordRef, ...]
    """Its budget_spend (or access_denied) records: the proof of the charge."""


@dataclass(frozen=True)
class RoundProgress:
    """One training round as the coordinator recorded it."""

    round: int
    statuses: tuple[tuple[str, str], ...]
    """(department, train status) in record order."""
    epsilon_total: tuple[tuple[str, float], ...]
    """(department, lifetime epsilon it reported) where reported."""
    timestamp_ms: int


@dataclass(frozen=True)
class RegisterEntry:
    """One line of the register."""

    kind: EntryKind
    id: str
    purpose: str
    dataset: str
    started_ms: int
    last_ms: int
    departments: tuple[DepartmentUse, ...]
    detail: str
    """Training: strategy and planned rounds; query: kind, column, grouping."""
    rounds_planned: int | None
    rounds: tuple[RoundProgress, ...]
    finished: bool
    coordinator_record: RecordRef | None
    """The job_submit (training) or the query's own record (query)."""

    @property
    def epsilon(self) -> float:
        """Largest epsilon any department charged (the job's privacy cost)."""
        return max((d.epsilon for d in self.departments), default=0.0)

    @property
    def records(self) -> tuple[RecordRef, ...]:
        """Every record the register cites for this entry."""
        own = () if self.coordinator_record is None else (self.coordinator_record,)
        return own + tuple(r for d in self.departments for r in d.records)


@dataclass
class _Use:
    department: str
    epsilon: float = 0.0
    delta: float = 0.0
    spends: int = 0
    epsilon_total: float | None = None
    status: str = ""
    reason: str = ""
    records: list[RecordRef] = field(default_factory=list)


@dataclass
class _Round:
    statuses: dict[str, str] = field(default_factory=dict)
    epsilon_total: dict[str, float] = field(default_factory=dict)
    timestamp_ms: int = 0


@dataclass
class _Entry:
    kind: EntryKind
    id: str
    purpose: str = ""
    dataset: str = ""
    started_ms: int = 0
    last_ms: int = 0
    uses: dict[str, _Use] = field(default_factory=dict)
    detail: str = ""
    rounds_planned: int | None = None
    rounds: dict[int, _Round] = field(default_factory=dict)
    finished: bool = False
    coordinator_record: RecordRef | None = None

    def seen(self, record: dict[str, Any]) -> None:
        when = int(record.get("timestamp_ms", 0))
        self.started_ms = when if not self.started_ms else min(self.started_ms, when)
        self.last_ms = max(self.last_ms, when)
        self.purpose = self.purpose or str(record.get("purpose", ""))
        self.dataset = self.dataset or str(record.get("dataset", ""))

    def use(self, department: str) -> _Use:
        return self.uses.setdefault(department, _Use(department))

    def freeze(self) -> RegisterEntry:
        return RegisterEntry(
            kind=self.kind,
            id=self.id,
            purpose=self.purpose,
            dataset=self.dataset,
            started_ms=self.started_ms,
            last_ms=self.last_ms,
            departments=tuple(
                DepartmentUse(
                    u.department,
                    u.epsilon,
                    u.delta,
                    u.spends,
                    u.epsilon_total,
                    u.status,
                    u.reason,
                    tuple(u.records),
                )
                for u in sorted(self.uses.values(), key=lambda u: u.department)
            ),
            detail=self.detail,
            rounds_planned=self.rounds_planned,
            rounds=tuple(
                RoundProgress(
                    number,
                    tuple(r.statuses.items()),
                    tuple(r.epsilon_total.items()),
                    r.timestamp_ms,
                )
                for number, r in sorted(self.rounds.items())
            ),
            finished=self.finished,
            coordinator_record=self.coordinator_record,
        )


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


class RegisterBuilder:
    """Folds records into register entries; :meth:`entries` snapshots them."""

    def __init__(self) -> None:
        self._entries: dict[tuple[EntryKind, str], _Entry] = {}
        self._dirty: set[tuple[EntryKind, str]] = set()
        self._frozen: dict[tuple[EntryKind, str], RegisterEntry] = {}

    def _entry(self, kind: EntryKind, job: str) -> _Entry:
        key = (kind, job)
        self._dirty.add(key)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(kind, job)
        return entry

    def add(
        self,
        record: dict[str, Any],
        ref: RecordRef,
        *,
        role: str,
        department: str,
    ) -> None:
        """Fold one record of a ``role`` log (``department``: its folder name)."""
        action = record.get("action")
        job = str(record.get("job", ""))
        details = record.get("details")
        if not job or not isinstance(details, dict):
            return
        if role == Role.COORDINATOR:
            self._coordinator(str(action), job, record, details, ref)
        elif role == Role.DEPARTMENT:
            self._department(str(action), job, record, details, ref, department)

    def _coordinator(
        self,
        action: str,
        job: str,
        record: dict[str, Any],
        details: dict[str, str],
        ref: RecordRef,
    ) -> None:
        if action == Action.JOB_SUBMIT:
            entry = self._entry(EntryKind.TRAINING, job)
            entry.seen(record)
            entry.coordinator_record = ref
            entry.rounds_planned = int(details.get("num-rounds", "0") or 0) or None
            entry.detail = f"{details.get('strategy', '')}".strip()
            for key in details:
                if key.startswith(ROSTER_PREFIX):
                    entry.use(key.removeprefix(ROSTER_PREFIX))
        elif action == Action.AGGREGATE:
            entry = self._entry(EntryKind.TRAINING, job)
            entry.seen(record)
            number = int(record.get("round", 0))
            progress = entry.rounds.setdefault(number, _Round())
            progress.timestamp_ms = int(record.get("timestamp_ms", 0))
            if details.get("entry") == ENTRY_DEPARTMENT:
                name = details.get("department", "")
                progress.statuses[name] = details.get("train", "")
                total = _float(details.get(Metric.EPSILON_TOTAL))
                if total is not None:
                    progress.epsilon_total[name] = total
                use = entry.use(name)
                if details.get("train") == Outcome.REFUSED:
                    use.status, use.reason = Outcome.REFUSED, details.get("reason", "")
        elif action == Action.MODEL_EXPORT:
            entry = self._entry(EntryKind.TRAINING, job)
            entry.seen(record)
            entry.finished = True
        elif action == Action.ANALYTICS_QUERY:
            entry = self._entry(EntryKind.QUERY, job)
            entry.seen(record)
            if details.get("entry") == ENTRY_QUERY:
                entry.coordinator_record = ref
                entry.finished = True
                parts = [details.get("kind", ""), details.get("column", "")]
                if details.get("group-by"):
                    parts.append(f"by {details['group-by']}")
                entry.detail = " ".join(p for p in parts if p)
            elif details.get("entry") == ENTRY_DEPARTMENT:
                use = entry.use(details.get("department", ""))
                use.status = use.status or details.get("status", "")
                use.reason = use.reason or details.get("reason", "")

    def _department(
        self,
        action: str,
        job: str,
        record: dict[str, Any],
        details: dict[str, str],
        ref: RecordRef,
        folder: str,
    ) -> None:
        if action not in (Action.BUDGET_SPEND, Action.ACCESS_DENIED):
            return
        kind = (
            EntryKind.QUERY
            if details.get("phase") == PHASE_QUERY
            else EntryKind.TRAINING
        )
        entry = self._entry(kind, job)
        entry.seen(record)
        use = entry.use(details.get("department") or folder)
        use.records.append(ref)
        if action == Action.ACCESS_DENIED:
            use.status, use.reason = Outcome.REFUSED, details.get("reason", "")
            return
        use.status = "charged"
        use.epsilon += _float(record.get("epsilon")) or 0.0
        use.delta = _float(record.get("delta")) or use.delta
        use.spends += 1
        use.epsilon_total = _float(details.get(Metric.EPSILON_TOTAL))

    def entries(self) -> list[RegisterEntry]:
        """Every entry, newest first (refreezing only what changed)."""
        for key in self._dirty:
            self._frozen[key] = self._entries[key].freeze()
        self._dirty.clear()
        return sorted(
            self._frozen.values(), key=lambda e: (e.started_ms, e.id), reverse=True
        )


def parse_record(data: bytes) -> dict[str, Any] | None:
    """A stored record's JSON object (``None`` if it is not one).

    The portal shows what records say; whether they are what was signed is
    the auditor's question (:mod:`fedgov.portal.audit`) and, for each record
    a proof covers, the browser's.
    """
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
