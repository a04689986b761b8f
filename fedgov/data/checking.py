"""Check a department's source against its declaration, in the database.

The records are never loaded to be checked: DuckDB scans the source once
with cheap aggregates (present values, values of the right type, minimum and
maximum, integrality, declared categories) whatever its size, and only when
a rule is broken scans it once more to count every breach and locate its
first row. The result, a :class:`SourceCheck`, holds counts and row numbers
only; a value is shown only for PUBLIC and INTERNAL columns. Given the
declared unit of privacy, it also counts the persons and those with more
records than the declaration allows (one grouped scan): their extra records
are valid but left out of training and of every query, which bound each
person to the first ``max_records_per_unit`` records.

The rules are those of :func:`fedgov.data.validation.validate`, in the same
order. How a source's own types meet the declaration: a CSV field is text
and is read as the declared kind; a typed column (Parquet, SQLite, PostgreSQL)
of a number type holds numbers, of a text type holds text that must read as
the declared kind; a column of any other type (a date, a blob) is the wrong
type as a whole. Rows are numbered from 1 in the source's order (a CSV file's
record 1 is the line after the header).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

import duckdb

from fedgov.data._engine import RAW, Engine, identifier, literal
from fedgov.data.cleaning import CleaningAction, CleaningReport, impute_rule
from fedgov.data.errors import (
    DataErrorReason,
    DataValidationError,
    EmptyTableError,
    MissingColumnError,
    MissingValueError,
    NonFiniteValueError,
    OutOfRangeError,
    UndeclaredColumnError,
    UnknownCategoryError,
    WrongTypeError,
)
from fedgov.data.schema import (
    Classification,
    ColumnKind,
    ColumnSpec,
    DatasetSchema,
    MissingPolicy,
)
from fedgov.data.sources import SourceKind

if TYPE_CHECKING:
    from fedgov.data.sources import Source
    from fedgov.data.spec import UnitOfPrivacy

__all__ = [
    "Problem",
    "SourceCheck",
    "StoredType",
    "UnitCount",
    "check_source",
    "csv_types",
    "stored_types",
    "value_sql",
]

logger = logging.getLogger(__name__)

_INTEGER_TYPES: Final = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
_FLOAT_TYPES: Final = frozenset({"FLOAT", "DOUBLE"})
_SHOWN_CATEGORIES: Final = 12
_ERRORS: Final[dict[DataErrorReason, type[DataValidationError]]] = {
    DataErrorReason.MISSING_COLUMN: MissingColumnError,
    DataErrorReason.UNDECLARED_COLUMN: UndeclaredColumnError,
    DataErrorReason.EMPTY_TABLE: EmptyTableError,
    DataErrorReason.WRONG_TYPE: WrongTypeError,
    DataErrorReason.MISSING_VALUE: MissingValueError,
    DataErrorReason.NON_FINITE: NonFiniteValueError,
    DataErrorReason.OUT_OF_RANGE: OutOfRangeError,
    DataErrorReason.UNKNOWN_CATEGORY: UnknownCategoryError,
}


@dataclass(frozen=True)
class StoredType:
    """What a source stores in a column, as DuckDB reads it."""

    name: str

    @property
    def is_integer(self) -> bool:
        return self.name in _INTEGER_TYPES

    @property
    def is_number(self) -> bool:
        return (
            self.is_integer
            or self.name in _FLOAT_TYPES
            or self.name.startswith("DECIMAL")
        )

    @property
    def is_text(self) -> bool:
        return self.name == "VARCHAR"

    @property
    def may_be_non_finite(self) -> bool:
        return self.name in _FLOAT_TYPES or self.is_text


@dataclass(frozen=True)
class Problem:
    """``count`` records (0: the column as a whole) break ``rule``.

    ``first_row`` is the first such record, counted from 1; ``rule`` never
    holds a value of a SENSITIVE or CORE column.
    """

    reason: DataErrorReason
    column: str | None
    rule: str
    count: int = 0
    first_row: int | None = None


@dataclass(frozen=True)
class UnitCount:
    """How many persons (units of privacy) a table holds, and how many exceed
    the declared ``max_records`` (``beyond``: their records past the first
    ``max_records``, which training and queries leave out)."""

    column: str
    units: int
    max_records: int
    over: int
    beyond: int

    def line(self) -> str:
        head = f"persons ({self.column}): {self.units:,}"
        if not self.over:
            return f"{head}, none with more than {self.max_records} record(s)"
        return (
            f"{head}; {self.over:,} with more than {self.max_records} record(s): "
            f"their {self.beyond:,} record(s) beyond the first {self.max_records} "
            "are left out of training and queries"
        )


@dataclass(frozen=True)
class SourceCheck:
    """What checking one department's source found: counts, never records."""

    dataset: str
    department: str | None
    source: str
    rows: int
    problems: tuple[Problem, ...]
    cleaning: CleaningReport
    kept_missing: tuple[CleaningAction, ...]
    units: UnitCount | None = None
    """Persons counted by the declared unit of privacy (``None``: not asked,
    one record per person, or the column is missing)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def missing(self, column: str) -> int:
        """How many records have no value in ``column`` (imputed or kept)."""
        return self.cleaning.count(column) + sum(
            a.count for a in self.kept_missing if a.column == column
        )

    def error(self, problem: Problem) -> DataValidationError:
        """``problem`` as the typed error the loader raises."""
        return _ERRORS[problem.reason](
            self.dataset,
            problem.column,
            problem.first_row,
            problem.rule,
            department=self.department,
            source=self.source,
        )

    def raise_first(self) -> None:
        """Raise the first problem's error; nothing if the source is valid."""
        if self.problems:
            raise self.error(self.problems[0])

    def lines(self) -> list[str]:
        """The report a data officer reads: counts and row numbers only."""
        who = "" if self.department is None else f" (department {self.department})"
        lines = [f"dataset {self.dataset}{who}, source {self.source}"]
        lines.append(f"records: {self.rows:,}")
        if self.units is not None:
            lines.append(self.units.line())
        if self.problems:
            lines.append(f"INVALID: {len(self.problems)} rule(s) broken")
            for p in self.problems:
                where = p.column if p.column is not None else "(table)"
                count = (
                    f"{p.count:,} record(s), first row {p.first_row}"
                    if p.count
                    else "whole column"
                )
                if p.reason in (
                    DataErrorReason.MISSING_COLUMN,
                    DataErrorReason.UNDECLARED_COLUMN,
                    DataErrorReason.EMPTY_TABLE,
                ):
                    count = ""
                lines.append(
                    f"  [{p.reason}] {where}: {p.rule}"
                    + (f" ({count})" if count else "")
                )
        else:
            lines.append("valid: every record satisfies the declaration")
        if self.cleaning.actions:
            lines.append(
                "cleaning (declared rules, applied when the records are loaded):"
            )
            lines += [
                f"  {a.column}: {a.rule} x{a.count:,}" for a in self.cleaning.actions
            ]
        else:
            lines.append("cleaning: nothing to impute")
        for action in self.kept_missing:
            lines.append(f"  {action.column}: {action.rule} x{action.count:,}")
        return lines


