"""What one injected fault did, counted from what happened, and what must hold.

Every case of :mod:`experiments.faults` returns a :class:`FaultOutcome`:
the faults it injected, the jobs (or writes) that completed and those that
failed with a clear error (a :class:`~fedgov.errors.FedgovError`, or a
command's exit status and a message naming what failed, never a traceback
or a hang), the records and spends it lost, and the auditor's verdict next
to the verdict a correct auditor gives. :meth:`FaultOutcome.problems`
names whatever breaks the case's ``must_hold``; the tests assert it is
empty and ``python -m experiments.bench.faults`` tabulates the counts.

The counters come from the files the product left behind:

- a *record lost*: a record an actor was told was committed (its commit
  returned) that its log no longer holds, or a log that no longer opens
  with its integrity checked;
- a *spend lost*: a spend the department's budget book held before the
  fault that it no longer holds, or a spend in the book that no
  ``budget_spend`` record of the department's log names (by the book's
  generation): charged but not on record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fedgov.errors import FedgovError
from ledger.layout import find_logs
from ledger.log_files import stored_size
from ledger.record_fields import BUDGET_GENERATION
from ledger.records import Action, AuditRecord
from ledger.store import LogStore
from privacy.budget import SpendRecord, open_budget_book

__all__ = [
    "FaultOutcome",
    "book_spends",
    "log_sizes",
    "records_lost",
    "spends_lost",
    "unlogged_spends",
]


@dataclass(frozen=True)
class FaultOutcome:
    """One case's counts; ``None`` where the case has no such thing to count."""

    case: str
    must_hold: str
    faults: int
    completed: int = 0
    failed_clearly: int = 0
    failed_unclearly: int = 0
    records_lost: int = 0
    spends_lost: int = 0
    verdict: bool | None = None
    """The auditor's ``ok`` (``None``: the case runs no auditor)."""
    verdict_expected: bool | None = None
    errors: tuple[str, ...] = field(default=())
    """The clear errors the failed jobs or writes reported."""
    notes: tuple[str, ...] = field(default=())
    """Whatever else broke ``must_hold``."""

    @property
    def verdict_correct(self) -> bool | None:
        if self.verdict_expected is None:
            return None
        return self.verdict == self.verdict_expected

    def problems(self) -> list[str]:
        """What broke ``must_hold`` (empty: it held)."""
        found = []
        if self.faults < 1:
            found.append("no fault was injected")
        if self.failed_unclearly:
            found.append(f"{self.failed_unclearly} job(s) failed without a clear error")
        if self.records_lost:
            found.append(f"{self.records_lost} record(s) lost")
        if self.spends_lost:
            found.append(f"{self.spends_lost} spend(s) lost")
        if self.verdict_correct is False:
            found.append(
                f"the auditor said ok={self.verdict}, a correct audit says "
                f"ok={self.verdict_expected}"
            )
        return found + list(self.notes)


def log_sizes(state_dir: Path) -> dict[Path, int]:
    """Every audit log under ``state_dir`` and its record count (read-only)."""
    return {path: stored_size(path) for path in find_logs(state_dir)}


def records_lost(before: dict[Path, int]) -> int:
    """Records of ``before`` (log: size) that the logs no longer hold intact
    (opening a log checks its integrity)."""
    lost = 0
    for path, size in before.items():
        try:
            with LogStore(path) as store:
                lost += max(0, size - store.size)
        except (FedgovError, OSError):
            lost += size
    return lost


def book_spends(state_dir: Path) -> dict[str, set[str]]:
    """Each department's spend ids, from its budget book."""
    root = Path(state_dir) / "departments"
    found: dict[str, set[str]] = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        found[folder.name] = {s.spend_id for s in _spends(state_dir, folder.name)}
    return found


def spends_lost(state_dir: Path, before: dict[str, set[str]]) -> int:
    """Spends of ``before`` the books no longer hold."""
    now = book_spends(state_dir)
    return sum(len(ids - now.get(name, set())) for name, ids in before.items())


def unlogged_spends(state_dir: Path) -> int:
    """Spends in the departments' books that no record of their logs names."""
    unlogged = 0
    for path in find_logs(state_dir):
        department = path.parent.name
        spends = _spends(state_dir, department)
        if not spends:
            continue
        with LogStore(path) as store:
            logged = {
                record.details.get(BUDGET_GENERATION)
                for record in (
                    AuditRecord.decode(data) for data in store.encoded_records(0)
                )
                if record.action is Action.BUDGET_SPEND
            }
        unlogged += sum(1 for s in spends if str(s.generation) not in logged)
    return unlogged


def _spends(state_dir: Path, department: str) -> list[SpendRecord]:
    if not (Path(state_dir) / "departments" / department / "budget.ledger").exists():
        return []  # reading would create the book's key
    book = open_budget_book(state_dir, department)
    return [s for dataset in book.datasets() for s in book.status(dataset).history]
