"""A department's own table, in every source kind, checked against its declaration.

The records are RandHIE's site 3, written as CSV, Parquet, a SQLite table and
a table of a real PostgreSQL server; each bad input is made from them. Every
error names the department, the source, the column and the row, and never the
value of a SENSITIVE column.
"""

from __future__ import annotations

import math
import socket
import sqlite3
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from fedgov.data import (
    DataValidationError,
    EmptyTableError,
    MissingColumnError,
    MissingValueError,
    NonFiniteValueError,
    OutOfRangeError,
    SourceConnectionError,
    SourceUnreadableError,
    UndeclaredColumnError,
    UnknownCategoryError,
    WrongTypeError,
    get_dataset,
    load_department,
)
from fedgov.data.checking import check_source
from fedgov.data.sources import Source

from .conftest import PG_PASSWORD

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Postgres

KINDS = ("csv", "parquet", "sqlite", "postgresql")
DEPARTMENT = "health-site-3"
SCHEMA = get_dataset("randhie").schema


@pytest.fixture(scope="module")
def site3() -> pd.DataFrame:
    raw = get_dataset("randhie").reader("train").frame  # type: ignore[misc]
    return raw[raw["site"] == 3].reset_index(drop=True)


@pytest.fixture
def write(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, pd.DataFrame], Source]:
    """Write a frame as a source of ``kind``; PostgreSQL reads PGPASSWORD."""
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    counter = iter(range(1_000))

    def write(kind: str, frame: pd.DataFrame) -> Source:
        name = f"records_{next(counter)}"
        if kind == "csv":
            path = tmp_path / f"{name}.csv"
            frame.to_csv(path, index=False)
            return Source.parse(f"csv:{path}")
        if kind == "parquet":
            path = tmp_path / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            return Source.parse(f"parquet:{path}")
        if kind == "sqlite":
            path = tmp_path / f"{name}.sqlite"
            with sqlite3.connect(path) as con:
                frame.to_sql("visits", con, index=False)
            return Source.parse(f"sqlite:{path}#visits")
        postgres.load(name, frame, {c: _pg_type(frame[c]) for c in frame.columns})
        return Source.parse(f"{postgres.url}#{name}")

    return write


