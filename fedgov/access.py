"""Who asks for what: analysts' requests and departments' data-use agreements.

Three statements travel between an analyst, the coordinator and a department;
each is signed by its author as EIP-712 typed data (:mod:`ledger.access`) and
is, here, only its content:

* :class:`AccessRequest` - an analyst asks for one training job or one query
  (``subject`` is the job's digest, :meth:`fedgov.job.TrainJob.digest`, or the
  query's, SHA-256 of its wire form), for a declared purpose, on a dataset's
  columns, at an epsilon, valid until ``expires_at``. The coordinator carries
  it to the departments and can neither forge nor alter it.
* :class:`ApprovalRequest` - an analyst asks one department's data officer for
  a standing data-use agreement: a purpose, a dataset's columns and the
  largest epsilon one request under it may take, until a date.
* :class:`Agreement` - the data officer's answer: a signed, expiring
  data-use agreement, which the department's policy may require
  (:mod:`fedgov.access_policy`).

Times are Unix seconds (UTC); epsilon and delta are decimal text in their
JSON and signed forms, so that the figure signed is the figure read back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fedgov.errors import ConfigurationError, FedgovError

__all__ = [
    "MAX_PURPOSE_CHARS",
    "AccessFormatError",
    "AccessRequest",
    "Agreement",
    "ApprovalRequest",
    "RequestKind",
    "decimal_text",
    "parse_decimal",
]

MAX_PURPOSE_CHARS = 200
"""A purpose is a statement, not a document (records carry it)."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
_MAX_TIME = 2**64 - 1


class AccessFormatError(FedgovError, ValueError):
    """A request, approval request or agreement is malformed.

    The message names the statement, the field and the rule it breaks.
    """

    def __init__(self, what: str, field: str, rule: str) -> None:
        self.what = what
        self.field = field
        super().__init__(f"{what}: {field}: {rule}")


class RequestKind(StrEnum):
    """What a request asks for."""

    TRAIN = "train"
    QUERY = "query"


