"""Per-recipient fingerprints in record-level releases, and the test that reads them.

A record-level extract one department hands to another carries marks that
name the release (and so its one recipient), placed so that they survive the
usual edits of a copy: a subset of the rows, in any order, with columns
dropped and numbers rounded to their published precision.

The scheme is published work, not an invention:

* Agrawal & Kiernan, "Watermarking relational databases", VLDB 2002: a keyed
  pseudo-random subset of numeric cells carries a keyed pseudo-random bit in
  a low-order digit; detection counts how many selected cells hold the
  expected bit and compares the count with a binomial null.
* Li, Swarup & Jajodia, "Fingerprinting relational databases: schemes and
  specialties", IEEE TDSC 2(1), 2005: the same marks, with bits that differ
  per recipient, make a fingerprint.
* Li, Swarup & Jajodia, "Constructing a virtual primary key for
  fingerprinting relational data", ACM DRM 2003: a release without a primary
  key (a k-anonymous extract has none) keys each row by the coarse values of
  a few of its own attributes, chosen per row by a keyed hash, so that
  dropping a column disturbs only the rows that chose it.

As applied here:

* **Published precision.** Every real-valued column of a release has a
  declared *step*, the unit of its last published digit (integers default to
  1); :func:`publish` rounds to it, inside the declared bounds.
* **Carriers.** Only declared carrier columns are marked: numeric, not
  binary, never a quasi-identifier (so no k-anonymity group changes), at
  least 20 steps wide. A cell's bit is the parity of ``q = value / step``; a
  selected cell of the wrong parity moves by exactly one step, up or down by
  a keyed coin, staying inside the declared bounds and inside its *decade*
  (``q // 10``), the most significant part that positions are keyed on. A
  value alone in its decade within the bounds carries nothing, for writer and
  reader alike (moving a cell never makes it so).
* **Positions.** A carrier cell's position is the carrier, the cell's decade
  and the values of the ``key_width`` other columns whose keyed scores are
  highest in that row (the virtual primary key; numbers enter by their index
  on the published step, carriers by their decade, categories as written).
  The scores mix in the carrier's decade, so that a column of few values is
  not chosen by every row.
* **Selection and bits.** A position is marked when a keyed PRF of it falls
  below ``fraction`` (the same positions for every release of a layout, as in
  Li et al.); its bit is a PRF of the release id and the position.
* **Test.** From a copy, the reader recomputes positions, reads each selected
  cell's parity, and takes one majority bit per position (duplicate rows share
  a position and count once). Unless the copy derives from a release, that
  release's expected bits are PRF outputs at distinct points, independent of
  everything in the copy, so the number of matches among ``n`` positions is
  Binomial(n, 1/2): :func:`binomial_log10_sf` is an exact p-value.

The PRF is keyed BLAKE2b (RFC 7693) under a sub-key of the department's
watermark key (:func:`privacy._keys.derive_key`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NewType

import numpy as np
import numpy.typing as npt
import pandas as pd

from fedgov.data import ColumnKind, ColumnRole
from fedgov.errors import ConfigurationError
from privacy._keys import derive_key, fingerprint, require_length

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from fedgov.data import ColumnSpec, DatasetSchema

__all__ = [
    "DEFAULT_KEY_WIDTH",
    "DEFAULT_MARK_FRACTION",
    "Evidence",
    "Fingerprinter",
    "MarkLayout",
    "MarkStats",
    "Observations",
    "ReleaseId",
    "binomial_log10_sf",
    "publish",
]

ReleaseId = NewType("ReleaseId", str)
"""One fingerprinted release: one extract given to one recipient."""

DEFAULT_MARK_FRACTION = 0.5
"""Share of carrier positions selected; about half of them change by a step."""

DEFAULT_KEY_WIDTH = 2
"""Attributes in each row's virtual primary key besides the carrier's decade."""

_MIN_KEY_BYTES = 32
_MIN_CARRIER_STEPS = 20
_MAX_KEY_WIDTH = 8
_READABLE = 0.25  # a cell further than this from the step lattice was perturbed
_MIN_REROUNDED = 20  # cells of one parity that show a carrier was rounded coarser
_DERIVATION_LABEL = "fedgov/watermark/prf/v1"
_TOKEN, _DECADE, _SELECT, _BIT = b"t", b"d", b"s", b"b"
_NA = -(2**62)  # index of a missing number; no declared bounds reach it
_U64 = 2.0**64


@dataclass(frozen=True)
class MarkLayout:
    """What a release publishes, and which of its columns carry marks.

    ``steps`` pairs every numeric, non-binary column with its published step
    (a positive decimal; whole for integer columns); ``carriers`` are the
    marked columns. Build one with :meth:`plan`, which checks it against the
    dataset's schema.
    """

    columns: tuple[str, ...]
    steps: tuple[tuple[str, Decimal], ...]
    carriers: tuple[str, ...]
    fraction: float = DEFAULT_MARK_FRACTION
    key_width: int = DEFAULT_KEY_WIDTH

    @classmethod
    def plan(
        cls,
        schema: DatasetSchema,
        columns: Iterable[str],
        *,
        steps: Mapping[str, str | int | Decimal],
        carriers: Iterable[str],
        fraction: float = DEFAULT_MARK_FRACTION,
        key_width: int = DEFAULT_KEY_WIDTH,
    ) -> MarkLayout:
        """Check the declaration against ``schema`` and fill default steps."""
        names = tuple(str(c) for c in columns)
        if len(set(names)) != len(names):
            raise ConfigurationError("columns", "a release must not repeat a column")
        for name in names:
            if name not in schema:
                raise ConfigurationError(
                    "columns", f"{name!r} is not declared in {schema.dataset}'s schema"
                )
        for name in steps:
            if name not in names:
                raise ConfigurationError(
                    "steps", f"{name!r} is not a column of the release"
                )
        resolved = tuple(
            (name, step)
            for name in names
            if (step := _step_of(schema.column(name), steps.get(name))) is not None
        )
        layout = cls(names, resolved, tuple(carriers), fraction, key_width)
        layout.check(schema)
        return layout

    def check(self, schema: DatasetSchema) -> None:
        """Raise :class:`ConfigurationError` unless the layout fits ``schema``."""
        if not self.carriers:
            raise ConfigurationError(
                "carriers", "name at least one column to carry the marks"
            )
        if len(set(self.carriers)) != len(self.carriers):
            raise ConfigurationError("carriers", "must not repeat a column")
        stepped = dict(self.steps)
        for name in self.carriers:
            if name not in self.columns:
                raise ConfigurationError(
                    "carriers", f"{name!r} is not a column of the release"
                )
            _check_carrier(schema.column(name), stepped.get(name))
        if not (
            isinstance(self.fraction, float | int) and 0 < float(self.fraction) <= 1
        ):
            raise ConfigurationError(
                "fraction", f"must be in (0, 1], got {self.fraction!r}"
            )
        if (
            isinstance(self.key_width, bool)
            or not isinstance(self.key_width, int)
            or not 1 <= self.key_width <= _MAX_KEY_WIDTH
        ):
            raise ConfigurationError(
                "key_width",
                f"must be an integer from 1 to {_MAX_KEY_WIDTH}, got {self.key_width!r}",
            )

    def step(self, column: str) -> Decimal | None:
        """The published step of ``column``; ``None`` for categories and binaries."""
        return dict(self.steps).get(column)

    def to_json(self) -> dict[str, Any]:
        """A JSON object :meth:`from_json` reads back."""
        return {
            "columns": list(self.columns),
            "steps": {name: str(step) for name, step in self.steps},
            "carriers": list(self.carriers),
            "fraction": self.fraction,
            "key_width": self.key_width,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> MarkLayout:
        """The layout :meth:`to_json` wrote (checked by the caller)."""
        columns = tuple(str(c) for c in document["columns"])
        steps = {str(k): Decimal(str(v)) for k, v in document["steps"].items()}
        return cls(
            columns=columns,
            steps=tuple((c, steps[c]) for c in columns if c in steps),
            carriers=tuple(str(c) for c in document["carriers"]),
            fraction=float(document["fraction"]),
            key_width=int(document["key_width"]),
        )


@dataclass(frozen=True)
class MarkStats:
    """What marking did to a release: counts of carrier cells."""

    cells: int
    """Carrier cells that can carry a bit: a value with a neighbouring step in
    its decade and bounds (a value alone at the edge of its bounds cannot)."""
    selected: int
    """Cells at a selected position: they carry a bit."""
    changed: int
    """Selected cells moved by one step to carry their bit."""


@dataclass(frozen=True)
class Observations:
    """The majority parity read at every selected position of a copy."""

    carriers: tuple[str, ...]
    """The carriers the copy still has."""
    carrier: npt.NDArray[np.int64]
    """Per position: its carrier, as an index into ``carriers``."""
    keys: npt.NDArray[np.uint64]
    """Per position: its key within the carrier (decade and row key)."""
    bits: npt.NDArray[np.int64]
    """Per position: the majority parity read (ties are left out)."""

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Evidence:
    """How well a copy matches one release's bits, and the exact p-value."""

    positions: int
    matches: int
    log10_p: float
    """log10 P[Binomial(positions, 1/2) >= matches]: 0.0 when nothing was read."""


