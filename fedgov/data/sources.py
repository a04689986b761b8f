"""Where a department's records are: a typed source spec, parsed from one string.

A data officer names her department's table in the node's configuration or
on the command line, in one of these forms:

=========================================  ==========================================
``csv:/srv/health/records.csv``            a CSV file with a header line (a glob
                                           such as ``csv:/srv/health/*.csv`` reads
                                           several files as one table)
``parquet:/srv/health/records.parquet``    a Parquet file (or a glob)
``sqlite:/srv/health/records.db#visits``   a table of a SQLite database
``postgresql://user@host:5432/db#visits``  a PostgreSQL table (``#schema.table``
                                           for another schema than ``public``)
``postgresql://user@host/db?query=SQL``    the rows a SQL query returns, run by
                                           PostgreSQL; ``query`` is the last
                                           parameter, percent-encoded where needed
=========================================  ==========================================

A PostgreSQL password is best left out of the string (libpq reads
``PGPASSWORD`` or ``~/.pgpass``); one written in it is never shown:
``str(source)`` and every error replace it with ``***``.

In simulation, :class:`DepartmentSources` maps each department to its source;
:meth:`DepartmentSources.from_folder` reads the common layout of one file per
department, ``<folder>/<department>.csv`` or ``.parquet``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import (
    parse_qsl,
    quote,
    unquote,
    urlencode,
    urlsplit,
    urlunsplit,
)

from fedgov.data.errors import SourceSpecError, UnknownDepartmentError
from fedgov.types import DepartmentId

__all__ = ["DepartmentSources", "Source", "SourceKind"]

_REDACTED = "***"
_TABLE = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_$]*)\.)?([A-Za-z_][A-Za-z0-9_$]*)$")
_DEPARTMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_FORMS = (
    "csv:PATH, parquet:PATH, sqlite:PATH#TABLE, postgresql://USER@HOST/DB#TABLE "
    "or postgresql://USER@HOST/DB?query=SQL"
)
_SECRET_PARAMETERS = ("password", "sslpassword")


class SourceKind(StrEnum):
    """How a department's table is stored."""

    CSV = "csv"
    PARQUET = "parquet"
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @property
    def is_file(self) -> bool:
        return self in (SourceKind.CSV, SourceKind.PARQUET)


@dataclass(frozen=True, repr=False)
class Source:
    """One department's table: ``kind``, ``location`` and a table or query.

    ``location`` is a file path (or glob) for CSV and Parquet, the database
    file for SQLite and the connection URL (without table or query) for
    PostgreSQL. ``table`` is ``[schema.]table`` for a database; ``query``
    (PostgreSQL only) replaces it. Build one with :meth:`parse`.
    """

    kind: SourceKind
    location: str
    table: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        database = self.kind in (SourceKind.SQLITE, SourceKind.POSTGRESQL)
        if not self.location:
            raise SourceSpecError("source", f"{self}: names no file or database")
        if database and (self.table is None) == (self.query is None):
            raise SourceSpecError(
                "source",
                f"{self}: a database source names a table (#table) or, for "
                "PostgreSQL, a query (?query=SQL)",
            )
        if not database and (self.table or self.query):
            raise SourceSpecError("source", f"{self}: a file source takes no table")
        if self.query is not None and self.kind is not SourceKind.POSTGRESQL:
            raise SourceSpecError("source", f"{self}: only PostgreSQL runs a query")
        if self.table is not None and not _TABLE.match(self.table):
            raise SourceSpecError(
                "source",
                f"{self}: {self.table!r} is not a table name ([schema.]table, "
                "letters, digits and '_')",
            )

    @classmethod
    def parse(cls, text: str) -> Source:
        """The source ``text`` names, in one of the module's forms."""
        text = text.strip()
        scheme, sep, rest = text.partition(":")
        scheme = scheme.lower()
        if scheme in ("postgresql", "postgres") and rest.startswith("//"):
            return cls._parse_postgresql(text)
        if not sep or scheme not in ("csv", "parquet", "sqlite"):
            raise SourceSpecError(
                "source",
                f"{_redact_url(text)!r} is not a source; write one of: {_FORMS}",
            )
        kind = SourceKind(scheme)
        if kind is SourceKind.SQLITE:
            path, hashed, table = rest.rpartition("#")
            if not hashed:
                raise SourceSpecError(
                    "source", f"{text!r}: name the table, sqlite:PATH#TABLE"
                )
            return cls(kind, str(Path(path).expanduser()), table=table)
        return cls(kind, str(Path(rest).expanduser()) if rest else "")

    @classmethod
    def _parse_postgresql(cls, text: str) -> Source:
        # The SQL runs to the end of the string: it may hold '&', '#' and '?'.
        marker = re.search(r"[?&]query=", text)
        head, query = text, None
        if marker is not None:
            head, query = text[: marker.start()], unquote(text[marker.end() :])
        url = urlsplit(head)
        location = urlunsplit(("postgresql", url.netloc, url.path, url.query, ""))
        return cls(
            SourceKind.POSTGRESQL, location, table=url.fragment or None, query=query
        )

    # -- what may be shown -------------------------------------------------------

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every password the spec holds, raw and percent-decoded."""
        if self.kind is not SourceKind.POSTGRESQL:
            return ()
        url = urlsplit(self.location)
        found = [url.password or ""]
        found += [
            value
            for key, value in parse_qsl(url.query, keep_blank_values=True)
            if key.lower() in _SECRET_PARAMETERS
        ]
        raw = re.findall(r":([^:@/]*)@", url.netloc)
        return tuple(sorted({s for s in (*found, *raw, *map(unquote, raw)) if s}))

    def redact(self, message: str) -> str:
        """``message`` with every password of this source replaced by ``***``."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            message = message.replace(secret, _REDACTED)
        return message

    @property
    def spec(self) -> str:
        """The text :meth:`parse` reads back into this source, password included.

        For handing the source to a department's own configuration (a
        SuperNode's ``data-source``); show ``str(source)`` instead, which
        redacts the password.
        """
        if self.kind is SourceKind.POSTGRESQL:
            if self.query is not None:
                joiner = "&" if "?" in self.location else "?"
                return f"{self.location}{joiner}query={quote(self.query, safe='')}"
            return f"{self.location}#{self.table}"
        if self.kind is SourceKind.SQLITE:
            return f"sqlite:{self.location}#{self.table}"
        return f"{self.kind}:{self.location}"

    def __str__(self) -> str:
        if self.kind is SourceKind.POSTGRESQL:
            shown = _redact_url(self.location)
            if self.query is not None:
                return f"{shown}{'&' if '?' in shown else '?'}query={self.query}"
            return f"{shown}#{self.table}"
        if self.kind is SourceKind.SQLITE:
            return f"sqlite:{self.location}#{self.table}"
        return f"{self.kind}:{self.location}"

    def __repr__(self) -> str:
        return f"Source({str(self)!r})"


