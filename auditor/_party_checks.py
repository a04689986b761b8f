"""Checks across parties: identities, completeness, run record.

Pure, over logs that :mod:`auditor._log_checks` already read. The
coordinator's ``aggregate`` records say, per round, what each department
did; each department's own log must say the same:

- an update the coordinator aggregated is the ``train_round`` record with
  that hash in the department's log, with the ``data_read`` and (private
  jobs) the ``budget_spend`` of the same message, whose epsilon figures are
  the ones the coordinator recorded the department reporting;
- in a SecAgg+ round the coordinator never sees an update: the
  department's ``train_round`` of that round (marked secure) stands in for
  the match by hash, and the same rows and epsilon checks follow;
- a refusal has its ``access_denied``, a rejected update its
  ``train_round``, an evaluation its ``evaluate`` and ``data_read``;
- every job the coordinator ran ends with a ``model_export``.

Queries are checked by :mod:`auditor._query_checks`, and every
department's spending, training and queries together, by
:mod:`auditor._budget_checks`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditor._access_checks import AccessFacts, check_access
from auditor._budget_checks import (
    EpsilonOf,
    Mechanism,
    check_book_changes,
    check_budget,
)
from auditor._index import (
    DepartmentLogs,
    Ref,
    as_float,
    check_reported_spend,
    hex_or_empty,
    is_secure,
    same,
)
from auditor._provenance_checks import ProvenanceInput, check_provenance
from auditor._query_checks import QueryRun, check_queries
from auditor.report import Check
from fedgov import protocol as p
from ledger.record_fields import (
    ENTRY_DEPARTMENT,
    ENTRY_ROUND,
    PHASE_EVALUATE,
    PHASE_TRAIN,
    ROSTER_PREFIX,
)
from ledger.records import ZERO_HASH, Action, Role
from ledger.rotation import NEW_ACTOR, PREVIOUS_ACTOR

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from auditor._coverage_checks import ChainListing
    from auditor._log_checks import AuditedLog, Findings

__all__ = [
    "CoordinatorRun",
    "EpsilonOf",
    "Mechanism",
    "Parties",
    "check_parties",
]

RUN_RECORD = "run record"


@dataclass
class CoordinatorRun:
    """One execution of a job as the coordinator's log tells it."""

    job: str
    log: AuditedLog
    roster: dict[str, str] | None = None
    roster_index: int | None = None
    entries: dict[int, dict[str, Ref]] = field(default_factory=dict)
    rounds: dict[int, Ref] = field(default_factory=dict)
    export: Ref | None = None


@dataclass(frozen=True)
class Parties:
    """What the coordinator's log says it ran: training jobs and queries."""

    runs: list[CoordinatorRun]
    queries: list[QueryRun]
    open_departments: tuple[str, ...] = ()
    """Departments that served spends or reads without an access policy."""


def check_parties(
    logs: Sequence[AuditedLog],
    out: Findings,
    *,
    epsilon_of: EpsilonOf | None,
    run_records: Sequence[tuple[Mapping[str, Any], bytes | None]] = (),
    listing: ChainListing | None = None,
    access: AccessFacts | None = None,
    provenance: ProvenanceInput | None = None,
    allow_unanchored: bool = False,
) -> Parties:
    """Cross-check every party's records; return the coordinator's jobs and queries.

    ``run_records`` pairs each coordinator run record with the SHA-256 of its
    checkpoint file (``None``: not checked). With the chain's ``listing``,
    every roster address must be one the Roles contract granted the
    department role. ``access`` (the county's access domain and its
    analysts' roles) enables the checks of signed requests; destruction is
    checked regardless. ``provenance`` is a model file's manifest to check
    against the coordinator's log.
    """
    departments = _departments(logs, out)
    runs = _coordinator_runs(logs, out)
    if departments and not any(log.role is Role.COORDINATOR for log in logs):
        out.warn(
            Check.COMPLETENESS,
            "",
            "no coordinator log was given: departments' records are not cross-checked",
        )
    for run in runs:
        _check_run(run, departments, out, listing)
    _unclaimed_updates(runs, departments, out)
    queries = check_queries(logs, departments, out)
    open_departments = []
    for department in departments.values():
        check_budget(department, out, epsilon_of)
        check_book_changes(department, out)
        if check_access(
            department, out, access, lambda ref: ref.log.anchor_block(ref.index)
        ):
            open_departments.append(department.name)
    for run_record, checkpoint_sha256 in run_records:
        _check_run_record(runs, run_record, checkpoint_sha256, out)
    if provenance is not None:
        check_provenance(
            provenance,
            logs,
            runs,
            out,
            allow_unanchored=allow_unanchored,
            run_records=[run_record for run_record, _ in run_records],
        )
    return Parties(runs, queries, tuple(sorted(open_departments)))


