"""Check a frame of records against its declared schema, rejecting the first breach.

:func:`validate` never changes or drops anything: a record that breaks the
schema is an error naming the dataset, column, original row label and rule.
Missing values pass only in columns whose policy is ``impute`` (cleaning then
replaces them, counted) or ``keep``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedgov.data.errors import (
    DataValidationError,
    EmptyTableError,
    MissingColumnError,
    MissingValueError,
    NonFiniteValueError,
    OutOfRangeError,
    RowLabel,
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

__all__ = ["validate", "validate_column"]

_SHOWN_CATEGORIES = 12


def validate(schema: DatasetSchema, frame: pd.DataFrame) -> None:
    """Raise :class:`DataValidationError` unless ``frame`` satisfies ``schema``.

    Checks, in this order: no declared column is missing, no undeclared column
    is present, the frame holds at least one record, then column by column:
    the type, missing values against the column's policy, non-finite numbers,
    integrality, the declared range and the declared categories.
    """
    for column in schema:
        _require_column(schema, frame, column.name)
    for name in frame.columns:
        if name not in schema:
            raise UndeclaredColumnError(
                schema.dataset, str(name), None, "column is not declared in the schema"
            )
    if frame.empty:
        raise EmptyTableError(
            schema.dataset, None, None, "no records: a frame must hold at least one"
        )
    for column in schema:
        validate_column(schema, frame, column.name)


def validate_column(schema: DatasetSchema, frame: pd.DataFrame, name: str) -> None:
    """Validate one declared column of ``frame`` (see :func:`validate`)."""
    column = schema.column(name)
    _require_column(schema, frame, name)
    values = frame[name]
    missing = values.isna().to_numpy(dtype=bool)
    if column.missing is MissingPolicy.ERROR:
        _reject_first(
            schema,
            column,
            frame,
            missing,
            "missing value; this column's policy is 'error'",
            MissingValueError,
        )
    present = ~missing
    if column.kind is ColumnKind.CATEGORICAL:
        _check_categories(schema, column, frame, values, present)
    else:
        _check_numbers(schema, column, frame, values, present)


def _require_column(schema: DatasetSchema, frame: pd.DataFrame, name: str) -> None:
    if name not in frame.columns:
        raise MissingColumnError(
            schema.dataset, name, None, "declared column is missing"
        )


def _check_numbers(
    schema: DatasetSchema,
    column: ColumnSpec,
    frame: pd.DataFrame,
    values: pd.Series,
    present: npt.NDArray[np.bool_],
) -> None:
    if not pd.api.types.is_numeric_dtype(values.dtype):
        # Text that looks like a number ("12") is still text: the file is wrong.
        is_number = values.map(_is_number).to_numpy(dtype=bool)
        _reject_first(
            schema,
            column,
            frame,
            present & ~is_number,
            f"wrong type: expected a number ({column.kind.value}), got {{value}}",
            WrongTypeError,
        )
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    _reject_first(
        schema,
        column,
        frame,
        present & ~np.isfinite(numbers),
        "non-finite value {value}",
        NonFiniteValueError,
    )
    if column.kind is not ColumnKind.FLOAT:
        _reject_first(
            schema,
            column,
            frame,
            present & (numbers != np.floor(numbers)),
            f"wrong type: {{value}} is not an integer ({column.kind.value})",
            WrongTypeError,
        )
    assert column.bounds is not None
    low, high = column.bounds
    if column.kind is ColumnKind.BINARY:
        rule = "value {value} is not binary (0 or 1)"
        outside = present & (numbers != 0) & (numbers != 1)
    else:
        rule = f"value {{value}} is outside the declared range [{low:g}, {high:g}]"
        outside = present & ((numbers < low) | (numbers > high))
    _reject_first(schema, column, frame, outside, rule, OutOfRangeError)


def _check_categories(
    schema: DatasetSchema,
    column: ColumnSpec,
    frame: pd.DataFrame,
    values: pd.Series,
    present: npt.NDArray[np.bool_],
) -> None:
    text = isinstance(column.categories[0], str)
    numeric = pd.api.types.is_numeric_dtype(values.dtype)
    if text and numeric:
        _reject_first(
            schema,
            column,
            frame,
            present,
            "wrong type: expected text, got {value}",
            WrongTypeError,
        )
    if not text and not numeric:
        _reject_first(
            schema,
            column,
            frame,
            present,
            "wrong type: expected an integer code, got {value}",
            WrongTypeError,
        )
    shown = ", ".join(repr(c) for c in column.categories[:_SHOWN_CATEGORIES])
    if len(column.categories) > _SHOWN_CATEGORIES:
        shown += f", ... ({len(column.categories)} in all)"
    unknown = present & ~values.isin(column.categories).to_numpy(dtype=bool)
    _reject_first(
        schema,
        column,
        frame,
        unknown,
        f"unknown category {{value}}; declared: {shown}",
        UnknownCategoryError,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def _reject_first(
    schema: DatasetSchema,
    column: ColumnSpec,
    frame: pd.DataFrame,
    bad: npt.NDArray[np.bool_],
    rule: str,
    error: type[DataValidationError],
) -> None:
    """Raise ``error`` for the first record flagged in ``bad``.

    ``{value}`` in ``rule`` shows its value for PUBLIC and INTERNAL columns;
    a SENSITIVE or CORE column's value is never put in a message.
    """
    if not bad.any():
        return
    position = int(np.flatnonzero(bad)[0])
    label: RowLabel = frame.index[position]
    value = frame[column.name].iloc[position]
    if isinstance(value, np.generic):
        value = value.item()
    shown = (
        repr(value)
        if column.classification in (Classification.PUBLIC, Classification.INTERNAL)
        else "(value withheld: a sensitive column)"
    )
    raise error(schema.dataset, column.name, label, rule.format(value=shown))
