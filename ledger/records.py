"""Audit records and their canonical encoding.

An :class:`AuditRecord` states that an actor (a department node, the
coordinator...) did one thing: read a dataset for a declared purpose, ran a
training round, spent privacy budget... Its leaf in the actor's Merkle log is
``SHA-256(0x00 || record.encode())``, so the encoding must be one byte string
that anyone can recompute from the fields, in any language.

Canonical encoding (version 1)
------------------------------
The record is a JSON object serialised as RFC 8785 (JSON Canonicalization
Scheme) does it: UTF-8, no whitespace, members sorted by the UTF-16 code
units of their names, strings escaped as ECMAScript's ``JSON.stringify``
escapes them (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other controls as
lower-case ``\\u00xx``, everything else literal). Every number is an integer
in ``[0, 2**53 - 1]``, so no floating-point formatting enters the JCS output.
The members, in their canonical order::

    action        string   one of Action's values, e.g. "train_round"
    actor         string   EIP-55 checksummed address, "0x" + 40 hex digits
    dataset       string   dataset id, "" when the action touches no dataset
    delta         string   delta spent, decimal text (below)
    details       object   free string -> string map, members sorted likewise
    epsilon       string   epsilon spent, decimal text (below)
    job           string   job id, "" when none
    purpose       string   declared purpose, "" when none
    record_count  integer  rows/records touched
    result_hash   string   "0x" + 64 lower-case hex digits (SHA-256 of the
                           update or result; all zeros when none)
    role          string   one of Role's values, e.g. "department"
    round         integer  training round, 0 when not applicable
    run           string   run id, "" when none
    timestamp_ms  integer  Unix time in milliseconds (UTC)
    v             integer  encoding version, 1

Epsilon and delta are IEEE-754 doubles written as *decimal text*: the
shortest digit string that reads back as the same double (Python's ``repr``,
ECMAScript's ``Number.prototype.toString``, Go's ``strconv.FormatFloat(x,
'f', -1, 64)``), in positional notation without exponent, without trailing
zeros after the point, ``"0"`` for zero: ``1.0 -> "1"``, ``1e-05 ->
"0.00001"``, ``0.5 -> "0.5"``. A string, not a JSON number, so that JCS
implementations never reformat it.

:meth:`AuditRecord.decode` accepts only this canonical form: it re-encodes
what it parsed and rejects input that differs by a byte, so two different
byte strings never decode to the same record.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NoReturn

from eth_utils.address import is_address, to_checksum_address

from fedgov.types import ActorId, DatasetId, JobId, RunId
from ledger.errors import RecordError

__all__ = [
    "ENCODING_VERSION",
    "MAX_RECORD_BYTES",
    "ZERO_HASH",
    "Action",
    "AuditRecord",
    "Role",
    "now_ms",
]

ENCODING_VERSION = 1
MAX_RECORD_BYTES = 16 * 1024
"""Upper bound on one encoded record: a log holds statements, not payloads."""
ZERO_HASH = bytes(32)
_MAX_INT = 2**53 - 1  # the integers every JSON implementation reads exactly
_NO_DATASET = DatasetId("")
_NO_JOB = JobId("")
_NO_RUN = RunId("")
_DECIMAL_TEXT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
_HASH_TEXT = re.compile(r"0x[0-9a-f]{64}")


class Role(StrEnum):
    """The role an actor holds in the federation (as registered on-chain)."""

    ADMIN = "admin"
    COORDINATOR = "coordinator"
    DEPARTMENT = "department"
    AUDITOR = "auditor"
    REGISTRAR = "registrar"
    ANALYST = "analyst"
    """Asks for training jobs and queries, each signed (:mod:`ledger.access`)."""


class Action(StrEnum):
    """What the actor did."""

    DATA_READ = "data_read"
    TRAIN_ROUND = "train_round"
    AGGREGATE = "aggregate"
    EVALUATE = "evaluate"
    ANALYTICS_QUERY = "analytics_query"
    BUDGET_SPEND = "budget_spend"
    MODEL_EXPORT = "model_export"
    KEY_ROTATION = "key_rotation"
    JOB_SUBMIT = "job_submit"
    """A job (purpose, datasets, privacy parameters) was submitted."""
    JOB_APPROVE = "job_approve"
    """An admin approved a job's declared purpose."""
    BUDGET_GRANT = "budget_grant"
    """A privacy budget was set or raised."""
    ACCESS_DENIED = "access_denied"
    """A read or query was refused (no approval, budget exhausted...)."""
    ACCESS_GRANTED = "access_granted"
    """A department let an analyst's signed request run (``ledger.access``)."""
    ACCESS_POLICY = "access_policy"
    """The access policy a department applies from this record on."""
    DATA_USE_AGREEMENT = "data_use_agreement"
    """A department's data officer signed a data-use agreement."""
    RECORD_RELEASE = "record_release"
    """A record-level extract, fingerprinted for one recipient, left the department."""
    DATASET_DESTROYED = "dataset_destroyed"
    """A department destroyed its records of a dataset (crypto-shredding)."""