# -- identities ---------------------------------------------------------------------


def _departments(
    logs: Sequence[AuditedLog], out: Findings
) -> dict[str, DepartmentLogs]:
    claims: dict[str, list[AuditedLog]] = {}
    for log in logs:
        if log.role is Role.DEPARTMENT and log.department:
            claims.setdefault(log.department, []).append(log)
    result: dict[str, DepartmentLogs] = {}
    for name, claimed in claims.items():
        ordered = _rotation_order(claimed)
        if ordered is None:
            out.fail(
                Check.IDENTITY,
                "",
                f"department {name!r} is claimed by the logs of "
                f"{sorted(log.actor for log in claimed)}, and no key_rotation record "
                "links them",
            )
            ordered = claimed
        result[name] = DepartmentLogs(name, ordered)
    return result


def _rotation_order(logs: Sequence[AuditedLog]) -> list[AuditedLog] | None:
    """The logs of one department, oldest key first, if rotations chain them.

    A link is the old log's hand-over (its last ``key_rotation`` names the
    new address) or, when the old key was lost, the new log's first record
    naming the old address.
    """
    if len(logs) == 1:
        return list(logs)
    by_actor = {log.actor: log for log in logs}
    successor: dict[str, str] = {}
    for log in logs:
        rotations = [r for r in log.records if r.action is Action.KEY_ROTATION]
        if rotations and NEW_ACTOR in rotations[-1].details:
            successor[log.actor] = rotations[-1].details[NEW_ACTOR]
        first = log.records[0] if log.records else None
        if first is not None and first.action is Action.KEY_ROTATION:
            previous = first.details.get(PREVIOUS_ACTOR)
            if previous is not None:
                successor.setdefault(previous, log.actor)
    heads = set(by_actor) - set(successor.values())
    if len(heads) != 1:
        return None
    ordered = [by_actor[heads.pop()]]
    while ordered[-1].actor in successor and len(ordered) < len(logs):
        following = by_actor.get(successor[ordered[-1].actor])
        if following is None:
            return None
        ordered.append(following)
    return ordered if len(ordered) == len(logs) else None


# -- the coordinator's view ------------------------------------------------------------


def _coordinator_runs(
    logs: Sequence[AuditedLog], out: Findings
) -> list[CoordinatorRun]:
    runs: list[CoordinatorRun] = []
    for log in logs:
        if log.role is Role.COORDINATOR:
            runs.extend(_runs_of(log, out))
    return runs


