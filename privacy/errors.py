"""Errors raised by the ``privacy`` package."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov.errors import FedgovError

if TYPE_CHECKING:
    from privacy.boundary import Violation
    from privacy.release import ReleaseViolation

__all__ = [
    "BoundaryViolationError",
    "BudgetBookError",
    "BudgetExceeded",
    "BudgetRolledBack",
    "DatasetDestroyedError",
    "IntegrityError",
    "KeyMaterialError",
    "PrivacyError",
    "PseudonymError",
    "ReleaseRecordError",
    "ReleaseRefusedError",
    "UnknownKeyError",
    "VaultError",
]


class PrivacyError(FedgovError):
    """Base class of the privacy package's errors."""


class BudgetExceeded(PrivacyError):  # noqa: N818 -- the name the product documents
    """A spend would take a department's epsilon past its limit.

    Nothing was spent: the check happens before any data is touched.
    """

    def __init__(
        self,
        *,
        department: str,
        dataset: str,
        spent: float,
        requested: float,
        limit: float,
    ) -> None:
        self.department = department
        self.dataset = dataset
        self.spent = spent
        self.requested = requested
        self.limit = limit
        super().__init__(
            f"privacy budget of department {department!r} on dataset {dataset!r} "
            f"would be exceeded: spent epsilon {spent:.4f}, this spend would bring it "
            f"to {requested:.4f}, limit {limit:.4f}"
        )


class BudgetBookError(PrivacyError):
    """The durable budget book is unreadable, inconsistent or misused."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"budget book {path}: {reason}")


class BudgetRolledBack(BudgetBookError):  # noqa: N818 -- reads as BudgetExceeded does
    """The budget book is older than what the department's audit log records.

    It was restored from an old copy, replaced, or deleted (and would be
    recreated with nothing spent): nothing is spent or created from it.
    """

    def __init__(
        self, path: str, *, department: str, generation: int, floor: int, state: str
    ) -> None:
        self.department = department
        self.generation = generation
        self.floor = floor
        super().__init__(
            path,
            f"is {state}, but department {department!r}'s audit log records its "
            f"budget book at generation {floor}: the book was rolled back, replaced "
            "or deleted, so nothing is spent from it; restore the current copy of "
            "the book (every change of it is in the audit log)",
        )


class KeyMaterialError(PrivacyError):
    """A key, or the place it is loaded from, breaks a rule.

    ``source`` names where the key came from (an environment variable, a key
    file, a department's key epoch); the secret itself is never shown.
    """

    def __init__(self, source: str, rule: str) -> None:
        self.source = source
        self.rule = rule
        super().__init__(f"key from {source}: {rule}")


class IntegrityError(PrivacyError):
    """Sealed data failed to open: tampered, truncated, wrong key or purpose."""

    def __init__(self, origin: str, reason: str) -> None:
        self.origin = origin
        self.reason = reason
        super().__init__(f"{origin}: integrity check failed: {reason}")


class UnknownKeyError(IntegrityError):
    """Sealed data names a key id that none of the supplied keys has."""

    def __init__(self, origin: str, key_id: str, available: tuple[str, ...]) -> None:
        self.key_id = key_id
        self.available = available
        super().__init__(
            origin,
            f"sealed with key id {key_id!r}, but only "
            f"{', '.join(map(repr, available)) or 'no keys'} were supplied "
            "(wrong key, or a retired key is missing)",
        )


class PseudonymError(PrivacyError, ValueError):
    """An identifier cannot be pseudonymized or a pseudonym cannot be used."""

    def __init__(self, where: str, rule: str) -> None:
        self.where = where
        self.rule = rule
        super().__init__(f"{where}: {rule}")


class ReleaseRefusedError(PrivacyError):
    """A table may not leave the department (small groups, forbidden columns).

    ``violations`` (``privacy.release.ReleaseViolation``) locate each finding
    by columns, row positions and sizes, never by the values.
    """

    def __init__(self, table: str, violations: tuple[ReleaseViolation, ...]) -> None:
        self.table = table
        self.violations = violations
        shown = "; ".join(str(v) for v in violations[:5])
        more = f"; and {len(violations) - 5} more" if len(violations) > 5 else ""
        super().__init__(
            f"release of {table} refused, {len(violations)} finding(s): {shown}{more}"
        )


class ReleaseRecordError(PrivacyError):
    """A department's record of a fingerprinted release is missing, malformed
    or not the one its file name says (opened, so not tampered with)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"release record {path}: {reason}")


class BoundaryViolationError(PrivacyError):
    """An outgoing message breaks the department's boundary policy.

    ``violations`` (``privacy.boundary.Violation``) name the record, key and
    rule of each finding; their text stays in the node's own log.
    """

    def __init__(self, violations: tuple[Violation, ...]) -> None:
        self.violations = violations
        super().__init__(
            f"outgoing message refused, {len(violations)} violation(s): "
            + "; ".join(str(v) for v in violations)
        )


class VaultError(PrivacyError):
    """A department's dataset vault is unreadable, misconfigured or misused.

    ``path`` is the vault's folder (or the file concerned).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"dataset vault {path}: {reason}")


class DatasetDestroyedError(VaultError):
    """A department destroyed its records of a dataset: nothing may read them.

    ``destroyed_at`` is Unix time (seconds); ``reason`` the destruction's.
    """

    def __init__(
        self, path: str, *, department: str, dataset: str, destroyed_at: int
    ) -> None:
        self.department = department
        self.dataset = dataset
        self.destroyed_at = destroyed_at
        super().__init__(
            path,
            f"department {department} destroyed its records of {dataset} at "
            f"{destroyed_at}: they cannot be read",
        )
