"""Errors of the audit integration: one base under :class:`LedgerError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.errors import LedgerError

if TYPE_CHECKING:
    from ledger.audit.report import AuditFinding

__all__ = ["AuditError", "AuditFailedError", "KeyFileError"]


class AuditError(LedgerError):
    """Base class of the errors raised by :mod:`ledger.audit`."""


class KeyFileError(AuditError):
    """An actor's key file is unreadable, malformed, or unsafely stored.

    ``path`` is the file; ``reason`` says what is wrong with it (never the key).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"audit key file {path}: {reason}")


class AuditFailedError(AuditError):
    """An audit found at least one failure; ``finding`` is the first of them."""

    def __init__(self, finding: AuditFinding, failures: int) -> None:
        self.finding = finding
        self.failures = failures
        more = f" (and {failures - 1} more)" if failures > 1 else ""
        super().__init__(f"audit failed: {finding}{more}")