def _runs_of(log: AuditedLog, out: Findings) -> list[CoordinatorRun]:
    runs: list[CoordinatorRun] = []
    current: dict[str, CoordinatorRun] = {}

    def start(job: str) -> CoordinatorRun:
        run = CoordinatorRun(job, log)
        current[job] = run
        runs.append(run)
        return run

    for index, record in enumerate(log.records):
        ref = Ref(log, index, record)
        if record.action is Action.JOB_SUBMIT:
            run = start(record.job)
            run.roster = {
                key.removeprefix(ROSTER_PREFIX): value
                for key, value in record.details.items()
                if key.startswith(ROSTER_PREFIX)
            }
            run.roster_index = index
        elif record.action is Action.AGGREGATE:
            entry = record.details.get("entry")
            name = record.details.get("department", "")
            run = current.get(record.job) or start(record.job)
            # A job id used again without a job_submit: a new run.
            if (
                entry == ENTRY_DEPARTMENT and name in run.entries.get(record.round, {})
            ) or (entry == ENTRY_ROUND and record.round in run.rounds):
                run = start(record.job)
            if entry == ENTRY_DEPARTMENT:
                run.entries.setdefault(record.round, {})[name] = ref
            elif entry == ENTRY_ROUND:
                run.rounds[record.round] = ref
            else:
                out.fail(
                    Check.INTEGRITY,
                    log.label,
                    f"an aggregate record of unknown entry {entry!r}",
                    index=index,
                )
        elif record.action is Action.MODEL_EXPORT:
            finished = current.pop(record.job, None)
            if finished is None:
                out.warn(
                    Check.COMPLETENESS,
                    log.label,
                    f"a model_export of job {record.job!r}, which ran no round here",
                    index=index,
                )
            else:
                finished.export = ref
    return runs


def _check_run(
    run: CoordinatorRun,
    departments: Mapping[str, DepartmentLogs],
    out: Findings,
    listing: ChainListing | None,
) -> None:
    label = run.log.label
    flower_runs: set[str] = set()
    for entries in run.entries.values():
        for name, ref in entries.items():
            department = departments.get(name)
            if (
                department is None
                or ref.record.details.get("train") != p.Outcome.TRAINED
            ):
                continue
            match = department.by_hash.get(ref.record.result_hash)
            if match is not None:
                flower_runs.add(match.record.run)
    if len(flower_runs) > 1:
        out.warn(
            Check.COMPLETENESS,
            label,
            f"the departments' records of job {run.job!r} name several runs "
            f"{sorted(flower_runs)} for one run of the coordinator",
        )
    if run.roster is None:
        out.warn(
            Check.IDENTITY,
            label,
            f"job {run.job!r} has no roster (job_submit): which log speaks for which "
            "department rests on the departments' own claims",
        )
    else:
        _check_roster(run, departments, out, listing)
    for server_round in sorted(run.entries):
        for name, ref in run.entries[server_round].items():
            _check_entry(
                run, server_round, name, ref, departments.get(name), flower_runs, out
            )
        if server_round not in run.rounds:
            last = max(ref.index for ref in run.entries[server_round].values())
            out.fail(
                Check.COMPLETENESS,
                label,
                f"round {server_round} of job {run.job!r} has department entries "
                "but no round record",
                index=last,
            )
    for server_round, ref in sorted(run.rounds.items()):
        _check_round_record(run, server_round, ref, out)
    if run.rounds and run.export is None:
        # A crash (the SuperLink or the ServerApp killed) leaves exactly this,
        # so it is no evidence of tampering; a model of the job is: it needs
        # a model_export for its run record and its provenance manifest.
        last_round = max(run.rounds)
        out.warn(
            Check.COMPLETENESS,
            label,
            f"job {run.job!r} ran {len(run.rounds)} round(s) and has no model_export "
            f"record after round {last_round}: it did not finish (it crashed or was "
            "stopped), and no model of it can pass as this coordinator's",
            index=run.rounds[last_round].index,
        )


def _check_roster(
    run: CoordinatorRun,
    departments: Mapping[str, DepartmentLogs],
    out: Findings,
    listing: ChainListing | None,
) -> None:
    assert run.roster is not None
    for name, address in run.roster.items():
        if listing is not None and Role.DEPARTMENT not in listing.roles_of(address):
            out.fail(
                Check.IDENTITY,
                run.log.label,
                f"the roster of job {run.job!r} gives department {name!r} the "
                f"address {address}, which the Roles contract never granted the "
                "department role",
                index=run.roster_index,
            )
        department = departments.get(name)
        if department is not None and address not in department.addresses:
            out.fail(
                Check.IDENTITY,
                run.log.label,
                f"the roster of job {run.job!r} gives department {name!r} the "
                f"address {address}, but its log is {sorted(department.addresses)}'s",
                index=run.roster_index,
            )