def stored_types(engine: Engine) -> dict[str, StoredType]:
    """The source's columns, in order, and what it stores in each."""
    described = engine.sql(f"DESCRIBE SELECT * FROM {RAW}", records=False).fetchall()
    return {str(row[0]): StoredType(str(row[1]).upper()) for row in described}


def check_source(
    schema: DatasetSchema,
    source: Source,
    *,
    department: str | None = None,
    dataset: str | None = None,
    unit: UnitOfPrivacy | None = None,
) -> SourceCheck:
    """Check ``source`` against ``schema`` without loading its records.

    ``dataset`` names the dataset in reports (default: the schema's id);
    ``unit``, the declared unit of privacy, adds the persons' count
    (:class:`UnitCount`).
    Raises :class:`~fedgov.data.errors.SourceUnreadableError` or
    :class:`~fedgov.data.errors.SourceConnectionError` when the source
    cannot be read at all; every breach of the declaration is a
    :class:`Problem` of the result.
    """
    name = dataset or schema.dataset
    with Engine(source, department=department) as engine:
        stored = stored_types(engine)
    structural = _structure(schema, stored)
    if structural:
        return _result(name, department, source, 0, structural, schema, {})
    types = _csv_types(schema) if source.kind is SourceKind.CSV else None
    try:
        with Engine(source, department=department, csv_types=types) as engine:
            return _check(name, department, source, schema, engine, unit)
    except _TypedReadFailedError:
        # A value the typed reader cannot take: read everything as text to
        # count and locate such values.
        logger.debug(
            "%s: re-reading as text to locate values of the wrong type", source
        )
        with Engine(source, department=department, text_only=True) as engine:
            return _check(name, department, source, schema, engine, unit)


