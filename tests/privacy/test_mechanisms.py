"""DP analytics maths: calibration, sampling, the query language, exact answers."""

from __future__ import annotations

import math

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.stats import norm

from fedgov.errors import ConfigurationError
from fedgov.job import Accountant
from privacy.accounting import GaussianSpend, epsilon_spent
from privacy.mechanisms import (
    MAX_ANSWER_LENGTH,
    NoiseBlock,
    Predicate,
    Query,
    QueryError,
    confidence_half_width,
    exact_answer,
    gaussian_noise_multiplier,
    noise_blocks,
    plan_answer,
    plan_gaussian,
    release_gaussian,
)

dp.enable_features("contrib")

DELTA = 1e-5


def _query(kind: str = "histogram", **kwargs: object) -> Query:
    fields: dict[str, object] = {
        "kind": kind,
        "dataset": "randhie",
        "epsilon": 0.5,
        "delta": DELTA,
    }
    if kind == "histogram":
        fields.update(column="mdvis", bins=(0, 1, 2, 5, 10, 20, 80))
    fields.update(kwargs)
    return Query(**fields)  # type: ignore[arg-type]


PLD, RDP = Accountant.PLD, Accountant.RDP

# -- calibration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epsilon", "delta", "expected"),
    [
        (0.1, 1e-5, 33.9902),
        (0.5, 1e-5, 7.66737),
        (1.0, 1e-5, 4.04539),
        (2.0, 1e-6, 2.38258),
    ],
)
def test_rdp_noise_multiplier_fixed_values(
    epsilon: float, delta: float, expected: float
) -> None:
    # Prepare / Execute
    z = gaussian_noise_multiplier(epsilon=epsilon, delta=delta, accountant=RDP)

    # Assert: pinned values, tighter than the classical sqrt(2 ln(1.25/delta))/epsilon
    assert z == pytest.approx(expected, rel=1e-5)
    if epsilon <= 1:
        assert z < math.sqrt(2 * math.log(1.25 / delta)) / epsilon


def _analytic_gaussian_noise(epsilon: float, delta: float) -> float:
    """Balle & Wang (2018): the least noise multiplier with
    Phi(1/(2 z) - eps z) - e^eps Phi(-1/(2 z) - eps z) <= delta."""

    def excess(z: float) -> float:
        tight = norm.cdf(0.5 / z - epsilon * z)
        loose = math.exp(epsilon) * norm.cdf(-0.5 / z - epsilon * z)
        return float(tight - loose) - delta

    return float(optimize.brentq(excess, 1e-3, 1e4, xtol=1e-12))


@pytest.mark.parametrize(
    ("epsilon", "delta"), [(0.1, 1e-5), (0.5, 1e-5), (1.0, 1e-5), (2.0, 1e-6)]
)
def test_pld_noise_multiplier_is_the_analytic_gaussians(
    epsilon: float, delta: float
) -> None:
    # Prepare: the exact calibration, computed from the normal CDF
    exact = _analytic_gaussian_noise(epsilon, delta)

    # Act
    z = gaussian_noise_multiplier(epsilon=epsilon, delta=delta, accountant=PLD)

    # Assert: never less noise than exact, at most 0.3 % more (the PLD's
    # pessimistic discretization), and 5-15 % less than RDP asks for
    assert exact <= z <= exact * 1.003
    rdp = gaussian_noise_multiplier(epsilon=epsilon, delta=delta, accountant=RDP)
    assert 0.85 * rdp < z < 0.95 * rdp


@settings(max_examples=8, deadline=None)
@given(
    epsilon=st.floats(min_value=0.1, max_value=10.0),
    delta=st.floats(min_value=1e-8, max_value=1e-2),
)
def test_calibration_meets_epsilon_and_wastes_little(
    epsilon: float, delta: float
) -> None:
    z = gaussian_noise_multiplier(epsilon=epsilon, delta=delta)
    one = [GaussianSpend(noise_multiplier=z, sample_rate=1.0, steps=1)]
    slightly_less = [
        GaussianSpend(noise_multiplier=z * (1 - 1e-4), sample_rate=1.0, steps=1)
    ]

    assert epsilon_spent(one, delta=delta) <= epsilon
    assert epsilon_spent(slightly_less, delta=delta) > epsilon * (1 - 1e-3)


