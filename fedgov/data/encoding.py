"""Encode validated, cleaned records into model inputs using the schema alone.

Numbers are transformed (``log1p`` where declared) and min-max scaled to
[0, 1] with the *declared* bounds, followed by one indicator per declared bin
where the column declares bin edges; categories are one-hot encoded over the
*declared* category list, in declared order. No statistic is computed from the
records, so a department holding a single record encodes it exactly as the
pooled data would, and departments never need to share anything to agree on
the encoding. The feature order is :attr:`DatasetSchema.feature_names`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedgov.data.errors import DataValidationError
from fedgov.data.schema import ColumnKind, ColumnSpec, DatasetSchema, Transform
from fedgov.data.task import RegressionTarget
from fedgov.errors import ConfigurationError

__all__ = ["Labels", "decode_targets", "encode_features", "encode_labels"]

Labels = npt.NDArray[Any]
"""Encoded labels: ``int64`` class indices for a binary (0/1) or multi-class
(0..k-1) task, ``float32`` targets in [0, 1] for a regression task."""


def encode_features(
    schema: DatasetSchema, frame: pd.DataFrame
) -> npt.NDArray[np.float32]:
    """``float32 [n, schema.num_features]``, every value in [0, 1].

    ``frame`` must be validated and cleaned; a missing value or an undeclared
    category left in a feature raises :class:`DataValidationError`.
    """
    blocks = [_encode_column(schema, column, frame) for column in schema.features]
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)


def encode_labels(schema: DatasetSchema, frame: pd.DataFrame) -> Labels:
    """The label of every record of a validated ``frame``, as its task needs it.

    Binary: ``int64`` 0/1 by the declared rule. Multi-class: ``int64`` index
    of the value in the declared classes. Regression: ``float32``, the value
    min-max scaled to [0, 1] with the label column's *declared* bounds (as a
    feature is), so that a model's output range and DP-SGD's clipping see the
    same scale on every department; :func:`decode_targets` maps predictions
    back to the column's unit for RMSE and MAE.
    """
    label = schema.label
    if not isinstance(label, RegressionTarget):
        return label.apply(frame)
    low, high = _label_bounds(schema)
    numbers = frame[label.column].to_numpy(dtype=np.float64, na_value=np.nan)
    _reject(
        schema,
        schema.column(label.column),
        frame,
        np.isnan(numbers),
        "missing value left uncleaned",
    )
    return ((numbers - low) / (high - low)).astype(np.float32)


def decode_targets(
    schema: DatasetSchema, scaled: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.float64]:
    """Scaled regression targets or predictions back in the label column's unit."""
    low, high = _label_bounds(schema)
    return np.asarray(scaled, dtype=np.float64) * (high - low) + low


def _label_bounds(schema: DatasetSchema) -> tuple[float, float]:
    label = schema.label
    bounds = schema.column(label.column).bounds
    if not isinstance(label, RegressionTarget) or bounds is None:
        raise ConfigurationError(
            "task", f"dataset {schema.dataset!r} has no regression target"
        )
    return bounds


def _encode_column(
    schema: DatasetSchema, column: ColumnSpec, frame: pd.DataFrame
) -> npt.NDArray[np.float64]:
    values = frame[column.name]
    if column.transform is Transform.ONE_HOT:
        categorical = pd.Categorical(values, categories=list(column.categories))
        codes = np.asarray(categorical.codes, dtype=np.intp)
        _reject(schema, column, frame, codes < 0, "missing or undeclared category")
        return _indicators(codes, len(column.categories))
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    _reject(schema, column, frame, np.isnan(numbers), "missing value left uncleaned")
    if column.kind is ColumnKind.BINARY:
        return numbers[:, np.newaxis]
    assert column.bounds is not None
    low, high = column.bounds
    transformed = numbers
    if column.transform is Transform.LOG1P:
        transformed, low, high = (
            np.log1p(numbers),
            float(np.log1p(low)),
            float(np.log1p(high)),
        )
    scaled = ((transformed - low) / (high - low))[:, np.newaxis]
    if not column.bins:
        return scaled
    # Bins are declared in the column's own unit, so they index the raw value.
    bands = _indicators(np.digitize(numbers, column.bins), len(column.bins) + 1)
    return np.concatenate([scaled, bands], axis=1)


def _indicators(index: npt.NDArray[np.intp], width: int) -> npt.NDArray[np.float64]:
    """One row of ``width`` 0/1 columns per value, 1 at the value's ``index``."""
    rows: npt.NDArray[np.float64] = np.eye(width)[index]
    return rows


def _reject(
    schema: DatasetSchema,
    column: ColumnSpec,
    frame: pd.DataFrame,
    bad: npt.NDArray[np.bool_],
    reason: str,
) -> None:
    if bad.any():
        row = frame.index[int(np.flatnonzero(bad)[0])]
        raise DataValidationError(
            schema.dataset,
            column.name,
            row,
            f"cannot encode: {reason} (validate and clean first)",
        )
