"""A declaration's digest: what it declares, not how it is written."""

from __future__ import annotations

from fedgov.data import get_dataset, parse_declaration
from tests.own_data import DECLARATIONS

TEXT = DECLARATIONS["binary"].read_text(encoding="utf-8")


def test_layout_and_comments_do_not_change_the_digest() -> None:
    reworded = "# another county's copy\n" + TEXT.replace(
        "bounds: [0, 10]", "bounds: [0.0, 10.0]"
    ).replace("  licence:", "  # licence below\n  licence:")
    assert (
        parse_declaration(reworded).digest
        == get_dataset(str(DECLARATIONS["binary"])).digest
    )


def test_any_declared_change_changes_the_digest() -> None:
    digest = parse_declaration(TEXT).digest
    for old, new in [
        ("bounds: [0, 10]", "bounds: [0, 11]"),
        ("classification: internal", "classification: public"),
        ("greater_than: 0", "greater_than: 1"),
        ("max_records_per_unit: 1", "max_records_per_unit: 2"),
    ]:
        assert old in TEXT
        assert parse_declaration(TEXT.replace(old, new, 1)).digest != digest


def test_every_task_of_one_table_is_its_own_declaration() -> None:
    digests = {get_dataset(str(path)).digest for path in DECLARATIONS.values()}
    names = {get_dataset(str(path)).id for path in DECLARATIONS.values()}
    assert len(digests) == 3
    assert names == {"nmes1988"}