def _check_round_record(
    run: CoordinatorRun, server_round: int, ref: Ref, out: Findings
) -> None:
    record = ref.record
    entries = run.entries.get(server_round, {})
    trained = sorted(
        name
        for name, entry in entries.items()
        if entry.record.details.get("train") == p.Outcome.TRAINED
    )
    listed = record.details.get(p.Outcome.TRAINED, "[]")
    if listed != _json_list(trained):
        out.fail(
            Check.COMPLETENESS,
            run.log.label,
            f"round {server_round} of job {run.job!r} lists {listed} as trained, its "
            f"department entries {trained}",
            index=ref.index,
        )
    if trained and record.result_hash == ZERO_HASH:
        out.fail(
            Check.COMPLETENESS,
            run.log.label,
            f"round {server_round} of job {run.job!r} aggregated {trained} but records "
            "no aggregate hash",
            index=ref.index,
        )


def _json_list(names: Iterable[str]) -> str:
    return json.dumps(sorted(names))


def _check_entry(
    run: CoordinatorRun,
    server_round: int,
    name: str,
    ref: Ref,
    department: DepartmentLogs | None,
    flower_runs: set[str],
    out: Findings,
) -> None:
    label, job, record = run.log.label, run.job, ref.record
    train = record.details.get("train", "none")
    evaluate = record.details.get("evaluate", "none")
    what = f"round {server_round} of job {job!r}"
    if (
        name.startswith("node-")
        and (run.roster is None or name not in run.roster)
        and p.Outcome.REJECTED in (train, evaluate)
    ):
        # A reply the coordinator could not tie to one department (two
        # replies claimed the same one): recorded and dropped, nothing to match.
        out.warn(
            Check.COMPLETENESS,
            label,
            f"a reply from {name} was dropped in {what}: "
            f"{record.details.get('reason', 'no reason')}",
            index=ref.index,
        )
        return
    if (
        train not in (p.Outcome.TRAINED, p.Outcome.REFUSED, p.Outcome.REJECTED)
        and evaluate != p.Outcome.TRAINED
    ):
        if "failed" in (train, evaluate):
            # Flower names a node it got no answer from "node-<id>": nothing
            # to match, but the auditor should know the round lost someone.
            out.warn(
                Check.COMPLETENESS,
                label,
                f"{name} failed in {what}: {record.details.get('reason', 'no reason')}",
                index=ref.index,
            )
        return
    if run.roster is not None and name not in run.roster:
        out.fail(
            Check.IDENTITY,
            label,
            f"department {name!r} took part in {what} but is not in the job's roster",
            index=ref.index,
        )
    if department is None:
        out.fail(
            Check.COMPLETENESS,
            label,
            f"department {name!r} took part in {what} ({train}), but no log of "
            f"{name!r} was given",
            index=ref.index,
        )
        return
    if train == p.Outcome.TRAINED:
        _check_trained(run, server_round, ref, department, flower_runs, out)
    elif train == p.Outcome.REFUSED:
        group = department.group(job, server_round, PHASE_TRAIN, flower_runs)
        if not any(g.record.action is Action.ACCESS_DENIED for g in group):
            out.fail(
                Check.COMPLETENESS,
                label,
                f"omission: {name} refused {what} "
                f"({record.details.get('reason', 'no reason')!r}), but its log holds "
                "no access_denied record for it",
                index=ref.index,
            )
    elif train == p.Outcome.REJECTED:
        group = department.group(job, server_round, PHASE_TRAIN, flower_runs)
        if not any(g.record.action is Action.TRAIN_ROUND for g in group):
            out.fail(
                Check.COMPLETENESS,
                label,
                f"omission: {name} sent an update in {what} (rejected: "
                f"{record.details.get('reason', '')!r}), but its log holds no "
                "train_round record for it",
                index=ref.index,
            )
    if evaluate == p.Outcome.TRAINED:
        group = department.group(job, server_round, PHASE_EVALUATE, flower_runs)
        actions = {g.record.action for g in group}
        for needed in (Action.DATA_READ, Action.EVALUATE):
            if needed not in actions:
                out.fail(
                    Check.COMPLETENESS,
                    label,
                    f"omission: {name} evaluated in {what}, but its log holds no "
                    f"{needed.value} record for it",
                    index=ref.index,
                )
                break


