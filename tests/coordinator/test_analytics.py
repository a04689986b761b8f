"""The coordinator's side of a DP query: asking, combining, error bars, refusals.

Most tests drive :func:`run_query` through an in-process grid that hands each
QUERY message straight to a department's real ClientApp (a test double of the
SuperLink, no Ray); ``tests/fedgov/commands/test_query.py`` runs the real simulation engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flwr.app import (
    ConfigRecord,
    Context,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.supercore.task_identity import TaskIdentity

from coordinator._analytics_result import combined_noise_std, decode_total
from coordinator.analytics import (
    RUN_CONFIG_QUERY,
    query_from_run_config,
    query_to_run_config,
    run_query,
)
from coordinator.server_app import make_server_app
from department_nodes.analytics import department_records
from department_nodes.client_app import make_client_app
from fedgov import protocol as p
from fedgov.data import department_ids, load_pooled
from fedgov.engines.inprocess import NodeHandler, WireGrid
from fedgov.job import TrainJob
from privacy.budget import Budget, open_budget_book
from privacy.mechanisms import Query, QueryError, exact_answer, plan_answer

DEPARTMENTS = [str(d) for d in department_ids("randhie")]


@pytest.fixture(autouse=True)
def _task_identity() -> Iterator[None]:
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


class InProcessGrid(WireGrid):
    """The in-process engine's grid, every node answered by ``handler``.

    Nodes in ``silent`` never answer, as departments that went away.
    """

    def __init__(self, handler: NodeHandler, num_nodes: int) -> None:
        super().__init__({100 + i: handler for i in range(num_nodes)})
        self.silent: set[int] = set()

    def _answer(self, node_id: int, message: Message) -> Message | None:
        if node_id in self.silent:
            return None
        return super()._answer(node_id, message)


def _histogram(epsilon: float = 0.5) -> Query:
    return Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        epsilon=epsilon,
        delta=1e-5,
    )


def _grid(state_dir: Path, budget: float = 2.0) -> InProcessGrid:
    app = make_client_app(job=TrainJob(state_dir=str(state_dir), budget_epsilon=budget))
    return InProcessGrid(app, len(DEPARTMENTS))


def _pooled_exact(query: Query, state_dir: Path) -> np.ndarray:
    parts = [
        department_records(query.dataset, d, seed=0, state_dir=state_dir)
        for d in DEPARTMENTS
    ]
    return exact_answer(query, pd.concat(parts))


def test_grouped_histogram_over_six_departments(tmp_path: Path) -> None:
    # Prepare
    query = _histogram()
    sigma = plan_answer(query).noise_std[0]

    # Execute
    result = run_query(_grid(tmp_path), query)

    # Assert: every department answered and was charged once
    assert result.answered == tuple(DEPARTMENTS)
    assert result.groups == ("0", "1")
    assert result.cells == (
        "[0, 1)",
        "[1, 2)",
        "[2, 5)",
        "[5, 10)",
        "[10, 20)",
        "[20, 80]",
    )
    for report in result.departments:
        assert report.epsilon_query == pytest.approx(0.5, abs=1e-6)
        assert report.epsilon_total == pytest.approx(0.5, abs=1e-6)
        assert report.epsilon_limit == 2.0
        history = (
            open_budget_book(tmp_path, report.department).status("randhie").history
        )
        assert [r.job_id for r in history] == [query.query_id]
    # error bars: six independent noises add up; the truth lies well inside
    exact = _pooled_exact(query, tmp_path / "exact").reshape(2, 6)
    for row, truth in zip(result.estimates, exact, strict=True):
        for estimate, value in zip(row, truth, strict=True):
            assert estimate.std == pytest.approx(sigma * np.sqrt(6))
            assert estimate.half_width == pytest.approx(1.959964 * sigma * np.sqrt(6))
            assert abs(estimate.value - value) < 6 * estimate.std


def test_departments_over_budget_refuse_and_are_reported(tmp_path: Path) -> None:
    # Prepare: two departments have already spent most of a 1.0 limit
    query = _histogram(0.5)
    for department in DEPARTMENTS[:2]:
        ledger = open_budget_book(tmp_path, department)
        ledger.ensure_limit("randhie", Budget(epsilon=1.0, delta=1e-5))
        plan = plan_answer(_histogram(0.95))
        ledger.charge(
            "randhie",
            plan.spend,
            accountant=plan.accountant,
            kind="query",
            job_id="x",
        )
    sigma = plan_answer(query).noise_std[0]

    # Execute
    result = run_query(_grid(tmp_path, budget=1.0), query)

    # Assert: four answered; the refusals carry the reason and spent nothing more
    assert result.answered == tuple(DEPARTMENTS[2:])
    refused = {r.department: r for r in result.refused}
    assert set(refused) == set(DEPARTMENTS[:2])
    for report in refused.values():
        assert report.status == p.Status.REFUSED
        assert "would be exceeded" in report.reason
        assert report.epsilon_total == pytest.approx(0.95, abs=1e-6)
        history = (
            open_budget_book(tmp_path, report.department).status("randhie").history
        )
        assert [r.job_id for r in history] == ["x"]
    assert result.estimates[0][0].std == pytest.approx(sigma * 2.0)  # sqrt(4)


def test_nobody_answering_gives_no_estimates(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    grid.silent = set(grid.get_node_ids())

    result = run_query(grid, _histogram(), node_wait=0.0)

    assert result.estimates == ()
    assert result.answered == ()
    assert {r.status for r in result.departments} == {"missing"}
    assert [r.department for r in result.departments] == DEPARTMENTS


def _fake_reply(
    msg: Message, department: str, answer: list[float], stds: list[float]
) -> Message:
    content = RecordDict(
        {
            p.Record.FEDGOV: ConfigRecord(
                {
                    p.Reply.DEPARTMENT: department,
                    p.Reply.STATUS: p.Status.OK,
                    p.Reply.REASON: "",
                }
            ),
            p.Record.METRICS: MetricRecord(
                {p.Metric.QUERY_ANSWER: answer, p.Metric.QUERY_NOISE_STD: stds}
            ),
        }
    )
    return Message(content=content, reply_to=msg)


def test_malformed_error_and_duplicate_replies_are_not_combined(tmp_path: Path) -> None:
    # Prepare: node 0 answers well, 1 sends the wrong length, 2 an error,
    # 3 claims to be department 0 again, 4 a non-finite value, 5 stays silent
    query = Query(kind="count", dataset="randhie", epsilon=1.0, delta=1e-5)

    def handler(msg: Message, context: Context) -> Message:
        index = int(context.node_config["partition-id"])
        if index == 2:
            return Message(Error(code=0, reason="boom"), reply_to=msg)
        department = DEPARTMENTS[0] if index == 3 else DEPARTMENTS[index]
        answer = {1: [1.0, 2.0], 4: [float("nan")]}.get(index, [100.0])
        return _fake_reply(msg, department, answer, [3.0])

    grid = InProcessGrid(handler, len(DEPARTMENTS))
    grid.silent = {105}

    # Execute
    result = run_query(grid, query)

    # Assert: only department 0 (first reply) counts
    assert result.answered == (DEPARTMENTS[0],)
    assert result.estimates[0][0].value == 100.0
    assert result.estimates[0][0].std == 3.0
    statuses = sorted((r.department, r.status) for r in result.departments)
    assert statuses == sorted(
        [
            (DEPARTMENTS[0], "ok"),
            (DEPARTMENTS[0], "failed"),  # the duplicate
            (DEPARTMENTS[1], "failed"),
            ("node 102", "failed"),
            (DEPARTMENTS[4], "failed"),
            (DEPARTMENTS[2], "missing"),
            (DEPARTMENTS[3], "missing"),
            (DEPARTMENTS[5], "missing"),
        ]
    )


# -- decoding, exactly ---------------------------------------------------------------


def test_combined_noise_std() -> None:
    assert combined_noise_std([[3.0, 1.0], [4.0, 1.0]]) == pytest.approx(
        (5.0, np.sqrt(2))
    )
    assert combined_noise_std([]) == ()


def test_decode_mean_adds_the_centre_back_and_propagates_error() -> None:
    query = Query(kind="mean", dataset="randhie", column="xage", group_by="female",
                  epsilon=1.0, delta=1e-5)  # fmt: skip
    # centred sums -325 and 0 over counts 100 and 0 (no mean for an empty group)
    total = np.array([-325.0, 0.0, 100.0, -2.0])

    (female0,), (female1,) = decode_total(query, total, (50.0, 2.0), confidence=0.95)

    assert female0.value == pytest.approx(32.5 - 3.25)
    expected_std = np.sqrt((50.0 / 100) ** 2 + (3.25 * 2.0 / 100) ** 2)
    assert female0.std == pytest.approx(expected_std)
    assert female0.half_width == pytest.approx(1.959964 * expected_std, rel=1e-6)
    assert np.isnan(female1.value)
    assert (female1.low, female1.high) == (0.0, 65.0)


def test_decode_quantiles_interpolates_and_brackets_by_bins() -> None:
    query = Query(kind="quantiles", dataset="randhie", column="mdvis", quantiles=(0.5, 0.9),
                  bins=(0, 10, 20, 40, 80), epsilon=1.0, delta=1e-5)  # fmt: skip
    counts = np.array([50.0, 30.0, 20.0, -4.0])  # the negative count is noise

    noiseless = decode_total(query, counts, (0.0,), confidence=0.95)[0]
    noisy = decode_total(query, counts, (5.0,), confidence=0.95)[0]

    median, q90 = noiseless
    assert median.value == pytest.approx(10.0)  # rank 50 ends the first bin
    assert q90.value == pytest.approx(20.0 + (90 - 80) / 20 * 20)
    assert (q90.low, q90.high) == (20.0, 40.0)  # the bin holding the rank
    assert noisy[0].low == 0.0
    assert noisy[0].high == 20.0  # ranks 50 +- 13.9 span the first two bins
    assert np.isnan(noisy[0].std)


def test_real_departments_sum_to_the_pooled_exact_answer(tmp_path: Path) -> None:
    # The catalog's natural partition keeps each person in one department.
    query = _histogram()
    pooled = load_pooled("randhie", seed=0)
    records = pd.concat([pooled.train.records, pooled.held_out.records])

    parts = [
        exact_answer(
            query, department_records("randhie", d, seed=0, state_dir=tmp_path)
        )
        for d in DEPARTMENTS
    ]

    np.testing.assert_array_equal(np.sum(parts, axis=0), exact_answer(query, records))
    assert np.sum(parts) == len(records)  # nobody has more than 5 study years


def test_query_travels_in_a_deployed_run_config() -> None:
    query = _histogram()

    run_config = query_to_run_config(query)

    assert set(run_config) == {RUN_CONFIG_QUERY}
    assert query_from_run_config(run_config) == query
    assert query_from_run_config({"epsilon": 1.0}) is None
    with pytest.raises(QueryError, match="not JSON"):
        query_from_run_config({RUN_CONFIG_QUERY: "{"})
    with pytest.raises(QueryError) as caught:
        query_from_run_config({RUN_CONFIG_QUERY: run_config[RUN_CONFIG_QUERY].replace(
            '"column": "mdvis"', '"column": "zper"')})  # fmt: skip
    assert caught.value.argument == "column"


def test_the_deployed_server_app_answers_a_query_instead_of_training(
    tmp_path: Path,
) -> None:
    # Prepare: the run_config a `flwr run --run-config` would carry.
    job = TrainJob(state_dir=str(tmp_path / "state"), run_dir=str(tmp_path / "run"))
    run_config = {**job.to_run_config(), **query_to_run_config(_histogram())}
    grid = _grid(tmp_path / "state")
    context = Context(
        run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config
    )
    # Execute
    make_server_app()(grid, context)
    # Assert: an answer with error bars, and no training run record.
    answer = json.loads((tmp_path / "run" / "query_result.json").read_text())
    assert answer["query"]["kind"] == "histogram"
    assert len(answer["departments"]) == len(DEPARTMENTS)
    assert not (tmp_path / "run" / "run_record.json").exists()