class _TypedReadFailedError(Exception):
    """A typed scan stopped on a value it could not convert."""


def csv_types(schema: DatasetSchema) -> dict[str, str]:
    """How a CSV file's fields are read: text categories as text, the rest as numbers."""
    return _csv_types(schema)


def value_sql(column: ColumnSpec, stored: StoredType) -> str:
    """SQL for ``column``'s values as the declaration reads them (text or DOUBLE)."""
    return _Column(column, stored).value


def _csv_types(schema: DatasetSchema) -> dict[str, str]:
    return {c.name: "VARCHAR" if _is_text(c) else "DOUBLE" for c in schema}


def _is_text(column: ColumnSpec) -> bool:
    return column.kind is ColumnKind.CATEGORICAL and isinstance(
        column.categories[0], str
    )


def _structure(schema: DatasetSchema, stored: dict[str, StoredType]) -> list[Problem]:
    problems = [
        Problem(DataErrorReason.MISSING_COLUMN, c.name, "declared column is missing")
        for c in schema
        if c.name not in stored
    ]
    problems += [
        Problem(
            DataErrorReason.UNDECLARED_COLUMN,
            name,
            "column is not declared in the schema",
        )
        for name in stored
        if name not in schema
    ]
    return problems


@dataclass(frozen=True)
class _Rule:
    """One row-level rule of one column: ``condition`` flags a breaking record."""

    column: ColumnSpec
    reason: DataErrorReason
    text: str
    condition: str
    shows_value: bool
    quoted: bool
    exact: bool
    """Counted exactly in the first scan; otherwise screened by the column's
    minimum and maximum (bounds and finiteness) and counted only if flagged."""


