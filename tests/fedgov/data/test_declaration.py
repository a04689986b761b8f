"""Declaration files: every rule is checked on load and named by file, line, key."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from fedgov.data import (
    DataErrorReason,
    DeclarationError,
    MulticlassLabel,
    RegressionTarget,
    TaskKind,
    UnknownDatasetError,
    decode_targets,
    encode_features,
    encode_labels,
    get_dataset,
    load_declaration,
    parse_declaration,
)
from fedgov.errors import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

VALID = textwrap.dedent(
    """\
    fedgov_dataset: 1
    name: clinic
    title: Clinic visits
    provenance:
      source: the county clinics' records system
      licence: internal records of the county, not for release
    task:
      kind: binary
      summary: whether a person visits the clinic in a year
      label: any_visit
      column: visits
      greater_than: 0
      description: any_visit = 1 if visits > 0
    unit_of_privacy:
      column: person
      max_records_per_unit: 3
    columns:
      - name: person
        kind: integer
        bounds: [1, 1000000]
        roles: [direct_identifier]
        classification: core
        description: person id
      - name: age
        kind: integer
        bounds: [0, 120]
        roles: [quasi_identifier, feature]
        classification: internal
        description: age in years
      - name: district
        kind: categorical
        categories: [north, south, east]
        roles: [feature]
        classification: internal
        transform: one_hot
        description: district of residence
      - name: visits
        kind: integer
        bounds: [0, 200]
        roles: [label, sensitive]
        classification: sensitive
        description: clinic visits in the year
    """
)


def _error(text: str) -> DeclarationError:
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(text, origin="clinic.yaml")
    return caught.value


def test_a_valid_declaration_loads() -> None:
    spec = parse_declaration(VALID, origin="clinic.yaml")

    assert spec.id == "clinic"
    assert spec.unit.column == "person"
    assert spec.unit.max_records_per_unit == 3
    # The split key defaults to the person column: a person on one side only.
    assert spec.split_key == "person"
    assert spec.natural_partition is None
    assert spec.reader is None
    assert spec.task_kind is TaskKind.BINARY
    assert spec.schema.feature_names == (
        "age",
        "district=north",
        "district=south",
        "district=east",
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "rule"),
    [
        ("bounds: [0, 120]", "bounds: [120, 0]", "columns[1].bounds", "min < max"),
        ("bounds: [0, 120]", "bound: [0, 120]", "columns[1].bound", "unknown key"),
        ("kind: categorical", "kind: text", "columns[2].kind", "must be one of"),
        (
            "categories: [north, south, east]",
            "categories: [yes, no]",
            "columns[2].categories[0]",
            "in quotes",
        ),
        (
            "classification: internal\n    description: age",
            "classification: core\n    description: age",
            "columns[1].classification",
            "only direct identifiers",
        ),
        ("greater_than: 0", "greater_than: TODO", "task.greater_than", "placeholder"),
        ("column: visits", "column: age", "task.column", "LABEL role"),
        (
            "column: person",
            "column: age",
            "unit_of_privacy.column",
            "direct_identifier",
        ),
        (
            "max_records_per_unit: 3",
            "max_records_per_unit: 0",
            "unit_of_privacy.max_records_per_unit",
            ">= 1",
        ),
        ("fedgov_dataset: 1", "fedgov_dataset: 2", "fedgov_dataset", "format 1"),
        ("name: clinic", "name: 'a clinic'", "name", "not a valid name"),
        ("  - name: visits", "  - name: age", "columns[3].name", "already declared"),
        (
            "roles: [quasi_identifier, feature]",
            "bins: [65, 18]\n    roles: [quasi_identifier, feature]",
            "columns[1].bins",
            "strictly increasing",
        ),
        (
            "roles: [quasi_identifier, feature]",
            "bins: [18, old]\n    roles: [quasi_identifier, feature]",
            "columns[1].bins[1]",
            "must be a number",
        ),
    ],
)
def test_a_breach_names_file_line_key_and_rule(
    old: str, new: str, key: str, rule: str
) -> None:
    assert old in VALID
    text = VALID.replace(old, new, 1)
    line = text[: text.rindex(new)].count("\n") + 1

    error = _error(text)

    assert error.file == "clinic.yaml"
    assert (error.key, error.line) == (key, line)
    assert rule in error.rule
    assert error.reason_class is DataErrorReason.INVALID_DECLARATION
    assert isinstance(error, ConfigurationError)
    assert str(error).startswith(f"clinic.yaml:{line}: {key}: ")


def test_declared_bins_encode_one_indicator_per_interval() -> None:
    text = VALID.replace("bounds: [0, 120]", "bounds: [0, 120]\n    bins: [18, 65]", 1)
    spec = parse_declaration(text, origin="clinic.yaml")
    records = pd.DataFrame({"age": [0, 18, 64, 120], "district": ["north"] * 4})

    encoded = encode_features(spec.schema, records)

    assert spec.schema.feature_names[:4] == (
        "age",
        "age in [0, 18)",
        "age in [18, 65)",
        "age in [65, 120]",
    )
    assert encoded[:, 1:4].tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_a_missing_key_is_named() -> None:
    error = _error(VALID.replace("title: Clinic visits\n", ""))

    assert error.key == "title"
    assert "required key is missing" in error.rule


def test_a_key_given_twice_is_an_error() -> None:
    error = _error(VALID.replace("title: Clinic visits", "title: A\ntitle: B"))

    assert (error.key, error.line) == ("title", 4)
    assert "twice" in error.rule


def test_invalid_yaml_names_its_line() -> None:
    error = _error(VALID.replace("  source: the county", "  source: [the county"))

    assert error.key == ""
    assert error.line is not None
    assert "not valid YAML" in error.rule


def test_the_split_key_must_keep_a_person_on_one_side() -> None:
    error = _error(VALID + "split_key: age\n")

    assert error.key == "split_key"
    assert "person column" in error.rule


def test_one_record_per_person_needs_no_person_column() -> None:
    text = VALID.replace(
        "  column: person\n  max_records_per_unit: 3\n",
        "  one_record_per_person: true\n",
    )

    spec = parse_declaration(text)

    assert spec.unit.one_record_per_person
    assert spec.split_key is None
    both = VALID.replace(
        "  column: person\n", "  column: person\n  one_record_per_person: true\n"
    )
    assert _error(both).key == "unit_of_privacy"


def test_numbers_in_exponent_form_are_numbers() -> None:
    spec = parse_declaration(VALID.replace("bounds: [1, 1000000]", "bounds: [1, 1e6]"))

    assert spec.schema.column("person").bounds == (1.0, 1e6)


def test_multiclass_task_encodes_class_indices() -> None:
    text = VALID.replace(
        "  column: visits\n  greater_than: 0\n",
        "  column: district\n  classes: [south, north, east]\n",
    ).replace("kind: binary", "kind: multiclass")
    text = text.replace(
        "roles: [feature]\n    classification: internal\n    transform: one_hot",
        "roles: [label]\n    classification: internal",
    )
    text = text.replace("roles: [label, sensitive]", "roles: [feature, sensitive]")

    spec = parse_declaration(text)
    frame = pd.DataFrame({"district": ["north", "east", "south"]})

    assert isinstance(spec.schema.label, MulticlassLabel)
    assert encode_labels(spec.schema, frame).tolist() == [1, 2, 0]
    assert encode_labels(spec.schema, frame).dtype == np.int64


def test_multiclass_classes_are_the_declared_categories() -> None:
    text = VALID.replace(
        "  column: visits\n  greater_than: 0\n",
        "  column: district\n  classes: [south, north]\n",
    ).replace("kind: binary", "kind: multiclass")
    text = text.replace(
        "roles: [feature]\n    classification: internal\n    transform: one_hot",
        "roles: [label]\n    classification: internal",
    )
    text = text.replace("roles: [label, sensitive]", "roles: [feature, sensitive]")

    error = _error(text)

    assert error.key == "task.classes"


def test_regression_targets_are_scaled_by_the_declared_bounds() -> None:
    text = VALID.replace("  greater_than: 0\n", "").replace(
        "kind: binary", "kind: regression"
    )

    spec = parse_declaration(text)
    frame = pd.DataFrame({"visits": [0, 50, 200]})
    encoded = encode_labels(spec.schema, frame)

    assert isinstance(spec.schema.label, RegressionTarget)
    assert encoded.dtype == np.float32
    assert encoded.tolist() == [0.0, 0.25, 1.0]
    assert decode_targets(spec.schema, encoded).tolist() == [0.0, 50.0, 200.0]


def test_a_regression_target_is_numeric() -> None:
    text = VALID.replace(
        "  column: visits\n  greater_than: 0\n", "  column: district\n"
    ).replace("kind: binary", "kind: regression")
    text = text.replace(
        "roles: [feature]\n    classification: internal\n    transform: one_hot",
        "roles: [label]\n    classification: internal",
    )
    text = text.replace("roles: [label, sensitive]", "roles: [feature, sensitive]")

    assert _error(text).key == "task.column"


def test_a_binary_rule_key_is_refused_for_regression() -> None:
    error = _error(VALID.replace("kind: binary", "kind: regression"))

    assert error.key == "task.greater_than"


def test_a_declaration_file_is_a_dataset(tmp_path: Path) -> None:
    path = tmp_path / "clinic.yaml"
    path.write_text(VALID)

    assert get_dataset(str(path)).id == "clinic"
    assert load_declaration(path).declaration == path

    path.write_text(VALID.replace("title: Clinic visits", "title: Clinic visits, v2"))
    assert get_dataset(str(path)).title == "Clinic visits, v2"


def test_an_unreadable_declaration_is_named(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="cannot read"):
        get_dataset(str(tmp_path / "absent.yaml"))
    with pytest.raises(UnknownDatasetError, match="path of a declaration file"):
        get_dataset("clinic")


def test_the_built_in_declarations_carry_their_unit_of_privacy() -> None:
    randhie, adult = get_dataset("randhie"), get_dataset("adult")

    assert (randhie.unit.column, randhie.unit.max_records_per_unit) == ("zper", 5)
    assert adult.unit.one_record_per_person
    assert randhie.declaration is not None
    assert randhie.declaration.name == "randhie.yaml"


_RETENTION = (
    "retention:\n"
    "  days: 2555\n"
    "  description: seven years, county records schedule GS-12\n"
)


def test_a_retention_period_is_declared() -> None:
    spec = parse_declaration(VALID + _RETENTION, origin="clinic.yaml")

    assert spec.retention is not None
    assert spec.retention.days == 2555
    assert "GS-12" in spec.retention.description
    assert parse_declaration(VALID, origin="clinic.yaml").retention is None


@pytest.mark.parametrize(
    ("old", "new", "key", "rule"),
    [
        ("days: 2555", "days: 0", "retention.days", ">= 1"),
        ("days: 2555", "days: seven", "retention.days", "integer"),
        ("days: 2555", "weeks: 365", "retention.weeks", "unknown key"),
    ],
)
def test_a_bad_retention_names_its_key(old: str, new: str, key: str, rule: str) -> None:
    error = _error(VALID + _RETENTION.replace(old, new))

    assert error.key == key
    assert rule in error.rule
