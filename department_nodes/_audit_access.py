"""A department's records of its access gate's decisions.

The gate (:mod:`department_nodes.access`) leaves its decision on each message
in the node's ``Context.state``; the audit hook turns it into records in
the same transaction as the message's own:

- allowed under a policy: an ``access_granted`` record (the analyst's
  signed request, its id, the role block, the policy's digest, the rule
  and agreement) *before* the message's spend and read, preceded by an
  ``access_policy`` record when that policy is new to the log (so the log
  always holds the policy a grant names);
- refused: the message's ``access_denied`` record gains the refusal's code
  and, when the request could be read, its analyst and id;
- development mode (no policy): nothing is added.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

from ledger.access_records import POLICY_SHA256, policy_record
from ledger.records import Action, AuditRecord

if TYPE_CHECKING:
    from pathlib import Path

    from department_nodes.access import AccessOutcome
    from ledger.store import LogStore

__all__ = ["with_access_records"]

_POLICY_ACTION = b'"action":"access_policy"'
# Per log file: how many records were scanned, and the newest policy's digest.
_recorded: dict[Path, tuple[int, str]] = {}
_lock = threading.Lock()


def _last_policy(store: LogStore) -> str:
    """The digest of the newest ``access_policy`` record in ``store`` ("" if none)."""
    with _lock:
        scanned, digest = _recorded.get(store.path, (0, ""))
    if scanned > store.size:  # another file under the same name: start over
        scanned, digest = 0, ""
    for data in store.encoded_records(scanned, store.size):
        if _POLICY_ACTION in data:
            digest = AuditRecord.decode(data).details.get(POLICY_SHA256, "")
    with _lock:
        _recorded[store.path] = (store.size, digest)
    return digest


def with_access_records(
    records: list[AuditRecord],
    outcome: AccessOutcome | None,
    store: LogStore,
    *,
    timestamp_ms: int,
) -> list[AuditRecord]:
    """``records`` (one handled message's, in order) with the gate's records."""
    if outcome is None or outcome.policy is None or not records:
        return records
    if not outcome.allowed:
        extra = outcome.denial_details()
        return [
            dataclasses.replace(r, details={**r.details, **extra})
            if r.action is Action.ACCESS_DENIED
            else r
            for r in records
        ]
    first = records[0]
    grant = AuditRecord(
        actor=first.actor,
        role=first.role,
        action=Action.ACCESS_GRANTED,
        timestamp_ms=timestamp_ms,
        dataset=first.dataset,
        purpose=first.purpose,
        job=first.job,
        run=first.run,
        round=first.round,
        details={
            "department": first.details.get("department", ""),
            "phase": first.details.get("phase", ""),
            **outcome.grant_details(),
        },
    )
    added = [grant]
    if _last_policy(store) != outcome.policy.digest().hex():
        added.insert(
            0,
            policy_record(outcome.policy, actor=first.actor, timestamp_ms=timestamp_ms),
        )
    return [*added, *records]