def _check_trained(
    run: CoordinatorRun,
    server_round: int,
    ref: Ref,
    department: DepartmentLogs,
    flower_runs: set[str],
    out: Findings,
) -> None:
    record = ref.record
    if is_secure(record):
        logged = _secure_update(run, server_round, ref, department, out)
    elif record.result_hash == ZERO_HASH:
        # No update hash, and no sign of secure aggregation: nothing to match.
        out.warn(
            Check.COMPLETENESS,
            run.log.label,
            f"{department.name} trained in round {server_round} of job {run.job!r} "
            "without a recorded update hash: its records cannot be matched to the "
            "aggregate",
            index=ref.index,
        )
        return
    else:
        logged = _clear_update(run, server_round, ref, department, flower_runs, out)
    if logged is not None:
        _check_training_records(run, server_round, ref, department, logged, out)


def _secure_update(
    run: CoordinatorRun,
    server_round: int,
    ref: Ref,
    department: DepartmentLogs,
    out: Findings,
) -> Ref | None:
    """The department's ``train_round`` of a SecAgg+ round, matched by round.

    The coordinator never saw the update, so there is no digest to match:
    the department's record names the digest of its unmasked update, which
    only the department can reproduce.
    """
    sent = [
        g
        for g in department.group(run.job, server_round, PHASE_TRAIN, set())
        if g.record.action is Action.TRAIN_ROUND and is_secure(g.record)
    ]
    if not sent:
        out.fail(
            Check.COMPLETENESS,
            run.log.label,
            f"omission: {department.name} trained in secure round {server_round} of "
            f"job {run.job!r}, but its log holds no train_round record for it",
            index=ref.index,
        )
        return None
    return sent[-1]


def _clear_update(
    run: CoordinatorRun,
    server_round: int,
    ref: Ref,
    department: DepartmentLogs,
    flower_runs: set[str],
    out: Findings,
) -> Ref | None:
    """The department's ``train_round`` of the update the coordinator aggregated."""
    name, job, record = department.name, run.job, ref.record
    what = f"round {server_round} of job {job!r}"
    update = "0x" + record.result_hash.hex()
    match = department.by_hash.get(record.result_hash)
    if match is None:
        sent = [
            g
            for g in department.group(job, server_round, PHASE_TRAIN, flower_runs)
            if g.record.action is Action.TRAIN_ROUND
        ]
        if sent:
            other = sent[-1]
            out.fail(
                Check.COMPLETENESS,
                other.log.label,
                f"{name} logged update 0x{other.record.result_hash.hex()} for {what}, "
                f"but the coordinator aggregated {update} from it "
                f"(record {ref.index} of {run.log.label})",
                index=other.index,
            )
        else:
            out.fail(
                Check.COMPLETENESS,
                run.log.label,
                f"omission: {name} trained in {what} and the coordinator aggregated "
                f"its update {update}, but {name}'s log holds no train_round record "
                "of that update",
                index=ref.index,
            )
        return None
    logged = match.record
    if logged.job != job or logged.round != server_round:
        out.fail(
            Check.COMPLETENESS,
            match.log.label,
            f"the update {update} that the coordinator aggregated in {what} is "
            f"logged for round {logged.round} of job {logged.job!r}",
            index=match.index,
        )
        return None
    return match


