"""Checks of one log on its own: integrity, forks, anchors, the writer's role.

Pure: the log is already fetched and the chain's facts already read
(:mod:`auditor.verify` does the I/O). Each check appends findings to a
:class:`Findings` and carries on, so one report lists every problem; the
first failure is the first found, in the order of :class:`Check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from auditor.report import AuditFinding, Check
from ledger.errors import LedgerError, LogIntegrityError, ProofError, RecordError
from ledger.integrity import check_signed_heads
from ledger.merkle import MerkleTree, leaf_hash, verify_consistency
from ledger.records import AuditRecord, Role
from ledger.tree_head import recover_signer
from ledger.witness_policy import judge_checkpoints

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.anchor_registry import AnchoredHead
    from ledger.chain_roles import RoleChange
    from ledger.export import ExportedLog
    from ledger.tree_head import SigningDomain
    from ledger.witness_policy import WitnessPolicy

__all__ = [
    "AuditOptions",
    "AuditedLog",
    "ChainFacts",
    "Findings",
    "LogInput",
    "RoleSpan",
    "check_log",
    "role_spans",
]

_ANCHORED_ROLES = (Role.COORDINATOR, Role.DEPARTMENT)


@dataclass(frozen=True)
class RoleSpan:
    """The blocks during which an account held a role on chain."""

    role: Role
    granted_block: int
    revoked_block: int | None = None

    def held_at_block(self, block: int) -> bool:
        """Held after ``block`` (a change takes effect after its own block)."""
        return self.granted_block <= block and (
            self.revoked_block is None or block < self.revoked_block
        )


def role_spans(role: Role, changes: Sequence[RoleChange]) -> list[RoleSpan]:
    """Grant/revoke history (oldest first) as the stretches the role was held."""
    spans: list[RoleSpan] = []
    granted: int | None = None
    for change in changes:
        if change.granted and granted is None:
            granted = change.block_number
        elif not change.granted and granted is not None:
            spans.append(RoleSpan(role, granted, change.block_number))
            granted = None
    if granted is not None:
        spans.append(RoleSpan(role, granted))
    return spans


@dataclass(frozen=True)
class ChainFacts:
    """What the chain says about one log and its writer."""

    anchors: tuple[AnchoredHead, ...]
    """The log's anchored heads, oldest first."""
    spans: tuple[RoleSpan, ...]
    """The writer's coordinator and department roles over time."""
    latest_block: int = 0
    """The chain's newest block when the facts were read."""


@dataclass(frozen=True)
class LogInput:
    """One log handed to the auditor: read (``log``) or not (``error``)."""

    label: str
    log: ExportedLog | None
    error: LedgerError | None = None
    chain: ChainFacts | None = None
    expected_log_id: bytes | None = None
    """The log an unreadable file should hold (from its name), if known."""


@dataclass(frozen=True)
class AuditOptions:
    """How strict to be."""

    domain: SigningDomain
    """The chain and registry every head must be signed for."""
    allow_unanchored: bool = False
    """Report records after the last anchor (or witnessed checkpoint) as a
    warning, not a failure."""
    witness_policy: WitnessPolicy | None = None
    """Check each log's checkpoints and cosignatures against this policy."""
    only: tuple[str, ...] = ()
    """Audit only the logs these select (``--only``); empty: every log."""


@dataclass
class Findings:
    """Failures and warnings, in the order found."""

    failures: list[AuditFinding] = field(default_factory=list)
    warnings: list[AuditFinding] = field(default_factory=list)

    def fail(
        self,
        check: Check,
        log: str,
        message: str,
        *,
        index: int | None = None,
        block: int | None = None,
    ) -> None:
        self.failures.append(AuditFinding(check, log, message, index, block))

    def warn(
        self,
        check: Check,
        log: str,
        message: str,
        *,
        index: int | None = None,
        block: int | None = None,
    ) -> None:
        self.warnings.append(AuditFinding(check, log, message, index, block))


@dataclass(frozen=True)
class AuditedLog:
    """A log that could be read, with what the per-log checks learned."""

    label: str
    log: ExportedLog
    records: tuple[AuditRecord, ...]
    role: Role | None
    department: str
    """The department its records speak for (``""`` for other roles)."""
    anchored_size: int
    anchors: int
    witnessed_size: int | None = None
    anchor_blocks: tuple[tuple[int, int], ...] = ()
    """(tree size, block) of each anchored head, oldest first."""

    def anchor_block(self, index: int) -> int | None:
        """The block of the first anchor covering record ``index``, if any."""
        for size, block in self.anchor_blocks:
            if size > index:
                return block
        return None

    @property
    def actor(self) -> str:
        return self.log.actor

    def describe(self) -> str:
        who = f"{self.role.value} {self.department}".strip() if self.role else "log"
        return f"{who} log of {self.actor}"


