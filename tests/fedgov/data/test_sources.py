"""Source specs: every form parses to a typed object; passwords are never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fedgov.data import SourceSpecError, UnknownDepartmentError
from fedgov.data.sources import DepartmentSources, Source, SourceKind

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("text", "kind", "location", "table", "query"),
    [
        ("csv:/srv/health/records.csv", "csv", "/srv/health/records.csv", None, None),
        ("parquet:/srv/x/*.parquet", "parquet", "/srv/x/*.parquet", None, None),
        ("sqlite:/srv/db.sqlite#visits", "sqlite", "/srv/db.sqlite", "visits", None),
        (
            "postgresql://officer@db.county:5432/health#clinic.visits",
            "postgresql",
            "postgresql://officer@db.county:5432/health",
            "clinic.visits",
            None,
        ),
        (
            "postgres://officer@db/health?sslmode=require&query=SELECT a, b FROM t WHERE a > 1 %26 b",
            "postgresql",
            "postgresql://officer@db/health?sslmode=require",
            None,
            "SELECT a, b FROM t WHERE a > 1 & b",
        ),
    ],
)
def test_every_form_parses(
    text: str, kind: str, location: str, table: str | None, query: str | None
) -> None:
    source = Source.parse(text)

    assert (source.kind, source.location, source.table, source.query) == (
        SourceKind(kind),
        location,
        table,
        query,
    )


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("/srv/records.csv", "is not a source"),
        ("excel:/srv/records.xlsx", "is not a source"),
        ("sqlite:/srv/db.sqlite", "name the table"),
        ("postgresql://officer@db/health", "names a table"),
        ("postgresql://officer@db/health#visits;drop", "not a table name"),
        ("csv:", "names no file"),
    ],
)
def test_malformed_sources_are_refused(text: str, rule: str) -> None:
    with pytest.raises(SourceSpecError, match=rule) as caught:
        Source.parse(text)

    assert caught.value.reason_class == "invalid-source"


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://officer:hunter2-secret@db/health#visits",
        "postgresql://officer:hunter2%2Dsecret@db/health#visits",
        "postgresql://officer@db/health?password=hunter2-secret#visits",
        "postgresql://officer:hunter2-secret@db/health?query=SELECT 1",
    ],
)
def test_passwords_are_never_shown(text: str) -> None:
    source = Source.parse(text)

    assert "hunter2" not in str(source)
    assert "hunter2" not in repr(source)
    assert "***" in str(source)
    assert "hunter2" not in source.redact(f"could not connect: {text} hunter2-secret")


def test_a_malformed_postgres_url_is_refused_without_its_password() -> None:
    with pytest.raises(SourceSpecError) as caught:
        Source.parse("postgresql://officer:hunter2-secret@db/health")

    assert "hunter2" not in str(caught.value)


def test_departments_from_a_folder(tmp_path: Path) -> None:
    for name in ("health-site-2.csv", "health-site-1.parquet", "README.md"):
        (tmp_path / name).write_text("x\n")

    sources = DepartmentSources.from_folder(tmp_path)

    assert sources.departments == ("health-site-1", "health-site-2")
    assert sources.source_of("health-site-2").kind is SourceKind.CSV
    with pytest.raises(UnknownDepartmentError, match="health-site-1, health-site-2"):
        sources.source_of("health-site-9")


def test_a_department_with_two_files_is_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "north.csv").write_text("x\n")
    (tmp_path / "north.parquet").write_text("x\n")

    with pytest.raises(SourceSpecError, match="two files"):
        DepartmentSources.from_folder(tmp_path)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceSpecError, match=r"no <department>\.csv"):
        DepartmentSources.from_folder(tmp_path)
    with pytest.raises(SourceSpecError, match="not a folder"):
        DepartmentSources.from_folder(tmp_path / "absent")


def test_departments_from_a_mapping() -> None:
    sources = DepartmentSources.from_mapping(
        {"b": "csv:/b.csv", "a": Source.parse("sqlite:/a.db#t")}
    )

    assert sources.departments == ("a", "b")
    with pytest.raises(SourceSpecError, match="not a department id"):
        DepartmentSources.from_mapping({"../etc": "csv:/x.csv"})
