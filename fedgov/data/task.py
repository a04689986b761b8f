"""What a dataset's model predicts: a binary label, one of several classes, a number.

A task is declared with the dataset (``task:`` in its declaration file) and
names its label column; :class:`~fedgov.data.schema.DatasetSchema` checks it
against that column's declaration. Labels are computed from the declared
rule alone, never from statistics of the records:

* :class:`LabelRule` (binary): 1 where the label column exceeds
  ``greater_than`` or holds one of ``positive_values``, else 0;
* :class:`MulticlassLabel`: the position of the record's value in
  ``classes`` (which are exactly the label column's declared categories);
* :class:`RegressionTarget`: the label column's value, min-max scaled to
  [0, 1] with its *declared* bounds like a feature
  (:func:`~fedgov.data.encoding.encode_labels`); predictions go back to the
  column's unit with :func:`~fedgov.data.encoding.decode_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from fedgov.data.errors import SchemaRuleError

if TYPE_CHECKING:
    import pandas as pd

    from fedgov.data.schema import Category

__all__ = ["Label", "LabelRule", "MulticlassLabel", "RegressionTarget", "TaskKind"]


class TaskKind(StrEnum):
    """The kind of prediction a dataset's task asks for."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


@dataclass(frozen=True, kw_only=True)
class LabelRule:
    """How the binary label is computed from the label column.

    Exactly one of ``greater_than`` (numeric label column: positive where the
    value exceeds it) and ``positive_values`` (categorical: positive where the
    value is one of them) is set.
    """

    kind: ClassVar[TaskKind] = TaskKind.BINARY

    name: str
    column: str
    description: str
    greater_than: float | None = None
    positive_values: tuple[Category, ...] = ()

    def __post_init__(self) -> None:
        if (self.greater_than is None) == (not self.positive_values):
            raise SchemaRuleError(
                f"label {self.name!r}",
                "set exactly one of greater_than and positive_values",
                field="greater_than",
            )

    def apply(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        """The label of every record of ``frame`` (validated beforehand)."""
        values = frame[self.column]
        if self.greater_than is not None:
            positive = values.to_numpy(dtype=np.float64) > self.greater_than
        else:
            positive = values.isin(self.positive_values).to_numpy(dtype=bool)
        return positive.astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class MulticlassLabel:
    """One of three or more classes: the label column's declared categories.

    Class ``k`` is ``classes[k]``; the order is the declaration's, so every
    department numbers the classes alike.
    """

    kind: ClassVar[TaskKind] = TaskKind.MULTICLASS

    name: str
    column: str
    description: str
    classes: tuple[Category, ...]

    def __post_init__(self) -> None:
        where = f"label {self.name!r}"
        if len(self.classes) < 3:
            raise SchemaRuleError(
                where,
                "a multi-class task needs at least three classes "
                "(two classes: declare a binary task)",
                field="classes",
            )
        if len(set(self.classes)) != len(self.classes):
            raise SchemaRuleError(where, "classes must be unique", field="classes")

    def apply(self, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
        """The class index of every record of ``frame`` (validated beforehand)."""
        codes = frame[self.column].map({c: k for k, c in enumerate(self.classes)})
        return np.asarray(codes.to_numpy(dtype=np.int64), dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class RegressionTarget:
    """A number: the label column's value, within its declared bounds."""

    kind: ClassVar[TaskKind] = TaskKind.REGRESSION

    name: str
    column: str
    description: str


Label = LabelRule | MulticlassLabel | RegressionTarget
"""A dataset's task: how the label of a record is computed."""