def _check_training_records(
    run: CoordinatorRun,
    server_round: int,
    ref: Ref,
    department: DepartmentLogs,
    match: Ref,
    out: Findings,
) -> None:
    """The rows and epsilon the department logged for its update, against the
    coordinator's record of what it reported."""
    name, job, record, logged = department.name, run.job, ref.record, match.record
    what = f"round {server_round} of job {job!r}"
    where = match.log.label
    if logged.record_count != record.record_count:
        out.fail(
            Check.COMPLETENESS,
            where,
            f"{name} logged {logged.record_count} training rows for {what}, the "
            f"coordinator recorded {record.record_count} reported",
            index=match.index,
        )
    group = department.group(job, server_round, PHASE_TRAIN, {logged.run})
    reads = [g for g in group if g.record.action is Action.DATA_READ]
    if not reads:
        out.fail(
            Check.COMPLETENESS,
            where,
            f"omission: {name} trained in {what} but logged no data_read for it",
            index=match.index,
        )
    elif reads[-1].record.record_count != logged.record_count:
        out.fail(
            Check.COMPLETENESS,
            reads[-1].log.label,
            f"{name} logged reading {reads[-1].record.record_count} rows but training "
            f"on {logged.record_count} in {what}",
            index=reads[-1].index,
        )
    if p.Metric.EPSILON_JOB not in record.details:
        return
    spends = [g for g in group if g.record.action is Action.BUDGET_SPEND]
    if not spends:
        out.fail(
            Check.COMPLETENESS,
            where,
            f"omission: {name} trained privately in {what} but logged no budget_spend",
            index=match.index,
        )
        return
    check_reported_spend(
        out,
        department=name,
        what=what,
        spend=spends[-1],
        reported=ref,
        reported_in=run.log.label,
        keys=(
            (p.Metric.EPSILON_JOB, p.Metric.EPSILON_JOB),
            (p.Metric.EPSILON_TOTAL, p.Metric.EPSILON_TOTAL),
        ),
    )


def _unclaimed_updates(
    runs: Sequence[CoordinatorRun],
    departments: Mapping[str, DepartmentLogs],
    out: Findings,
) -> None:
    """Updates a department logged sending that the coordinator never recorded."""
    jobs = {run.job for run in runs}
    received = {
        ref.record.result_hash
        for run in runs
        for entries in run.entries.values()
        for ref in entries.values()
    }
    for department in departments.values():
        for update, ref in department.by_hash.items():
            if ref.record.job in jobs and update not in received:
                out.warn(
                    Check.COMPLETENESS,
                    ref.log.label,
                    f"{department.name} logged sending update 0x{update.hex()} in round "
                    f"{ref.record.round} of job {ref.record.job!r}; the coordinator "
                    "recorded no such update (lost, timed out, or withheld)",
                    index=ref.index,
                )


# -- the run record -----------------------------------------------------------------


