"""Shared helpers for the audit log tests: a fixed actor and record factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_account import Account

from fedgov.types import ActorId, DatasetId, JobId
from ledger.records import Action, AuditRecord, Role
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

ACTOR: LocalAccount = Account.from_key("0x" + "11" * 32)
OTHER: LocalAccount = Account.from_key("0x" + "22" * 32)
DOMAIN = SigningDomain(chain_id=31337, verifying_contract="0x" + "ab" * 20)


def make_record(
    index: int, actor: LocalAccount = ACTOR, action: Action = Action.DATA_READ
) -> AuditRecord:
    """A distinct, valid record; ``index`` shows up in its purpose text."""
    return AuditRecord(
        actor=ActorId(actor.address),
        role=Role.DEPARTMENT,
        action=action,
        timestamp_ms=1_764_000_000_000 + index,
        dataset=DatasetId("randhie"),
        purpose=f"purpose-{index:07d}",
        job=JobId("job-1"),
        round=index % 7,
        record_count=index,
        epsilon=0.25,
        delta=1e-6,
    )