def binomial_log10_sf(n: int, m: int) -> float:
    """log10 of P[X >= m] for X ~ Binomial(n, 1/2), exact up to rounding.

    Summed in log space from the largest term down, so tails far below the
    smallest float (``n`` in the thousands, all matching) stay finite.
    """
    if n < 0 or m > n + 1:
        raise ConfigurationError("m", f"need 0 <= n and m <= n + 1, got n={n}, m={m}")
    if m <= 0:
        return 0.0
    if m > n:
        return -math.inf
    k = np.arange(m + 1, n + 1, dtype=np.float64)
    first = (
        math.lgamma(n + 1)
        - math.lgamma(m + 1)
        - math.lgamma(n - m + 1)
        - n * math.log(2)
    )
    # term(k) / term(k - 1) = (n - k + 1) / k: every term relative to the first.
    relative = np.concatenate(([0.0], np.cumsum(np.log((n - k + 1) / k))))
    top = float(relative.max())
    total = first + top + math.log(float(np.exp(relative - top).sum()))
    return min(0.0, total / math.log(10))


def publish(
    table: pd.DataFrame, schema: DatasetSchema, layout: MarkLayout
) -> pd.DataFrame:
    """``table`` with every stepped column rounded to its nearest step (ties to
    the even one), inside its bounds.

    A rounded value moves by at most half a step (more only where the bounds
    cut the step lattice); integer columns at step 1 do not change.
    """
    _require_columns(table, layout.columns, where="table")
    published = table.loc[:, list(layout.columns)].copy()
    for name, step in layout.steps:
        q, _ = _indices(published[name], step)
        low, high = _index_bounds(schema.column(name), step)
        q = np.where(q == _NA, _NA, np.clip(q, low, high))
        published[name] = _values(q, step, schema.column(name))
    return published