def test_epsilon_below_the_rdp_accountants_floor_is_refused() -> None:
    # log(1e10) / 255 ~ 0.09: no noise gets one answer below it at delta 1e-10
    # under RDP; PLD has no such floor.
    with pytest.raises(ConfigurationError, match="below what the rdp accountant"):
        gaussian_noise_multiplier(epsilon=0.05, delta=1e-10, accountant=RDP)
    assert gaussian_noise_multiplier(epsilon=0.05, delta=1e-10, accountant=PLD) > 0


@pytest.mark.parametrize(("epsilon", "delta"), [(0.1, 1e-5), (1.0, 1e-5), (2.0, 1e-6)])
def test_opendp_conversion_agrees_with_rdp(epsilon: float, delta: float) -> None:
    # An independent accountant (OpenDP's zCDP -> approx-DP) on the same noise.
    z = gaussian_noise_multiplier(epsilon=epsilon, delta=delta, accountant=RDP)
    measurement = dp.c.make_fix_delta(
        dp.c.make_zCDP_to_approxDP(
            dp.m.make_gaussian(
                dp.atom_domain(T=float, nan=False),
                dp.absolute_distance(T=float),
                scale=z,
            )
        ),
        delta=delta,
    )

    opendp_epsilon, _ = measurement.map(1.0)

    assert opendp_epsilon <= epsilon
    assert opendp_epsilon == pytest.approx(epsilon, rel=5e-3)


def test_plan_splits_rho_evenly_and_records_what_opendp_guarantees() -> None:
    blocks = [
        NoiseBlock(size=3, sensitivity=100.0, integer=False),
        NoiseBlock(size=3, sensitivity=5, integer=True),
    ]

    plan = plan_gaussian(blocks, epsilon=1.0, delta=DELTA)

    z = gaussian_noise_multiplier(epsilon=1.0, delta=DELTA)
    assert plan.noise_std[0] == pytest.approx(100.0 * z * math.sqrt(2), rel=1e-8)
    assert plan.noise_std[1] == pytest.approx(5.0 * z * math.sqrt(2), rel=1e-8)
    assert plan.spend.noise_multiplier == pytest.approx(z, rel=1e-8)
    assert plan.spend.sample_rate == 1.0
    assert plan.spend.steps == 1
    assert epsilon_spent([plan.spend], delta=DELTA) == plan.epsilon <= 1.0
    assert plan.length == 6


def test_empirical_noise_matches_the_plan() -> None:
    # Prepare: 2,000 draws of each kind of block
    plan = plan_gaussian(
        [
            NoiseBlock(size=1000, sensitivity=2, integer=True),
            NoiseBlock(size=1000, sensitivity=3.0, integer=False),
        ],
        epsilon=1.0,
        delta=DELTA,
    )
    exact = np.concatenate([np.full(1000, 7.0), np.full(1000, 2.5)])

    # Execute
    noise = np.concatenate(
        [release_gaussian(plan, exact) - exact, release_gaussian(plan, exact) - exact]
    )
    integer = np.concatenate([noise[:1000], noise[2000:3000]])
    real = np.concatenate([noise[1000:2000], noise[3000:]])

    # Assert: std within ~5 standard errors; counts stay whole
    for sample, std in ((integer, plan.noise_std[0]), (real, plan.noise_std[1])):
        assert abs(sample.mean()) < 5 * std / math.sqrt(len(sample))
        assert sample.std() == pytest.approx(std, rel=0.08)
    assert np.all(integer == np.round(integer))


