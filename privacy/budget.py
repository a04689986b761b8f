"""The durable per-department privacy budget book.

One file per department holds, for each dataset, the department's lifetime
(epsilon, delta) limit and every spend made against it: DP-SGD rounds and DP
analytics answers alike, each with the accountant its noise was calibrated
with (see :mod:`privacy.accounting`; a record from before accountants were
named is RDP's). The epsilon spent is always recomputed from the whole
history by :func:`privacy.accounting.history_epsilon`, so neither a node
restart, a second job nor a new process resets it, and a history mixing
accountants is composed by the one rule the limit check and the auditor use.

A spend is checked and recorded in one step, under an exclusive file lock,
*before* the data is touched: two processes (Flower's deployment runtime
starts a ClientApp process per message) cannot both squeeze through the last
of a budget, and a crash after recording errs on the side of privacy.

Every change (a limit created or changed, a spend) raises the book's
**generation**, a counter that only goes up, and is kept with the change
(:class:`BudgetGrant` for limits, :class:`SpendRecord` for spends;
:meth:`BudgetBook.changes` lists them), so that the department's audit log
can record each one and name the generation it reached. A book older than
what the log records (restored from an old copy, deleted and recreated) is
refused: :meth:`BudgetBook.charge` and :meth:`BudgetBook.ensure_limit` take
that ``floor`` and raise :class:`~privacy.errors.BudgetRolledBack` below it,
before anything is spent or created.

The file is written atomically (temp file, fsync, rename). An optional
:class:`BudgetCodec` seals it at rest (AES-GCM, :mod:`privacy.at_rest`).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from fedgov.errors import ConfigurationError
from fedgov.files import private_dir, private_file, write_atomic
from fedgov.job import Accountant, parse_accountant
from fedgov.types import check_name
from privacy.accounting import GaussianSpend, history_epsilon
from privacy.at_rest import SealingCodec, key_source_from_spec
from privacy.errors import BudgetBookError, BudgetExceeded, BudgetRolledBack

__all__ = [
    "Budget",
    "BudgetBook",
    "BudgetChange",
    "BudgetCodec",
    "BudgetGrant",
    "BudgetStatus",
    "SpendRecord",
    "open_budget_book",
]

# The names on disk (format, file names, sealing purpose) predate the
# "budget book" name and stay as they are: a county's budget files are durable
# state, and a renamed file would start a department from an empty budget.
_FORMAT = "fedgov-budget-ledger"
_VERSION = 1
# Accountant arithmetic is not exact; a spend landing on the limit is allowed.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Budget:
    """A lifetime (epsilon, delta) limit."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ConfigurationError(
                "epsilon", f"must be positive and finite, got {self.epsilon}"
            )
        if not (math.isfinite(self.delta) and 0 < self.delta < 1):
            raise ConfigurationError(
                "delta", f"must lie strictly between 0 and 1, got {self.delta}"
            )


@dataclass(frozen=True)
class SpendRecord:
    """One recorded spend and the department's epsilon right after it."""

    spend_id: str
    dataset: str
    kind: str
    job_id: str
    round: int
    spend: GaussianSpend
    epsilon_after: float
    timestamp: float
    accountant: Accountant
    """What ``spend`` was calibrated and accounted with (RDP for records
    written before fedgov named one)."""
    generation: int = 0
    """The book's generation this spend brought it to (0: written before
    books counted their changes)."""


@dataclass(frozen=True)
class BudgetGrant:
    """A limit created or changed: by whom, why, and the generation it made."""

    dataset: str
    limit: Budget
    previous: Budget | None
    """The limit before (``None``: the dataset's budget was created)."""
    by: str
    reason: str
    timestamp: float
    generation: int


BudgetChange = BudgetGrant | SpendRecord
"""One change of a book, in the order of :attr:`generation`."""


@dataclass(frozen=True)
class BudgetStatus:
    """A dataset's budget at a point in time."""

    department: str
    dataset: str
    limit: Budget
    spent: float
    history: tuple[SpendRecord, ...]

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit.epsilon - self.spent)


class BudgetCodec(Protocol):
    """Turns the book's plaintext into stored bytes and back (e.g. AES-GCM)."""

    def seal(self, plaintext: bytes) -> bytes: ...

    def open(self, stored: bytes) -> bytes: ...


def _record_to_json(record: SpendRecord) -> dict[str, Any]:
    return {**asdict(record), "accountant": record.accountant.value}


def _grant_to_json(grant: BudgetGrant) -> dict[str, Any]:
    data = asdict(grant)
    del data["dataset"]
    return data


def _grant_from_json(dataset: str, data: dict[str, Any]) -> BudgetGrant:
    previous = data.get("previous")
    return BudgetGrant(
        dataset=dataset,
        limit=Budget(**data["limit"]),
        previous=Budget(**previous) if previous else None,
        by=str(data["by"]),
        reason=str(data["reason"]),
        timestamp=float(data["timestamp"]),
        generation=int(data["generation"]),
    )


