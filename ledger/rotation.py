"""Key rotation records: how an actor's records move from one key to the next.

A log belongs to one key, so a new key starts a new log. Two
``key_rotation`` records tie them together:

- the last record of the old log, signed (and anchored) under the old key,
  names the new address (``details["new-actor"]``): the old key hands over;
- the first record of the new log names the old address
  (``details["previous-actor"]``): the only link left when the old key was
  lost and cannot hand over.

The admin grants the role to the new address and revokes it from the old
one on chain; :class:`~fedgov.engines.audit.AuditEnvironment` does all of
it (:meth:`~fedgov.engines.audit.AuditEnvironment.rotate_key`,
:meth:`~fedgov.engines.audit.AuditEnvironment.replace_lost_key`).
"""

from __future__ import annotations

from typing import Final

from fedgov.types import ActorId
from ledger.records import Action, AuditRecord, Role

__all__ = ["NEW_ACTOR", "PREVIOUS_ACTOR", "rotation_record"]

NEW_ACTOR: Final = "new-actor"
PREVIOUS_ACTOR: Final = "previous-actor"


def rotation_record(
    *,
    actor: str,
    role: Role,
    department: str,
    reason: str,
    timestamp_ms: int,
    new_actor: str | None = None,
    previous_actor: str | None = None,
) -> AuditRecord:
    """A ``key_rotation`` record: handing over to, or taking over from, a key."""
    details = {"reason": reason}
    if department:
        details["department"] = department
    if new_actor is not None:
        details[NEW_ACTOR] = new_actor
    if previous_actor is not None:
        details[PREVIOUS_ACTOR] = previous_actor
    return AuditRecord(
        actor=ActorId(actor),
        role=role,
        action=Action.KEY_ROTATION,
        timestamp_ms=timestamp_ms,
        details=details,
    )