def test_release_refuses_wrong_length_and_fractional_counts() -> None:
    plan = plan_gaussian([NoiseBlock(2, 1, True)], epsilon=1.0, delta=DELTA)

    with pytest.raises(ConfigurationError, match="2 entries"):
        release_gaussian(plan, np.zeros(3))
    with pytest.raises(ConfigurationError, match="whole counts"):
        release_gaussian(plan, np.array([1.0, 0.5]))


def test_confidence_half_width() -> None:
    assert confidence_half_width(10.0, confidence=0.95) == pytest.approx(
        19.59964, rel=1e-5
    )
    with pytest.raises(ConfigurationError, match="confidence"):
        confidence_half_width(1.0, confidence=1.0)


# -- the query language ---------------------------------------------------------------


def test_predicate_parse_and_typing() -> None:
    assert Predicate.parse(" xage >= 65 ") == Predicate("xage", ">=", "65")
    assert Predicate.parse("income==>50K") == Predicate("income", "==", ">50K")
    query = _query(
        "count", where=(Predicate.parse("xage>=65"), Predicate.parse("site==3"))
    )
    assert query.where == (Predicate("xage", ">=", 65.0), Predicate("site", "==", 3))


BAD_QUERIES = [
    ("kind", {"kind": "median"}),
    ("dataset", {"dataset": "census"}),
    ("column", {"column": "nope"}),
    ("column", {"column": "zper"}),
    ("column", {"kind": "count", "column": "xage", "bins": ()}),
    ("column", {"kind": "sum", "column": "plan", "bins": ()}),
    ("column", {"kind": "mean", "column": None, "bins": ()}),
    ("where", {"where": (Predicate("zper", "==", "3"),)}),
    ("where", {"where": (Predicate("plan", "<", "3"),)}),
    ("where", {"where": (Predicate("plan", "==", "12"),)}),
    ("where", {"where": (Predicate("xage", ">", "old"),)}),
    ("where", {"where": (Predicate("nope", ">", "1"),)}),
    ("group_by", {"group_by": "hlthp"}),
    ("group_by", {"group_by": "xage"}),
    ("group_by", {"group_by": "rownames"}),
    ("bins", {"bins": ()}),
    ("bins", {"bins": (0, 1, 2, 5)}),
    ("bins", {"bins": (0, 5, 5, 80)}),
    ("bins", {"bins": (0, float("inf"))}),
    ("bins", {"column": "plan"}),
    ("bins", {"kind": "sum", "column": "xage", "bins": (0, 65)}),
    ("bins", {"group_by": "plan", "bins": tuple(range(81))}),
    ("epsilon", {"epsilon": 0.0}),
    ("epsilon", {"epsilon": -1.0}),
    ("epsilon", {"epsilon": float("nan")}),
    ("epsilon", {"epsilon": float("inf")}),
    ("epsilon", {"epsilon": 0.05, "delta": 1e-10, "accountant": "rdp"}),
    ("accountant", {"accountant": "zcdp"}),
    ("delta", {"delta": 0.0}),
    ("delta", {"delta": 1.0}),
    ("quantiles", {"kind": "quantiles", "column": "xage", "bins": (), "quantiles": ()}),
    ("quantiles", {"kind": "quantiles", "column": "xage", "quantiles": (0.5, 1.0)}),
    ("quantiles", {"kind": "quantiles", "column": "xage", "quantiles": (0.5, 0.25)}),
    ("quantiles", {"quantiles": (0.5,)}),
    ("rows_per_person", {"rows_per_person": 0}),
    ("rows_per_person", {"rows_per_person": 101}),
    (
        "rows_per_person",
        {
            "dataset": "adult",
            "column": "age",
            "rows_per_person": 2,
            "bins": (17, 50, 90),
        },
    ),
]


@pytest.mark.parametrize(("argument", "change"), BAD_QUERIES)
def test_bad_queries_are_refused_naming_the_argument(
    argument: str, change: dict[str, object]
) -> None:
    with pytest.raises(QueryError) as caught:
        _query(**change)  # type: ignore[arg-type]

    assert caught.value.argument.startswith(argument)


