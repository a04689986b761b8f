"""Analytics protect the unit the declaration names, as DP-SGD does."""

from __future__ import annotations

from fedgov.data import get_dataset, parse_declaration
from privacy.mechanisms import Query, privacy_unit
from tests.own_data import DECLARATIONS


def test_the_unit_and_its_records_come_from_the_declaration() -> None:
    assert privacy_unit(get_dataset("randhie")).person_key == "zper"
    assert privacy_unit(get_dataset("randhie")).default_rows == 5
    assert privacy_unit(get_dataset("adult")).person_key is None
    text = (
        DECLARATIONS["binary"]
        .read_text(encoding="utf-8")
        .replace("max_records_per_unit: 1", "max_records_per_unit: 3")
    )
    unit = privacy_unit(parse_declaration(text))
    assert (unit.person_key, unit.default_rows) == ("person", 3)


def test_a_query_on_a_declared_dataset_bounds_each_person_by_the_declaration() -> None:
    query = Query(
        kind="count", dataset=str(DECLARATIONS["binary"]), epsilon=0.5, delta=1e-5
    )
    assert query.rows_per_person == 1
    assert query.dataset_id == "nmes1988"
    wire = query.to_config()
    assert wire["dataset"] == "nmes1988"
    assert wire["dataset-digest"] == get_dataset(str(DECLARATIONS["binary"])).digest
    # Read back against the reader's own copy, named by path.
    again = Query.from_config(wire, declaration=str(DECLARATIONS["binary"]))
    assert again.dataset_id == "nmes1988"