class Fingerprinter:
    """Embeds and reads marks under one department's watermark key."""

    def __init__(self, secret: bytes) -> None:
        require_length(secret, source="the watermark key", minimum=_MIN_KEY_BYTES)
        self._key = derive_key(secret, _DERIVATION_LABEL)
        self._key_id = fingerprint(secret)

    def __repr__(self) -> str:
        return f"Fingerprinter(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        """The watermark key's fingerprint, recorded with every release."""
        return self._key_id

    def embed(
        self,
        table: pd.DataFrame,
        schema: DatasetSchema,
        layout: MarkLayout,
        release: ReleaseId,
    ) -> tuple[pd.DataFrame, MarkStats]:
        """``publish(table)`` with the marks of ``release``, and what changed.

        Only carrier columns change, each selected cell by one step at most.
        """
        marked = publish(table, schema, layout)
        # Marks move carriers within their decade, which is all a key reads.
        tokens = self._row_tokens(marked, schema, layout)
        cells = selected = changed = 0
        for name in layout.carriers:
            step = layout.step(name)
            assert step is not None  # MarkLayout.check: every carrier has a step
            column = schema.column(name)
            q, _ = _indices(marked[name], step)
            bounds = _index_bounds(column, step)
            eligible = _eligible(q, bounds)
            keys = self._position_keys(tokens, layout, name, q)
            unique, inverse = np.unique(keys, return_inverse=True)
            chosen_unique = self._selected(name, unique, layout.fraction)
            draws_unique = np.zeros(len(unique), dtype=np.int64)
            draws_unique[chosen_unique] = self._draws(
                release, name, unique[chosen_unique]
            )
            chosen = chosen_unique[inverse] & eligible
            draws = draws_unique[inverse]
            want, coin = draws & 1, (draws >> 1) & 1
            move = chosen & ((q & 1) != want)
            q = np.where(move, _one_step(q, coin, bounds), q)
            marked[name] = _values(q, step, column)
            cells += int(eligible.sum())
            selected += int(chosen.sum())
            changed += int(move.sum())
        return marked, MarkStats(cells, selected, changed)

    def observe(
        self, table: pd.DataFrame, schema: DatasetSchema, layout: MarkLayout
    ) -> Observations:
        """Read every selected position of a copy laid out as ``layout``.

        Columns of the layout missing from ``table`` are skipped (a row whose
        key used one lands on a wrong position, read as noise); other columns
        of ``table`` are ignored. A carrier whose cells all have one parity was
        rounded onto a coarser lattice: it holds no marks, and is skipped
        rather than diluting the others' evidence (a choice made from the copy
        alone, so the null distribution of the test does not change).
        """
        present = tuple(c for c in layout.columns if c in table.columns)
        layout_here = MarkLayout(
            columns=present,
            steps=tuple((c, s) for c, s in layout.steps if c in present),
            carriers=tuple(c for c in layout.carriers if c in present),
            fraction=layout.fraction,
            key_width=layout.key_width,
        )
        tokens = self._row_tokens(table, schema, layout_here)
        carriers: list[npt.NDArray[np.int64]] = []
        keys: list[npt.NDArray[np.uint64]] = []
        bits: list[npt.NDArray[np.int64]] = []
        for index, name in enumerate(layout_here.carriers):
            step = layout_here.step(name)
            assert step is not None
            q, readable = _indices(table[name], step)
            readable &= _eligible(q, _index_bounds(schema.column(name), step))
            parities = np.unique(q[readable] & 1)
            if readable.sum() >= _MIN_REROUNDED and len(parities) < 2:
                continue
            position = self._position_keys(tokens, layout_here, name, q)
            unique, inverse = np.unique(position[readable], return_inverse=True)
            chosen = self._selected(name, unique, layout.fraction)
            ones = np.bincount(inverse, weights=q[readable] & 1, minlength=len(unique))
            reads = np.bincount(inverse, minlength=len(unique))
            decided = chosen & (2 * ones != reads)
            keys.append(unique[decided])
            bits.append((2 * ones[decided] > reads[decided]).astype(np.int64))
            carriers.append(np.full(int(decided.sum()), index, dtype=np.int64))
        return Observations(
            carriers=layout_here.carriers,
            carrier=np.concatenate([np.zeros(0, np.int64), *carriers]),
            keys=np.concatenate([np.zeros(0, np.uint64), *keys]),
            bits=np.concatenate([np.zeros(0, np.int64), *bits]),
        )

    def evidence(self, observations: Observations, release: ReleaseId) -> Evidence:
        """Matches between ``observations`` and the bits ``release`` was given."""
        matches = 0
        for index, name in enumerate(observations.carriers):
            mine = observations.carrier == index
            expected = self._draws(release, name, observations.keys[mine]) & 1
            matches += int((expected == observations.bits[mine]).sum())
        n = len(observations)
        return Evidence(n, matches, binomial_log10_sf(n, matches))

    # -- keyed functions ----------------------------------------------------------

    def _prf(self, *parts: bytes) -> bytes:
        # Length-prefixed, so that no two different part lists share an input.
        message = b"".join(len(p).to_bytes(4) + p for p in parts)
        return hashlib.blake2b(message, key=self._key, digest_size=16).digest()

    def _tokens(
        self, domain: bytes, column: str, values: npt.NDArray[Any]
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Per value: a 64-bit score and a 64-bit identifier, keyed by column."""
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        name = column.encode("utf-8")
        raw = b"".join(self._prf(domain, name, str(u).encode("utf-8")) for u in uniques)
        table = np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 2)
        return table[codes, 0], table[codes, 1]

    def _row_tokens(
        self, table: pd.DataFrame, schema: DatasetSchema, layout: MarkLayout
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """Per row and column of ``layout``: the keyed score and identifier."""
        shape = (len(table), len(layout.columns))
        scores = np.empty(shape, dtype=np.uint64)
        idents = np.empty(shape, dtype=np.uint64)
        for j, name in enumerate(layout.columns):
            scores[:, j], idents[:, j] = self._tokens(
                _TOKEN, name, _key_values(table[name], schema.column(name), layout)
            )
        return scores, idents

    def _position_keys(
        self,
        tokens: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]],
        layout: MarkLayout,
        carrier: str,
        q: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.uint64]:
        """The carrier's decade and the row's virtual primary key, as 64 bits."""
        salt, key = self._tokens(_DECADE, carrier, np.floor_divide(q, 10))
        own = layout.columns.index(carrier)
        scores, idents = (np.delete(t, own, axis=1) for t in tokens)
        others = scores.shape[1]
        if not others:
            return key
        # Which columns key a row depends on the row's decade too, so that a
        # column of few values (a constant one, say) is not chosen by every
        # row: dropping any one column then breaks about width/others keys.
        scores = _mix(scores ^ salt[:, None])
        width = min(layout.key_width, others)
        top = np.argpartition(scores, others - width, axis=1)[:, -width:]
        chosen = np.take_along_axis(idents, top, axis=1)
        return np.bitwise_xor(key, np.bitwise_xor.reduce(chosen, axis=1))

    def _selected(
        self, carrier: str, keys: npt.NDArray[np.uint64], fraction: float
    ) -> npt.NDArray[np.bool_]:
        name = carrier.encode("utf-8")
        raw = b"".join(self._prf(_SELECT, name, int(k).to_bytes(8)) for k in keys)
        draws = np.frombuffer(raw, dtype=">u8")[::2].astype(np.float64)
        return np.asarray(draws < fraction * _U64, dtype=np.bool_)

    def _draws(
        self, release: ReleaseId, carrier: str, keys: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.int64]:
        """Per position: bit 0 is the mark, bit 1 the direction of a move."""
        tag, name = release.encode("utf-8"), carrier.encode("utf-8")
        raw = b"".join(self._prf(_BIT, tag, name, int(k).to_bytes(8)) for k in keys)
        return np.frombuffer(raw, dtype=np.uint8)[::16].astype(np.int64)


# -- numbers on the step lattice -------------------------------------------------


def _step_of(
    column: ColumnSpec, declared: str | int | Decimal | None
) -> Decimal | None:
    where = f"steps[{column.name!r}]"
    if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.BINARY):
        if declared is not None:
            raise ConfigurationError(
                where,
                f"a {column.kind.value} column is published as is, without a step",
            )
        return None
    if declared is None:
        if column.kind is ColumnKind.INTEGER:
            return Decimal(1)
        raise ConfigurationError(
            where,
            "a float column needs a declared step, the unit of its last published "
            "digit (e.g. 0.01)",
        )
    try:
        step = Decimal(str(declared))
    except InvalidOperation as e:
        raise ConfigurationError(where, f"{declared!r} is not a decimal number") from e
    if not step.is_finite() or step <= 0:
        raise ConfigurationError(where, f"must be a positive number, got {declared!r}")
    if column.kind is ColumnKind.INTEGER and step != step.to_integral_value():
        raise ConfigurationError(
            where, f"an integer column's step is a whole number, got {declared!r}"
        )
    return step.normalize()


def _check_carrier(column: ColumnSpec, step: Decimal | None) -> None:
    where = f"carriers: {column.name!r}"
    if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.BINARY):
        raise ConfigurationError(
            where, f"a {column.kind.value} column cannot carry marks: only numbers do"
        )
    if ColumnRole.QUASI_IDENTIFIER in column.roles:
        raise ConfigurationError(
            where,
            "a quasi-identifier never carries marks: a mark could split a "
            "k-anonymity group",
        )
    if step is None:
        raise ConfigurationError(where, "a carrier needs a declared step")
    assert column.bounds is not None  # numeric columns always have bounds
    low, high = _index_bounds(column, step)
    if high - low < _MIN_CARRIER_STEPS:
        raise ConfigurationError(
            where,
            f"its bounds {column.bounds} hold only {high - low + 1} steps of {step}; "
            f"a carrier needs {_MIN_CARRIER_STEPS} or more (use a smaller step)",
        )


def _index_bounds(column: ColumnSpec, step: Decimal) -> tuple[int, int]:
    """The smallest and largest step index inside the declared bounds."""
    assert column.bounds is not None
    low, high = (Decimal(repr(b)) for b in column.bounds)
    return int((low / step).to_integral_value("ROUND_CEILING")), int(
        (high / step).to_integral_value("ROUND_FLOOR")
    )


def _indices(
    values: pd.Series[Any], step: Decimal
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Each value's nearest step index (``_NA`` if missing) and whether it is on it."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    scaled = numbers / float(step)
    finite = np.isfinite(scaled) & (np.abs(scaled) < 2**52)
    nearest = np.rint(np.where(finite, scaled, 0.0))
    readable = finite & (np.abs(scaled - nearest) <= _READABLE)
    return np.where(finite, nearest, _NA).astype(np.int64), readable


def _values(
    q: npt.NDArray[np.int64], step: Decimal, column: ColumnSpec
) -> npt.NDArray[Any]:
    if column.kind is ColumnKind.INTEGER and q.min(initial=0) != _NA:
        return q * int(step)
    scaled = q.astype(np.float64) * float(step)
    return np.where(q == _NA, np.nan, scaled)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finalizer: spreads keyed inputs over all 64 bits."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def _movable(
    q: npt.NDArray[np.int64], bounds: tuple[int, int]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Whether one step up, and one step down, stay within bounds and decade."""
    low, high = bounds
    up = (q + 1 <= high) & ((q + 1) // 10 == q // 10)
    down = (q - 1 >= low) & ((q - 1) // 10 == q // 10)
    return up, down


def _eligible(
    q: npt.NDArray[np.int64], bounds: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """Cells that can hold either parity: a step index with a neighbour in its
    decade and bounds. Moving a cell keeps it eligible, so the reader, which
    sees only the moved value, finds the same cells as the writer did."""
    up, down = _movable(q, bounds)
    return np.asarray((q != _NA) & (up | down), dtype=np.bool_)


def _one_step(
    q: npt.NDArray[np.int64],
    coin: npt.NDArray[np.int64],
    bounds: tuple[int, int],
) -> npt.NDArray[np.int64]:
    """One step up or down (coin = 1: up if it can), for eligible cells."""
    up_ok, down_ok = _movable(q, bounds)
    up = np.where(coin == 1, up_ok, ~down_ok)
    return np.where(up, q + 1, q - 1)


def _key_values(
    values: pd.Series[Any], column: ColumnSpec, layout: MarkLayout
) -> npt.NDArray[Any]:
    """How a column enters a row key: step index, carrier decade, or category."""
    step = layout.step(column.name)
    if step is not None:
        q, _ = _indices(values, step)
        return np.floor_divide(q, 10) if column.name in layout.carriers else q
    if column.kind is ColumnKind.BINARY or isinstance(column.categories[0], int):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        return np.where(np.isfinite(numbers), np.rint(numbers), _NA).astype(np.int64)
    text = values.astype("string").str.strip().fillna("\x00")
    return text.to_numpy(dtype=object)


def _require_columns(
    table: pd.DataFrame, columns: Iterable[str], *, where: str
) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ConfigurationError(
            where, f"has no column {', '.join(map(repr, missing))}"
        )
