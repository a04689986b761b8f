"""A source's spec: the text a department's node config carries."""

from __future__ import annotations

import pytest

from fedgov.data import Source


@pytest.mark.parametrize(
    "text",
    [
        "csv:/srv/health/records.csv",
        "parquet:/srv/health/*.parquet",
        "sqlite:/srv/health/records.db#visits",
        "postgresql://officer:s3cret@db.county:5432/health#public.visits",
        "postgresql://officer@db.county/health?sslmode=require&query=SELECT * FROM v WHERE a = 'x&y' -- #",
    ],
)
def test_the_spec_parses_back_to_the_same_source(text: str) -> None:
    source = Source.parse(text)
    assert Source.parse(source.spec) == source


def test_the_spec_keeps_the_password_that_str_redacts() -> None:
    source = Source.parse("postgresql://officer:s3cret@db/health#visits")
    assert "s3cret" in source.spec
    assert "s3cret" not in str(source)