def test_predicate_syntax_error() -> None:
    with pytest.raises(QueryError, match="column OP value"):
        Predicate.parse("xage => 3")


def test_answer_length_is_capped() -> None:
    assert MAX_ANSWER_LENGTH == 1024
    _query(group_by="plan", bins=tuple(range(0, 81, 2)))  # 18 x 40 = 720 cells


def test_wire_form_round_trips_and_is_revalidated() -> None:
    query = _query(group_by="female", where=(Predicate.parse("xage>=18"),))

    config = query.to_config()

    assert Query.from_config(config) == query
    with pytest.raises(QueryError, match="missing keys"):
        Query.from_config({k: v for k, v in config.items() if k != "epsilon"})
    with pytest.raises(QueryError) as caught:
        Query.from_config({**config, "column": "zper"})
    assert caught.value.argument == "column"
    with pytest.raises(QueryError, match="malformed"):
        Query.from_config({**config, "epsilon": "lots"})


def test_the_accountant_travels_with_the_query_and_defaults_to_pld() -> None:
    # Prepare
    rdp = _query(accountant="rdp")
    config = rdp.to_config()

    # Act
    older = {k: v for k, v in config.items() if k != "accountant"}

    # Assert: named on the wire; a coordinator older than the key gets PLD
    assert config["accountant"] == "rdp"
    assert Query.from_config(config).accountant is RDP
    assert Query.from_config(older).accountant is PLD
    assert plan_answer(rdp).accountant is RDP
    assert plan_answer(rdp).spend.noise_multiplier > (
        plan_answer(_query()).spend.noise_multiplier
    )


def test_defaults_and_shape() -> None:
    histogram = _query(group_by="female")
    quantiles = _query("quantiles", column="xage", quantiles=(0.5,))
    binary = _query(column="female", bins=())

    assert histogram.rows_per_person == 5
    assert histogram.group_levels == (0, 1)
    assert histogram.cell_labels[0] == "[0, 1)"
    assert histogram.cell_labels[-1] == "[20, 80]"
    assert len(quantiles.bins) == 33
    assert quantiles.bins[0] == 0.0
    assert quantiles.bins[-1] == 65.0
    assert binary.cell_labels == ("0", "1")
    assert _query("count", dataset="adult").rows_per_person == 1


def test_sensitivity_per_kind() -> None:
    mean = noise_blocks(_query("mean", column="xage", bins=(), group_by="female"))
    total = noise_blocks(_query("sum", column="xage", bins=(), rows_per_person=2))
    histogram = noise_blocks(_query(group_by="female", rows_per_person=3))

    assert [(b.size, b.sensitivity, b.integer) for b in mean] == [
        (2, 5 * 65 / 2, False),
        (2, 5, True),
    ]
    assert [(b.size, b.sensitivity, b.integer) for b in total] == [(1, 2 * 65.0, False)]
    assert [(b.size, b.sensitivity, b.integer) for b in histogram] == [(12, 3, True)]
    assert plan_answer(_query()).epsilon <= 0.5


# -- exact answers ---------------------------------------------------------------


def _records(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["zper", "female", "xage", "mdvis"])


def test_exact_answers_fixed_values() -> None:
    # Prepare: person 1 has 3 records, person 2 has 1
    records = _records(
        [(1, 0, 30.0, 0), (1, 0, 31.0, 3), (1, 0, 32.0, 90), (2, 1, 70.0, 1)]
    )

    # Execute / Assert
    assert exact_answer(_query(group_by="female", rows_per_person=2), records).tolist() == [
        1, 0, 1, 0, 0, 0,
        0, 1, 0, 0, 0, 0,
    ]  # fmt: skip
    assert exact_answer(_query("count", rows_per_person=5), records).tolist() == [4]
    assert exact_answer(
        _query("count", where=(Predicate.parse("mdvis!=3"),)), records
    ).tolist() == [3]
    assert exact_answer(
        _query("sum", column="xage", bins=(), group_by="female"), records
    ).tolist() == [93.0, 65.0]  # 70 is clipped to the bound 65
    assert exact_answer(
        _query("mean", column="xage", bins=(), rows_per_person=1), records
    ).tolist() == [(30.0 - 32.5) + (65.0 - 32.5), 2]
    assert exact_answer(_query(), records)[-1] == 1  # 90 clipped into [20, 80]