def _short(data: bytes) -> str:
    return "0x" + data.hex()[:16] + "…"


def check_log(
    item: LogInput, options: AuditOptions, out: Findings
) -> AuditedLog | None:
    """Run every single-log check on ``item``; ``None`` if it could not be read."""
    label = item.label
    if item.log is None:
        index = item.error.index if isinstance(item.error, LogIntegrityError) else None
        out.fail(Check.INTEGRITY, label, f"cannot be read: {item.error}", index=index)
        return None
    log = item.log
    tree = MerkleTree(leaf_hash(data) for data in log.records)
    try:
        records = tuple(AuditRecord.decode(data) for data in log.records)
    # The readers decode strictly already; an ExportedLog built by hand may not.
    except RecordError as e:
        out.fail(Check.INTEGRITY, label, f"a record does not decode: {e}")
        return None
    anchors = item.chain.anchors if item.chain is not None else ()
    _check_forks(label, log, anchors, out)
    verified = _check_heads(label, log, tree, options, out)
    role = _check_structure(label, log.actor, records, out)
    department = (
        records[0].details.get("department", "") if role is Role.DEPARTMENT else ""
    )
    anchored = 0
    if item.chain is not None:
        anchored = _check_anchors(
            label, log, tree, records, item.chain, verified, options, out
        )
        _check_roles(label, log, records, role, item.chain, anchored, out)
    witnessed = None
    if options.witness_policy is not None:
        verdict = judge_checkpoints(
            options.witness_policy,
            actor=log.actor,
            log_name=log.log_name,
            checkpoints=log.checkpoints,
            tree=tree,
        )
        witnessed = verdict.witnessed_size
        for problem in verdict.problems:
            report = (
                out.warn
                if problem.unwitnessed and options.allow_unanchored
                else out.fail
            )
            report(Check.WITNESS, label, problem.message, index=problem.index)
    return AuditedLog(
        label,
        log,
        records,
        role,
        department,
        anchored,
        len(anchors),
        witnessed,
        tuple((a.tree_size, a.block_number) for a in anchors),
    )


def _check_forks(
    label: str, log: ExportedLog, anchors: Sequence[AnchoredHead], out: Findings
) -> None:
    seen: dict[int, tuple[bytes, str, int | None]] = {}
    candidates: list[tuple[int, bytes, str, int | None, int | None]] = [
        (
            signed.head.tree_size,
            signed.head.root_hash,
            f"signed head {k} in the log",
            None,
            k,
        )
        for k, (signed, _) in enumerate(log.heads)
    ] + [
        (
            a.tree_size,
            a.root_hash,
            f"anchored in block {a.block_number}",
            a.block_number,
            None,
        )
        for a in anchors
    ]
    for size, root, where, block, head_index in candidates:
        if head_index is not None and log.heads[head_index][0].signer != log.actor:
            continue
        earlier = seen.get(size)
        if earlier is None:
            seen[size] = (root, where, head_index)
            continue
        if earlier[0] == root:
            continue
        # Only two *validly signed* heads are evidence of equivocation; a
        # head with a bad signature is a forgery, which the head check reports.
        if not all(
            k is None or recover_signer(*log.heads[k]) == log.actor
            for k in (earlier[2], head_index)
        ):
            continue
        out.fail(
            Check.FORK,
            label,
            f"two heads of size {size} signed by {log.actor} have different roots, "
            f"{_short(earlier[0])} ({earlier[1]}) and {_short(root)} ({where}): "
            "the actor committed to two different histories",
            block=block,
        )


def _check_heads(
    label: str,
    log: ExportedLog,
    tree: MerkleTree,
    options: AuditOptions,
    out: Findings,
) -> list[int]:
    """Check the log's own signed heads; return the sizes whose roots verify."""
    verified = [0]
    for signed, _ in log.heads:
        head = signed.head
        if head.tree_size <= tree.size and tree.root(head.tree_size) == head.root_hash:
            verified.append(head.tree_size)
    try:
        check_signed_heads(
            tree, log.heads, log_id=log.log_id, actor=log.actor, domain=options.domain
        )
    except LogIntegrityError as e:
        index = e.index
        if index is None and "do not hash to the root" in e.reason:
            index = _range_start(log, tree)
        out.fail(Check.INTEGRITY, label, e.reason, index=index)
    return sorted(set(verified))


def _range_start(log: ExportedLog, tree: MerkleTree) -> int | None:
    """Size of the last head that verifies before the first that does not."""
    good = 0
    for signed, _ in log.heads:
        head = signed.head
        if head.tree_size > tree.size or tree.root(head.tree_size) != head.root_hash:
            return good
        good = max(good, head.tree_size)
    return None


