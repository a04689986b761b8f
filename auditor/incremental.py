"""Verifying only what is new: the auditor's memory of the last heads it checked.

After every verification that passes, the auditor keeps, per log, the size
it verified up to (the newest anchored head it checked), that head's root,
and the tree's *frontier* there: the roots of the complete subtrees of
those records, about log2(size) hashes (:class:`~ledger.merkle.CompactRange`).
The state is one JSON file in the auditor's own folder (:class:`AuditorState`).

``fedgov audit verify --since`` then reads, per log file, only the records,
signed heads, anchors and checkpoints that came after
(:func:`ledger.store.read_log_tail`, :meth:`AnchorRegistry.history` with
``after``), and checks them as a full run does, against the frontier:

- **integrity**: every new record decodes strictly, is the log's actor's,
  and hashes to its stored leaf; the frontier still gives the root checked
  last time; every new signed head is signed by the actor for the county's
  registry and commits to the root the records give at its size;
- **anchor**: every new anchor is the log's history at its size, and the
  newest one extends the one checked last time: an RFC 9162 consistency
  proof from the old head to the new one, computed from the frontier and
  the new records, verifies (it is in the report, for anyone to re-check);
- **role**: the writer held its role at every new anchor's block;
- **witness** (with a policy): the new checkpoints, as a full run judges them.

The cross-party checks (identity, completeness, budget, run records) need
every party's whole history; they run in a full verification, and the
incremental report says they did not run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from auditor._log_checks import Findings, role_spans
from auditor.report import AuditReport, Check, LogSummary
from fedgov.errors import ConfigurationError
from fedgov.files import write_json_atomic
from ledger.anchor_registry import AnchorRegistry
from ledger.chain_roles import Roles
from ledger.errors import LedgerError, ProofError, RecordError
from ledger.merkle import CompactRange, MerkleTree, leaf_hash, verify_consistency
from ledger.records import AuditRecord, Role
from ledger.store import read_log_tail
from ledger.tree_head import recover_signer
from ledger.witness_policy import judge_checkpoints

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.chain import Chain
    from ledger.store import LogTail
    from ledger.tree_head import SigningDomain
    from ledger.witness_policy import WitnessPolicy

__all__ = [
    "INCREMENTAL_CHECKS",
    "STATE_FILE",
    "AuditorState",
    "CheckedLog",
    "state_after_full",
    "verify_since",
]

_log = logging.getLogger(__name__)

STATE_FILE: Final = "verified.json"
"""The auditor's state file in its folder (``paths.auditor_dir`` of the county)."""
_FORMAT: Final = "fedgov-auditor-state"
_VERSION: Final = 1

INCREMENTAL_CHECKS: Final = (Check.INTEGRITY, Check.ANCHOR, Check.ROLE, Check.WITNESS)
"""What ``--since`` runs; the rest needs a full verification."""


@dataclass(frozen=True)
class CheckedLog:
    """How far one log was verified, and what continues from there."""

    log_id: bytes
    actor: str
    label: str
    role: str
    department: str
    size: int
    """Records verified (the size of the newest anchored head checked)."""
    root: bytes
    frontier: tuple[bytes, ...]
    heads: int
    """Signed heads read (the file's first ``heads``)."""
    anchors: int
    checkpoints: int
    witnessed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "label": self.label,
            "role": self.role,
            "department": self.department,
            "size": self.size,
            "root": self.root.hex(),
            "frontier": [h.hex() for h in self.frontier],
            "heads": self.heads,
            "anchors": self.anchors,
            "checkpoints": self.checkpoints,
            "witnessed": self.witnessed,
        }

    @classmethod
    def from_json(cls, log_id: str, data: dict[str, Any]) -> CheckedLog:
        return cls(
            log_id=bytes.fromhex(log_id.removeprefix("0x")),
            actor=str(data["actor"]),
            label=str(data["label"]),
            role=str(data["role"]),
            department=str(data["department"]),
            size=int(data["size"]),
            root=bytes.fromhex(data["root"]),
            frontier=tuple(bytes.fromhex(h) for h in data["frontier"]),
            heads=int(data["heads"]),
            anchors=int(data["anchors"]),
            checkpoints=int(data["checkpoints"]),
            witnessed=int(data["witnessed"]),
        )