def decimal_text(value: float) -> str:
    """``value`` as the shortest positional decimal text that reads back exactly."""
    if value == 0:
        return "0"
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_decimal(what: str, field: str, text: object) -> float:
    """Canonical decimal text (:func:`decimal_text`) back to its float."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise AccessFormatError(what, field, f"must be decimal text, got {text!r}")
    value = float(text)
    if decimal_text(value) != text:
        raise AccessFormatError(what, field, f"{text!r} is not in canonical form")
    return value


def _address(what: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise AccessFormatError(
            what, field, f"must be a 0x-prefixed 20-byte address, got {value!r}"
        )
    # Compared case-insensitively everywhere; kept as given for signing, which
    # reads the bytes.
    return value


def _text(what: str, field: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AccessFormatError(
            what, field, f"must match {pattern.pattern}, got {value!r}"
        )
    return value


def _purpose(what: str, value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_PURPOSE_CHARS
        or not value.isprintable()
    ):
        raise AccessFormatError(
            what,
            "purpose",
            f"must be 1 to {MAX_PURPOSE_CHARS} printable characters, got {value!r}",
        )
    return value


def _columns(what: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise AccessFormatError(what, "columns", "must be a list of column names")
    names = tuple(_text(what, "columns", v, _COLUMN) for v in value)
    if len(set(names)) != len(names):
        raise AccessFormatError(what, "columns", f"lists a column twice: {names}")
    return tuple(sorted(names))


def _epsilon(what: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccessFormatError(what, field, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise AccessFormatError(what, field, f"must be finite and >= 0, got {value}")
    return number


def _times(what: str, issued_at: object, expires_at: object) -> None:
    for field, value in (("issued_at", issued_at), ("expires_at", expires_at)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= _MAX_TIME
        ):
            raise AccessFormatError(
                what, field, f"must be Unix seconds (uint64), got {value!r}"
            )
    assert isinstance(issued_at, int)
    assert isinstance(expires_at, int)
    if expires_at <= issued_at:
        raise AccessFormatError(
            what,
            "expires_at",
            f"must come after issued_at ({issued_at}), got {expires_at}",
        )


def _nonce(what: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise AccessFormatError(what, "nonce", "must be 32 bytes")
    return value


def _hex32(what: str, field: str, value: object) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-f]{64}", value):
        raise AccessFormatError(
            what, field, f"must be '0x' + 64 lower-case hex digits, got {value!r}"
        )
    return bytes.fromhex(value[2:])


def _member(what: str, data: dict[str, Any], name: str) -> Any:
    if name not in data:
        raise AccessFormatError(what, name, "is missing")
    return data[name]


def _object(what: str, data: object, members: frozenset[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise AccessFormatError(what, "", f"must be a JSON object, got {data!r}")
    unknown = sorted(set(data) - members)
    if unknown:
        raise AccessFormatError(what, ", ".join(unknown), "unknown member(s)")
    return data


@dataclass(frozen=True, kw_only=True)
class AccessRequest:
    """An analyst's request for one training job or query (its signed content)."""

    analyst: str
    purpose: str
    kind: RequestKind
    subject: bytes
    """The job's digest or the query's: what the request covers, exactly."""
    dataset: str
    columns: tuple[str, ...]
    """Every column whose values the job or query reads (sorted; a plain
    count reads none)."""
    epsilon: float
    """The job's total epsilon (0: a non-private job), or the query's."""
    delta: float
    nonce: bytes
    issued_at: int
    expires_at: int

    WHAT = "access request"

    def __post_init__(self) -> None:
        what = self.WHAT
        _address(what, "analyst", self.analyst)
        _purpose(what, self.purpose)
        try:
            object.__setattr__(self, "kind", RequestKind(self.kind))
        except ValueError as e:
            raise AccessFormatError(
                what, "kind", f"must be one of {[k.value for k in RequestKind]}"
            ) from e
        if not isinstance(self.subject, bytes) or len(self.subject) != 32:
            raise AccessFormatError(what, "subject", "must be a 32-byte digest")
        _text(what, "dataset", self.dataset, _IDENTIFIER)
        object.__setattr__(self, "columns", _columns(what, list(self.columns)))
        object.__setattr__(self, "epsilon", _epsilon(what, "epsilon", self.epsilon))
        delta = _epsilon(what, "delta", self.delta)
        if delta >= 1:
            raise AccessFormatError(what, "delta", f"must lie in [0, 1), got {delta}")
        object.__setattr__(self, "delta", delta)
        _nonce(what, self.nonce)
        _times(what, self.issued_at, self.expires_at)

    def to_json(self) -> dict[str, Any]:
        """The request as JSON values (hex digests, decimal-text figures)."""
        return {
            "analyst": self.analyst,
            "purpose": self.purpose,
            "kind": self.kind.value,
            "subject": "0x" + self.subject.hex(),
            "dataset": self.dataset,
            "columns": list(self.columns),
            "epsilon": decimal_text(self.epsilon),
            "delta": decimal_text(self.delta),
            "nonce": "0x" + self.nonce.hex(),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> AccessRequest:
        """The request whose JSON form is ``data``."""
        what = cls.WHAT
        value = _object(what, data, _REQUEST_MEMBERS)
        return cls(
            analyst=_member(what, value, "analyst"),
            purpose=_member(what, value, "purpose"),
            kind=_member(what, value, "kind"),
            subject=_hex32(what, "subject", _member(what, value, "subject")),
            dataset=_member(what, value, "dataset"),
            columns=tuple(_member(what, value, "columns")),
            epsilon=parse_decimal(what, "epsilon", _member(what, value, "epsilon")),
            delta=parse_decimal(what, "delta", _member(what, value, "delta")),
            nonce=_hex32(what, "nonce", _member(what, value, "nonce")),
            issued_at=_member(what, value, "issued_at"),
            expires_at=_member(what, value, "expires_at"),
        )


_REQUEST_MEMBERS = frozenset(
    {
        "analyst",
        "purpose",
        "kind",
        "subject",
        "dataset",
        "columns",
        "epsilon",
        "delta",
        "nonce",
        "issued_at",
        "expires_at",
    }
)


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """An analyst's application to one department for a data-use agreement."""

    analyst: str
    department: str
    purpose: str
    dataset: str
    columns: tuple[str, ...]
    max_epsilon: float
    """The largest epsilon one request under the agreement may take."""
    nonce: bytes
    issued_at: int
    expires_at: int
    """Until when the analyst asks the agreement to run."""

    WHAT = "approval request"

    def __post_init__(self) -> None:
        what = self.WHAT
        _address(what, "analyst", self.analyst)
        _text(what, "department", self.department, _IDENTIFIER)
        _purpose(what, self.purpose)
        _text(what, "dataset", self.dataset, _IDENTIFIER)
        object.__setattr__(self, "columns", _columns(what, list(self.columns)))
        epsilon = _epsilon(what, "max_epsilon", self.max_epsilon)
        if epsilon <= 0:
            raise AccessFormatError(what, "max_epsilon", "must be positive")
        object.__setattr__(self, "max_epsilon", epsilon)
        _nonce(what, self.nonce)
        _times(what, self.issued_at, self.expires_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "analyst": self.analyst,
            "department": self.department,
            "purpose": self.purpose,
            "dataset": self.dataset,
            "columns": list(self.columns),
            "max_epsilon": decimal_text(self.max_epsilon),
            "nonce": "0x" + self.nonce.hex(),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> ApprovalRequest:
        what = cls.WHAT
        value = _object(what, data, _APPLICATION_MEMBERS)
        return cls(
            analyst=_member(what, value, "analyst"),
            department=_member(what, value, "department"),
            purpose=_member(what, value, "purpose"),
            dataset=_member(what, value, "dataset"),
            columns=tuple(_member(what, value, "columns")),
            max_epsilon=parse_decimal(
                what, "max_epsilon", _member(what, value, "max_epsilon")
            ),
            nonce=_hex32(what, "nonce", _member(what, value, "nonce")),
            issued_at=_member(what, value, "issued_at"),
            expires_at=_member(what, value, "expires_at"),
        )


_APPLICATION_MEMBERS = frozenset(
    {
        "analyst",
        "department",
        "purpose",
        "dataset",
        "columns",
        "max_epsilon",
        "nonce",
        "issued_at",
        "expires_at",
    }
)


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """A department's data-use agreement with one analyst, signed by its data
    officer: ``purpose`` on ``dataset``'s ``columns``, each request at most
    ``max_epsilon``, from ``issued_at`` until ``expires_at``."""

    department: str
    officer: str
    """The data officer who signs it (one the department's policy names)."""
    analyst: str
    purpose: str
    dataset: str
    columns: tuple[str, ...]
    max_epsilon: float
    application: bytes
    """The digest of the signed approval request it answers."""
    issued_at: int
    expires_at: int

    WHAT = "data-use agreement"

    def __post_init__(self) -> None:
        what = self.WHAT
        _text(what, "department", self.department, _IDENTIFIER)
        _address(what, "officer", self.officer)
        _address(what, "analyst", self.analyst)
        _purpose(what, self.purpose)
        _text(what, "dataset", self.dataset, _IDENTIFIER)
        object.__setattr__(self, "columns", _columns(what, list(self.columns)))
        epsilon = _epsilon(what, "max_epsilon", self.max_epsilon)
        if epsilon <= 0:
            raise AccessFormatError(what, "max_epsilon", "must be positive")
        object.__setattr__(self, "max_epsilon", epsilon)
        if not isinstance(self.application, bytes) or len(self.application) != 32:
            raise AccessFormatError(what, "application", "must be a 32-byte digest")
        _times(what, self.issued_at, self.expires_at)

    @classmethod
    def answering(
        cls,
        application: ApprovalRequest,
        application_digest: bytes,
        *,
        officer: str,
        issued_at: int,
        expires_at: int | None = None,
        max_epsilon: float | None = None,
        columns: tuple[str, ...] | None = None,
    ) -> Agreement:
        """The agreement granting ``application``, narrowed where the officer
        says so: an earlier expiry, a smaller epsilon, fewer columns."""
        if expires_at is not None and expires_at > application.expires_at:
            raise ConfigurationError(
                "expires_at", "an agreement may not run longer than was asked"
            )
        if max_epsilon is not None and max_epsilon > application.max_epsilon:
            raise ConfigurationError(
                "max_epsilon", "an agreement may not allow more epsilon than was asked"
            )
        if columns is not None and not set(columns) <= set(application.columns):
            extra = sorted(set(columns) - set(application.columns))
            raise ConfigurationError("columns", f"{extra} were not asked for")
        return cls(
            department=application.department,
            officer=officer,
            analyst=application.analyst,
            purpose=application.purpose,
            dataset=application.dataset,
            columns=tuple(columns) if columns is not None else application.columns,
            max_epsilon=max_epsilon
            if max_epsilon is not None
            else application.max_epsilon,
            application=application_digest,
            issued_at=issued_at,
            expires_at=expires_at if expires_at is not None else application.expires_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "officer": self.officer,
            "analyst": self.analyst,
            "purpose": self.purpose,
            "dataset": self.dataset,
            "columns": list(self.columns),
            "max_epsilon": decimal_text(self.max_epsilon),
            "application": "0x" + self.application.hex(),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Agreement:
        what = cls.WHAT
        value = _object(what, data, _AGREEMENT_MEMBERS)
        return cls(
            department=_member(what, value, "department"),
            officer=_member(what, value, "officer"),
            analyst=_member(what, value, "analyst"),
            purpose=_member(what, value, "purpose"),
            dataset=_member(what, value, "dataset"),
            columns=tuple(_member(what, value, "columns")),
            max_epsilon=parse_decimal(
                what, "max_epsilon", _member(what, value, "max_epsilon")
            ),
            application=_hex32(
                what, "application", _member(what, value, "application")
            ),
            issued_at=_member(what, value, "issued_at"),
            expires_at=_member(what, value, "expires_at"),
        )


_AGREEMENT_MEMBERS = frozenset(
    {
        "department",
        "officer",
        "analyst",
        "purpose",
        "dataset",
        "columns",
        "max_epsilon",
        "application",
        "issued_at",
        "expires_at",
    }
)
