"""Declared schemas: what every column is, may hold, and may be used for.

A schema is written down from the dataset's documentation and a one-off
inspection of the published file, never fitted on the records a department
holds. Everything downstream reads it instead of the data:

* encoding scales numbers with the *declared* bounds and one-hot encodes the
  *declared* categories, so every department encodes identically without
  sharing statistics;
* DP analytics clip sums and means to the declared bounds (a bound computed
  from the data would itself leak);
* data protection reads each column's :class:`Classification` and k-anonymity
  reads the :class:`ColumnRole.QUASI_IDENTIFIER` columns.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from fedgov.data.errors import SchemaRuleError
from fedgov.data.task import Label, LabelRule, MulticlassLabel

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fedgov.types import DatasetId

__all__ = [
    "Category",
    "Classification",
    "ColumnKind",
    "ColumnRole",
    "ColumnSpec",
    "DatasetSchema",
    "MissingPolicy",
    "Transform",
]

Category = str | int
"""A declared category: text (Adult) or an integer code (RandHIE's ``site``)."""


class ColumnKind(Enum):
    """What values a column holds."""

    INTEGER = "integer"
    """Whole numbers within the declared bounds."""
    FLOAT = "float"
    """Finite real numbers within the declared bounds."""
    BINARY = "binary"
    """Exactly 0 or 1."""
    CATEGORICAL = "categorical"
    """One of the declared categories."""


class ColumnRole(Enum):
    """What a column is for. A column has one or more roles."""

    DIRECT_IDENTIFIER = "direct_identifier"
    """Names a person or record on its own (a person id, a row number)."""
    QUASI_IDENTIFIER = "quasi_identifier"
    """Identifies people in combination with others (age, sex, place)."""
    SENSITIVE = "sensitive"
    """A sensitive attribute in the k-anonymity / l-diversity sense: what a
    release must not disclose about a person (health, spending, income)."""
    FEATURE = "feature"
    """An input of the prediction task."""
    LABEL = "label"
    """The column the task's label is computed from."""
    PARTITION = "partition"
    """Decides which department holds the record (natural partition)."""
    AUXILIARY = "auxiliary"
    """Kept for reference, never a feature: a derived duplicate of another
    column, a sampling weight, a superseded version."""


class Classification(Enum):
    """Data-protection class: how far a column's values may travel."""

    PUBLIC = "public"
    """Study-design facts that say nothing about a person beyond what is
    published (the study year). May leave a node as is."""
    INTERNAL = "internal"
    """Personal but not special-category data (age, sex, family size, plan
    assignment). Leaves a node only aggregated: counts over groups, DP
    statistics or model updates, never as records."""
    SENSITIVE = "sensitive"
    """Special-category or financial data: health status, health-care use and
    spending, race, income. Leaves a node only through a differentially
    private mechanism (DP-SGD updates, DP analytics), never raw and never as
    an exact aggregate."""
    CORE = "core"
    """Direct identifiers and linkage keys. Never leave a node in any form:
    not as records, aggregates, group-by keys or features."""


class MissingPolicy(Enum):
    """What a missing value (NaN, or ``?`` in Adult's files) means for a column."""

    ERROR = "error"
    """A missing value is an error: validation rejects the record."""
    IMPUTE = "impute"
    """Replace it with the schema's declared ``fill_value`` (a number or a
    category such as ``"Unknown"``); every replacement is counted in the
    :class:`~fedgov.data.cleaning.CleaningReport`."""
    KEEP = "keep"
    """Missing by definition (a log of zero spending) or superseded by an
    imputed sibling column; kept as NaN. Only for columns that are neither
    features nor the label."""


class Transform(Enum):
    """How a feature is encoded, before min-max scaling with declared bounds."""

    NONE = "none"
    """Numbers are scaled to [0, 1] with the declared bounds, binaries kept."""
    LOG1P = "log1p"
    """``log1p`` first, for skewed money columns; bounds are transformed too."""
    ONE_HOT = "one_hot"
    """One indicator per declared category, in declared order."""


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    """One column: kind, allowed values, roles, protection class, cleaning rule.

    ``bounds`` is the allowed closed range of a numeric column (``(0, 1)`` for
    a binary one, filled in when omitted); it is also the clipping range DP
    analytics use for sums and means. ``categories`` lists a categorical
    column's allowed values in the order one-hot encoding uses. ``bins`` are
    the interior edges a numeric feature is also encoded by: one indicator
    per interval, besides the scaled value, so that a linear model can learn
    a threshold or a peak the scaled value alone cannot express (income that
    rises then falls with age). Like bounds they come from a codebook, never
    from the records.
    """

    name: str
    kind: ColumnKind
    roles: frozenset[ColumnRole]
    classification: Classification
    description: str
    bounds: tuple[float, float] | None = None
    categories: tuple[Category, ...] = ()
    missing: MissingPolicy = MissingPolicy.ERROR
    fill_value: float | str | None = None
    transform: Transform = Transform.NONE
    bins: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        where = f"column {self.name!r}"
        if not self.name:
            raise SchemaRuleError(
                "name", "a column needs a non-empty name", field="name"
            )
        if not self.roles:
            raise SchemaRuleError(where, "needs at least one role", field="roles")
        # A set passed by mistake would make the spec unhashable.
        object.__setattr__(self, "roles", frozenset(self.roles))
        self._check_values(where)
        self._check_roles(where)
        self._check_missing(where)
        self._check_transform(where)
        self._check_bins(where)

    def _check_values(self, where: str) -> None:
        if self.kind is ColumnKind.CATEGORICAL:
            if self.bounds is not None:
                raise SchemaRuleError(
                    where,
                    "a categorical column takes categories, not bounds",
                    field="bounds",
                )
            if not self.categories:
                raise SchemaRuleError(
                    where,
                    "a categorical column needs declared categories",
                    field="categories",
                )
            if len(set(self.categories)) != len(self.categories):
                raise SchemaRuleError(
                    where, "categories must be unique", field="categories"
                )
            if len({type(c) for c in self.categories}) != 1:
                raise SchemaRuleError(
                    where,
                    "categories must be all text or all integers",
                    field="categories",
                )
            return
        if self.categories:
            raise SchemaRuleError(
                where,
                f"a {self.kind.value} column takes bounds, not categories",
                field="categories",
            )
        if self.kind is ColumnKind.BINARY:
            if self.bounds not in (None, (0, 1)):
                raise SchemaRuleError(
                    where, "a binary column's bounds are (0, 1)", field="bounds"
                )
            object.__setattr__(self, "bounds", (0.0, 1.0))
            return
        if self.bounds is None:
            raise SchemaRuleError(
                where,
                f"a {self.kind.value} column needs declared bounds",
                field="bounds",
            )
        low, high = self.bounds
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise SchemaRuleError(
                where,
                f"bounds {self.bounds} must be finite with min < max",
                field="bounds",
            )
        # Floats throughout, so that DP code reading the bounds gets one type.
        object.__setattr__(self, "bounds", (float(low), float(high)))

    def _check_roles(self, where: str) -> None:
        roles = self.roles
        if ColumnRole.DIRECT_IDENTIFIER in roles:
            if roles != {ColumnRole.DIRECT_IDENTIFIER}:
                raise SchemaRuleError(
                    where, "a direct identifier can have no other role", field="roles"
                )
            if self.classification is not Classification.CORE:
                raise SchemaRuleError(
                    where,
                    "a direct identifier is classified CORE",
                    field="classification",
                )
        elif self.classification is Classification.CORE:
            raise SchemaRuleError(
                where,
                "only direct identifiers are classified CORE",
                field="classification",
            )
        if {ColumnRole.FEATURE, ColumnRole.LABEL} <= roles:
            raise SchemaRuleError(
                where, "a label column cannot also be a feature", field="roles"
            )
        if ColumnRole.FEATURE in roles and ColumnRole.AUXILIARY in roles:
            raise SchemaRuleError(
                where, "an auxiliary column is never a feature", field="roles"
            )
        if (
            ColumnRole.SENSITIVE in roles
            and self.classification is not Classification.SENSITIVE
        ):
            raise SchemaRuleError(
                where,
                "a sensitive attribute is classified SENSITIVE",
                field="classification",
            )

    def _check_missing(self, where: str) -> None:
        if self.missing is MissingPolicy.IMPUTE:
            if self.fill_value is None:
                raise SchemaRuleError(
                    where,
                    "the impute policy needs a declared fill_value",
                    field="fill_value",
                )
            if not self.allows(self.fill_value):
                raise SchemaRuleError(
                    where,
                    f"fill_value {self.fill_value!r} is not an allowed value",
                    field="fill_value",
                )
        elif self.fill_value is not None:
            raise SchemaRuleError(
                where, "fill_value is only for the impute policy", field="fill_value"
            )
        if self.missing is MissingPolicy.KEEP and self.roles & {
            ColumnRole.FEATURE,
            ColumnRole.LABEL,
        }:
            raise SchemaRuleError(
                where, "features and labels cannot keep missing values", field="missing"
            )
        if ColumnRole.LABEL in self.roles and self.missing is not MissingPolicy.ERROR:
            raise SchemaRuleError(
                where,
                "a label is never imputed: its policy is 'error'",
                field="missing",
            )

    def _check_transform(self, where: str) -> None:
        if not self.is_feature:
            if self.transform is not Transform.NONE:
                raise SchemaRuleError(
                    where, "only features are transformed", field="transform"
                )
            return
        one_hot = self.transform is Transform.ONE_HOT
        if (self.kind is ColumnKind.CATEGORICAL) != one_hot:
            raise SchemaRuleError(
                where,
                "categorical features, and only they, are one-hot",
                field="transform",
            )
        if self.transform is Transform.LOG1P:
            if self.kind is ColumnKind.BINARY:
                raise SchemaRuleError(
                    where, "log1p makes no sense on a binary column", field="transform"
                )
            assert self.bounds is not None  # numeric kinds always have bounds here
            if self.bounds[0] <= -1:
                raise SchemaRuleError(
                    where, "log1p needs a lower bound above -1", field="transform"
                )

    def _check_bins(self, where: str) -> None:
        if not self.bins:
            return
        if not self.is_feature or self.kind not in (
            ColumnKind.INTEGER,
            ColumnKind.FLOAT,
        ):
            raise SchemaRuleError(
                where,
                "only integer and float features are binned",
                field="bins",
            )
        assert self.bounds is not None  # numeric kinds always have bounds here
        low, high = self.bounds
        edges = tuple(float(e) for e in self.bins)
        if not all(low < e <= high for e in edges):
            raise SchemaRuleError(
                where,
                f"every bin edge must lie in ({low:g}, {high:g}], got {self.bins}",
                field="bins",
            )
        if any(a >= b for a, b in itertools.pairwise(edges)):
            raise SchemaRuleError(
                where,
                f"bin edges must be strictly increasing, got {self.bins}",
                field="bins",
            )
        object.__setattr__(self, "bins", edges)

    @property
    def is_feature(self) -> bool:
        return ColumnRole.FEATURE in self.roles

    @property
    def is_numeric(self) -> bool:
        return self.kind is not ColumnKind.CATEGORICAL

    def has_role(self, role: ColumnRole) -> bool:
        return role in self.roles

    def allows(self, value: object) -> bool:
        """Whether ``value`` is an allowed (non-missing) value of this column."""
        if self.kind is ColumnKind.CATEGORICAL:
            return value in self.categories
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        assert self.bounds is not None
        if not math.isfinite(value) or not self.bounds[0] <= value <= self.bounds[1]:
            return False
        return self.kind is ColumnKind.FLOAT or float(value).is_integer()

    @property
    def encoded_names(self) -> tuple[str, ...]:
        """The encoded features this column produces (none if it is not a feature)."""
        if not self.is_feature:
            return ()
        if self.transform is Transform.ONE_HOT:
            return tuple(f"{self.name}={c}" for c in self.categories)
        if not self.bins:
            return (self.name,)
        assert self.bounds is not None  # binned columns are numeric
        edges = itertools.pairwise((self.bounds[0], *self.bins, self.bounds[1]))
        # Every band is half-open but the last, which keeps the upper bound.
        closes = [")"] * len(self.bins) + ["]"]
        return (
            self.name,
            *(
                f"{self.name} in [{a:g}, {b:g}{close}"
                for (a, b), close in zip(edges, closes, strict=True)
            ),
        )


@dataclass(frozen=True)
class DatasetSchema:
    """Every column of a dataset, in file order, and its task's label."""

    dataset: DatasetId
    columns: tuple[ColumnSpec, ...]
    label: Label
    _by_name: dict[str, ColumnSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"schema {self.dataset!r}"
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise SchemaRuleError(where, "column names must be unique", field="columns")
        object.__setattr__(self, "_by_name", by_name)
        labels = [c.name for c in self.columns if c.has_role(ColumnRole.LABEL)]
        if labels != [self.label.column]:
            raise SchemaRuleError(
                where,
                f"exactly one column, the label rule's {self.label.column!r}, has the "
                f"LABEL role (found {labels})",
                field="task.column",
            )
        self._check_label(by_name[self.label.column])
        if not self.features:
            raise SchemaRuleError(where, "needs at least one feature", field="columns")

    def _check_label(self, column: ColumnSpec) -> None:
        label = self.label
        where = f"label {label.name!r}"
        if isinstance(label, LabelRule):
            for value in label.positive_values:
                if not column.allows(value):
                    raise SchemaRuleError(
                        where,
                        f"positive value {value!r} is not allowed",
                        field="task.positive_values",
                    )
            if label.greater_than is not None and not column.is_numeric:
                raise SchemaRuleError(
                    where,
                    "greater_than needs a numeric label column",
                    field="task.greater_than",
                )
        elif isinstance(label, MulticlassLabel):
            if column.kind is not ColumnKind.CATEGORICAL or set(label.classes) != set(
                column.categories
            ):
                raise SchemaRuleError(
                    where,
                    f"the classes must be exactly the declared categories of the "
                    f"categorical label column {column.name!r}",
                    field="task.classes",
                )
        elif column.kind not in (ColumnKind.INTEGER, ColumnKind.FLOAT):
            raise SchemaRuleError(
                where,
                f"a regression target is an integer or float column; "
                f"{column.name!r} is {column.kind.value}",
                field="task.column",
            )

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name``; ``KeyError`` if the schema has none."""
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def with_role(self, role: ColumnRole) -> tuple[ColumnSpec, ...]:
        """The columns having ``role``, in schema order."""
        return tuple(c for c in self.columns if c.has_role(role))

    def with_classification(
        self, classification: Classification
    ) -> tuple[ColumnSpec, ...]:
        """The columns of one data-protection class, in schema order."""
        return tuple(c for c in self.columns if c.classification is classification)

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        return self.with_role(ColumnRole.FEATURE)

    @property
    def quasi_identifiers(self) -> tuple[ColumnSpec, ...]:
        return self.with_role(ColumnRole.QUASI_IDENTIFIER)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The encoded feature order: schema order, one-hot in declared order."""
        return tuple(name for c in self.features for name in c.encoded_names)

    @property
    def num_features(self) -> int:
        return len(self.feature_names)
