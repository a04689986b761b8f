"""The department node's message boundary guard.

Every reply a department's ClientApp sends passes :func:`check_outgoing`,
wrapped as a Flower mod by :class:`BoundaryGuard`. The rules, in the order
they are applied to each record of the reply's ``RecordDict``:

1. **No mention of a SENSITIVE or CORE column**, in any record name, metric or
   config key, or string value (lists of strings included). Names are compared
   by words: ``hiv_status`` is mentioned by ``"mean:hiv_status"``, ``"HIV
   status"`` or ``"hivStatus"``, but not by ``"hivstatuses"``.
2. **Metric and config keys are known**: on the policy's allow-list, or shaped
   ``"<op>:<column>"`` (:func:`aggregate_key`) with ``op`` an allowed
   aggregate (count, sum, mean, var, std, histogram by default: min, max and
   quantiles report single people's values) and ``column`` a PUBLIC or
   INTERNAL, non-identifying column of the dataset.
3. **Values stay small**: strings up to ``max_string_length`` characters
   (``max_free_text_length`` for the keys declared free text, such as a
   refusal's reason); lists up to ``max_list_length`` items, and never exactly
   as long as the local data has rows (a column in disguise); ``bytes`` only
   under keys declared for them.
4. **Arrays are the model's parameters, nothing else**: each array of an
   ArrayRecord must be named after a declared parameter and have its exact
   shape and dtype, checked on the serialised ``.npy`` bytes themselves (the
   ``Array``'s shape and dtype fields are only labels, and bytes appended
   after the array would travel unseen). An array shaped like the local
   table, rows x columns, is reported as such.

What this does *not* do: it cannot tell a model update or a statistic from
one that encodes records in its values (a malicious training routine can
hide data in legitimately shaped weights); it sees names and shapes, not
meaning. Differential privacy in the trusted training and analytics code is
the protection; this guard is defence in depth against mistakes and crude
leaks. See ``docs/data-protection.md``.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.common.constant import ErrorCode, SType
from numpy.lib import format as npy_format

from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once
from privacy._columns import ColumnInfo, leaves_only_privately, may_be_aggregated
from privacy.errors import BoundaryViolationError

if TYPE_CHECKING:
    from flwr.clientapp.typing import ClientAppCallable

__all__ = [
    "DEFAULT_AGGREGATE_OPS",
    "BoundaryGuard",
    "BoundaryPolicy",
    "ParameterSpec",
    "PolicyFactory",
    "Violation",
    "aggregate_key",
    "check_outgoing",
    "declared_parameters",
]

_log = logging.getLogger(__name__)

DEFAULT_AGGREGATE_OPS: Final = frozenset(
    {"count", "sum", "mean", "var", "std", "histogram"}
)
"""Aggregates that summarise a group; min, max, median and quantiles are each
one person's value and are left out unless a policy adds them."""

_AGGREGATE_SEPARATOR = ":"
_CAMEL = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])"
)
_NON_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class ParameterSpec:
    """A declared model parameter: exact shape and numpy dtype name."""

    shape: tuple[int, ...]
    dtype: str


def declared_parameters(arrays: Mapping[str, Any]) -> dict[str, ParameterSpec]:
    """Parameter specs of a torch ``state_dict()``, numpy arrays or an ArrayRecord.

    Anything with ``shape`` and ``dtype`` works; torch dtypes map to numpy
    names the way Flower serialises them (``torch.float32`` -> ``float32``).
    """
    specs = {}
    for name, value in arrays.items():
        dtype = str(value.dtype).removeprefix("torch.")
        specs[str(name)] = ParameterSpec(tuple(int(n) for n in value.shape), dtype)
    return specs


def aggregate_key(op: str, column: str) -> str:
    """The metric key for aggregate ``op`` of ``column``, e.g. ``"mean:age"``."""
    return f"{op}{_AGGREGATE_SEPARATOR}{column}"


