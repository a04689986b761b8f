"""DuckDB as fedgov's one engine for departments' sources: offline, read-only.

DuckDB reads CSV and Parquet natively and SQLite and PostgreSQL through two
extensions. Those are normally downloaded from the network the first time
they are needed; fedgov never lets it: automatic installing and loading are
switched off and the extensions are loaded from the PyPI packages
``duckdb-extension-sqlite-scanner`` and ``duckdb-extension-postgres-scanner``
(signed builds for exactly the installed DuckDB). Databases are attached
``READ_ONLY``, so nothing fedgov runs can change a department's table.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
from pathlib import Path
from typing import Final

import duckdb

from fedgov.data.errors import (
    DataSourceUnavailableError,
    SourceConnectionError,
    SourceUnreadableError,
)
from fedgov.data.sources import Source, SourceKind

__all__ = ["Engine", "identifier", "literal"]

_EXTENSIONS: Final = {
    SourceKind.SQLITE: "sqlite_scanner",
    SourceKind.POSTGRESQL: "postgres_scanner",
}
_QUOTED: Final = re.compile(r"\"[^\"]*\"|'[^']*'")
RAW: Final = "source_raw"
"""The view every query reads: the source's table as stored."""


def literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class Engine:
    """One DuckDB connection reading one source through the view ``source_raw``.

    ``text_only`` reads every CSV field (and every SQLite value) as text, so
    that a value of the wrong type can be counted and located rather than
    stop the scan. Use as a context manager; :meth:`close` frees the
    connection and its spill folder.
    """

    def __init__(
        self,
        source: Source,
        *,
        department: str | None = None,
        csv_types: dict[str, str] | None = None,
        text_only: bool = False,
    ) -> None:
        self.source = source
        self.department = department
        self.text_only = text_only
        self._spill = tempfile.mkdtemp(prefix="fedgov-duckdb-")
        self.connection = duckdb.connect(
            ":memory:",
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
                "temp_directory": self._spill,
            },
        )
        try:
            # A report is what the officer reads; no bar on the terminal.
            self.connection.execute("SET enable_progress_bar = false")
            self._attach(csv_types or {}, text_only)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def sql(self, query: str, *, records: bool = True) -> duckdb.DuckDBPyRelation:
        """Run ``query``; a failure of the source becomes a fedgov error.

        ``records``: the query reads records, so DuckDB's message may quote
        one of their values; every quoted text is dropped from it.
        """
        try:
            return self.connection.sql(query)
        except duckdb.Error as e:
            raise self.failure(e, records=records) from e

    def failure(
        self, error: duckdb.Error, *, records: bool = True
    ) -> SourceUnreadableError:
        """The fedgov error for a DuckDB failure while reading the source."""
        return SourceUnreadableError(
            str(self.source),
            self._detail(error, records=records),
            department=self.department,
        )

    def _detail(self, error: duckdb.Error, *, records: bool = False) -> str:
        # DuckDB's first line names the problem; later ones quote whole records.
        lines = str(error).strip().splitlines()
        text = re.sub(r"\s+", " ", lines[0]) if lines else type(error).__name__
        if records:
            text = _QUOTED.sub("<value withheld>", text)
        return self.source.redact(text)

    def _attach(self, csv_types: dict[str, str], text_only: bool) -> None:
        source = self.source
        extension = _EXTENSIONS.get(source.kind)
        if extension is not None:
            self._load(extension)
        if source.kind is SourceKind.CSV:
            options = ", all_varchar = true" if text_only else _types(csv_types)
            table = f"read_csv({literal(source.location)}, header = true{options})"
        elif source.kind is SourceKind.PARQUET:
            table = f"read_parquet({literal(source.location)})"
        elif source.kind is SourceKind.SQLITE:
            self._run_attach(
                f"ATTACH {literal(source.location)} AS src (TYPE sqlite, READ_ONLY)",
                SourceUnreadableError,
            )
            if text_only:
                self.connection.execute("SET sqlite_all_varchar = true")
            table = _qualified("src", source.table, default_schema=None)
        else:
            self._run_attach(
                f"ATTACH {literal(source.location)} AS src (TYPE postgres, READ_ONLY)",
                SourceConnectionError,
            )
            if source.query is not None:
                table = f"postgres_query('src', {literal(source.query)})"
            else:
                table = _qualified("src", source.table, default_schema="public")
        self.sql(f"CREATE TEMP VIEW {RAW} AS SELECT * FROM {table}", records=False)

    def _run_attach(
        self, statement: str, kind: type[SourceUnreadableError | SourceConnectionError]
    ) -> None:
        try:
            self.connection.execute(statement)
        except duckdb.Error as e:
            raise kind(
                str(self.source), self._detail(e), department=self.department
            ) from e

    def _load(self, extension: str) -> None:
        package = f"duckdb_extension_{extension}"
        found = importlib.util.find_spec(package)
        install = f"pip install 'duckdb-extension-{extension.replace('_', '-')}=={duckdb.__version__}'"
        if found is None or not found.submodule_search_locations:
            raise DataSourceUnavailableError(
                str(self.source), package, install, "is not installed"
            )
        root = Path(next(iter(found.submodule_search_locations)))
        path = (
            root
            / "extensions"
            / f"v{duckdb.__version__}"
            / f"{extension}.duckdb_extension"
        )
        if not path.is_file():
            raise DataSourceUnavailableError(
                str(self.source),
                package,
                install,
                f"holds no build for DuckDB {duckdb.__version__}",
            )
        self.connection.execute(f"LOAD {literal(str(path))}")


def _types(csv_types: dict[str, str]) -> str:
    if not csv_types:
        return ""
    pairs = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in csv_types.items())
    return f", types = {{{pairs}}}"


def _qualified(catalog: str, table: str | None, *, default_schema: str | None) -> str:
    assert table is not None  # Source guarantees a table when there is no query
    schema, _, name = table.rpartition(".")
    parts = [catalog, schema or default_schema, name]
    return ".".join(identifier(p) for p in parts if p)
