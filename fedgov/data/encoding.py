"""Encode validated, cleaned records into model inputs using the schema alone.

Numbers are transformed (``log1p`` where declared) and min-max scaled to
[0, 1] with the *declared* bounds; categories are one-hot encoded over the
*declared* category list, in declared order. No statistic is computed from the
records, so a department holding a single record encodes it exactly as the
pooled data would, and departments never need to share anything to agree on
the encoding. The feature order is :attr:`DatasetSchema.feature_names`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedgov.data.errors import DataValidationError
from fedgov.data.schema import ColumnKind, ColumnSpec, DatasetSchema, Transform

__all__ = ["encode_features", "encode_labels"]


def encode_features(
    schema: DatasetSchema, frame: pd.DataFrame
) -> npt.NDArray[np.float32]:
    """``float32 [n, schema.num_features]``, every value in [0, 1].

    ``frame`` must be validated and cleaned; a missing value or an undeclared
    category left in a feature raises :class:`DataValidationError`.
    """
    blocks = [_encode_column(schema, column, frame) for column in schema.features]
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)


def encode_labels(schema: DatasetSchema, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """``int64 [n]``: the schema's label rule applied to every record."""
    return schema.label.apply(frame)


def _encode_column(
    schema: DatasetSchema, column: ColumnSpec, frame: pd.DataFrame
) -> npt.NDArray[np.float64]:
    values = frame[column.name]
    if column.transform is Transform.ONE_HOT:
        categorical = pd.Categorical(values, categories=list(column.categories))
        codes = np.asarray(categorical.codes, dtype=np.intp)
        _reject(schema, column, frame, codes < 0, "missing or undeclared category")
        one_hot: npt.NDArray[np.float64] = np.eye(len(column.categories))[codes]
        return one_hot
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    _reject(schema, column, frame, np.isnan(numbers), "missing value left uncleaned")
    if column.kind is ColumnKind.BINARY:
        return numbers[:, np.newaxis]
    assert column.bounds is not None
    low, high = column.bounds
    if column.transform is Transform.LOG1P:
        numbers, low, high = (
            np.log1p(numbers),
            float(np.log1p(low)),
            float(np.log1p(high)),
        )
    return ((numbers - low) / (high - low))[:, np.newaxis]


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