def _check_structure(
    label: str, actor: str, records: Sequence[AuditRecord], out: Findings
) -> Role | None:
    """One writer and one role per log and, for a department, one department."""
    for index, record in enumerate(records):
        if record.actor != actor:
            out.fail(
                Check.INTEGRITY,
                label,
                f"written by {record.actor}, not the log's actor {actor}",
                index=index,
            )
            break
    if not records:
        return None
    role = records[0].role
    department = records[0].details.get("department")
    if role is Role.DEPARTMENT and not department:
        out.fail(Check.IDENTITY, label, "names no department", index=0)
    for index, record in enumerate(records):
        if record.role is not role:
            out.fail(
                Check.INTEGRITY,
                label,
                f"claims the {record.role.value} role, the log's first record {role.value}",
                index=index,
            )
            break
        if role is Role.DEPARTMENT and record.details.get("department") != department:
            out.fail(
                Check.IDENTITY,
                label,
                f"speaks for department {record.details.get('department')!r}, "
                f"the log's first record for {department!r}",
                index=index,
            )
            break
    return role


def _check_anchors(
    label: str,
    log: ExportedLog,
    tree: MerkleTree,
    records: Sequence[AuditRecord],
    facts: ChainFacts,
    verified: list[int],
    options: AuditOptions,
    out: Findings,
) -> int:
    """Check the log against its anchors; return the size anchored and verified."""
    checkpoints = set(verified)
    matched: list[AnchoredHead] = []
    for anchor in facts.anchors:
        block = anchor.block_number
        size = anchor.tree_size
        if anchor.signer != log.actor or anchor.log_id != log.log_id:
            out.fail(
                Check.ANCHOR,
                label,
                f"the anchor names log 0x{anchor.log_id.hex()} of {anchor.signer}",
                block=block,
            )
            continue
        if size > tree.size:
            out.fail(
                Check.ANCHOR,
                label,
                f"a head of size {size} was anchored, but the log holds only "
                f"{tree.size} records: records [{tree.size}, {size}) were removed "
                "(the log is truncated)",
                index=tree.size,
                block=block,
            )
            continue
        if tree.root(size) != anchor.root_hash:
            start = max((c for c in checkpoints if c < size), default=0)
            out.fail(
                Check.ANCHOR,
                label,
                f"records [{start}, {size}) do not hash to the root anchored in "
                f"block {block}: one of them was altered, removed, reordered or "
                "replaced, or a record was inserted",
                index=start,
                block=block,
            )
            continue
        if matched:
            previous = matched[-1]
            try:
                verify_consistency(
                    previous.tree_size,
                    size,
                    previous.root_hash,
                    anchor.root_hash,
                    tree.consistency_proof(previous.tree_size, size),
                )
            except (ProofError, LedgerError) as e:
                out.fail(
                    Check.ANCHOR,
                    label,
                    f"not consistent with the anchor in block {previous.block_number}: {e}",
                    block=block,
                )
        checkpoints.add(size)
        matched.append(anchor)
    anchored = max((a.tree_size for a in matched), default=0)
    if anchored < tree.size:
        message = (
            f"records [{anchored}, {tree.size}) are not anchored on chain: nothing "
            "commits the actor to them yet"
        )
        if options.allow_unanchored:
            out.warn(Check.ANCHOR, label, message, index=anchored)
        else:
            out.fail(Check.ANCHOR, label, message, index=anchored)
    return anchored


def _check_roles(
    label: str,
    log: ExportedLog,
    records: Sequence[AuditRecord],
    role: Role | None,
    facts: ChainFacts,
    anchored: int,
    out: Findings,
) -> None:
    """The writer held the role its records claim wherever the chain can tell.

    Authority is established at the anchor blocks: a record's own timestamp
    is its writer's claim, while the anchor proves it existed, signed, at a
    block where the signer held (or did not hold) the role. Records after
    the last anchor are judged by the role now.
    """
    if role is None:
        return
    if role not in _ANCHORED_ROLES:
        out.fail(
            Check.ROLE, label, f"a {role.value} keeps no anchored audit log", index=0
        )
        return
    spans = [span for span in facts.spans if span.role is role]
    for anchor in facts.anchors:
        if not any(span.held_at_block(anchor.block_number) for span in spans):
            out.fail(
                Check.ROLE,
                label,
                f"{log.actor} did not hold the {role.value} role when this head was "
                "anchored",
                block=anchor.block_number,
            )
            break
    if anchored < len(records) and not any(
        span.held_at_block(facts.latest_block) for span in spans
    ):
        ended = max((s.revoked_block or 0 for s in spans), default=0)
        since = f"since block {ended}" if ended else "at any time"
        out.fail(
            Check.ROLE,
            label,
            f"{log.actor} has not held the {role.value} role {since}: records "
            f"[{anchored}, {len(records)}) were never anchored while it did, and no "
            "longer can be",
            index=anchored,
        )