def test_missing_values_match_no_predicate() -> None:
    records = pd.DataFrame({"zper": [1, 2, 3], "ghindx": [50.0, np.nan, 80.0]})

    not_equal = _query("count", where=(Predicate.parse("ghindx!=50"),))
    mean = _query("mean", column="ghindx", bins=())

    assert exact_answer(not_equal, records).tolist() == [1]
    assert exact_answer(mean, records).tolist() == [(50 - 50) + (80 - 50), 2]


KINDS = st.sampled_from(
    [
        {"kind": "count"},
        {"kind": "histogram"},
        {"kind": "histogram", "column": "female", "bins": ()},
        {"kind": "sum", "column": "xage"},
        {"kind": "mean", "column": "xage"},
        {"kind": "quantiles", "column": "mdvis", "quantiles": (0.5,), "bins": ()},
    ]
)
PEOPLE = st.lists(
    st.tuples(
        st.integers(0, 2),  # department
        st.lists(
            st.tuples(
                st.integers(0, 1), st.floats(-5, 70), st.integers(0, 100)
            ),  # female, xage (some out of bounds), mdvis
            min_size=1,
            max_size=7,
        ),
    ),
    max_size=25,
)


def _frame(people: list[tuple[int, list[tuple[int, float, int]]]]) -> pd.DataFrame:
    rows = [
        (person, department, *record)
        for person, (department, records) in enumerate(people)
        for record in records
    ]
    return pd.DataFrame(rows, columns=["zper", "department", "female", "xage", "mdvis"])


def _make(kind: dict[str, object], rows: int, grouped: bool) -> Query:
    fields = dict(kind)
    fields.setdefault(
        "bins", (0, 1, 2, 5, 10, 20, 80) if fields["kind"] == "histogram" else ()
    )
    return _query(
        group_by="female" if grouped else None,
        rows_per_person=rows,
        where=(Predicate.parse("xage>=1"),),
        **fields,  # type: ignore[arg-type]
    )


@settings(max_examples=60, deadline=None)
@given(kind=KINDS, people=PEOPLE, rows=st.integers(1, 5), grouped=st.booleans())
def test_departments_exact_answers_sum_to_the_pooled_answer(
    kind: dict[str, object],
    people: list[tuple[int, list[tuple[int, float, int]]]],
    rows: int,
    grouped: bool,
) -> None:
    query = _make(kind, rows, grouped)
    pooled = _frame(people)

    parts = [exact_answer(query, pooled[pooled.department == d]) for d in range(3)]

    np.testing.assert_allclose(np.sum(parts, axis=0), exact_answer(query, pooled))


@settings(max_examples=60, deadline=None)
@given(
    kind=KINDS,
    people=PEOPLE,
    newcomer=PEOPLE.filter(lambda p: len(p) == 1),
    rows=st.integers(1, 5),
    grouped=st.booleans(),
)
def test_one_person_moves_each_block_by_at_most_its_sensitivity(
    kind: dict[str, object],
    people: list[tuple[int, list[tuple[int, float, int]]]],
    newcomer: list[tuple[int, list[tuple[int, float, int]]]],
    rows: int,
    grouped: bool,
) -> None:
    query = _make(kind, rows, grouped)
    without = _frame(people)
    with_person = _frame(people + newcomer)

    change = exact_answer(query, with_person) - exact_answer(query, without)

    start = 0
    for block in noise_blocks(query):
        part = change[start : start + block.size]
        assert np.linalg.norm(part) <= block.sensitivity + 1e-9
        start += block.size