def _redact_url(text: str) -> str:
    """A URL with its password and password parameters replaced by ``***``."""
    try:
        url = urlsplit(text)
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", rf"\1{_REDACTED}@", text)
    netloc = url.netloc
    if url.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{_REDACTED}@{host}"
    query = url.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [
                (k, _REDACTED if k.lower() in _SECRET_PARAMETERS else v)
                for k, v in pairs
            ],
            safe="*",
        )
    return urlunsplit((url.scheme, netloc, url.path, query, url.fragment))


@dataclass(frozen=True)
class DepartmentSources:
    """Which source each department reads: the simulation-side mapping.

    ``pairs`` are ``(department, source)`` sorted by department id, the order
    in which Flower numbers simulated departments.
    """

    pairs: tuple[tuple[DepartmentId, Source], ...]

    def __post_init__(self) -> None:
        departments = [d for d, _ in self.pairs]
        if not departments:
            raise SourceSpecError("sources", "name at least one department's source")
        if departments != sorted(set(departments)):
            raise SourceSpecError(
                "sources", "each department once, sorted by department id"
            )
        for department in departments:
            if not _DEPARTMENT.match(department):
                raise SourceSpecError(
                    "sources",
                    f"{department!r} is not a department id: letters, digits, '.', "
                    "'_' and '-', starting with a letter or digit",
                )

    @classmethod
    def from_mapping(cls, sources: Mapping[str, str | Source]) -> DepartmentSources:
        """From ``{department: source}``, each source a :class:`Source` or its text."""
        return cls(
            tuple(
                (
                    DepartmentId(department),
                    source if isinstance(source, Source) else Source.parse(source),
                )
                for department, source in sorted(sources.items())
            )
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> DepartmentSources:
        """One source per ``<department>.csv`` / ``<department>.parquet`` in ``folder``.

        Other files are ignored; a department with both a CSV and a Parquet
        file is an error.
        """
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise SourceSpecError("sources", f"{str(root)!r} is not a folder")
        found: dict[str, Source] = {}
        for path in sorted(root.iterdir()):
            kind = {".csv": SourceKind.CSV, ".parquet": SourceKind.PARQUET}.get(
                path.suffix.lower()
            )
            if kind is None or not path.is_file():
                continue
            if path.stem in found:
                raise SourceSpecError(
                    "sources",
                    f"department {path.stem!r} has two files in {str(root)!r}; "
                    "keep one",
                )
            found[path.stem] = Source(kind, str(path))
        if not found:
            raise SourceSpecError(
                "sources",
                f"{str(root)!r} holds no <department>.csv or <department>.parquet file",
            )
        return cls.from_mapping(found)

    @property
    def departments(self) -> tuple[DepartmentId, ...]:
        return tuple(d for d, _ in self.pairs)

    def source_of(self, department: str, *, dataset: str = "") -> Source:
        """The source of ``department``; :class:`UnknownDepartmentError` if none."""
        for known, source in self.pairs:
            if known == department:
                return source
        raise UnknownDepartmentError(dataset, department, self.departments)
