"""The DP analytics query language: a typed, validated :class:`Query`.

A query is one aggregate (count, sum, mean, histogram or quantiles) of one
column of a catalog dataset, over the records matching simple predicates,
optionally per level of one categorical column. Every rule is checked
against the dataset's declared schema when the query is built, on the
coordinator and again on each department, before anything is spent:

* CORE columns (identifiers) are never measured, filtered on or grouped by.
* SENSITIVE columns may be measured and filtered on: the Gaussian noise
  protects every column the answer depends on.
* Group-by columns are PUBLIC or INTERNAL, non-identifying, and categorical
  or binary, so the answer's shape comes from declared categories, never
  from the data; the same rule the release check and boundary guard apply.
* Sums, means and quantiles need a numeric column; its declared bounds are
  the clipping range (never bounds computed from the data).
* Histogram bins must cover the column's declared bounds, so no record is
  silently dropped.

The unit of privacy is the dataset's declared unit (``unit_of_privacy`` in
its declaration): a *person*, identified by the person column (``zper`` for
RandHIE), with at most ``rows_per_person`` records of each person counted
(by default the declared ``max_records_per_unit``); or one record per
person. DP-SGD protects the same unit, so every epsilon in a department's
budget means the same thing.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, cast, get_args

import numpy as np

from fedgov.data import (
    Category,
    Classification,
    ColumnKind,
    ColumnSpec,
    DatasetSpec,
    get_dataset,
)
from fedgov.data.errors import UnknownDatasetError
from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant, parse_accountant
from fedgov.questions import QUERY_KINDS, QueryKind
from fedgov.types import NAME_PATTERN
from privacy._columns import may_be_aggregated
from privacy._mechanisms_gaussian import gaussian_noise_multiplier
from privacy.errors import PrivacyError

__all__ = [
    "DEFAULT_QUANTILE_BINS",
    "MAX_ANSWER_LENGTH",
    "OPERATORS",
    "QUERY_KINDS",
    "Predicate",
    "PrivacyUnit",
    "Query",
    "QueryError",
    "QueryKind",
    "bin_labels",
    "privacy_unit",
]

Operator = Literal["==", "!=", "<", "<=", ">", ">="]
OPERATORS: Final = cast(tuple[Operator, ...], get_args(Operator))

MAX_ANSWER_LENGTH: Final = 1024
"""The most numbers one department's answer may hold (groups x cells)."""

DEFAULT_QUANTILE_BINS: Final = 32
"""Equal-width bins over the declared bounds when a quantile query names none."""

_MAX_ROWS_PER_PERSON: Final = 100

_PREDICATE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|>=|<=|<|>)\s*(.+?)\s*$")


class QueryError(ConfigurationError, PrivacyError):
    """A query breaks a rule; nothing was spent. ``argument`` names the field."""


@dataclass(frozen=True)
class PrivacyUnit:
    """Who DP protects: one person, identified by ``person_key`` (``None``: a
    record is a person), counted over at most ``default_rows`` records."""

    person_key: str | None
    default_rows: int


def privacy_unit(spec: DatasetSpec) -> PrivacyUnit:
    """The unit of privacy the dataset declares (the one DP-SGD protects too)."""
    return PrivacyUnit(
        person_key=spec.unit.column, default_rows=spec.unit.max_records_per_unit
    )


@dataclass(frozen=True)
class Predicate:
    """``column op value``; text form ``"xage>=65"``, ``"female==1"``."""

    column: str
    op: Operator
    value: Category | float

    @classmethod
    def parse(cls, text: str) -> Predicate:
        """A predicate from its text form; the value's type is settled by :meth:`typed`."""
        match = _PREDICATE.match(text)
        if match is None:
            raise QueryError(
                "where",
                f"{text!r} is not 'column OP value' with OP one of {' '.join(OPERATORS)}",
            )
        column, op, value = match.groups()
        return cls(column=column, op=cast(Operator, op), value=value)

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"

    def typed(self, column: ColumnSpec) -> Predicate:
        """This predicate checked against ``column``, its value in the column's type."""
        where = f"where {str(self)!r}"
        if column.kind is ColumnKind.CATEGORICAL:
            if self.op not in ("==", "!="):
                raise QueryError(where, "a categorical column takes only == and !=")
            value = _as_category(self.value, column)
            if value is None:
                raise QueryError(
                    where,
                    f"{self.value!r} is not a declared category of {column.name!r}",
                )
            return Predicate(column.name, self.op, value)
        try:
            number = float(self.value)
        except (TypeError, ValueError) as e:
            raise QueryError(
                where, f"{column.name!r} is numeric, {self.value!r} is not"
            ) from e
        if not math.isfinite(number):
            raise QueryError(where, "the value must be a finite number")
        return Predicate(column.name, self.op, number)


