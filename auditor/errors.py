"""The auditor's error: an audit that found failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.errors import AuditError

if TYPE_CHECKING:
    from auditor.report import AuditFinding

__all__ = ["AuditFailedError"]


class AuditFailedError(AuditError):
    """An audit found at least one failure; ``finding`` is the first of them."""

    def __init__(self, finding: AuditFinding, failures: int) -> None:
        self.finding = finding
        self.failures = failures
        more = f" (and {failures - 1} more)" if failures > 1 else ""
        super().__init__(f"audit failed: {finding}{more}")