def _check_run_record(
    runs: Sequence[CoordinatorRun],
    run_record: Mapping[str, Any],
    checkpoint_sha256: bytes | None,
    out: Findings,
) -> None:
    job = str(run_record.get("job", {}).get(p.Instruction.JOB_ID, ""))
    rounds: list[Mapping[str, Any]] = list(run_record.get("rounds", []))
    candidates = [run for run in runs if run.job == job and run.rounds]
    if not candidates:
        out.fail(
            Check.RUN_RECORD,
            RUN_RECORD,
            f"job {job!r} ran no round in the coordinator's log",
        )
        return

    def agreement(run: CoordinatorRun) -> int:
        return sum(
            1
            for data in rounds
            if (ref := run.rounds.get(int(data.get("server_round", 0)))) is not None
            and hex_or_empty(ref.record.result_hash)
            == str(data.get("aggregate_hash") or "")
        )

    run = max(reversed(candidates), key=agreement)
    for data in rounds:
        server_round = int(data.get("server_round", 0))
        ref = run.rounds.get(server_round)
        if ref is None:
            out.fail(
                Check.RUN_RECORD,
                RUN_RECORD,
                f"round {server_round} of job {job!r} is not in the coordinator's log",
            )
            continue
        recorded = str(data.get("aggregate_hash") or "")
        if recorded != hex_or_empty(ref.record.result_hash):
            out.fail(
                Check.RUN_RECORD,
                RUN_RECORD,
                f"round {server_round}: aggregate hash {recorded or 'none'} differs "
                f"from the audited {hex_or_empty(ref.record.result_hash) or 'none'} "
                f"(record {ref.index} of {run.log.label})",
            )
        for outcome in data.get("train", []):
            _check_outcome(run, server_round, outcome, out)
    _check_summaries(run, run_record.get("departments", []), out)
    if checkpoint_sha256 is not None:
        if run.export is None:
            out.fail(
                Check.RUN_RECORD,
                RUN_RECORD,
                f"job {job!r} has a checkpoint but no model_export record",
            )
        elif run.export.record.result_hash != checkpoint_sha256:
            out.fail(
                Check.RUN_RECORD,
                RUN_RECORD,
                f"the checkpoint's SHA-256 is {checkpoint_sha256.hex()}, the "
                f"model_export record says {run.export.record.result_hash.hex()} "
                f"(record {run.export.index} of {run.log.label})",
            )


def _check_outcome(
    run: CoordinatorRun, server_round: int, outcome: Mapping[str, Any], out: Findings
) -> None:
    name = str(outcome.get("department", ""))
    status = str(outcome.get("status", ""))
    entry = run.entries.get(server_round, {}).get(name)
    if entry is None:
        out.fail(
            Check.RUN_RECORD,
            RUN_RECORD,
            f"round {server_round}: {name} ({status}) has no audit record",
        )
        return
    audited = entry.record.details.get("train", "none")
    update = str(outcome.get("update_hash") or "")
    if audited != status or update != hex_or_empty(entry.record.result_hash):
        out.fail(
            Check.RUN_RECORD,
            RUN_RECORD,
            f"round {server_round}: {name} {status} with update {update or 'none'}, "
            f"the audit record says {audited} with "
            f"{hex_or_empty(entry.record.result_hash) or 'none'} "
            f"(record {entry.index} of {run.log.label})",
        )


def _check_summaries(
    run: CoordinatorRun, summaries: Iterable[Mapping[str, Any]], out: Findings
) -> None:
    for summary in summaries:
        name = str(summary.get("department", ""))
        entries = [
            run.entries[r][name].record.details
            for r in sorted(run.entries)
            if name in run.entries[r]
        ]
        trained = [d for d in entries if d.get("train") == p.Outcome.TRAINED]
        with_total = [d for d in entries if p.Metric.EPSILON_TOTAL in d]
        expected = {
            "epsilon_job": as_float(trained[-1], p.Metric.EPSILON_JOB)
            if trained
            else 0.0,
            "epsilon_total": as_float(with_total[-1], p.Metric.EPSILON_TOTAL)
            if with_total
            else 0.0,
        }
        for key, audited in expected.items():
            reported = float(summary.get(key) or 0.0)
            if audited is None or not same(reported, audited):
                out.fail(
                    Check.RUN_RECORD,
                    RUN_RECORD,
                    f"{name}'s {key} is {reported!r} in the run record, "
                    f"{audited!r} in the coordinator's audit records",
                )
        rounds_trained = int(summary.get("rounds_trained", 0))
        if rounds_trained != len(trained):
            out.fail(
                Check.RUN_RECORD,
                RUN_RECORD,
                f"{name} trained {rounds_trained} round(s) in the run record, "
                f"{len(trained)} in the coordinator's audit records",
            )