def _as_category(value: object, column: ColumnSpec) -> Category | None:
    for category in column.categories:
        if value == category or str(value) == str(category):
            return category
    return None


@dataclass(frozen=True, kw_only=True)
class Query:
    """One DP aggregate over every department's records of ``dataset``.

    ``column`` is what is measured (none for ``count``); ``group_by`` splits
    the answer by the declared categories of one column; ``where`` keeps the
    records matching every predicate; ``bins`` are histogram (and quantile)
    edges, half-open ``[a, b)`` but for the last, closed; ``quantiles`` are
    probabilities for the ``quantiles`` kind. ``epsilon``/``delta`` is the
    DP cost of the answer at each department, calibrated and accounted by
    ``accountant``. An empty ``query_id`` gets a random one, which labels
    the spend in every department's ledger. ``dataset`` is a built-in id or
    a declaration file; the wire form names the dataset by its declared name
    and the declaration's digest (:attr:`dataset_id`, ``spec.digest``), and
    each department reads the query against its own copy.
    """

    kind: QueryKind
    dataset: str
    epsilon: float
    delta: float
    column: str | None = None
    group_by: str | None = None
    where: tuple[Predicate, ...] = ()
    bins: tuple[float, ...] = ()
    quantiles: tuple[float, ...] = ()
    rows_per_person: int | None = None
    query_id: str = ""
    accountant: Accountant = DEFAULT_ACCOUNTANT
    spec: DatasetSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in QUERY_KINDS:
            raise QueryError(
                "kind", f"must be one of {', '.join(QUERY_KINDS)}, got {self.kind!r}"
            )
        try:
            spec = get_dataset(self.dataset)
        except UnknownDatasetError as e:
            raise QueryError("dataset", str(e)) from e
        object.__setattr__(self, "spec", spec)
        if not self.query_id:
            object.__setattr__(self, "query_id", f"query-{uuid.uuid4().hex[:12]}")
        if NAME_PATTERN.fullmatch(self.query_id) is None:
            # It names the run folder of a deployed query.
            raise QueryError(
                "query_id",
                f"{self.query_id!r} is not a valid id: 1-100 letters, digits, '.', "
                "'_' or '-', starting with a letter or digit",
            )
        self._check_privacy()
        self._check_measure()
        self._check_group()
        object.__setattr__(
            self,
            "where",
            tuple(
                p.typed(self._column(p.column, argument="where")) for p in self.where
            ),
        )
        self._check_bins()
        self._check_quantiles()
        unit = privacy_unit(spec)
        if self.rows_per_person is None:
            object.__setattr__(self, "rows_per_person", unit.default_rows)
        rows = self.rows_per_person
        if (
            isinstance(rows, bool)
            or not isinstance(rows, int)
            or not 1 <= rows <= _MAX_ROWS_PER_PERSON
        ):
            raise QueryError(
                "rows_per_person",
                f"must be an integer in [1, {_MAX_ROWS_PER_PERSON}], got {rows!r}",
            )
        if unit.person_key is None and rows != 1:
            raise QueryError(
                "rows_per_person",
                f"{spec.id} holds one record per person: it must be 1",
            )
        length = (
            len(self.group_levels)
            * len(self.cell_labels)
            * (2 if self.kind == "mean" else 1)
        )
        if length > MAX_ANSWER_LENGTH:
            raise QueryError(
                "bins",
                f"the answer would hold {length} numbers, more than {MAX_ANSWER_LENGTH}",
            )

    # -- validation ----------------------------------------------------------

    def _check_privacy(self) -> None:
        if not (
            isinstance(self.epsilon, int | float)
            and math.isfinite(self.epsilon)
            and self.epsilon > 0
        ):
            raise QueryError(
                "epsilon",
                f"must be a positive finite number, got {self.epsilon!r}; exact (non-DP) "
                "tables are not answered by queries",
            )
        if not (
            isinstance(self.delta, int | float)
            and math.isfinite(self.delta)
            and 0 < self.delta < 1
        ):
            raise QueryError(
                "delta", f"must lie strictly between 0 and 1, got {self.delta!r}"
            )
        try:
            accountant = parse_accountant(self.accountant)
        except ConfigurationError as e:
            raise QueryError("accountant", e.rule) from e
        object.__setattr__(self, "accountant", accountant)
        try:
            gaussian_noise_multiplier(
                epsilon=self.epsilon, delta=self.delta, accountant=accountant
            )
        except ConfigurationError as e:
            raise QueryError("epsilon", e.rule) from e

    def _column(self, name: str, *, argument: str) -> ColumnSpec:
        if name not in self.spec.schema:
            raise QueryError(argument, f"{name!r} is not a column of {self.spec.id}")
        column = self.spec.schema.column(name)
        if column.classification is Classification.CORE:
            raise QueryError(
                argument, f"{name!r} is a CORE column (an identifier): never queried"
            )
        return column

    def _check_measure(self) -> None:
        if self.kind == "count":
            if self.column is not None:
                raise QueryError(
                    "column", "a count measures no column; use where to filter"
                )
            return
        if self.column is None:
            raise QueryError("column", f"a {self.kind} query needs a column")
        column = self._column(self.column, argument="column")
        if self.kind in ("sum", "mean", "quantiles") and not column.is_numeric:
            raise QueryError(
                "column",
                f"{self.column!r} is categorical: a {self.kind} needs a numeric column",
            )

    def _check_group(self) -> None:
        if self.group_by is None:
            return
        column = self._column(self.group_by, argument="group_by")
        if not may_be_aggregated(column):
            raise QueryError(
                "group_by",
                f"{self.group_by!r} is {column.classification.value.upper()}: "
                "answers are grouped only by PUBLIC or INTERNAL columns",
            )
        if column.kind not in (ColumnKind.CATEGORICAL, ColumnKind.BINARY):
            raise QueryError(
                "group_by",
                f"{self.group_by!r} is {column.kind.value}: group by a categorical or binary "
                "column (declared levels fix the answer's shape); filter numbers with where",
            )

    def _check_bins(self) -> None:
        binned = self.kind in ("histogram", "quantiles")
        if not binned:
            if self.bins:
                raise QueryError("bins", f"a {self.kind} query takes no bins")
            return
        assert self.column is not None
        column = self.spec.schema.column(self.column)
        if column.kind is ColumnKind.CATEGORICAL or (
            column.kind is ColumnKind.BINARY
            and not self.bins
            and self.kind == "histogram"
        ):
            if self.bins:
                raise QueryError(
                    "bins",
                    f"{self.column!r} is categorical: its categories are the bins",
                )
            return
        if not self.bins:
            if self.kind == "histogram":
                raise QueryError(
                    "bins", f"a histogram of numeric {self.column!r} needs bin edges"
                )
            low, high = self.bounds
            uniform = np.linspace(low, high, DEFAULT_QUANTILE_BINS + 1)
            object.__setattr__(self, "bins", tuple(float(e) for e in uniform))
            return
        edges = tuple(float(e) for e in self.bins)
        object.__setattr__(self, "bins", edges)
        if len(edges) < 2 or not all(math.isfinite(e) for e in edges):
            raise QueryError("bins", "needs at least two finite edges")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise QueryError("bins", "edges must increase strictly")
        low, high = self.bounds
        if edges[0] > low or edges[-1] < high:
            raise QueryError(
                "bins",
                f"edges [{edges[0]:g}, {edges[-1]:g}] must cover {self.column!r}'s declared "
                f"bounds [{low:g}, {high:g}] (use where to restrict the records)",
            )

    def _check_quantiles(self) -> None:
        if self.kind != "quantiles":
            if self.quantiles:
                raise QueryError("quantiles", f"a {self.kind} query takes no quantiles")
            return
        probabilities = tuple(float(q) for q in self.quantiles)
        object.__setattr__(self, "quantiles", probabilities)
        if not probabilities:
            raise QueryError("quantiles", "give at least one probability, e.g. 0.5")
        if not all(0 < q < 1 for q in probabilities):
            raise QueryError(
                "quantiles", "probabilities must lie strictly between 0 and 1"
            )
        if any(b <= a for a, b in itertools.pairwise(probabilities)):
            raise QueryError("quantiles", "probabilities must increase strictly")

    # -- the answer's shape --------------------------------------------------

    @property
    def dataset_id(self) -> str:
        """The dataset's declared name (what budgets and audit records name)."""
        return self.spec.id

    @property
    def measured(self) -> ColumnSpec | None:
        """The measured column's spec (``None`` for a count)."""
        return None if self.column is None else self.spec.schema.column(self.column)

    @property
    def bounds(self) -> tuple[float, float]:
        """The measured column's declared bounds: its clipping range."""
        column = self.measured
        if column is None or column.bounds is None:
            raise QueryError("column", f"{self.column!r} has no declared bounds")
        return column.bounds

    @property
    def columns_read(self) -> tuple[str, ...]:
        """The columns whose values the answer reads (measured, grouped by,
        filtered on), sorted: what an analyst's request names."""
        named = [self.column, self.group_by, *(w.column for w in self.where)]
        return tuple(sorted({c for c in named if c}))

    @property
    def categories(self) -> tuple[Category, ...]:
        """The histogram's categories when it bins by category, else ``()``."""
        column = self.measured
        if self.kind != "histogram" or column is None or self.bins:
            return ()
        if column.kind is ColumnKind.BINARY:
            return (0, 1)
        return column.categories

    @property
    def group_levels(self) -> tuple[Category, ...]:
        """The group-by column's declared levels; one unnamed group if none."""
        if self.group_by is None:
            return ("all",)
        column = self.spec.schema.column(self.group_by)
        return (0, 1) if column.kind is ColumnKind.BINARY else column.categories

    @property
    def cell_labels(self) -> tuple[str, ...]:
        """Labels of the numbers reported per group."""
        if self.kind in ("count", "sum", "mean"):
            return (self.kind,)
        if self.kind == "quantiles":
            return tuple(f"q{q:g}" for q in self.quantiles)
        if self.categories:
            return tuple(str(c) for c in self.categories)
        return bin_labels(self.bins)

    # -- wire form -----------------------------------------------------------

    def to_config(self) -> dict[str, str | int | float | list[str] | list[float]]:
        """Flat kebab-case keys for a Flower ``ConfigRecord`` (or a run_config)."""
        return {
            "query-id": self.query_id,
            "kind": self.kind,
            "dataset": self.spec.id,
            "dataset-digest": self.spec.digest,
            "column": self.column or "",
            "group-by": self.group_by or "",
            "where": [str(p) for p in self.where],
            "bins": list(self.bins),
            "quantiles": list(self.quantiles),
            "rows-per-person": int(cast(int, self.rows_per_person)),
            "epsilon": float(self.epsilon),
            "delta": float(self.delta),
            "accountant": self.accountant.value,
        }

    @classmethod
    def from_config(
        cls, config: Mapping[str, object], *, declaration: str | None = None
    ) -> Query:
        """Parse and re-validate :meth:`to_config`'s keys; ``QueryError`` if malformed.

        ``declaration`` is the reader's own copy of the dataset's declaration
        (a file, or a built-in id): the query is validated against it, and
        refused when it declares another dataset, or (where the wire form
        carries one) another digest. Without it the wire form's dataset name
        is looked up in the catalog. A query without ``accountant`` (from a
        coordinator older than the key) gets the default one, on both sides
        alike.
        """
        missing = sorted(set(_WIRE_KEYS) - set(config))
        if missing:
            raise QueryError("query", f"missing keys {missing}")
        named = str(config["dataset"])
        if declaration is not None:
            try:
                spec = get_dataset(declaration)
            except UnknownDatasetError as e:
                raise QueryError("dataset", str(e)) from e
            digest = config.get("dataset-digest")
            if spec.id != named or (digest is not None and digest != spec.digest):
                raise QueryError(
                    "dataset",
                    f"the query's dataset {named!r} (digest {str(digest)[:12]}) is not "
                    f"the declaration {declaration} ({spec.id!r}, digest "
                    f"{spec.digest[:12]})",
                )
            named = declaration
        try:
            return cls(
                kind=cast(QueryKind, str(config["kind"])),
                dataset=named,
                column=str(config["column"]) or None,
                group_by=str(config["group-by"]) or None,
                where=tuple(Predicate.parse(str(p)) for p in _as_list(config["where"])),
                bins=tuple(float(cast(float, b)) for b in _as_list(config["bins"])),
                quantiles=tuple(
                    float(cast(float, q)) for q in _as_list(config["quantiles"])
                ),
                rows_per_person=int(cast(int, config["rows-per-person"])),
                epsilon=float(cast(float, config["epsilon"])),
                delta=float(cast(float, config["delta"])),
                query_id=str(config["query-id"]),
                accountant=cast(
                    Accountant, str(config.get("accountant", DEFAULT_ACCOUNTANT))
                ),
            )
        except (TypeError, ValueError) as e:
            if isinstance(e, QueryError):
                raise
            raise QueryError("query", f"malformed value: {e}") from e


_WIRE_KEYS: Final = (
    "query-id",
    "kind",
    "dataset",
    "column",
    "group-by",
    "where",
    "bins",
    "quantiles",
    "rows-per-person",
    "epsilon",
    "delta",
)


def _as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise QueryError("query", f"expected a list, got {type(value).__name__}")
    return list(value)


def bin_labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    """``[a, b)`` labels of consecutive edges, the last closed: ``[a, b]``."""
    last = len(edges) - 2
    return tuple(
        f"[{a:g}, {b:g}{']' if i == last else ')'}"
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    )
