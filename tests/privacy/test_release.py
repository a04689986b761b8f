"""Tests of privacy.release: k-anonymity, minimum cell size and classes."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.data import (
    Classification,
    ColumnKind,
    ColumnRole,
    ColumnSpec,
    Transform,
)
from fedgov.errors import ConfigurationError
from privacy.errors import ReleaseRefusedError
from privacy.release import (
    ReleasePolicy,
    ReleaseViolation,
    assess_release,
    check_release,
)

POLICY = ReleasePolicy(quasi_identifiers=("age_band", "sex"), k=3, min_group_size=5)


def _column(
    name: str, roles: set[ColumnRole], classification: Classification
) -> ColumnSpec:
    return ColumnSpec(
        name=name,
        kind=ColumnKind.CATEGORICAL,
        roles=frozenset(roles),
        classification=classification,
        description=name,
        categories=("a", "b"),
        transform=Transform.ONE_HOT if ColumnRole.FEATURE in roles else Transform.NONE,
    )


SCHEMA = (
    _column("resident_id", {ColumnRole.DIRECT_IDENTIFIER}, Classification.CORE),
    _column(
        "age_band",
        {ColumnRole.QUASI_IDENTIFIER, ColumnRole.FEATURE},
        Classification.INTERNAL,
    ),
    _column(
        "sex",
        {ColumnRole.QUASI_IDENTIFIER, ColumnRole.FEATURE},
        Classification.INTERNAL,
    ),
    _column(
        "diagnosis", {ColumnRole.SENSITIVE, ColumnRole.LABEL}, Classification.SENSITIVE
    ),
    _column("year", {ColumnRole.FEATURE}, Classification.PUBLIC),
)


def _records() -> pd.DataFrame:
    # Groups (age_band, sex): (30, f) x 3, (40, m) x 2, (50, f) x 1.
    return pd.DataFrame(
        {
            "age_band": ["30-39"] * 3 + ["40-49"] * 2 + ["50-59"],
            "sex": ["f", "f", "f", "m", "m", "f"],
            "visits": [1, 4, 2, 7, 3, 9],
        }
    )


def test_record_level_k_anonymity_names_groups_by_rows_only() -> None:
    # Act
    report = assess_release(_records(), policy=POLICY, name="visits.csv")

    # Assert
    assert not report.ok
    assert report.groups == 3
    assert [(v.rule, v.rows, v.size, v.threshold) for v in report.violations] == [
        ("k-anonymity", (3, 4), 2, 3),
        ("k-anonymity", (5,), 1, 3),
    ]
    assert all(v.columns == ("age_band", "sex") for v in report.violations)
    assert "50-59" not in str(report.violations[1])


def test_check_release_raises_with_the_table_name_and_no_values() -> None:
    # Act
    with pytest.raises(ReleaseRefusedError) as caught:
        check_release(_records(), policy=POLICY, name="visits.csv")

    # Assert
    assert caught.value.table == "visits.csv"
    assert len(caught.value.violations) == 2
    message = str(caught.value)
    assert "visits.csv" in message
    assert "rows [3, 4]" in message
    assert "40-49" not in message
    assert "m," not in message


def test_a_k_anonymous_table_passes() -> None:
    # Prepare
    frame = pd.concat([_records().iloc[:3]] * 2, ignore_index=True)

    # Act
    report = check_release(frame, policy=POLICY)

    # Assert
    assert report.ok
    assert report.groups == 1


def test_aggregated_frame_checks_cells_and_quasi_identifier_totals() -> None:
    # Prepare: (30-39, f) totals 3 + 4 = 7 over two cells; (40-49, m) totals 6.
    table = pd.DataFrame(
        {
            "age_band": ["30-39", "30-39", "40-49", "50-59"],
            "sex": ["f", "f", "m", "f"],
            "year": [1, 2, 1, 1],
            "n": [3, 4, 6, 0],
        }
    )

    # Act
    report = assess_release(table, policy=POLICY, count_column="n")

    # Assert: both small cells reported; no QI group under k; zero is absent.
    assert [(v.rule, v.rows, v.size) for v in report.violations] == [
        ("min-group-size", (0,), 3),
        ("min-group-size", (1,), 4),
    ]
    assert report.groups == 2


def test_aggregated_k_anonymity_sums_cells_of_a_group() -> None:
    # Prepare
    policy = ReleasePolicy(quasi_identifiers=("age_band",), k=10, min_group_size=2)
    table = pd.DataFrame(
        {"age_band": ["a", "a", "b"], "year": [1, 2, 1], "n": [4, 5, 12]}
    )

    # Act
    report = assess_release(table, policy=policy, count_column="n")

    # Assert
    assert [(v.rule, v.rows, v.size) for v in report.violations] == [
        ("k-anonymity", (0, 1), 9)
    ]


def test_series_of_counts_from_groupby() -> None:
    # Prepare
    counts = _records().groupby(["age_band", "sex"]).size()

    # Act
    report = assess_release(counts, policy=POLICY)

    # Assert
    assert [(v.rule, v.size) for v in report.violations] == [
        ("min-group-size", 3),
        ("min-group-size", 2),
        ("min-group-size", 1),
        ("k-anonymity", 2),
        ("k-anonymity", 1),
    ]


def test_mapping_of_counts() -> None:
    # Prepare
    counts = {("30-39", "f"): 12, ("40-49", "m"): 2, ("50-59", "f"): 0}

    # Act
    report = assess_release(counts, policy=POLICY, group_columns=("age_band", "sex"))

    # Assert
    assert [(v.rule, v.rows) for v in report.violations] == [
        ("min-group-size", (1,)),
        ("k-anonymity", (1,)),
    ]


def test_mapping_with_single_keys() -> None:
    # Act
    report = assess_release({"f": 30, "m": 40}, policy=POLICY, group_columns=("sex",))

    # Assert
    assert report.ok


def test_no_quasi_identifier_means_one_group() -> None:
    # Prepare
    frame = pd.DataFrame({"visits": [1, 2]})

    # Act
    report = assess_release(frame, policy=POLICY)

    # Assert
    assert [(v.rule, v.columns, v.size) for v in report.violations] == [
        ("k-anonymity", ("<whole table>",), 2)
    ]


def test_missing_quasi_identifier_values_form_their_own_group() -> None:
    # Prepare
    frame = pd.DataFrame({"sex": ["f", "f", "f", None]})

    # Act
    report = assess_release(frame, policy=POLICY)

    # Assert
    assert [(v.rows, v.size) for v in report.violations] == [((3,), 1)]


def test_only_ten_rows_are_listed_for_a_large_group() -> None:
    # Prepare
    policy = ReleasePolicy(quasi_identifiers=("sex",), k=50)
    frame = pd.DataFrame({"sex": ["f"] * 20})

    # Act
    (violation,) = assess_release(frame, policy=policy).violations

    # Assert
    assert violation.rows == tuple(range(10))
    assert "first 10 of 20 rows" in violation.detail


def test_schema_classes_refuse_forbidden_columns() -> None:
    # Prepare
    policy = ReleasePolicy.from_schema(SCHEMA, k=2, min_group_size=1)
    table = pd.DataFrame(
        {
            "resident_id": ["a", "b"],
            "diagnosis": ["a", "a"],
            "age_band": ["a", "a"],
            "zip": ["a", "a"],
            "year": ["a", "a"],
        }
    )

    # Act
    report = assess_release(table, policy=policy)

    # Assert
    assert policy.quasi_identifiers == ("age_band", "sex")
    assert [(v.rule, v.columns) for v in report.violations] == [
        ("classification", ("resident_id",)),
        ("classification", ("diagnosis",)),
        ("classification", ("age_band",)),
        ("classification", ("zip",)),
    ]
    assert "CORE" in report.violations[0].detail
    assert "DP mechanism" in report.violations[1].detail
    assert "record-level" in report.violations[2].detail
    assert "not declared" in report.violations[3].detail


def test_internal_records_leave_only_to_a_named_recipient() -> None:
    # Prepare
    policy = ReleasePolicy.from_schema(SCHEMA, k=2, min_group_size=1)
    table = pd.DataFrame(
        {"age_band": ["a", "a"], "diagnosis": ["a", "b"], "year": ["a", "a"]}
    )

    # Act
    published = assess_release(table, policy=policy)
    shared = assess_release(table, policy=policy, recipient="health-site-2")

    # Assert: the recipient lifts the INTERNAL rule, and nothing else.
    assert [v.columns for v in published.violations] == [("age_band",), ("diagnosis",)]
    assert "fingerprinted extract for a named recipient" in (
        published.violations[0].detail
    )
    assert [v.columns for v in shared.violations] == [("diagnosis",)]


def test_schema_allows_an_aggregated_count_table() -> None:
    # Prepare
    policy = ReleasePolicy.from_schema(SCHEMA, k=5, min_group_size=10)
    table = pd.DataFrame({"age_band": ["a", "b"], "sex": ["a", "a"], "count": [10, 25]})

    # Act / Assert
    assert check_release(table, policy=policy, count_column="count").ok


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["f", "m"])),
        min_size=1,
        max_size=60,
    ),
    k=st.integers(min_value=2, max_value=6),
)
def test_k_anonymity_matches_a_direct_count(
    rows: list[tuple[str, str]], k: int
) -> None:
    # Prepare
    frame = pd.DataFrame(rows, columns=["age_band", "sex"])
    policy = ReleasePolicy(quasi_identifiers=("age_band", "sex"), k=k)
    sizes = {key: rows.count(key) for key in set(rows)}

    # Act
    report = assess_release(frame, policy=policy)

    # Assert: one finding per small group, covering exactly its rows.
    small = sorted(size for size in sizes.values() if size < k)
    assert sorted(v.size or 0 for v in report.violations) == small
    for violation in report.violations:
        keys = {rows[r] for r in violation.rows}
        assert len(keys) == 1
        assert sizes[keys.pop()] == violation.size
    assert report.groups == len(sizes)


@settings(max_examples=30, deadline=None)
@given(
    counts=st.dictionaries(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3)),
        st.integers(min_value=0, max_value=30),
        min_size=1,
    )
)
def test_aggregated_and_expanded_records_agree_on_k_anonymity(
    counts: dict[tuple[str, int], int],
) -> None:
    # Prepare: the same people as counts and as one row each.
    policy = ReleasePolicy(quasi_identifiers=("age_band",), k=7, min_group_size=1)
    records = pd.DataFrame(
        [key for key, n in counts.items() for _ in range(n)],
        columns=["age_band", "year"],
    )

    # Act
    aggregated = assess_release(
        counts, policy=policy, group_columns=("age_band", "year")
    )
    expanded = assess_release(records, policy=policy)

    # Assert
    assert sorted(v.size or 0 for v in aggregated.violations) == sorted(
        v.size or 0 for v in expanded.violations
    )


@pytest.mark.parametrize(
    ("counts", "message"),
    [([1, -1], "non-negative"), ([1.5, 2], "whole"), ([1, float("nan")], "row 1")],
)
def test_malformed_counts_are_refused(counts: list[float], message: str) -> None:
    # Prepare
    table = pd.DataFrame({"sex": ["f", "m"], "n": counts})

    # Act / Assert
    with pytest.raises(ConfigurationError, match=message):
        assess_release(table, policy=POLICY, count_column="n")


def test_input_errors() -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="'n' is not a column"):
        assess_release(pd.DataFrame({"sex": ["f"]}), policy=POLICY, count_column="n")
    with pytest.raises(ConfigurationError, match="group_columns"):
        assess_release({("a", "f"): 3}, policy=POLICY)
    with pytest.raises(ConfigurationError, match="group_columns"):
        assess_release({("a", "f"): 3}, policy=POLICY, group_columns=("age_band",))
    with pytest.raises(ConfigurationError, match="named index"):
        assess_release(pd.Series([1, 2]), policy=POLICY)


@pytest.mark.parametrize(
    ("settings_", "argument"),
    [
        ({"k": 1}, "k"),
        ({"k": True}, "k"),
        ({"min_group_size": 0}, "min_group_size"),
        ({"quasi_identifiers": ("a", "a")}, "quasi_identifiers"),
    ],
)
def test_policy_validation(settings_: dict[str, object], argument: str) -> None:
    # Prepare
    arguments: dict[str, object] = {"quasi_identifiers": ("a",), **settings_}

    # Act / Assert
    with pytest.raises(ConfigurationError) as caught:
        ReleasePolicy(**arguments)  # type: ignore[arg-type]
    assert caught.value.argument == argument


def test_violation_text() -> None:
    # Prepare
    violation = ReleaseViolation(
        rule="k-anonymity", columns=("a", "b"), detail="3 < 5", rows=(1, 2)
    )

    # Act / Assert
    assert str(violation) == "k-anonymity on (a, b) at rows [1, 2]: 3 < 5"
