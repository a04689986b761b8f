"""The voting package's errors: one root, :class:`VotingError`, and its kinds.

A contract that rejects a ballot, a credential or a reveal raises
:class:`ledger.errors.ContractRevertError` (its ``reason`` is the contract's
revert string, e.g. ``"Consultation: commit window is not open"``); the errors
here are the ones found off chain, before or after a transaction.
"""

from __future__ import annotations

from ledger.errors import LedgerError

__all__ = [
    "CredentialError",
    "ReceiptError",
    "RollError",
    "TallyMismatchError",
    "VotingError",
    "VotingFileError",
]


class VotingError(LedgerError):
    """Base class of every error raised by the voting package."""


class CredentialError(VotingError):
    """A blind-signature step failed (RFC 9474 ``Blind``, ``BlindSign``, ``Finalize``).

    ``step`` names the step; ``reason`` is the RFC's error ("invalid signature",
    "unexpected input size", ...) or ours, with what was wrong.
    """

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"credential {step} failed: {reason}")


class RollError(VotingError):
    """The eligibility roll refuses an entry or a look-up (``resident`` names it)."""

    def __init__(self, resident: str, reason: str) -> None:
        self.resident = resident
        self.reason = reason
        super().__init__(f"eligibility roll, resident {resident!r}: {reason}")


class VotingFileError(VotingError):
    """A voting file (roll, wallet, request, receipt...) is unreadable or malformed."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ReceiptError(VotingError):
    """A receipt does not match what the chain recorded; ``field`` names what differs."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"receipt {field}: {reason}")


class TallyMismatchError(VotingError):
    """The tally recomputed from events differs from the contract's.

    ``differences`` lists each disagreement in words.
    """

    def __init__(self, consultation_id: int, differences: tuple[str, ...]) -> None:
        self.consultation_id = consultation_id
        self.differences = differences
        super().__init__(
            f"consultation {consultation_id}: the re-tally disagrees with the "
            f"contract: {'; '.join(differences)}"
        )
