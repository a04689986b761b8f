"""The logs handed to the auditor against the chain's own list of logs.

An auditor that trusted the set of files it was given would pass a state
folder from which the inconvenient logs were deleted. The chain says which
logs exist: the AnchorRegistry lists every log it ever anchored, and the
Roles contract every account it ever granted a role
(:class:`ChainListing`). So:

- every log the registry lists must be among the logs read; one missing
  (or whose file could not be read) fails, naming its actor, its anchors
  and the size it was last anchored at; one behind its last anchor fails in
  the anchor check (:mod:`auditor._log_checks`);
- an account that held the coordinator or department role but has no log,
  neither anchored nor given, is a warning (it never wrote anything
  anchored: an idle department, or one whose records were never committed);
- the roster of each run names addresses the Roles contract granted the
  department role (checked with the rosters, :mod:`auditor._party_checks`).

``--only`` narrows an audit explicitly (:class:`Scope`): logs outside it are
neither checked nor required, and the report lists what the chain holds that
was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.report import Check
from fedgov.errors import ConfigurationError
from ledger.record_fields import ROSTER_PREFIX
from ledger.records import Action, Role

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from auditor._log_checks import AuditedLog, Findings, RoleSpan
    from ledger.anchor_registry import AnchoredLog

__all__ = ["ChainListing", "Scope", "check_coverage"]

_LOG_ROLES = (Role.COORDINATOR, Role.DEPARTMENT)


@dataclass(frozen=True)
class ChainListing:
    """What the chain lists: every log anchored, every actor ever registered."""

    logs: tuple[AnchoredLog, ...]
    actors: Mapping[str, tuple[RoleSpan, ...]] = field(default_factory=dict)
    """Each account ever granted a role: its coordinator and department spans."""

    def roles_of(self, account: str) -> set[Role]:
        return {span.role for span in self.actors.get(account, ())}


def _short(data: bytes) -> str:
    return "0x" + data.hex()[:12] + "…"


@dataclass(frozen=True)
class _Who:
    """What is known of a log's owner: address, log id, role, department."""

    actor: str
    log_id: bytes | None
    roles: frozenset[Role]
    departments: frozenset[str]

    def matches(self, selector: str) -> bool:
        text = selector.strip()
        lowered = text.lower()
        if lowered.startswith("0x") and len(text) == 42:
            return lowered == self.actor.lower()
        if lowered.startswith("0x") and len(text) == 66:
            return self.log_id is not None and lowered == "0x" + self.log_id.hex()
        if text == Role.COORDINATOR.value:
            return Role.COORDINATOR in self.roles
        return text in self.departments

    def describe(self) -> str:
        roles = "/".join(sorted(r.value for r in self.roles)) or "no log-keeping role"
        names = ", ".join(sorted(self.departments))
        return f"{roles} {names}".strip() + f" {self.actor}"


def _rosters(logs: Iterable[AuditedLog]) -> dict[str, set[str]]:
    """Address -> the department names its own log and the coordinators'
    rosters give it."""
    names: dict[str, set[str]] = {}
    for log in logs:
        if log.department:
            names.setdefault(log.actor, set()).add(log.department)
        if log.role is not Role.COORDINATOR:
            continue
        for record in log.records:
            if record.action is not Action.JOB_SUBMIT:
                continue
            for key, address in record.details.items():
                if key.startswith(ROSTER_PREFIX):
                    names.setdefault(address, set()).add(
                        key.removeprefix(ROSTER_PREFIX)
                    )
    return names


class Scope:
    """Which logs an audit covers: all of them, or those ``--only`` selects.

    A selector is an actor's address, a log id, ``coordinator``, or a
    department's name (a department known only from the chain is named by
    the coordinators' rosters).
    """

    def __init__(
        self,
        only: Sequence[str],
        logs: Sequence[AuditedLog],
        listing: ChainListing | None,
    ) -> None:
        self.only = tuple(only)
        self._rosters = _rosters(logs)
        self._listing = listing
        if not self.only:
            return
        candidates = [self.of_log(log) for log in logs]
        if listing is not None:
            candidates += [
                self.of_actor(entry.signer, entry.log_id) for entry in listing.logs
            ]
            candidates += [self.of_actor(actor, None) for actor in listing.actors]
        for selector in self.only:
            if not any(who.matches(selector) for who in candidates):
                raise ConfigurationError(
                    "--only",
                    f"{selector!r} names no log given and none the chain lists (an "
                    "actor address, a 0x log id, 'coordinator' or a department name)",
                )

    @property
    def narrowed(self) -> bool:
        return bool(self.only)

    def of_log(self, log: AuditedLog) -> _Who:
        roles = {log.role} if log.role is not None else set()
        departments = {log.department} if log.department else set()
        departments |= self._rosters.get(log.actor, set())
        if self._listing is not None:
            roles |= self._listing.roles_of(log.actor)
        return _Who(log.actor, log.log.log_id, frozenset(roles), frozenset(departments))

    def of_actor(self, actor: str, log_id: bytes | None) -> _Who:
        roles = self._listing.roles_of(actor) if self._listing is not None else set()
        return _Who(
            actor,
            log_id,
            frozenset(roles),
            frozenset(self._rosters.get(actor, set())),
        )

    def covers(self, who: _Who) -> bool:
        return not self.only or any(who.matches(s) for s in self.only)


@dataclass(frozen=True)
class Coverage:
    """How the logs read compare with the chain's list."""

    listed: int
    """Logs the registry lists."""
    not_audited: tuple[str, ...] = ()
    """Logs the chain lists that ``--only`` left out, described."""


def check_coverage(
    audited: Sequence[AuditedLog],
    unreadable: Mapping[bytes, str],
    listing: ChainListing,
    scope: Scope,
    out: Findings,
) -> Coverage:
    """Fail for every listed log in scope that was not read.

    ``unreadable`` maps the log id a given file was expected to hold (from its
    name) to its label: its failure to read is reported where it was read.
    """
    read = {log.log.log_id for log in audited}
    left_out: list[str] = []
    for entry in listing.logs:
        if entry.log_id in read:
            continue
        who = scope.of_actor(entry.signer, entry.log_id)
        anchored = (
            f"{entry.anchors} anchor(s) on chain, the latest of size "
            f"{entry.tree_size} in block {entry.block_number}"
        )
        if not scope.covers(who):
            left_out.append(
                f"log {_short(entry.log_id)} of {who.describe()} ({anchored})"
            )
            continue
        if entry.log_id in unreadable:
            continue
        out.fail(
            Check.COVERAGE,
            "",
            f"the AnchorRegistry lists log 0x{entry.log_id.hex()} of "
            f"{who.describe()}, with {anchored}, but it was not given: the audit "
            "cannot vouch for what it recorded (deleted, withheld or left out; "
            "narrow the audit with --only to leave it out on purpose)",
            block=entry.block_number,
        )
    listed = {entry.signer for entry in listing.logs}
    given = {log.actor for log in audited}
    for actor, spans in listing.actors.items():
        kept = [s for s in spans if s.role in _LOG_ROLES]
        if not kept or actor in listed or actor in given:
            continue
        who = scope.of_actor(actor, None)
        if not scope.covers(who):
            continue
        since = min(s.granted_block for s in kept)
        out.warn(
            Check.COVERAGE,
            "",
            f"{who.describe()} has held a log-keeping role since block {since}, but "
            "no log of it is anchored or given (it never committed a record)",
            block=since,
        )
    return Coverage(len(listing.logs), tuple(left_out))
