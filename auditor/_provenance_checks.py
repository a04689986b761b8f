"""The auditor's check of a model file against its signed provenance manifest.

:func:`ledger.provenance.verify_manifest` already checked the manifest's
signature and the file's SHA-256. Against the coordinator's log, this
checks what the manifest states:

- its signer wrote a coordinator log given to the auditor, and the head it
  names (log id, size, root) is that log's: the root of its first
  ``tree_size`` records;
- those records hold the ``model_export`` of this very file (same SHA-256)
  for the job the manifest names;
- the departments and the epsilon each spent are those the coordinator
  recorded for that job (each department's last reported ``epsilon-job``);
- the head is anchored (else a failure, or a warning with
  ``--allow-unanchored``), and, given the job's run record, the job's
  digest is the run record's job's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditor._index import as_float, same
from auditor.report import Check
from fedgov import protocol as p
from fedgov.errors import FedgovError
from fedgov.job import TrainJob
from ledger.merkle import MerkleTree, leaf_hash
from ledger.records import ZERO_HASH, Action, Role

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from auditor._log_checks import AuditedLog, Findings
    from auditor._party_checks import CoordinatorRun
    from ledger.provenance import ProvenanceError, SignedProvenance

__all__ = ["ProvenanceInput", "check_provenance"]


@dataclass(frozen=True)
class ProvenanceInput:
    """A model file's manifest as read and verified, or why it could not be."""

    label: str
    """The model file, as findings name it."""
    manifest: SignedProvenance | None
    error: ProvenanceError | None = None
    required: bool = True
    """A missing manifest fails (``False``: a warning, for older runs)."""


def check_provenance(
    item: ProvenanceInput,
    logs: Sequence[AuditedLog],
    runs: Sequence[CoordinatorRun],
    out: Findings,
    *,
    allow_unanchored: bool,
    run_records: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Check ``item`` against the coordinator's logs and runs (module docs)."""
    label = item.label
    if item.manifest is None:
        assert item.error is not None
        missing = "is missing" in item.error.reason
        report = out.warn if missing and not item.required else out.fail
        report(Check.PROVENANCE, label, str(item.error))
        return
    manifest, statement = item.manifest, item.manifest.statement
    log = next(
        (
            log
            for log in logs
            if log.role is Role.COORDINATOR and log.log.log_id == statement.log_id
        ),
        None,
    )
    if log is None or log.actor != manifest.signer:
        out.fail(
            Check.PROVENANCE,
            label,
            f"the manifest names log 0x{statement.log_id.hex()[:12]}… of "
            f"{manifest.signer}, which is no coordinator log given to the auditor",
        )
        return
    if statement.tree_size > len(log.records):
        out.fail(
            Check.PROVENANCE,
            label,
            f"the manifest's head covers {statement.tree_size} records; "
            f"{log.label} holds {len(log.records)}",
        )
        return
    tree = MerkleTree(leaf_hash(data) for data in log.log.records)
    if tree.root(statement.tree_size) != statement.root_hash:
        out.fail(
            Check.PROVENANCE,
            label,
            f"the manifest's head (size {statement.tree_size}) is not {log.label}'s: "
            "another history",
        )
        return
    export = next(
        (
            (index, record)
            for index, record in enumerate(log.records[: statement.tree_size])
            if record.action is Action.MODEL_EXPORT
            and record.result_hash == statement.model_sha256
            and record.job == statement.job
        ),
        None,
    )
    if export is None:
        out.fail(
            Check.PROVENANCE,
            label,
            f"{log.label} records no model_export of this file for job "
            f"{statement.job!r} within the manifest's head",
        )
        return
    if statement.tree_size > log.anchored_size:
        report = out.warn if allow_unanchored else out.fail
        report(
            Check.PROVENANCE,
            label,
            f"the manifest's head (size {statement.tree_size}) is not anchored "
            f"(anchored up to {log.anchored_size})",
        )
    run = next(
        (
            r
            for r in runs
            if r.export is not None
            and r.export.log is log
            and r.export.index == export[0]
        ),
        None,
    )
    if run is not None:
        _check_epsilons(item, run, out)
    if statement.job_digest == ZERO_HASH:
        return
    for run_record in run_records:
        try:
            job = TrainJob.from_run_config(run_record.get("job", {}))
        except FedgovError as e:
            out.fail(Check.PROVENANCE, label, f"the run record's job is invalid: {e}")
            return
        if job.job_id == statement.job and job.digest() != statement.job_digest:
            out.fail(
                Check.PROVENANCE,
                label,
                "the manifest's job digest is not the run record's job's",
            )


def _check_epsilons(item: ProvenanceInput, run: CoordinatorRun, out: Findings) -> None:
    assert item.manifest is not None
    recorded: dict[str, float] = {}
    for server_round in sorted(run.entries):
        for name, ref in run.entries[server_round].items():
            if ref.record.details.get("train") == p.Outcome.TRAINED:
                value = as_float(ref.record.details, p.Metric.EPSILON_JOB)
                recorded[name] = value if value is not None else 0.0
    stated = dict(item.manifest.statement.epsilons)
    if sorted(stated) != sorted(recorded):
        out.fail(
            Check.PROVENANCE,
            item.label,
            f"the manifest names departments {sorted(stated)}; the coordinator "
            f"recorded {sorted(recorded)} training in job {run.job!r}",
        )
        return
    for name, epsilon in stated.items():
        if not same(epsilon, recorded[name]):
            out.fail(
                Check.PROVENANCE,
                item.label,
                f"the manifest gives {name} epsilon {epsilon}; the coordinator "
                f"recorded {recorded[name]} in job {run.job!r}",
            )