class _Column:
    """SQL for one declared column, given what the source stores in it."""

    def __init__(self, spec: ColumnSpec, stored: StoredType) -> None:
        self.spec = spec
        self.stored = stored
        self.raw = identifier(spec.name)
        text_kind = _is_text(spec)
        if text_kind:
            self.type_error = None if stored.is_text else stored.name
            self.value = self.raw
        elif stored.is_number or (
            stored.name == "BOOLEAN" and spec.kind is ColumnKind.BINARY
        ):
            self.type_error = None
            self.value = f"CAST({self.raw} AS DOUBLE)"
        elif stored.is_text:
            self.type_error = None
            self.value = f"TRY_CAST({self.raw} AS DOUBLE)"
        else:
            self.type_error = stored.name
            self.value = f"TRY_CAST({self.raw} AS DOUBLE)"
        self.text_kind = text_kind

    @property
    def shows_values(self) -> bool:
        return self.spec.classification in (
            Classification.PUBLIC,
            Classification.INTERNAL,
        )

    def rules(self) -> list[_Rule]:
        spec, raw, value = self.spec, self.raw, self.value
        rules = []
        if spec.missing is MissingPolicy.ERROR:
            rules.append(
                self._rule(
                    DataErrorReason.MISSING_VALUE,
                    "missing value; this column's policy is 'error'",
                    f"{raw} IS NULL",
                    shown=False,
                )
            )
        if self.text_kind:
            rules.append(
                self._category_rule(f"NOT list_contains({_list(spec)}, {raw})")
            )
            return rules
        if self.stored.is_text:
            rules.append(
                self._rule(
                    DataErrorReason.WRONG_TYPE,
                    f"wrong type{{value}}: expected a number ({spec.kind.value})",
                    f"{raw} IS NOT NULL AND {value} IS NULL",
                )
            )
        if self.stored.may_be_non_finite:
            rules.append(
                self._rule(
                    DataErrorReason.NON_FINITE,
                    "non-finite value{value}",
                    f"NOT isfinite({value})",
                )
            )
        finite = f"isfinite({value})"
        if spec.kind is not ColumnKind.FLOAT and not self.stored.is_integer:
            rules.append(
                self._rule(
                    DataErrorReason.WRONG_TYPE,
                    f"wrong type{{value}}: not an integer ({spec.kind.value})",
                    f"{finite} AND {value} <> floor({value})",
                )
            )
        if spec.kind is ColumnKind.CATEGORICAL:
            rules.append(
                self._category_rule(
                    f"{finite} AND {value} = floor({value}) AND NOT list_contains({_list(spec)}, {value})"
                )
            )
        elif spec.kind is ColumnKind.BINARY:
            rules.append(
                self._rule(
                    DataErrorReason.OUT_OF_RANGE,
                    "value{value} is not binary (0 or 1)",
                    f"{finite} AND {value} <> 0 AND {value} <> 1",
                )
            )
        else:
            assert spec.bounds is not None
            low, high = spec.bounds
            rules.append(
                self._rule(
                    DataErrorReason.OUT_OF_RANGE,
                    f"value{{value}} is outside the declared range [{low:g}, {high:g}]",
                    f"{finite} AND ({value} < {low!r} OR {value} > {high!r})",
                )
            )
        return rules

    def _category_rule(self, condition: str) -> _Rule:
        categories = self.spec.categories
        shown = ", ".join(repr(c) for c in categories[:_SHOWN_CATEGORIES])
        if len(categories) > _SHOWN_CATEGORIES:
            shown += f", ... ({len(categories)} in all)"
        return self._rule(
            DataErrorReason.UNKNOWN_CATEGORY,
            f"unknown category{{value}}; declared: {shown}",
            condition,
        )

    def _rule(
        self, reason: DataErrorReason, text: str, condition: str, *, shown: bool = True
    ) -> _Rule:
        # Text is quoted: a category, or what stands where a number should.
        quoted = self.text_kind or self.stored.is_text
        exact = reason not in (DataErrorReason.NON_FINITE, DataErrorReason.OUT_OF_RANGE)
        return _Rule(
            self.spec,
            reason,
            text,
            condition,
            shown and self.shows_values,
            quoted,
            exact,
        )

    @property
    def extreme(self) -> str:
        """What the minimum and maximum are taken of: the stored numbers as they
        are (so that Parquet answers from its statistics), else the value."""
        return self.raw if self.stored.is_number else self.value

    @property
    def screened(self) -> bool:
        """Whether the first scan takes this column's minimum and maximum."""
        return not self.text_kind and self.spec.kind is not ColumnKind.CATEGORICAL

    def flagged(self, low: float | None, high: float | None) -> bool:
        """Whether a minimum and maximum may hide a non-finite or out-of-range value."""
        if low is None or high is None:
            return False
        if not (math.isfinite(low) and math.isfinite(high)):
            return True
        assert self.spec.bounds is not None
        return low < self.spec.bounds[0] or high > self.spec.bounds[1]


def _list(spec: ColumnSpec) -> str:
    if _is_text(spec):
        return (
            "[" + ", ".join(literal(str(c)) for c in spec.categories) + "]::VARCHAR[]"
        )
    return "[" + ", ".join(repr(float(c)) for c in spec.categories) + "]::DOUBLE[]"