@dataclass(frozen=True)
class Violation:
    """One finding: where (record, key), which rule, and why.

    ``detail`` never quotes a value: only names, lengths, shapes and types.
    """

    record: str
    key: str | None
    rule: str
    detail: str

    def __str__(self) -> str:
        where = f"record {self.record!r}" + (
            f" key {self.key!r}" if self.key is not None else ""
        )
        return f"{where}: {self.rule}: {self.detail}"


@dataclass(frozen=True, kw_only=True)
class BoundaryPolicy:
    """What may leave one department for one job.

    ``parameters``: the model's declared parameters (:func:`declared_parameters`
    of its ``state_dict()``). ``columns``: the dataset's columns with their
    classes (the catalog's schema). ``local_shape``: (rows, columns) of the
    local data, to recognise tables in disguise. The rest are the allow-lists
    and limits of rules 2 and 3.
    """

    parameters: Mapping[str, ParameterSpec]
    columns: tuple[ColumnInfo, ...]
    allowed_keys: frozenset[str] = frozenset()
    free_text_keys: frozenset[str] = frozenset()
    bytes_keys: frozenset[str] = frozenset()
    aggregate_ops: frozenset[str] = DEFAULT_AGGREGATE_OPS
    max_string_length: int = 64
    max_free_text_length: int = 512
    max_list_length: int = 64
    local_shape: tuple[int, int] | None = None
    forbidden: frozenset[str] = field(init=False)
    aggregatable: frozenset[str] = field(init=False)
    _forbidden_words: tuple[tuple[str, tuple[str, ...]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "parameters", dict(self.parameters))
        for name in ("allowed_keys", "free_text_keys", "bytes_keys", "aggregate_ops"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        for name in ("max_string_length", "max_free_text_length", "max_list_length"):
            if getattr(self, name) < 1:
                raise ConfigurationError(name, "must be at least 1")
        if self.max_free_text_length < self.max_string_length:
            raise ConfigurationError(
                "max_free_text_length", "must be >= max_string_length"
            )
        forbidden = frozenset(c.name for c in self.columns if leaves_only_privately(c))
        object.__setattr__(self, "forbidden", forbidden)
        object.__setattr__(
            self,
            "aggregatable",
            frozenset(c.name for c in self.columns if may_be_aggregated(c)),
        )
        words = tuple((name, _words(name)) for name in sorted(forbidden))
        object.__setattr__(self, "_forbidden_words", words)
        for key in sorted(self.allowed_keys | self.free_text_keys | self.bytes_keys):
            if self.mentions(key):
                raise ConfigurationError(
                    "allowed_keys", f"{key!r} mentions a SENSITIVE or CORE column"
                )
        if self.local_shape is not None:
            rows, cols = self.local_shape
            for name, spec in self.parameters.items():
                if spec.shape in {(rows, cols), (cols, rows)}:
                    message = (
                        f"declared parameter {name!r} has the local data's shape "
                        f"{spec.shape}; the guard cannot tell it from the data table"
                    )
                    warn_once(
                        f"parameter-shaped-like-data:{name}", message, stacklevel=3
                    )

    def mentions(self, text: str) -> tuple[str, ...]:
        """The SENSITIVE/CORE column names ``text`` mentions, word for word."""
        words = _words(text)
        return tuple(
            name for name, needle in self._forbidden_words if _contains(words, needle)
        )


PolicyFactory: TypeAlias = Callable[[Message, Context], BoundaryPolicy]
"""Builds the policy for the job a message belongs to (model and dataset
come from the run config)."""


def check_outgoing(content: RecordDict, policy: BoundaryPolicy) -> None:
    """Raise :class:`~privacy.errors.BoundaryViolationError` listing every finding."""
    violations = tuple(_violations(content, policy))
    if violations:
        raise BoundaryViolationError(violations)


class BoundaryGuard:
    """Flower ClientApp mod enforcing :func:`check_outgoing` on every reply.

    Put it *first* in ``ClientApp(mods=[...])``: the first mod is the
    outermost, so it sees the reply after every other mod has changed it.

    A refused reply is replaced by an error reply
    (``ErrorCode.MOD_FAILED_PRECONDITION``) whose reason lists only the rules
    broken; the findings themselves are logged on the node. An exception in
    the ClientApp becomes an error reply naming only the exception's type,
    since Flower would otherwise send its message (which can quote data) to
    the SuperLink. A policy that cannot be built refuses the message before
    the ClientApp runs.
    """

    def __init__(self, policy: BoundaryPolicy | PolicyFactory) -> None:
        self._policy = policy

    def __call__(
        self, msg: Message, context: Context, call_next: ClientAppCallable
    ) -> Message:
        """Run the ClientApp, then let its reply out only if the policy allows."""
        try:
            policy = (
                self._policy
                if isinstance(self._policy, BoundaryPolicy)
                else self._policy(msg, context)
            )
        except Exception:
            _log.exception(
                "boundary guard: no policy for message %s", msg.metadata.message_id
            )
            return _error(
                msg,
                ErrorCode.MOD_FAILED_PRECONDITION,
                "the department's boundary policy could not be built; "
                "nothing was processed",
            )
        try:
            reply = call_next(msg, context)
        except Exception as e:
            _log.exception(
                "ClientApp raised while handling message %s", msg.metadata.message_id
            )
            return _error(
                msg,
                ErrorCode.CLIENT_APP_RAISED_EXCEPTION,
                f"the department's ClientApp raised {type(e).__name__}; "
                "details stay in its log",
            )
        if reply.has_error():
            return self._screen_error(msg, reply, policy)
        try:
            check_outgoing(reply.content, policy)
        except BoundaryViolationError as e:
            _log.error(
                "boundary guard refused the reply to %s message %s: %s",
                msg.metadata.message_type,
                msg.metadata.message_id,
                e,
            )
            rules = sorted({v.rule for v in e.violations})
            return _error(
                msg,
                ErrorCode.MOD_FAILED_PRECONDITION,
                f"reply refused by the department's boundary guard "
                f"({len(e.violations)} finding(s); rules: {', '.join(rules)}); "
                "details stay in its log",
            )
        return reply

    @staticmethod
    def _screen_error(msg: Message, reply: Message, policy: BoundaryPolicy) -> Message:
        reason = reply.error.reason or ""
        if len(reason) <= policy.max_free_text_length and not policy.mentions(reason):
            return reply
        _log.error("boundary guard withheld an error reason: %s", reason)
        return _error(
            msg,
            reply.error.code,
            "error reason withheld by the department's boundary guard; "
            "it stays in its log",
        )


# -- rules -------------------------------------------------------------------------


def _violations(content: RecordDict, policy: BoundaryPolicy) -> Iterator[Violation]:
    for record_name, record in content.items():
        for column in policy.mentions(record_name):
            yield Violation(
                record_name, None, "sensitive-mention", f"record name names {column!r}"
            )
        if isinstance(record, ArrayRecord):
            yield from _array_record(record_name, record, policy)
        elif isinstance(record, MetricRecord | ConfigRecord):
            for key, value in record.items():
                yield from _key(record_name, key, policy)
                yield from _value(record_name, key, value, policy)
        else:
            kind = type(record).__name__
            yield Violation(
                record_name, None, "record-type", f"unknown record type {kind}"
            )


def _key(record: str, key: str, policy: BoundaryPolicy) -> Iterator[Violation]:
    mentioned = policy.mentions(key)
    for column in mentioned:
        yield Violation(record, key, "sensitive-mention", f"key names {column!r}")
    if (
        mentioned
        or key in policy.allowed_keys | policy.free_text_keys | policy.bytes_keys
    ):
        return
    op, separator, column = key.partition(_AGGREGATE_SEPARATOR)
    if not separator:
        yield Violation(
            record, key, "unlisted-key", "neither allow-listed nor '<op>:<column>'"
        )
    elif op not in policy.aggregate_ops:
        yield Violation(record, key, "unlisted-key", f"aggregate {op!r} is not allowed")
    elif column not in policy.aggregatable:
        yield Violation(
            record,
            key,
            "unlisted-key",
            "column is not a PUBLIC/INTERNAL column of the dataset",
        )


def _value(
    record: str, key: str, value: object, policy: BoundaryPolicy
) -> Iterator[Violation]:
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list):
        size = len(value)
        if size > policy.max_list_length:
            yield Violation(
                record, key, "list-too-long", f"{size} > {policy.max_list_length} items"
            )
        if policy.local_shape is not None and size == policy.local_shape[0] > 1:
            yield Violation(
                record, key, "record-table", f"as many items as local rows ({size})"
            )
    free_text = key in policy.free_text_keys
    limit = policy.max_free_text_length if free_text else policy.max_string_length
    for item in items:
        if isinstance(item, str):
            if len(item) > limit:
                detail = f"{len(item)} > {limit} characters"
                yield Violation(record, key, "string-too-long", detail)
            for column in policy.mentions(item):
                detail = f"string value names {column!r}"
                yield Violation(record, key, "sensitive-mention", detail)
        elif isinstance(item, bytes) and key not in policy.bytes_keys:
            yield Violation(record, key, "bytes-value", f"{len(item)} opaque bytes")


def _array_record(
    record: str, arrays: ArrayRecord, policy: BoundaryPolicy
) -> Iterator[Violation]:
    for name, array in arrays.items():
        for column in policy.mentions(name):
            yield Violation(
                record, name, "sensitive-mention", f"array name names {column!r}"
            )
        try:
            shape, dtype = _npy_shape_dtype(array)
        except ValueError as e:
            yield Violation(record, name, "array-encoding", str(e))
            continue
        table = policy.local_shape is not None and _table_shaped(
            shape, policy.local_shape
        )
        spec = policy.parameters.get(name)
        if spec is None or spec.shape != shape:
            if table:
                rule, detail = "record-table", f"shape {shape} matches the local data"
            elif spec is None:
                rule, detail = (
                    "undeclared-array",
                    f"shape {shape} is not a model parameter",
                )
            else:
                rule, detail = "array-shape", f"shape {shape}, declared {spec.shape}"
            yield Violation(record, name, rule, detail)
        elif spec.dtype != dtype:
            yield Violation(
                record, name, "array-dtype", f"dtype {dtype}, declared {spec.dtype}"
            )


def _npy_shape_dtype(array: Array) -> tuple[tuple[int, ...], str]:
    """Shape and dtype read from the ``.npy`` bytes, which must hold nothing else."""
    if array.stype != SType.NUMPY:
        raise ValueError(f"serialisation {array.stype!r} is not {SType.NUMPY!r}")
    stream = io.BytesIO(array.data)
    version = npy_format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _, dtype = npy_format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"npy format version {version} is not accepted")
    if dtype.hasobject:
        raise ValueError("object arrays are not accepted")
    expected = stream.tell() + math.prod(shape) * dtype.itemsize
    if len(array.data) != expected:
        raise ValueError(
            f"{len(array.data)} bytes where the header announces {expected}"
        )
    shape = tuple(int(n) for n in shape)
    if tuple(array.shape) != shape or array.dtype != str(dtype):
        raise ValueError("the Array's shape/dtype labels disagree with its bytes")
    return shape, str(dtype)


def _table_shaped(shape: tuple[int, ...], local: tuple[int, int]) -> bool:
    rows, cols = local
    if rows <= 1:
        return False
    return shape in {(rows, cols), (cols, rows), (rows,)} or (
        len(shape) == 2 and rows in shape
    )


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in _NON_WORD.split(_CAMEL.sub(" ", text).lower()) if w)


def _contains(words: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    if not needle:
        return False
    width = len(needle)
    return any(words[i : i + width] == needle for i in range(len(words) - width + 1))


def _error(msg: Message, code: int, reason: str) -> Message:
    return Message(Error(code=code, reason=reason), reply_to=msg)
