"""The ledger package's errors: one root, :class:`LedgerError`, and its kinds.

Each subclass carries what went wrong as attributes, so that a caller (the
auditor's report, the gRPC service mapping errors to status codes) can act on
the data rather than parse the message.
"""

from __future__ import annotations

from fedgov.errors import FedgovError

__all__ = [
    "AccessSignatureError",
    "AnchorError",
    "AuditError",
    "ChainError",
    "ChainUnavailableError",
    "ContractArtifactError",
    "ContractRevertError",
    "KeyFileError",
    "LedgerError",
    "LogIntegrityError",
    "LogRangeError",
    "LogServiceError",
    "LogStorageError",
    "MalformedNoteError",
    "NoteError",
    "ProofError",
    "RecordError",
    "UnverifiedNoteError",
    "WitnessError",
]


class LedgerError(FedgovError):
    """Base class of every error raised by the ledger package."""


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof does not verify.

    Raised for a wrong proof and for malformed input alike (a hash that is not
    32 bytes, an index outside the tree): either way nothing was proven.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"proof rejected: {reason}")


class RecordError(LedgerError, ValueError):
    """An audit record breaks a rule of its schema or of its canonical encoding.

    ``field`` names the offending field (``""`` for the record as a whole).
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"audit record field {field!r}: {rule}" if field else rule)


class LogIntegrityError(LedgerError):
    """A stored or exported log does not match what it committed to.

    ``index`` is the first record known to be bad, or ``None`` where the damage
    cannot be pinned to a record (a signed head that does not verify, say).
    """

    def __init__(self, index: int | None, reason: str) -> None:
        self.index = index
        self.reason = reason
        where = "log" if index is None else f"record {index}"
        super().__init__(f"audit log integrity check failed at {where}: {reason}")


class LogRangeError(LedgerError, IndexError):
    """A record index or tree size lies outside the log."""

    def __init__(self, argument: str, value: int, size: int) -> None:
        self.argument = argument
        self.value = value
        self.size = size
        super().__init__(f"{argument}={value} is outside the log of {size} records")


class LogServiceError(LedgerError):
    """A call to the audit log service failed (transport, auth, unknown log...).

    ``code`` is the gRPC status code name (``"UNAVAILABLE"``, ``"NOT_FOUND"``...).
    """

    def __init__(self, method: str, code: str, details: str) -> None:
        self.method = method
        self.code = code
        self.details = details
        super().__init__(f"audit log service {method} failed with {code}: {details}")


class ChainError(LedgerError):
    """A chain operation failed: the node refused a transaction or a call.

    ``operation`` names what was attempted (``"Roles.grant_role"``, ``"deploy
    AnchorRegistry"``...); ``detail`` is the node's or library's explanation.
    """

    def __init__(self, operation: str, detail: str, *, message: str = "") -> None:
        self.operation = operation
        self.detail = detail
        super().__init__(message or f"{operation} failed on chain: {detail}")


class ContractRevertError(ChainError):
    """A contract rejected a call or transaction; ``reason`` is its revert string.

    The same error whichever backend ran the contract (py-evm, anvil, geth).
    """

    def __init__(self, operation: str, reason: str) -> None:
        self.reason = reason
        super().__init__(operation, reason, message=f"{operation} reverted: {reason}")


class ChainUnavailableError(ChainError):
    """The chain node cannot be reached (or stopped answering) at ``endpoint``."""

    def __init__(self, endpoint: str, detail: str) -> None:
        self.endpoint = endpoint
        super().__init__(
            f"reach {endpoint}",
            detail,
            message=f"chain at {endpoint} is unavailable: {detail}",
        )


class ContractArtifactError(LedgerError):
    """A compiled contract artifact is missing, malformed or out of date."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"contract artifact {name!r}: {reason}")


class AnchorError(LedgerError):
    """A log's tree head could not be anchored on chain in time.

    ``tree_size`` is the size that was to be anchored; ``reason`` the last failure.
    """

    def __init__(self, log_id: bytes, tree_size: int, reason: str) -> None:
        self.log_id = log_id
        self.tree_size = tree_size
        self.reason = reason
        super().__init__(
            f"anchoring log 0x{log_id.hex()} at tree size {tree_size} failed: {reason}"
        )


class LogStorageError(LedgerError):
    """The log's storage failed (unreadable file, disk full, database locked)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"audit log storage {path}: {reason}")


class NoteError(LedgerError):
    """A signed note (C2SP ``signed-note``, e.g. a checkpoint) was refused."""


class MalformedNoteError(NoteError, ValueError):
    """A note, a checkpoint in it, or a key breaks the format; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"malformed note: {reason}")


class UnverifiedNoteError(NoteError):
    """A note carries no valid signature by a known key, or a known key's fails.

    ``key`` names the key whose signature failed (``""`` when none was known).
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"note not verified: {reason}")


class WitnessError(LedgerError):
    """A witness refused a checkpoint, or could not be asked.

    ``witness`` is its name or URL; ``status`` the HTTP status it answered
    (``0`` when it could not be reached); ``detail`` its answer or the failure.
    """

    def __init__(self, witness: str, status: int, detail: str) -> None:
        self.witness = witness
        self.status = status
        self.detail = detail
        code = f"answered {status}" if status else "could not be reached"
        super().__init__(f"witness {witness} {code}: {detail}")


class AuditError(LedgerError):
    """Base class of the errors of auditing: the actors' hooks and the auditor."""


class KeyFileError(AuditError):
    """An actor's key file is unreadable, malformed, or unsafely stored.

    ``path`` is the file; ``reason`` says what is wrong with it (never the key).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"audit key file {path}: {reason}")


class AccessSignatureError(LedgerError):
    """A signed request, approval request or agreement does not verify.

    ``what`` names the statement; the message says why (malformed, signed for
    another deployment, or by someone other than it names).
    """

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")