def _pg_type(values: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(values):
        return "bigint"
    if pd.api.types.is_float_dtype(values):
        return "double precision"
    return "text"


def _check_error(source: Source) -> DataValidationError:
    result = check_source(SCHEMA, source, department=DEPARTMENT, dataset="randhie")
    with pytest.raises(DataValidationError) as caught:
        result.raise_first()
    error = caught.value
    assert error.department == DEPARTMENT
    assert error.source == str(source)
    assert f"department '{DEPARTMENT}'" in str(error)
    return error


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_source_loads_as_the_built_in_department(
    kind: str, site3: pd.DataFrame, write: Callable[[str, pd.DataFrame], Source]
) -> None:
    source = write(kind, site3)
    built_in = load_department("randhie", DEPARTMENT, seed=5)

    mine = load_department("randhie", DEPARTMENT, seed=5, source=source)

    for split in ("train", "held_out"):
        np.testing.assert_array_equal(
            getattr(mine, split).X, getattr(built_in, split).X
        )
        np.testing.assert_array_equal(
            getattr(mine, split).y, getattr(built_in, split).y
        )
    assert mine.cleaning == built_in.cleaning
    assert mine.train.records.index[0] >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_persons_beyond_the_declared_records_are_counted_not_refused(
    kind: str, site3: pd.DataFrame, write: Callable[[str, pd.DataFrame], Source]
) -> None:
    # Prepare: two persons with 5 records each get 2 and 1 more (7 and 6).
    unit = get_dataset("randhie").unit
    persons = site3["zper"].value_counts()
    full = persons[persons == 5].index[:2]
    extra = pd.concat(
        [
            site3[site3["zper"] == full[0]].iloc[:2],
            site3[site3["zper"] == full[1]].iloc[:1],
        ]
    )
    source = write(kind, pd.concat([site3, extra], ignore_index=True))

    # Act
    result = check_source(SCHEMA, source, department=DEPARTMENT, unit=unit)
    plain = check_source(SCHEMA, source, department=DEPARTMENT)

    # Assert: valid (training and queries bound each person), and counted.
    assert result.ok
    assert result.units is not None
    assert (result.units.units, result.units.over, result.units.beyond) == (
        len(persons),
        2,
        3,
    )
    assert result.units.max_records == 5
    assert (
        f"persons (zper): {len(persons):,}; 2 with more than 5 record(s): their 3 "
        "record(s) beyond the first 5 are left out of training and queries"
    ) in result.lines()
    assert plain.units is None


def test_a_table_keeping_to_its_declaration_has_no_person_beyond_it(
    site3: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "site3.csv"
    site3.to_csv(path, index=False)

    result = check_source(
        SCHEMA, Source.parse(f"csv:{path}"), unit=get_dataset("randhie").unit
    )

    assert result.units is not None
    assert result.units.over == 0
    assert result.lines()[2] == (
        f"persons (zper): {site3['zper'].nunique():,}, none with more than 5 record(s)"
    )


def _with(
    frame: pd.DataFrame, column: str, position: int, value: object
) -> pd.DataFrame:
    """``frame`` with one value replaced; text turns the column into text,
    as a typed source would store it."""
    changed = frame.copy()
    if isinstance(value, str):
        changed[column] = changed[column].astype(str)
    elif isinstance(value, float) and pd.api.types.is_integer_dtype(changed[column]):
        changed[column] = changed[column].astype(float)
    elif value is None:
        changed[column] = changed[column].astype(float)
        value = math.nan
    changed.loc[position, column] = value
    return changed


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("column", "position", "value", "error", "shown"),
    [
        ("xage", 5, "old", WrongTypeError, "'old'"),
        ("income", 7, "lots", WrongTypeError, None),
        ("xage", 3, None, MissingValueError, None),
        ("time", 2, math.inf, NonFiniteValueError, None),
        ("xage", 4, 70.0, OutOfRangeError, "70"),
        ("income", 9, 1e9, OutOfRangeError, None),
        ("year", 11, 2.5, WrongTypeError, "2.5"),
        ("female", 1, 2, OutOfRangeError, "2"),
        ("site", 6, 9, UnknownCategoryError, "9"),
    ],
)
def test_a_bad_record_is_named_by_column_and_row(
    kind: str,
    column: str,
    position: int,
    value: object,
    error: type[DataValidationError],
    shown: str | None,
    site3: pd.DataFrame,
    write: Callable[[str, pd.DataFrame], Source],
) -> None:
    bad = _with(site3, column, position, value)

    found = _check_error(write(kind, bad))

    assert type(found) is error
    assert (found.column, found.row) == (column, position + 1)
    if shown is None:
        # A SENSITIVE column (income) or a missing value: nothing to show.
        assert "lots" not in str(found)
        assert "1000000000" not in str(found)
    else:
        assert shown in found.reason


@pytest.mark.parametrize("kind", KINDS)
def test_missing_and_undeclared_columns(
    kind: str, site3: pd.DataFrame, write: Callable[[str, pd.DataFrame], Source]
) -> None:
    missing = _check_error(write(kind, site3.drop(columns="xage")))
    extra = _check_error(write(kind, site3.assign(postcode="12345")))

    assert isinstance(missing, MissingColumnError)
    assert (missing.column, missing.row) == ("xage", None)
    assert isinstance(extra, UndeclaredColumnError)
    assert extra.column == "postcode"


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_table(
    kind: str, site3: pd.DataFrame, write: Callable[[str, pd.DataFrame], Source]
) -> None:
    error = _check_error(write(kind, site3.iloc[:0]))

    assert isinstance(error, EmptyTableError)
    assert error.reason_class == "empty-table"


def test_the_report_counts_every_breach(
    site3: pd.DataFrame, write: Callable[[str, pd.DataFrame], Source]
) -> None:
    bad = _with(_with(site3, "xage", 5, 70.0), "xage", 9, 80.0)
    bad = _with(bad, "site", 1, 9)

    result = check_source(SCHEMA, write("csv", bad), department=DEPARTMENT)

    assert not result.ok
    assert [(p.column, p.count, p.first_row) for p in result.problems] == [
        ("site", 1, 2),
        ("xage", 2, 6),
    ]
    assert result.rows == len(site3)
    assert result.cleaning.count("educdec") == 4
    assert result.missing("ghindx") == site3["ghindx"].isna().sum()
    report = "\n".join(result.lines())
    assert "INVALID" in report
    assert "first row 6" in report


def test_a_fraction_in_a_csv_integer_column_is_refused_not_rounded(
    site3: pd.DataFrame, write: Callable[[str, pd.DataFrame], Source]
) -> None:
    # DuckDB's CSV reader would round 2.5 into an integer column: fedgov reads
    # integers as numbers and checks that they are whole.
    error = _check_error(write("csv", _with(site3, "coins", 0, 2.5)))

    assert isinstance(error, WrongTypeError)
    assert "not an integer" in error.reason


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda p: f"csv:{p / 'absent.csv'}", "No files found"),
        (lambda p: f"parquet:{p / 'garbage.parquet'}", "magic bytes"),
        (lambda p: f"sqlite:{p / 'absent.sqlite'}#visits", "unable to open"),
        (lambda p: f"sqlite:{p / 'empty.sqlite'}#visits", "does not exist"),
    ],
)
def test_an_unreadable_source(
    tmp_path: Path, make: Callable[[Path], str], detail: str
) -> None:
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    sqlite3.connect(tmp_path / "empty.sqlite").close()
    source = Source.parse(make(tmp_path))

    with pytest.raises(SourceUnreadableError, match=detail) as caught:
        check_source(SCHEMA, source, department=DEPARTMENT)

    assert caught.value.reason_class == "source-unreadable"
    assert f"department '{DEPARTMENT}'" in str(caught.value)
    assert not (tmp_path / "absent.sqlite").exists()  # attached read-only


def test_a_database_that_refuses_the_connection(postgres: Postgres) -> None:
    closed = _free_port()
    source = Source.parse(
        f"postgresql://fedgov:{PG_PASSWORD}@127.0.0.1:{closed}/county#t"
    )

    with pytest.raises(SourceConnectionError) as caught:
        check_source(SCHEMA, source, department=DEPARTMENT)

    assert caught.value.reason_class == "source-unreachable"
    assert PG_PASSWORD not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_wrong_password_is_refused_and_not_shown(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = postgres.url.replace("fedgov@", "fedgov:wrong-Pa55word@")

    with pytest.raises(SourceConnectionError, match="authentication failed") as caught:
        check_source(SCHEMA, Source.parse(f"{url}#t"), department=DEPARTMENT)

    assert "wrong-Pa55word" not in str(caught.value)


def test_a_postgres_query_is_a_source(
    site3: pd.DataFrame,
    write: Callable[[str, pd.DataFrame], Source],
    postgres: Postgres,
) -> None:
    table = write("postgresql", site3).table
    source = Source.parse(
        f"{postgres.url}?query=SELECT * FROM {table} WHERE year >= 1 ORDER BY rownames"
    )

    data = load_department("randhie", DEPARTMENT, seed=5, source=source)

    assert len(data.train) + len(data.held_out) == len(site3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