@dataclass(frozen=True)
class AuditorState:
    """The heads last verified, per log, for one chain and registry."""

    chain_id: int
    registry: str
    logs: dict[bytes, CheckedLog] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> AuditorState | None:
        """The state in ``path``; ``None`` when the auditor has checked nothing yet."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ConfigurationError(str(path), f"unreadable auditor state: {e}") from e
        try:
            if data.get("format") != _FORMAT or data.get("version") != _VERSION:
                raise ValueError(f"not a {_FORMAT} v{_VERSION} file")
            return cls(
                chain_id=int(data["chain_id"]),
                registry=str(data["registry"]),
                logs={
                    bytes.fromhex(k.removeprefix("0x")): CheckedLog.from_json(k, v)
                    for k, v in data["logs"].items()
                },
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigurationError(str(path), f"malformed auditor state: {e}") from e

    def save(self, path: Path) -> None:
        """Write the state atomically (only after a verification that passed)."""
        write_json_atomic(
            path,
            {
                "format": _FORMAT,
                "version": _VERSION,
                "chain_id": self.chain_id,
                "registry": self.registry,
                "logs": {
                    "0x" + log_id.hex(): log.to_json()
                    for log_id, log in sorted(self.logs.items())
                },
            },
        )


def state_after_full(
    paths: Sequence[Path], report: AuditReport, *, chain_id: int, registry: str
) -> AuditorState:
    """The state a full verification that passed leaves, for each log file."""
    by_label = {log.label: log for log in report.logs}
    logs: dict[bytes, CheckedLog] = {}
    for path in paths:
        summary = by_label.get(str(path))
        if summary is None:
            continue
        tail = read_log_tail(path, start=0)
        tree = MerkleTree(stored for _, stored in tail.records)
        size = summary.anchored_size
        heads = read_log_tail(path, start=tail.size).heads  # all heads
        logs[tail.log_id] = CheckedLog(
            log_id=tail.log_id,
            actor=tail.actor,
            label=str(path),
            role=summary.role,
            department=summary.department,
            size=size,
            root=tree.root(size),
            frontier=tuple(tree.frontier(size)),
            heads=sum(1 for signed, _ in heads if signed.head.tree_size <= size),
            anchors=summary.anchors,
            checkpoints=tail.checkpoint_count,
            witnessed=summary.witnessed_size or 0,
        )
    return AuditorState(chain_id, registry, logs)


@dataclass(frozen=True)
class _Chain:
    registry: AnchorRegistry
    roles: Roles


def verify_since(
    state: AuditorState,
    paths: Sequence[Path],
    *,
    chain: Chain,
    registry: str,
    allow_unanchored: bool = False,
    witness_policy: WitnessPolicy | None = None,
) -> tuple[AuditReport, AuditorState]:
    """Verify what the log files ``paths`` hold since ``state``; the report and
    the state to keep if it passed (logs ``state`` never saw are read whole)."""
    anchors = AnchorRegistry.at(chain, registry)
    if (chain.chain_id, anchors.address) != (state.chain_id, state.registry):
        raise ConfigurationError(
            "since",
            f"the auditor's state is for chain {state.chain_id}, registry "
            f"{state.registry}; this is chain {chain.chain_id}, {anchors.address}",
        )
    facts = _Chain(anchors, Roles.at(chain, anchors.roles_address))
    out = Findings()
    summaries: list[LogSummary] = []
    logs = dict(state.logs)
    for path in paths:
        checked = _verify_log(
            path, state, facts, anchors.domain, allow_unanchored, witness_policy, out
        )
        if checked is None:
            continue
        summary, new_state = checked
        summaries.append(summary)
        logs[new_state.log_id] = new_state
    report = AuditReport(
        logs=tuple(summaries),
        failures=tuple(out.failures),
        warnings=tuple(out.warnings),
        jobs=(),
        rounds=0,
        mode="incremental",
        checks=tuple(c.value for c in INCREMENTAL_CHECKS),
    )
    return report, AuditorState(state.chain_id, state.registry, logs)


def _verify_log(
    path: Path,
    state: AuditorState,
    chain: _Chain,
    domain: SigningDomain,
    allow_unanchored: bool,
    policy: WitnessPolicy | None,
    out: Findings,
) -> tuple[LogSummary, CheckedLog] | None:
    label = str(path)
    try:
        probe = read_log_tail(path, start=1 << 62)  # who the log is, no records
    except LedgerError as e:
        out.fail(Check.INTEGRITY, label, f"cannot be read: {e}")
        return None
    before = state.logs.get(probe.log_id)
    if before is None:
        before = CheckedLog(
            probe.log_id, probe.actor, label, "", "", 0, b"", (), 0, 0, 0, 0
        )
    tail = read_log_tail(
        path,
        start=before.size,
        heads_after=before.heads,
        checkpoints_after=before.checkpoints,
    )
    if tail.size < before.size:
        out.fail(
            Check.ANCHOR,
            label,
            f"holds {tail.size} records, but {before.size} were verified before: "
            f"records [{tail.size}, {before.size}) were removed",
            index=tail.size,
        )
        return None
    compact = CompactRange(before.size, before.frontier)
    if before.size and compact.root() != before.root:
        raise ConfigurationError(
            "since", f"the auditor's state for {label} is inconsistent (frontier/root)"
        )
    role, department = _new_records(label, tail, before, compact, out)
    role = role or before.role
    department = department or before.department
    _new_heads(label, tail, compact, domain, out)
    anchored, anchor_count, proof = _new_anchors(
        label, tail, before, compact, chain, role, allow_unanchored, out
    )
    witnessed = before.witnessed
    if policy is not None:
        verdict = judge_checkpoints(
            policy,
            actor=tail.actor,
            log_name=tail.log_name,
            checkpoints=tail.checkpoints,
            tree=compact,
            witnessed_before=before.witnessed,
            first_index=before.checkpoints,
        )
        witnessed = verdict.witnessed_size
        for problem in verdict.problems:
            report = out.warn if problem.unwitnessed and allow_unanchored else out.fail
            report(Check.WITNESS, label, problem.message, index=problem.index)
    summary = LogSummary(
        label=label,
        actor=tail.actor,
        role=role,
        department=department,
        records=tail.size,
        signed_heads=before.heads + len(tail.heads),
        anchors=anchor_count,
        anchored_size=anchored,
        witnessed_size=witnessed if policy is not None else None,
        new_records=tail.size - before.size,
        verified_from=before.size,
        consistency_proof=tuple(h.hex() for h in proof),
    )
    kept_heads = before.heads + sum(
        1 for signed, _ in tail.heads if signed.head.tree_size <= anchored
    )
    return summary, CheckedLog(
        log_id=tail.log_id,
        actor=tail.actor,
        label=label,
        role=role,
        department=department,
        size=anchored,
        root=compact.root(anchored),
        frontier=tuple(compact.frontier(anchored)),
        heads=kept_heads,
        anchors=anchor_count,
        checkpoints=tail.checkpoint_count,
        witnessed=witnessed,
    )


def _new_records(
    label: str, tail: LogTail, before: CheckedLog, compact: CompactRange, out: Findings
) -> tuple[str, str]:
    role = department = ""
    hashes = []
    for offset, (data, stored) in enumerate(tail.records):
        index = before.size + offset
        computed = leaf_hash(data)
        if computed != stored:
            out.fail(
                Check.INTEGRITY,
                label,
                "its bytes no longer hash to the stored leaf: altered",
                index=index,
            )
        try:
            record = AuditRecord.decode(data)
        except RecordError as e:
            out.fail(Check.INTEGRITY, label, f"does not decode: {e}", index=index)
            record = None
        if record is not None:
            if record.actor != tail.actor:
                out.fail(
                    Check.INTEGRITY,
                    label,
                    f"written by {record.actor}, not the log's actor {tail.actor}",
                    index=index,
                )
            if not role and record.role in (Role.COORDINATOR, Role.DEPARTMENT):
                role = record.role.value
                department = record.details.get("department", "")
        hashes.append(computed)
    compact.extend(hashes)
    return role, department


def _new_heads(
    label: str,
    tail: LogTail,
    compact: CompactRange,
    domain: SigningDomain,
    out: Findings,
) -> None:
    for signed, head_domain in tail.heads:
        size = signed.head.tree_size
        if head_domain != domain:
            continue  # a head for another registry commits nothing here
        try:
            signer = recover_signer(signed, domain)
        except LedgerError as e:
            out.fail(Check.INTEGRITY, label, f"head at size {size}: {e}")
            continue
        if signer != tail.actor or signed.signer != tail.actor:
            out.fail(
                Check.INTEGRITY,
                label,
                f"the head at size {size} is not signed by the log's actor",
            )
            continue
        if size < compact.base or size > compact.size:
            out.fail(
                Check.INTEGRITY,
                label,
                f"a head at size {size} outside the records checked "
                f"[{compact.base}, {compact.size}]",
            )
            continue
        if compact.root(size) != signed.head.root_hash:
            out.fail(
                Check.INTEGRITY,
                label,
                f"records up to {size} do not hash to the root of the head signed "
                "at that size: one of them was altered or replaced",
                index=compact.base,
            )


def _new_anchors(
    label: str,
    tail: LogTail,
    before: CheckedLog,
    compact: CompactRange,
    chain: _Chain,
    role: str,
    allow_unanchored: bool,
    out: Findings,
) -> tuple[int, int, list[bytes]]:
    """The anchored size, the anchor count, the consistency proof from before."""
    try:
        new = chain.registry.history(tail.log_id, after=before.anchors)
    except LedgerError as e:
        out.fail(Check.ANCHOR, label, f"its anchors cannot be read: {e}")
        return before.size, before.anchors, []
    anchored = before.size
    for anchor in new:
        size = anchor.tree_size
        if size > compact.size:
            out.fail(
                Check.ANCHOR,
                label,
                f"an anchor commits to {size} records, the log holds {compact.size}: "
                "records were removed",
                block=anchor.block_number,
            )
            continue
        if size < anchored:
            out.fail(
                Check.ANCHOR,
                label,
                f"an anchor at size {size} goes back from {anchored}",
                block=anchor.block_number,
            )
            continue
        if compact.root(size) != anchor.root_hash:
            out.fail(
                Check.ANCHOR,
                label,
                f"the records up to {size} are not the history anchored at that size",
                block=anchor.block_number,
            )
            continue
        anchored = size
    proof: list[bytes] = []
    if 0 < before.size < anchored:
        proof = compact.consistency_proof(anchored)
        try:
            verify_consistency(
                before.size, anchored, before.root, compact.root(anchored), proof
            )
        except ProofError as e:  # pragma: no cover - the proof is the range's own
            out.fail(Check.ANCHOR, label, f"not consistent with the last check: {e}")
    if role:
        spans = role_spans(Role(role), chain.roles.history(tail.actor, Role(role)))
        for anchor in new:
            if not any(span.held_at_block(anchor.block_number) for span in spans):
                out.fail(
                    Check.ROLE,
                    label,
                    f"{tail.actor} did not hold the {role} role when this head was "
                    "anchored",
                    block=anchor.block_number,
                )
    if anchored < compact.size:
        report = out.warn if allow_unanchored else out.fail
        report(
            Check.ANCHOR,
            label,
            f"records [{anchored}, {compact.size}) are not anchored",
            index=anchored,
        )
    return anchored, before.anchors + len(new), proof
