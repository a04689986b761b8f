"""The declared schemas: constructor rules and what each catalog schema declares."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fedgov.data import (
    Classification,
    ColumnKind,
    ColumnRole,
    ColumnSpec,
    DatasetSchema,
    LabelRule,
    MissingPolicy,
    Transform,
    get_dataset,
    list_datasets,
)
from fedgov.errors import ConfigurationError
from fedgov.types import DatasetId

FEATURE = frozenset({ColumnRole.FEATURE})


def _spec(**overrides: object) -> ColumnSpec:
    arguments: dict[str, object] = {
        "name": "x",
        "kind": ColumnKind.FLOAT,
        "roles": FEATURE,
        "classification": Classification.INTERNAL,
        "description": "test column",
        "bounds": (0.0, 10.0),
    }
    arguments.update(overrides)
    return ColumnSpec(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"roles": frozenset()}, "at least one role"),
        ({"bounds": None}, "needs declared bounds"),
        ({"bounds": (5.0, 5.0)}, "min < max"),
        ({"bounds": (0.0, math.inf)}, "finite"),
        ({"categories": ("a",)}, "not categories"),
        ({"kind": ColumnKind.CATEGORICAL, "bounds": None}, "needs declared categories"),
        (
            {"kind": ColumnKind.CATEGORICAL, "bounds": None, "categories": ("a", "a")},
            "unique",
        ),
        (
            {"kind": ColumnKind.CATEGORICAL, "bounds": None, "categories": ("a", 1)},
            "all text or all integers",
        ),
        ({"kind": ColumnKind.BINARY, "bounds": (0.0, 2.0)}, "(0, 1)"),
        (
            {
                "roles": frozenset({ColumnRole.DIRECT_IDENTIFIER, ColumnRole.FEATURE}),
                "classification": Classification.CORE,
            },
            "no other role",
        ),
        ({"roles": frozenset({ColumnRole.DIRECT_IDENTIFIER})}, "classified CORE"),
        ({"classification": Classification.CORE}, "only direct identifiers"),
        ({"roles": frozenset({ColumnRole.FEATURE, ColumnRole.LABEL})}, "label column"),
        ({"roles": frozenset({ColumnRole.FEATURE, ColumnRole.AUXILIARY})}, "auxiliary"),
        ({"roles": frozenset({ColumnRole.SENSITIVE})}, "classified SENSITIVE"),
        ({"missing": MissingPolicy.IMPUTE}, "needs a declared fill_value"),
        ({"missing": MissingPolicy.IMPUTE, "fill_value": 11.0}, "not an allowed value"),
        ({"fill_value": 1.0}, "only for the impute policy"),
        ({"missing": MissingPolicy.KEEP}, "cannot keep missing"),
        (
            {"roles": frozenset({ColumnRole.AUXILIARY}), "transform": Transform.LOG1P},
            "only features",
        ),
        ({"transform": Transform.ONE_HOT}, "one-hot"),
        ({"bounds": (-2.0, 1.0), "transform": Transform.LOG1P}, "above -1"),
        (
            {"kind": ColumnKind.BINARY, "bounds": None, "transform": Transform.LOG1P},
            "binary",
        ),
        ({"bins": (0.0, 5.0)}, "in (0, 10]"),
        ({"bins": (5.0, 11.0)}, "in (0, 10]"),
        ({"bins": (5.0, 5.0)}, "strictly increasing"),
        ({"bins": (6.0, 5.0)}, "strictly increasing"),
        ({"kind": ColumnKind.BINARY, "bounds": None, "bins": (0.5,)}, "binned"),
        ({"roles": frozenset({ColumnRole.AUXILIARY}), "bins": (5.0,)}, "binned"),
    ],
)
def test_column_spec_rejects_inconsistent_declarations(
    overrides: dict[str, object], rule: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _spec(**overrides)

    assert caught.value.argument == "column 'x'"
    assert rule in caught.value.rule


def test_bins_name_one_feature_per_interval_after_the_scaled_value() -> None:
    spec = _spec(kind=ColumnKind.INTEGER, bins=(2, 5, 10))

    assert spec.bins == (2.0, 5.0, 10.0)
    assert spec.encoded_names == (
        "x",
        "x in [0, 2)",
        "x in [2, 5)",
        "x in [5, 10)",
        "x in [10, 10]",
    )


def test_binary_column_gets_unit_bounds() -> None:
    spec = _spec(kind=ColumnKind.BINARY, bounds=None)

    assert spec.bounds == (0.0, 1.0)


def test_allows_checks_kind_range_and_integrality() -> None:
    integer = _spec(kind=ColumnKind.INTEGER)

    assert integer.allows(3)
    assert integer.allows(3.0)
    assert not integer.allows(3.5)
    assert not integer.allows(11)
    assert not integer.allows(math.nan)
    assert not integer.allows(True)
    assert not integer.allows("3")


def test_label_rule_needs_exactly_one_definition() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        LabelRule(name="y", column="x", description="d")
    with pytest.raises(ConfigurationError, match="exactly one"):
        LabelRule(
            name="y",
            column="x",
            description="d",
            greater_than=0,
            positive_values=("a",),
        )


def test_label_rule_applies_threshold_and_categories() -> None:
    frame = pd.DataFrame({"n": [0, 1, 5], "c": ["a", "b", "a"]})

    by_threshold = LabelRule(
        name="y", column="n", description="d", greater_than=0
    ).apply(frame)
    by_category = LabelRule(
        name="y", column="c", description="d", positive_values=("a",)
    ).apply(frame)

    assert by_threshold.tolist() == [0, 1, 1]
    assert by_category.tolist() == [1, 0, 1]
    assert by_threshold.dtype.name == "int64"


def test_schema_needs_its_label_column_to_have_the_label_role() -> None:
    label = _spec(name="y", roles=frozenset({ColumnRole.LABEL}))
    feature = _spec()

    with pytest.raises(ConfigurationError, match="LABEL role"):
        DatasetSchema(
            DatasetId("t"),
            (feature,),
            LabelRule(name="l", column="y", description="d", greater_than=0),
        )
    schema = DatasetSchema(
        DatasetId("t"),
        (feature, label),
        LabelRule(name="l", column="y", description="d", greater_than=0),
    )
    assert schema.feature_names == ("x",)


def test_catalog_lists_both_datasets() -> None:
    assert list_datasets() == ("adult", "randhie")


@pytest.mark.parametrize("dataset", ["randhie", "adult"])
def test_every_column_is_classified_and_typed(dataset: str) -> None:
    schema = get_dataset(dataset).schema

    for column in schema:
        assert isinstance(column.classification, Classification), column.name
        assert column.description, column.name
        if column.is_numeric:
            assert column.bounds is not None, column.name
        else:
            assert column.categories, column.name


@pytest.mark.parametrize("dataset", ["randhie", "adult"])
def test_identifiers_are_core_and_never_features(dataset: str) -> None:
    schema = get_dataset(dataset).schema

    for column in schema.with_role(ColumnRole.DIRECT_IDENTIFIER):
        assert column.classification is Classification.CORE
        assert not column.is_feature
    for column in schema.with_classification(Classification.CORE):
        assert column.has_role(ColumnRole.DIRECT_IDENTIFIER)


def test_randhie_schema_matches_the_published_columns() -> None:
    schema = get_dataset("randhie").schema
    leaky = {"outpdol", "drugdol", "suppdol", "mentdol", "inpdol", "meddol", "totadm"}
    leaky |= {"inpmis", "mentvis", "mdvis", "notmdvis", "lnmeddol", "binexp"}

    features = {c.name for c in schema.features}

    assert len(schema) == 46
    assert schema.num_features == 24
    assert not features & leaky
    assert not features & {"rownames", "zper", "site"}
    assert {c.name for c in schema.with_role(ColumnRole.DIRECT_IDENTIFIER)} == {
        "rownames",
        "zper",
    }
    assert schema.column("site").has_role(ColumnRole.PARTITION)
    assert schema.label.column == "mdvis"
    assert schema.label.greater_than == 0


def test_adult_schema_matches_the_published_columns() -> None:
    schema = get_dataset("adult").schema

    assert len(schema) == 15
    assert schema.num_features == 116
    assert "fnlwgt" not in {c.name for c in schema.features}
    assert schema.feature_names[:3] == ("age", "age in [17, 20)", "age in [20, 25)")
    assert schema.feature_names[12:14] == (
        "workclass=Private",
        "workclass=Self-emp-not-inc",
    )
    assert {c.name for c in schema.quasi_identifiers} >= {
        "age",
        "sex",
        "race",
        "native_country",
    }
    assert schema.column("race").classification is Classification.SENSITIVE