# Actions that touch a dataset must say which one, and why.
_TOUCHES_DATA = frozenset(
    {
        Action.DATA_READ,
        Action.TRAIN_ROUND,
        Action.EVALUATE,
        Action.ANALYTICS_QUERY,
        Action.BUDGET_SPEND,
        Action.ACCESS_GRANTED,
        Action.DATA_USE_AGREEMENT,
        Action.RECORD_RELEASE,
        Action.DATASET_DESTROYED,
    }
)
_MEMBERS = frozenset(
    {
        "action",
        "actor",
        "dataset",
        "delta",
        "details",
        "epsilon",
        "job",
        "purpose",
        "record_count",
        "result_hash",
        "role",
        "round",
        "run",
        "timestamp_ms",
        "v",
    }
)


def now_ms() -> int:
    """The current Unix time in milliseconds, as records carry it."""
    return time.time_ns() // 1_000_000


def _utf16_key(name: str) -> bytes:
    # RFC 8785 sorts member names by UTF-16 code units; big-endian UTF-16
    # bytes compare in that order (code-point order differs above U+FFFF).
    return name.encode("utf-16-be", "surrogatepass")


def _json_bytes(members: dict[str, Any]) -> bytes:
    # Callers pass members already in canonical order and validated types, so
    # json.dumps's output is the RFC 8785 form: with ensure_ascii=False it
    # escapes exactly what JSON.stringify escapes.
    text = json.dumps(members, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


@lru_cache(maxsize=1024)
def _checksummed(address: str) -> str:
    # Logs hold one actor each, so the same few addresses recur: caching
    # saves a keccak per record.
    if not is_address(address):
        raise RecordError("actor", f"must be an Ethereum address, got {address!r}")
    return str(to_checksum_address(address))


def _decimal_text(value: float) -> str:
    if value == 0:
        return "0"  # also folds -0.0
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(name, f"must be an integer, got {type(value).__name__}")
    if not 0 <= value <= _MAX_INT:
        raise RecordError(name, f"must be in [0, 2**53 - 1], got {value}")
    return value


def _check_float(name: str, value: object, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(name, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= upper:
        raise RecordError(name, f"must be finite and in [0, {upper}], got {value}")
    return number


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise RecordError(name, f"must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RecordError(name, f"must be valid Unicode text: {e.reason}") from e
    return value


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One audited action. Validated on construction; see the module docs."""

    actor: ActorId
    role: Role
    action: Action
    timestamp_ms: int
    dataset: DatasetId = _NO_DATASET
    purpose: str = ""
    job: JobId = _NO_JOB
    run: RunId = _NO_RUN
    round: int = 0
    record_count: int = 0
    epsilon: float = 0.0
    delta: float = 0.0
    result_hash: bytes = ZERO_HASH
    details: Mapping[str, str] = field(default_factory=dict)
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.actor, str):
            raise RecordError("actor", f"must be a string, got {type(self.actor)}")
        set_ = object.__setattr__
        set_(self, "actor", ActorId(_checksummed(self.actor)))
        try:
            set_(self, "role", Role(self.role))
        except ValueError as e:
            raise RecordError(
                "role", f"must be one of {[r.value for r in Role]}"
            ) from e
        try:
            set_(self, "action", Action(self.action))
        except ValueError as e:
            allowed = [a.value for a in Action]
            raise RecordError("action", f"must be one of {allowed}") from e
        for name in ("timestamp_ms", "round", "record_count"):
            _check_int(name, getattr(self, name))
        for name in ("dataset", "purpose", "job", "run"):
            _check_text(name, getattr(self, name))
        set_(self, "epsilon", _check_float("epsilon", self.epsilon, math.inf))
        set_(self, "delta", _check_float("delta", self.delta, 1.0))
        if not isinstance(self.result_hash, bytes) or len(self.result_hash) != 32:
            raise RecordError("result_hash", "must be 32 bytes (all zeros for none)")
        if not isinstance(self.details, Mapping):
            raise RecordError("details", "must be a mapping of strings to strings")
        details = {
            _check_text("details", key): _check_text(f"details[{key!r}]", value)
            for key, value in self.details.items()
        }
        ordered = {key: details[key] for key in sorted(details, key=_utf16_key)}
        set_(self, "details", MappingProxyType(ordered))
        if self.action in _TOUCHES_DATA and not (self.dataset and self.purpose):
            raise RecordError(
                "dataset" if not self.dataset else "purpose",
                f"action {self.action.value!r} touches data: it must name the "
                "dataset and the declared purpose",
            )
        encoded = _json_bytes(self._members())
        if len(encoded) > MAX_RECORD_BYTES:
            raise RecordError(
                "", f"encodes to {len(encoded)} bytes, over {MAX_RECORD_BYTES}"
            )
        set_(self, "_encoded", encoded)

    def _members(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "actor": self.actor,
            "dataset": self.dataset,
            "delta": _decimal_text(self.delta),
            "details": dict(self.details),
            "epsilon": _decimal_text(self.epsilon),
            "job": self.job,
            "purpose": self.purpose,
            "record_count": self.record_count,
            "result_hash": "0x" + self.result_hash.hex(),
            "role": self.role.value,
            "round": self.round,
            "run": self.run,
            "timestamp_ms": self.timestamp_ms,
            "v": ENCODING_VERSION,
        }

    def encode(self) -> bytes:
        """The canonical bytes (the Merkle leaf's data)."""
        return self._encoded

    @classmethod
    def decode(cls, data: bytes) -> AuditRecord:
        """Parse canonical bytes; raise :class:`RecordError` on anything else."""
        if not isinstance(data, bytes):
            raise RecordError("", f"must decode bytes, got {type(data).__name__}")
        try:
            parsed = json.loads(
                data.decode("utf-8"),
                object_pairs_hook=_unique_members,
                parse_float=_reject_float,
                parse_constant=_reject_float,
            )
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RecordError("", f"not UTF-8 JSON: {e}") from e
        record = cls.from_json_object(parsed)
        if record.encode() != data:
            raise RecordError("", "not in canonical form (RFC 8785, version 1 layout)")
        return record

    @classmethod
    def from_json_object(cls, value: object) -> AuditRecord:
        """Build a record from its parsed JSON object (as in an export file).

        The object need not have been canonical text; :meth:`encode` of the
        result is the canonical form whose hash the log committed to.
        """
        if not isinstance(value, dict):
            raise RecordError("", f"must be a JSON object, got {type(value).__name__}")
        missing, extra = _MEMBERS - value.keys(), value.keys() - _MEMBERS
        if missing or extra:
            raise RecordError(
                "", f"members missing {sorted(missing)}, unknown {sorted(extra)}"
            )
        if value["v"] != ENCODING_VERSION:
            raise RecordError("v", f"must be {ENCODING_VERSION}, got {value['v']!r}")
        return cls(
            actor=value["actor"],
            role=value["role"],
            action=value["action"],
            timestamp_ms=value["timestamp_ms"],
            dataset=value["dataset"],
            purpose=value["purpose"],
            job=value["job"],
            run=value["run"],
            round=value["round"],
            record_count=value["record_count"],
            epsilon=_parse_decimal("epsilon", value["epsilon"]),
            delta=_parse_decimal("delta", value["delta"]),
            result_hash=_parse_hash(value["result_hash"]),
            details=value["details"],
        )


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        names = [name for name, _ in pairs]
        duplicate = next(n for n in names if names.count(n) > 1)
        raise RecordError(duplicate, "appears twice in one JSON object")
    return result


def _reject_float(text: str) -> NoReturn:
    raise RecordError("", f"JSON number {text} is not an integer")


def _parse_decimal(name: str, text: object) -> float:
    if not isinstance(text, str) or not _DECIMAL_TEXT.fullmatch(text):
        raise RecordError(name, f"must be canonical decimal text, got {text!r}")
    return float(text)


def _parse_hash(text: object) -> bytes:
    if not isinstance(text, str) or not _HASH_TEXT.fullmatch(text):
        raise RecordError(
            "result_hash", f"must be '0x' + 64 lower-case hex digits, got {text!r}"
        )
    return bytes.fromhex(text[2:])