def _check(
    dataset: str,
    department: str | None,
    source: Source,
    schema: DatasetSchema,
    engine: Engine,
    unit: UnitOfPrivacy | None = None,
) -> SourceCheck:
    stored = stored_types(engine)
    columns = [_Column(spec, stored[spec.name]) for spec in schema]
    problems = [
        Problem(
            DataErrorReason.WRONG_TYPE,
            c.spec.name,
            f"wrong type: declared {c.spec.kind.value}"
            + (" (text)" if c.text_kind else "")
            + f", the source stores {c.type_error}",
        )
        for c in columns
        if c.type_error is not None
    ]
    checked = [c for c in columns if c.type_error is None]
    rules = [rule for c in checked for rule in c.rules()]
    exact = [r for r in rules if r.exact]
    screened = [c for c in checked if c.screened]
    # One scan of cheap aggregates, whatever the table's size: present values,
    # exact counts of most rules, and each number column's minimum and maximum
    # (Parquet answers these from its statistics).
    aggregates = (
        ["count(*)"]
        + [f"count({c.raw})" for c in columns]
        + [f"count_if({r.condition})" for r in exact]
        + [f"min({c.extreme}), max({c.extreme})" for c in screened]
    )
    try:
        screen = engine.connection.sql(
            f"SELECT {', '.join(aggregates)} FROM {RAW}"
        ).fetchone()
    except (
        duckdb.ConversionException,
        duckdb.InvalidInputException,
        duckdb.TypeMismatchException,
    ) as e:
        if (
            engine.source.kind in (SourceKind.CSV, SourceKind.SQLITE)
            and not engine.text_only
        ):
            raise _TypedReadFailedError from e
        raise engine.failure(e) from e
    except duckdb.Error as e:
        raise engine.failure(e) from e
    assert screen is not None
    values = iter(screen)
    rows = int(next(values))
    present = {c.spec.name: int(next(values)) for c in columns}
    counted = {id(r): int(next(values) or 0) for r in exact}
    flagged = set()
    for column in screened:
        low, high = next(values), next(values)
        if column.flagged(low, high):
            flagged.add(column.spec.name)
    broken = [
        (rule, counted.get(id(rule)))
        for rule in rules
        if counted.get(id(rule)) or (not rule.exact and rule.column.name in flagged)
    ]
    if rows == 0:
        problems.append(
            Problem(
                DataErrorReason.EMPTY_TABLE,
                None,
                "no records: a table must hold at least one",
            )
        )
    order = {c.spec.name: i for i, c in enumerate(columns)}
    problems += _locate(engine, broken)
    problems.sort(key=lambda p: -1 if p.column is None else order[p.column])
    missing = {name: rows - n for name, n in present.items()}
    result = _result(dataset, department, source, rows, problems, schema, missing)
    if unit is None or unit.column is None or rows == 0:
        return result
    return replace(
        result, units=_count_units(engine, unit.column, unit.max_records_per_unit)
    )


def _count_units(engine: Engine, column: str, max_records: int) -> UnitCount:
    """One grouped scan: persons, and records beyond ``max_records`` of each."""
    person = identifier(column)
    counted = engine.sql(
        f"SELECT count(*), count_if(n > {max_records}), "
        f"coalesce(sum(n - {max_records}) FILTER (WHERE n > {max_records}), 0) "
        f"FROM (SELECT count(*) AS n FROM {RAW} WHERE {person} IS NOT NULL "
        f"GROUP BY {person})"
    ).fetchone()
    assert counted is not None
    units, over, beyond = (int(v) for v in counted)
    return UnitCount(column, units, max_records, over, beyond)


def _locate(engine: Engine, broken: list[tuple[_Rule, int | None]]) -> list[Problem]:
    """Each broken rule's first row, count where not known yet, and value where
    it may be shown: one more scan, only when a rule is (or may be) broken."""
    if not broken:
        return []
    parts = []
    for rule, count in broken:
        parts.append(f"min(__row) FILTER (WHERE {rule.condition})")
        if count is None:
            parts.append(f"count_if({rule.condition})")
        if rule.shows_value:
            parts.append(
                f"arg_min(CAST({identifier(rule.column.name)} AS VARCHAR), __row) "
                f"FILTER (WHERE {rule.condition})"
            )
    located = engine.sql(
        f"SELECT {', '.join(parts)} FROM "
        f"(SELECT row_number() OVER () AS __row, * FROM {RAW})"
    ).fetchone()
    assert located is not None
    found = iter(located)
    problems = []
    for rule, known in broken:
        first = next(found)
        count = int(next(found)) if known is None else known
        value = ""
        if rule.shows_value:
            shown = str(next(found))
            value = f" {shown!r}" if rule.quoted else f" {shown}"
        if count:
            text = rule.text.format(value=value)
            problems.append(
                Problem(rule.reason, rule.column.name, text, count, int(first))
            )
    return problems


def _result(
    dataset: str,
    department: str | None,
    source: Source,
    rows: int,
    problems: list[Problem],
    schema: DatasetSchema,
    missing: dict[str, int],
) -> SourceCheck:
    imputed = []
    kept = []
    for column in schema:
        count = missing.get(column.name, 0)
        if not count:
            continue
        if column.missing is MissingPolicy.IMPUTE:
            imputed.append(
                CleaningAction(column.name, impute_rule(column.fill_value), count)
            )
        elif column.missing is MissingPolicy.KEEP:
            kept.append(CleaningAction(column.name, "missing, kept as declared", count))
    return SourceCheck(
        dataset=dataset,
        department=department,
        source=str(source),
        rows=rows,
        problems=tuple(problems),
        cleaning=CleaningReport(schema.dataset, tuple(imputed)),
        kept_missing=tuple(kept),
    )
