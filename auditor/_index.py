"""Each department's records, indexed for the auditor's cross-party questions.

Shared by the checks of training rounds (:mod:`auditor._party_checks`),
queries (:mod:`auditor._query_checks`) and spending
(:mod:`auditor._budget_checks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.report import Check
from ledger.record_fields import AGGREGATION, SECURE_AGGREGATION
from ledger.records import ZERO_HASH, Action, AuditRecord

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from auditor._log_checks import AuditedLog, Findings

__all__ = [
    "DepartmentLogs",
    "Ref",
    "as_float",
    "check_reported_spend",
    "hex_or_empty",
    "is_secure",
    "same",
]


def same(a: float, b: float) -> bool:
    """Equal up to the accountant's float noise."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def hex_or_empty(data: bytes) -> str:
    return "" if data == ZERO_HASH else data.hex()


def as_float(details: Mapping[str, str], key: str) -> float | None:
    try:
        return float(details[key])
    except (KeyError, ValueError):
        return None


def check_reported_spend(
    out: Findings,
    *,
    department: str,
    what: str,
    spend: Ref,
    reported: Ref,
    reported_in: str,
    keys: Sequence[tuple[str, str]],
) -> None:
    """Fail where the department's budget_spend differs from what it reported.

    ``keys`` pairs a field of the department's spend record with the field of
    the coordinator's record (``reported``, in the log ``reported_in``) that
    must hold the same epsilon.
    """
    for theirs_key, ours_key in keys:
        theirs = as_float(spend.record.details, theirs_key)
        ours = as_float(reported.record.details, ours_key)
        if theirs is None or ours is None or not same(theirs, ours):
            out.fail(
                Check.BUDGET,
                spend.log.label,
                f"{department} logged {theirs_key} "
                f"{spend.record.details.get(theirs_key)} for {what}, the coordinator "
                f"recorded it reporting {ours_key} "
                f"{reported.record.details.get(ours_key)} (record {reported.index} "
                f"of {reported_in})",
                index=spend.index,
            )


def is_secure(record: AuditRecord) -> bool:
    """Whether ``record`` is of a SecAgg+ round."""
    return record.details.get(AGGREGATION) == SECURE_AGGREGATION


@dataclass(frozen=True)
class Ref:
    """A record and where it is."""

    log: AuditedLog
    index: int
    record: AuditRecord


class DepartmentLogs:
    """Everything one department logged (every key's log, oldest first)."""

    def __init__(self, name: str, logs: Sequence[AuditedLog]) -> None:
        self.name = name
        self.logs = list(logs)
        self.addresses = {log.actor for log in logs}
        self.by_hash: dict[bytes, Ref] = {}
        """Updates sent in clear, by digest: what the coordinator can match."""
        self.groups: dict[tuple[str, int, str], list[Ref]] = {}
        """Records by (job, round, phase): one message's records, or a run's."""
        for log in self.logs:
            for index, record in enumerate(log.records):
                ref = Ref(log, index, record)
                if (
                    record.action is Action.TRAIN_ROUND
                    and record.result_hash != ZERO_HASH
                    and not is_secure(record)
                ):
                    self.by_hash.setdefault(record.result_hash, ref)
                phase = record.details.get("phase", "")
                self.groups.setdefault((record.job, record.round, phase), []).append(
                    ref
                )

    def group(
        self, job: str, server_round: int, phase: str, runs: set[str]
    ) -> list[Ref]:
        """The records of ``job``'s round and phase, of the Flower ``runs`` (all: empty)."""
        refs = self.groups.get((job, server_round, phase), [])
        return [ref for ref in refs if not runs or ref.record.run in runs]

    def refs(self) -> list[Ref]:
        """Every record, in log order."""
        return [
            Ref(log, index, record)
            for log in self.logs
            for index, record in enumerate(log.records)
        ]