def _record_from_json(data: dict[str, Any], *, where: str) -> SpendRecord:
    name = data.get("accountant", Accountant.RDP.value)
    try:
        accountant = Accountant(name)
    except ValueError as e:
        raise BudgetBookError(
            where,
            f"spend {data.get('spend_id')!r} names accountant {name!r}, which "
            f"fedgov does not know (known: {[a.value for a in Accountant]})",
        ) from e
    return SpendRecord(
        spend_id=str(data["spend_id"]),
        dataset=str(data["dataset"]),
        kind=str(data["kind"]),
        job_id=str(data["job_id"]),
        round=int(data["round"]),
        spend=GaussianSpend(**data["spend"]),
        epsilon_after=float(data["epsilon_after"]),
        timestamp=float(data["timestamp"]),
        accountant=accountant,
        generation=int(data.get("generation", 0)),
    )


class BudgetBook:
    """A department's durable budget book at ``path``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        department: str,
        codec: BudgetCodec | None = None,
    ) -> None:
        check_name("department", department)
        self.path = Path(path)
        self.department = department
        self._codec = codec
        private_dir(self.path.parent)

    # -- file handling -------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with private_file(lock_path).open("a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {
                "format": _FORMAT,
                "version": _VERSION,
                "department": self.department,
                "datasets": {},
            }
        stored = self.path.read_bytes()
        try:
            plaintext = self._codec.open(stored) if self._codec else stored
            doc = json.loads(plaintext.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BudgetBookError(str(self.path), f"unreadable: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise BudgetBookError(str(self.path), f"not a {_FORMAT} file")
        if doc.get("version") != _VERSION:
            raise BudgetBookError(
                str(self.path), f"unsupported version {doc.get('version')}"
            )
        if doc.get("department") != self.department:
            raise BudgetBookError(
                str(self.path),
                f"belongs to department {doc.get('department')!r}, not {self.department!r}",
            )
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        plaintext = json.dumps(doc, sort_keys=True, indent=1).encode("utf-8")
        try:
            write_atomic(
                self.path, self._codec.seal(plaintext) if self._codec else plaintext
            )
        except OSError as e:
            # The rename never happened: the file on disk is the book before.
            raise BudgetBookError(
                str(self.path),
                f"cannot write ({e.strerror}); the book is unchanged and nothing "
                "was spent",
            ) from e

    def _next_generation(self, doc: dict[str, Any]) -> int:
        doc["generation"] = int(doc.get("generation", 0)) + 1
        return int(doc["generation"])

    def _check_floor(self, doc: dict[str, Any], floor: int) -> None:
        generation = int(doc.get("generation", 0))
        if generation < floor:
            state = (
                "missing" if not self.path.exists() else f"at generation {generation}"
            )
            raise BudgetRolledBack(
                str(self.path),
                department=self.department,
                generation=generation,
                floor=floor,
                state=state,
            )

    # -- queries -------------------------------------------------------------

    def datasets(self) -> tuple[str, ...]:
        with self._locked():
            return tuple(sorted(self._read()["datasets"]))

    def generation(self) -> int:
        """How many changes the book has seen (0: none, or no book at all)."""
        with self._locked():
            return int(self._read().get("generation", 0))

    def changes(self, since: int = 0) -> list[BudgetChange]:
        """Every change after generation ``since``, oldest first."""
        with self._locked():
            doc = self._read()
        found: list[BudgetChange] = []
        for dataset, entry in doc["datasets"].items():
            found += [
                grant
                for data in entry.get("grants", [])
                if (grant := _grant_from_json(dataset, data)).generation > since
            ]
            found += [
                spend
                for data in entry["spends"]
                if (spend := _record_from_json(data, where=str(self.path))).generation
                > since
            ]
        return sorted(found, key=lambda change: change.generation)

    def _entry(self, doc: dict[str, Any], dataset: str) -> dict[str, Any]:
        entry = doc["datasets"].get(dataset)
        if entry is None:
            raise BudgetBookError(
                str(self.path), f"no budget set for dataset {dataset!r}; set one first"
            )
        return dict(entry)

    def _status(self, doc: dict[str, Any], dataset: str) -> BudgetStatus:
        entry = self._entry(doc, dataset)
        limit = Budget(**entry["limit"])
        history = tuple(
            _record_from_json(r, where=str(self.path)) for r in entry["spends"]
        )
        spent = _composed(history, limit.delta)
        return BudgetStatus(self.department, dataset, limit, spent, history)

    def status(self, dataset: str) -> BudgetStatus:
        """The limit, the epsilon spent so far and the history for ``dataset``."""
        with self._locked():
            return self._status(self._read(), dataset)

    # -- changes -------------------------------------------------------------

    def ensure_limit(
        self,
        dataset: str,
        budget: Budget,
        *,
        floor: int = 0,
        by: str = "node",
        reason: str = "first use of the dataset: the node's configured limit",
    ) -> Budget:
        """Set ``budget`` for ``dataset`` unless one is set already; return the limit.

        A node passes its configured budget on every start: the first start
        records it (a :class:`BudgetGrant` by ``by`` for ``reason``) and later
        starts keep what is on file, so a misconfigured restart cannot
        silently raise a limit. :meth:`set_limit` changes it. A book below
        generation ``floor`` (what the department's audit log records) is
        refused rather than created afresh.
        """
        check_name("dataset", dataset)
        with self._locked():
            doc = self._read()
            self._check_floor(doc, floor)
            entry = doc["datasets"].get(dataset)
            if entry is not None:
                return Budget(**entry["limit"])
            doc["datasets"][dataset] = {"limit": asdict(budget), "spends": []}
            self._grant(doc, dataset, budget, None, by=by, reason=reason)
            self._write(doc)
            return budget

    def set_limit(
        self, dataset: str, budget: Budget, *, by: str, reason: str, floor: int = 0
    ) -> BudgetGrant:
        """Change ``dataset``'s limit (``by`` whom, for ``reason``); a delta
        change re-evaluates the whole history. Refused below ``floor``."""
        check_name("dataset", dataset)
        if not reason.strip():
            raise ConfigurationError("reason", "say why the limit changes")
        with self._locked():
            doc = self._read()
            self._check_floor(doc, floor)
            entry = doc["datasets"].setdefault(dataset, {"spends": []})
            previous = Budget(**entry["limit"]) if "limit" in entry else None
            entry["limit"] = asdict(budget)
            grant = self._grant(doc, dataset, budget, previous, by=by, reason=reason)
            self._write(doc)
            return grant

    def _grant(
        self,
        doc: dict[str, Any],
        dataset: str,
        budget: Budget,
        previous: Budget | None,
        *,
        by: str,
        reason: str,
    ) -> BudgetGrant:
        grant = BudgetGrant(
            dataset=dataset,
            limit=budget,
            previous=previous,
            by=by,
            reason=reason,
            timestamp=time.time(),
            generation=self._next_generation(doc),
        )
        doc["datasets"][dataset].setdefault("grants", []).append(_grant_to_json(grant))
        return grant

    def _project(
        self, status: BudgetStatus, spend: GaussianSpend, accountant: Accountant
    ) -> float:
        history = [*_accounted(status.history), (spend, accountant)]
        projected = history_epsilon(history, delta=status.limit.delta)
        if projected > status.limit.epsilon + _TOLERANCE:
            raise BudgetExceeded(
                department=self.department,
                dataset=status.dataset,
                spent=status.spent,
                requested=projected,
                limit=status.limit.epsilon,
            )
        return projected

    def check(
        self, dataset: str, spend: GaussianSpend, *, accountant: Accountant
    ) -> float:
        """The epsilon ``spend`` would bring ``dataset`` to; raises if over the limit."""
        with self._locked():
            status = self._status(self._read(), dataset)
            return self._project(status, spend, accountant)

    def charge(
        self,
        dataset: str,
        spend: GaussianSpend,
        *,
        accountant: Accountant,
        kind: str,
        job_id: str,
        round: int = 0,
        floor: int = 0,
    ) -> SpendRecord:
        """Check ``spend``, calibrated with ``accountant``, against the limit and
        record it, atomically.

        Raises :class:`BudgetExceeded` and records nothing when it would not
        fit, :class:`BudgetRolledBack` when the book is below generation
        ``floor`` (what the department's audit log records).
        """
        with self._locked():
            doc = self._read()
            self._check_floor(doc, floor)
            status = self._status(doc, dataset)
            projected = self._project(status, spend, accountant)
            record = SpendRecord(
                spend_id=uuid.uuid4().hex,
                dataset=dataset,
                kind=kind,
                job_id=job_id,
                round=round,
                spend=spend,
                epsilon_after=projected,
                timestamp=time.time(),
                accountant=parse_accountant(accountant),
                generation=self._next_generation(doc),
            )
            doc["datasets"][dataset]["spends"].append(_record_to_json(record))
            self._write(doc)
            return record


def _accounted(
    history: Iterable[SpendRecord],
) -> list[tuple[GaussianSpend, Accountant]]:
    return [(r.spend, r.accountant) for r in history]


def _composed(history: Iterable[SpendRecord], delta: float) -> float:
    return history_epsilon(_accounted(history), delta=delta)


def open_budget_book(
    state_dir: str | os.PathLike[str], department: str, *, key: str = "auto"
) -> BudgetBook:
    """The sealed budget book of ``department`` under ``state_dir``.

    ``key`` names the AES-GCM key source (see
    :func:`privacy.at_rest.key_source_from_spec`); ``"auto"`` keeps a 0600 key
    file beside the book, which guards copies and backups of the book but
    not a compromise of the department's state directory: production points
    ``key`` at a key held elsewhere.
    """
    folder = Path(state_dir) / "departments" / check_name("department", department)
    path = folder / "budget.ledger"
    source = key_source_from_spec(key, default_key_file=folder / "ledger.key")
    codec = SealingCodec(
        source, purpose=f"budget-ledger:{department}", origin=str(path)
    )
    return BudgetBook(path, department=department, codec=codec)
