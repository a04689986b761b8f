"""A department's records of its budget book's changes, and the book's floor.

Every change of the book raises its generation (:mod:`privacy.budget`); the
audit mod makes sure each one is a record in the department's own log,
naming the generation it reached (``details["budget-generation"]``):

- a limit created (the node's first use of a dataset) or changed
  (``fedgov budget set``) is a ``budget_grant``: who, why, the new and the
  previous limit;
- a spend is the ``budget_spend`` the handler's reply leads to, stamped
  with the generation of the spend the handler made;
- a spend the book holds but no record says (the process died between the
  charge and the reply, or the handler failed after charging, or a job ran
  with audit off) is written from the book itself, marked ``recovered``,
  before the next message is handled: a spend is never lost to the log,
  and never silently refunded.

:func:`logged_generation` reads back the latest generation the log records;
the mod hands it to the handler as the floor below which the book is refused
(:mod:`department_nodes._budget_floor`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from fedgov import protocol as p
from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.record_fields import (
    ACCOUNTANT,
    BUDGET_GENERATION,
    MAX_REASON_CHARS,
    PHASE_BUDGET,
    PHASE_QUERY,
    PHASE_TRAIN,
    number_text,
)
from ledger.records import Action, AuditRecord, Role, now_ms
from privacy.accounting import history_epsilon
from privacy.budget import Budget, BudgetGrant, SpendRecord
from privacy.errors import BudgetBookError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.store import LogStore
    from privacy.budget import BudgetBook, BudgetChange

__all__ = ["BudgetSync", "budget_records", "grant_record", "logged_generation"]

_log = logging.getLogger(__name__)

_MARK = f'"{BUDGET_GENERATION}":"'.encode()
_QUERY_KIND = "query"


def logged_generation(store: LogStore) -> int:
    """The newest budget generation a record of ``store`` names (0: none).

    Scans backwards; records are filtered on their raw bytes before any is
    decoded, so a long log costs a substring search per record.
    """
    end = store.size
    while end > 0:
        start = max(0, end - 256)
        for data in reversed(store.encoded_records(start, end)):
            if _MARK in data:
                value = AuditRecord.decode(data).details.get(BUDGET_GENERATION, "0")
                return int(value) if value.isdigit() else 0
        end = start
    return 0


def grant_record(
    grant: BudgetGrant,
    *,
    actor: str,
    department: str,
    timestamp_ms: int,
    purpose: str = "",
    job: str = "",
) -> AuditRecord:
    """The ``budget_grant`` record of a limit created or changed."""
    details = {
        "department": department,
        "phase": PHASE_BUDGET,
        "change": "create" if grant.previous is None else "change",
        "by": grant.by[:MAX_REASON_CHARS],
        "reason": grant.reason[:MAX_REASON_CHARS],
        p.Metric.EPSILON_LIMIT: number_text(grant.limit.epsilon),
        "delta-limit": number_text(grant.limit.delta),
        BUDGET_GENERATION: str(grant.generation),
    }
    if grant.previous is not None:
        details["previous-epsilon-limit"] = number_text(grant.previous.epsilon)
        details["previous-delta-limit"] = number_text(grant.previous.delta)
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.DEPARTMENT,
        action=Action.BUDGET_GRANT,
        timestamp_ms=timestamp_ms,
        dataset=DatasetId(grant.dataset),
        purpose=purpose,
        job=JobId(job),
        details=details,
    )


def _limit_at(spend: SpendRecord, changes: Sequence[BudgetChange]) -> Budget | None:
    grants = [
        c
        for c in changes
        if isinstance(c, BudgetGrant)
        and c.dataset == spend.dataset
        and c.generation < spend.generation
    ]
    return grants[-1].limit if grants else None


def _recovered(
    spend: SpendRecord,
    history: Sequence[SpendRecord],
    limit: Budget,
    *,
    actor: str,
    department: str,
    purpose: str,
    timestamp_ms: int,
) -> AuditRecord:
    """A ``budget_spend`` written from the book, for a spend no reply recorded.

    Its figures are the book's own: the job's epsilon before and after (a
    query is a job of one spend) and the dataset's total, composed at the
    limit's delta, as the book composes them.
    """
    query = spend.kind == _QUERY_KIND
    same_job = [
        r
        for r in history
        if r.generation <= spend.generation
        and r.job_id == spend.job_id
        and r.kind != _QUERY_KIND
    ]
    job = [spend] if query else same_job

    def epsilon(spends: Sequence[SpendRecord]) -> float:
        if not spends:
            return 0.0
        return history_epsilon(
            [(r.spend, r.accountant) for r in spends], delta=limit.delta
        )

    after = epsilon(job)
    before = 0.0 if query else epsilon(job[:-1])
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.DEPARTMENT,
        action=Action.BUDGET_SPEND,
        timestamp_ms=timestamp_ms,
        dataset=DatasetId(spend.dataset),
        purpose=purpose,
        job=JobId(spend.job_id),
        run=RunId(""),
        round=spend.round,
        epsilon=max(0.0, after - before),
        delta=limit.delta,
        details={
            "department": department,
            "phase": PHASE_QUERY if query else PHASE_TRAIN,
            "recovered": (
                "charged by the department, but no record of it was written when "
                "it was made (the process died or failed after the charge)"
            ),
            p.Metric.NOISE_MULTIPLIER: number_text(spend.spend.noise_multiplier),
            p.Metric.SAMPLE_RATE: number_text(spend.spend.sample_rate),
            p.Metric.STEPS: number_text(spend.spend.steps),
            ACCOUNTANT: spend.accountant.value,
            p.Metric.EPSILON_JOB: number_text(after),
            p.Metric.EPSILON_TOTAL: number_text(spend.epsilon_after),
            p.Metric.EPSILON_LIMIT: number_text(limit.epsilon),
            BUDGET_GENERATION: str(spend.generation),
        },
    )


def budget_records(
    changes: Sequence[BudgetChange],
    handled: Sequence[AuditRecord],
    *,
    history: Sequence[SpendRecord],
    limits: dict[str, Budget],
    actor: str,
    department: str,
    purpose: str,
    job: str,
    timestamp_ms: int,
) -> list[AuditRecord]:
    """``handled`` (the records a message left) with the book's ``changes`` in it.

    Grants become ``budget_grant`` records, in front; a spend stamps the
    handler's ``budget_spend`` of its dataset with its generation, or, when
    the handler left none (an error, a crash, audit off), is written from
    the book, in front too (in the book's order, which is the handler's
    last) (``history``: the book's spends; ``limits``: each dataset's
    limit now, for spends no grant in ``changes`` predates).
    """
    records = list(handled)
    # Changes the handler's records do not carry, in the book's order.
    own: list[AuditRecord] = []
    for change in changes:
        if isinstance(change, BudgetGrant):
            own.append(
                grant_record(
                    change,
                    actor=actor,
                    department=department,
                    timestamp_ms=timestamp_ms,
                    purpose=purpose,
                    job=job,
                )
            )
            continue
        slot = next(
            (
                k
                for k, r in enumerate(records)
                if r.action is Action.BUDGET_SPEND
                and r.dataset == change.dataset
                and BUDGET_GENERATION not in r.details
            ),
            None,
        )
        if slot is not None:
            stamped = {
                **records[slot].details,
                BUDGET_GENERATION: str(change.generation),
            }
            records[slot] = dataclasses.replace(records[slot], details=stamped)
            continue
        limit = _limit_at(change, changes) or limits.get(change.dataset)
        if limit is None:
            continue
        own.append(
            _recovered(
                change,
                history,
                limit,
                actor=actor,
                department=department,
                purpose=purpose,
                timestamp_ms=timestamp_ms,
            )
        )
    return [*own, *records]


class BudgetSync:
    """Keeps the department's log in step with its budget book, around a handler."""

    def __init__(
        self, book: BudgetBook, actor: str, department: str, purpose: str, job: str
    ) -> None:
        self._book = book
        self._actor = actor
        self._department = department
        self._purpose = purpose
        self._job = job
        self.floor = 0
        """The generation the log records once :meth:`before` has run."""

    def _generation(self) -> int | None:
        try:
            return self._book.generation()
        except BudgetBookError as e:
            # The handler meets the same error and fails; nothing to sync.
            _log.error("%s: %s", self._department, e)
            return None

    def _records(self, since: int, handled: list[AuditRecord]) -> list[AuditRecord]:
        changes = self._book.changes(since)
        if not changes:
            return handled
        history: list[SpendRecord] = []
        limits: dict[str, Budget] = {}
        for dataset in self._book.datasets():
            status = self._book.status(dataset)
            history += status.history
            limits[dataset] = status.limit
        return budget_records(
            changes,
            handled,
            history=history,
            limits=limits,
            actor=self._actor,
            department=self._department,
            purpose=self._purpose,
            job=self._job,
            timestamp_ms=now_ms(),
        )

    def before(self, store: LogStore) -> list[AuditRecord]:
        """The records of changes the log misses; sets :attr:`floor`."""
        self.floor = logged_generation(store)
        generation = self._generation()
        if generation is None or generation <= self.floor:
            # Below the floor the handler refuses: nothing here to record.
            return []
        recovered = self._records(self.floor, [])
        self.floor = generation
        return recovered

    def after(self, handled: list[AuditRecord]) -> list[AuditRecord]:
        """``handled`` with what the handler changed in the book."""
        generation = self._generation()
        if generation is None or generation <= self.floor:
            return handled
        return self._records(self.floor, handled)
