"""Record-level releases to named recipients: made, recorded, traced.

A department hands a record-level extract to another department only through
:func:`make_release`:

1. the extract is published at its declared precision and fingerprinted for
   its one recipient (:mod:`privacy.watermark`);
2. the release check runs on exactly what leaves, with the recipient named
   (:func:`privacy.release.check_release`: classification, k-anonymity);
3. a :class:`ReleaseRecord` (release id, recipient, row count, columns, mark
   layout, digest of the file, key id) is sealed into the department's state
   folder *before* the file is handed over. Tracing needs these records and
   the department's watermark key, never a copy of a released file.

:func:`trace_leak` tests a leaked copy against every recorded release of the
departments given: one exact binomial test per release
(:meth:`privacy.watermark.Fingerprinter.evidence`), Bonferroni-corrected over
all of them, so that the chance of naming any recipient whose copy did not
contribute to the leak is at most ``alpha``.

On disk, per department::

    STATE/departments/<department>/watermark.key           the "auto" key (0600)
    STATE/departments/<department>/releases/<id>.release   sealed records

Records are AES-256-GCM envelopes (:mod:`privacy.at_rest`) under a sub-key
of the watermark key, purpose ``release-record:<department>``: nobody without
the key can read who received what, or forge, edit or swap a record between
departments.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NewType

import pandas as pd

from fedgov.data import get_dataset, validate_column
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.files import private_dir
from fedgov.types import DatasetId, DepartmentId, check_name
from privacy._keys import derive_key
from privacy.at_rest import (
    AtRestKey,
    key_source_from_spec,
    read_encrypted,
    write_encrypted,
)
from privacy.errors import KeyMaterialError, ReleaseRecordError
from privacy.release import ReleasePolicy, check_release
from privacy.watermark import (
    DEFAULT_KEY_WIDTH,
    DEFAULT_MARK_FRACTION,
    Evidence,
    Fingerprinter,
    MarkLayout,
    MarkStats,
    Observations,
    ReleaseId,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from decimal import Decimal

__all__ = [
    "DEFAULT_ALPHA",
    "Candidate",
    "RecipientId",
    "Release",
    "ReleaseRecord",
    "ReleaseRegistry",
    "TraceReport",
    "make_release",
    "read_leaked",
    "trace_leak",
]

RecipientId = NewType("RecipientId", str)
"""Who received a release: another department, or an agency, by name."""

DEFAULT_ALPHA = 1e-6
"""Largest chance of naming a recipient whose copy did not leak."""

_FORMAT = "fedgov-release-record"
_VERSION = 1
_RECORD_SUFFIX = ".release"
_RELEASE_ID = re.compile(r"[0-9a-f]{16}")
_RECORDS_KEY_LABEL = "fedgov/watermark/records/v1"
_MAX_NAME = 128


@dataclass(frozen=True)
class ReleaseRecord:
    """Who received which fingerprint: everything tracing needs but the key."""

    release: ReleaseId
    department: DepartmentId
    dataset: DatasetId
    recipient: RecipientId
    created: str
    rows: int
    k: int
    layout: MarkLayout
    digest: str
    """SHA-256 of the released file's bytes, hex."""
    key_id: str
    marks: MarkStats

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (:meth:`from_json` reads it back)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "release": self.release,
            "department": self.department,
            "dataset": self.dataset,
            "recipient": self.recipient,
            "created": self.created,
            "rows": self.rows,
            "k": self.k,
            "layout": self.layout.to_json(),
            "digest": self.digest,
            "key_id": self.key_id,
            "marks": {
                "cells": self.marks.cells,
                "selected": self.marks.selected,
                "changed": self.marks.changed,
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], *, origin: str) -> ReleaseRecord:
        """Parse a record; :class:`ReleaseRecordError` names ``origin`` if malformed."""
        if document.get("format") != _FORMAT or document.get("version") != _VERSION:
            raise ReleaseRecordError(origin, f"not a {_FORMAT} v{_VERSION} document")
        if not _RELEASE_ID.fullmatch(str(document.get("release"))):
            raise ReleaseRecordError(origin, "release id is not 16 hex digits")
        try:
            marks = document["marks"]
            return cls(
                release=ReleaseId(str(document["release"])),
                department=DepartmentId(str(document["department"])),
                dataset=DatasetId(str(document["dataset"])),
                recipient=RecipientId(str(document["recipient"])),
                created=str(document["created"]),
                rows=int(document["rows"]),
                k=int(document["k"]),
                layout=MarkLayout.from_json(document["layout"]),
                digest=str(document["digest"]),
                key_id=str(document["key_id"]),
                marks=MarkStats(
                    int(marks["cells"]),
                    int(marks["selected"]),
                    int(marks["changed"]),
                ),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise ReleaseRecordError(
                origin, f"malformed record ({e.__class__.__name__}: {e})"
            ) from e


class ReleaseRegistry:
    """One department's watermark key and records of releases.

    ``key`` is a key source spec (:func:`privacy.at_rest.key_source_from_spec`);
    ``"auto"`` keeps a 0600 key file in the department's folder. The key is
    loaded on first use. Plaintext mode is refused: a mark anyone can compute
    is a mark anyone can remove or forge.
    """

    def __init__(
        self, state_dir: str | Path, department: str, *, key: str = "auto"
    ) -> None:
        self.department = DepartmentId(check_name("department", department))
        self._home = Path(state_dir) / "departments" / department
        self._key_spec = key
        self._loaded: tuple[Fingerprinter, AtRestKey] | None = None

    def __repr__(self) -> str:
        return f"ReleaseRegistry({str(self._home)!r})"

    @property
    def folder(self) -> Path:
        """Where the records are."""
        return self._home / "releases"

    @property
    def fingerprinter(self) -> Fingerprinter:
        """Marks under the department's watermark key."""
        return self._keys()[0]

    def record_paths(self) -> list[Path]:
        """Every record file, oldest name first."""
        return sorted(self.folder.glob(f"*{_RECORD_SUFFIX}"))

    def add(self, record: ReleaseRecord) -> Path:
        """Seal ``record`` into the folder; never replaces an existing record."""
        if record.department != self.department:
            raise ConfigurationError(
                "record", f"belongs to {record.department}, not {self.department}"
            )
        path = self.folder / f"{record.release}{_RECORD_SUFFIX}"
        if path.exists():
            raise ReleaseRecordError(
                str(path), "already exists; release ids are unique"
            )
        private_dir(self.folder)
        data = json.dumps(record.to_json(), sort_keys=True).encode("utf-8")
        write_encrypted(path, data, key_source=self._keys()[1], purpose=self._purpose)
        return path

    def records(self) -> tuple[ReleaseRecord, ...]:
        """Every record, opened and checked against its file name and department."""
        found = []
        for path in self.record_paths():
            data = read_encrypted(
                path, key_source=self._keys()[1], purpose=self._purpose
            )
            try:
                document = json.loads(data)
            except ValueError as e:
                raise ReleaseRecordError(str(path), "not JSON") from e
            record = ReleaseRecord.from_json(document, origin=str(path))
            if f"{record.release}{_RECORD_SUFFIX}" != path.name:
                raise ReleaseRecordError(
                    str(path), f"holds release {record.release}, not the one named"
                )
            if record.department != self.department:
                raise ReleaseRecordError(
                    str(path), f"belongs to department {record.department}"
                )
            found.append(record)
        return tuple(found)

    @property
    def _purpose(self) -> str:
        return f"release-record:{self.department}"

    def _keys(self) -> tuple[Fingerprinter, AtRestKey]:
        if self._loaded is None:
            source = key_source_from_spec(
                self._key_spec, default_key_file=self._home / "watermark.key"
            )
            key = source.load()
            if key is None:
                raise KeyMaterialError(
                    source.describe(),
                    "a release fingerprint needs a secret key: marks computed "
                    "without one can be removed or forged by anyone",
                )
            records_key = AtRestKey(derive_key(key.secret, _RECORDS_KEY_LABEL))
            self._loaded = (Fingerprinter(key.secret), records_key)
        return self._loaded


@dataclass(frozen=True)
class Release:
    """A fingerprinted extract, as the bytes to hand over, and its record."""

    data: bytes
    record: ReleaseRecord


def make_release(
    extract: pd.DataFrame,
    *,
    registry: ReleaseRegistry,
    dataset: str,
    recipient: str,
    carriers: Iterable[str],
    steps: Mapping[str, str | int | Decimal] | None = None,
    fraction: float = DEFAULT_MARK_FRACTION,
    key_width: int = DEFAULT_KEY_WIDTH,
    k: int = 5,
    name: str = "extract",
) -> Release:
    """Fingerprint ``extract`` for ``recipient``, check it, record it.

    ``extract`` holds declared columns of ``dataset`` only, already coarsened
    by the department's steward so that it is k-anonymous. Raises
    :class:`~privacy.errors.ReleaseRefusedError` (with row positions) if what
    would leave fails the release check; nothing is recorded then.
    """
    _check_name("recipient", recipient)
    schema = get_dataset(dataset).schema
    layout = MarkLayout.plan(
        schema,
        extract.columns,
        steps=steps or {},
        carriers=carriers,
        fraction=fraction,
        key_width=key_width,
    )
    for column in layout.columns:
        validate_column(schema, extract, column)
    release = ReleaseId(secrets.token_hex(8))
    fingerprinter = registry.fingerprinter
    marked, stats = fingerprinter.embed(extract, schema, layout, release)
    check_release(
        marked,
        policy=ReleasePolicy.from_schema(schema, k=k),
        name=name,
        recipient=recipient,
    )
    data = _to_csv(marked, layout)
    record = ReleaseRecord(
        release=release,
        department=registry.department,
        dataset=schema.dataset,
        recipient=RecipientId(recipient),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        rows=len(marked),
        k=k,
        layout=layout,
        digest=hashlib.sha256(data).hexdigest(),
        key_id=fingerprinter.key_id,
        marks=stats,
    )
    registry.add(record)
    return Release(data, record)


@dataclass(frozen=True)
class Candidate:
    """One recorded release tested against a leaked copy."""

    record: ReleaseRecord
    evidence: Evidence
    log10_adjusted: float
    """Bonferroni: log10 of min(1, releases tested x p)."""


@dataclass(frozen=True)
class TraceReport:
    """What a leaked copy says about who received it."""

    rows: int
    columns: tuple[str, ...]
    alpha: float
    candidates: tuple[Candidate, ...]
    """Every release tested, most significant first."""
    exact: tuple[ReleaseId, ...]
    """Releases whose file is byte for byte the leaked one."""

    @property
    def named(self) -> tuple[Candidate, ...]:
        """Releases whose marks the copy carries, at false-attribution level alpha."""
        threshold = math.log10(self.alpha)
        return tuple(c for c in self.candidates if c.log10_adjusted <= threshold)


def read_leaked(path: str | Path) -> tuple[pd.DataFrame, str]:
    """A leaked CSV file as text columns, and its SHA-256 (hex).

    The delimiter is sniffed; values stay text, read as numbers or categories
    by the layout of each release tested.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as e:
        raise ConfigurationError("LEAKED_FILE", f"{source}: {e.strerror}") from e
    try:
        frame = pd.read_csv(
            io.BytesIO(raw), dtype=str, sep=None, engine="python", skipinitialspace=True
        )
    except (ValueError, csv.Error, pd.errors.ParserError) as e:
        raise ConfigurationError(
            "LEAKED_FILE", f"{source} is not a readable CSV table ({e})"
        ) from e
    if frame.empty:
        raise ConfigurationError("LEAKED_FILE", f"{source} holds no rows")
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    return frame, hashlib.sha256(raw).hexdigest()


def trace_leak(
    leaked: pd.DataFrame,
    registries: Sequence[ReleaseRegistry],
    *,
    alpha: float = DEFAULT_ALPHA,
    digest: str | None = None,
) -> TraceReport:
    """Test ``leaked`` against every release recorded in ``registries``."""
    if not 0 < alpha < 1:
        raise ConfigurationError("alpha", f"must be in (0, 1), got {alpha!r}")
    tested: list[tuple[ReleaseRecord, Evidence]] = []
    for registry in registries:
        observed: dict[str, Observations] = {}
        for record in registry.records():
            schema = get_dataset(record.dataset).schema
            try:
                record.layout.check(schema)
            except FedgovError as e:
                raise ReleaseRecordError(
                    f"{registry.folder}/{record.release}", f"bad layout: {e}"
                ) from e
            layout_key = json.dumps(
                [record.dataset, record.layout.to_json()], sort_keys=True
            )
            if layout_key not in observed:
                observed[layout_key] = registry.fingerprinter.observe(
                    leaked, schema, record.layout
                )
            evidence = registry.fingerprinter.evidence(
                observed[layout_key], record.release
            )
            tested.append((record, evidence))
    if not tested:
        raise ConfigurationError(
            "departments", "no release records to test: no release was ever made"
        )
    correction = math.log10(len(tested))
    candidates = sorted(
        (
            Candidate(record, ev, min(0.0, ev.log10_p + correction))
            for record, ev in tested
        ),
        key=lambda c: (c.evidence.log10_p, -c.evidence.positions),
    )
    return TraceReport(
        rows=len(leaked),
        columns=tuple(str(c) for c in leaked.columns),
        alpha=alpha,
        candidates=tuple(candidates),
        exact=tuple(r.release for r, _ in tested if digest and r.digest == digest),
    )


def _to_csv(table: pd.DataFrame, layout: MarkLayout) -> bytes:
    """The release as CSV, every stepped number written to its step's digits."""
    out = pd.DataFrame(index=table.index)
    for name in layout.columns:
        step = layout.step(name)
        if step is None:
            out[name] = table[name]
            continue
        exponent = step.as_tuple().exponent
        decimals = max(0, -exponent) if isinstance(exponent, int) else 0
        values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
        out[name] = [
            "" if math.isnan(v) else f"{v:.{decimals}f}" for v in values.tolist()
        ]
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _check_name(argument: str, value: str) -> None:
    if not (
        0 < len(value) <= _MAX_NAME
        and value.isprintable()
        and "/" not in value
        and value not in (".", "..")
    ):
        raise ConfigurationError(
            argument,
            f"must be 1 to {_MAX_NAME} printable characters without '/', got {value!r}",
        )
