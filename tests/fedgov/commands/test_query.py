"""``fedgov query``: argument handling, output, and the end-to-end promise:
a grouped DP histogram from the command line over the six RandHIE
departments, after which the same budget refuses an overrunning training job
(in the simulation engine: ``slow``, about 25-60 s on two cores)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    RecordDict,
)
from flwr.supercore.task_identity import TaskIdentity

from coordinator._analytics_result import DepartmentReport, Estimate, QueryResult
from coordinator.analytics import format_result, run_query
from coordinator.query_service import question_query
from department_nodes.client_app import make_client_app
from fedgov import protocol as p
from fedgov.cli import main
from fedgov.commands import _query_engine
from fedgov.commands.query import configure, question_from_args
from fedgov.data import department_ids
from fedgov.job import Accountant, TrainJob
from fedgov.job_data import model_spec
from fedgov.models import build_model
from privacy.budget import open_budget_book
from privacy.mechanisms import Predicate, Query
from tests.coordinator.test_analytics import InProcessGrid

HISTOGRAM = [
    "histogram",
    "--dataset", "randhie",
    "--column", "mdvis",
    "--bins", "0,1,2,5,10,20,80",
    "--group-by", "female",
    "--epsilon", "0.9",
]  # fmt: skip


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


def build_query(args: argparse.Namespace) -> Query:
    """The query ``fedgov query`` asks for ``args``, wherever it is answered."""
    return question_query(question_from_args(args))


def test_arguments_build_the_query() -> None:
    args = _parse(
        [*HISTOGRAM, "--where", "xage>=18", "--where", "site!=3", "--query-id", "q1"]
    )

    query = build_query(args)

    assert (query.kind, query.column, query.group_by, query.query_id) == (
        "histogram",
        "mdvis",
        "female",
        "q1",
    )
    assert query.bins == (0, 1, 2, 5, 10, 20, 80)
    assert query.where == (Predicate("xage", ">=", 18.0), Predicate("site", "!=", 3))
    assert (query.epsilon, query.delta, query.rows_per_person) == (0.9, 1e-5, 5)
    assert query.quantiles == ()
    quantiles = build_query(_parse(["quantiles", "--dataset", "randhie", "--column",
                                    "xage", "--epsilon", "1"]))  # fmt: skip
    assert quantiles.quantiles == (0.25, 0.5, 0.75)
    assert query.accountant is Accountant.PLD
    rdp = build_query(_parse([*HISTOGRAM, "--accountant", "rdp"]))
    assert rdp.accountant is Accountant.RDP


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--column", "zper"], "CORE column"),
        (["--group-by", "hlthp"], "PUBLIC or INTERNAL"),
        (["--epsilon", "0"], "epsilon"),
        # Used to pass the coordinator and fail at every department.
        (["--epsilon", "1e308"], "protects next to nothing"),
        (["--where", "xage=>3"], "column OP value"),
        (["--bins", "0,1,2"], "cover"),
        (["--confidence", "1.5"], "confidence"),
    ],
)
def test_bad_queries_exit_1_before_any_department_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: list[str], message: str
) -> None:
    code = main(["query", *HISTOGRAM, "--state-dir", str(tmp_path), *change])

    assert code == 1
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_bins_are_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["query", *HISTOGRAM, "--bins", "0,one"])

    assert "comma-separated numbers" in capsys.readouterr().err


def _result(answered: int) -> QueryResult:
    query = build_query(_parse([*HISTOGRAM, "--query-id", "q7"]))
    row = tuple(Estimate(100.0 + i, 10.0, 80.4, 119.6 + 2 * i) for i in range(6))
    reports = tuple(
        DepartmentReport(d, "ok", "", 0.9, 0.9, 8.0)
        if i < answered
        else DepartmentReport(d, "refused", "budget would be exceeded", 0.0, 7.9, 8.0)
        for i, d in enumerate(department_ids("randhie"))
    )
    return QueryResult(
        query, 0.95, ("0", "1"), query.cell_labels, (row, row), reports, 1.0
    )


def test_table_shows_error_bars_spends_and_refusals() -> None:
    text = format_result(_result(answered=4))

    assert "histogram of mdvis by female on randhie (query q7)" in text
    assert "4 of 6 departments answered" in text
    assert "100 ± 19.6" in text
    assert "[20, 80]" in text
    assert "WARNING: the answer covers only 4 of 6 departments" in text
    assert "budget would be exceeded" in text
    assert "budget charged at 4 department(s): kind 'query', id q7" in text


def test_json_form_has_no_nan() -> None:
    result = _result(answered=6)
    broken = Estimate(math.nan, math.nan, 0.0, 1.0)
    result = QueryResult(
        result.query, 0.95, ("0", "1"), result.cells,
        ((broken,) * 6, result.estimates[1]), result.departments, 1.0,
    )  # fmt: skip

    data = json.loads(json.dumps(result.to_json(), allow_nan=False))

    assert data["estimates"][0][0]["value"] is None
    assert data["answered"] == list(department_ids("randhie"))


@pytest.fixture
def _task_identity() -> Iterator[None]:
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


@pytest.mark.usefixtures("_task_identity")
def test_cli_table_over_an_in_process_federation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the departments' real ClientApp, reached without Ray
    def in_process(query: Query, **options: object) -> QueryResult:
        job = TrainJob(state_dir=str(options["state_dir"]), budget_epsilon=1.0)
        grid = InProcessGrid(make_client_app(job=job), 6)
        return run_query(grid, query, confidence=float(options["confidence"]))  # type: ignore[arg-type]

    monkeypatch.setattr(_query_engine, "run_simulated_query", in_process)
    argv = [
        "query",
        *HISTOGRAM,
        "--state-dir",
        str(tmp_path),
        "--confidence",
        "0.9",
        "--ephemeral",
    ]

    # Execute: the same query twice; the second would overrun a 1.0 limit
    first = main(argv)
    table = capsys.readouterr().out
    second = main(argv)
    refusal = capsys.readouterr().out

    # Assert
    assert first == 0
    assert "6 of 6 departments answered" in table
    assert "90% intervals: value ± half-width" in table
    assert table.count(" ± ") == 12 + 1  # the cells and the legend
    assert table.count("0.9000   0.9000   1.0000") == 6
    assert second == 1
    assert "no department answered" in refusal
    assert refusal.count("would be exceeded") == 6
    assert "budget charged at 0 department(s)" in refusal


@pytest.mark.slow
@pytest.mark.usefixtures("_task_identity")
def test_cli_histogram_then_the_same_budget_refuses_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute 1: the analyst's query, in the simulation engine, budget 1.0
    argv = [
        *HISTOGRAM,
        "--state-dir",
        str(tmp_path),
        "--budget-epsilon",
        "1.0",
        "--ephemeral",
    ]
    code = main(["query", *argv, "--json", "--num-cpus", "2"])

    # Assert 1: an answer with error bars from all six, each charged 0.9
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    departments = [str(d) for d in department_ids("randhie")]
    assert out["answered"] == departments
    assert len(out["estimates"]) == 2
    assert all(len(row) == 6 for row in out["estimates"])
    assert all(
        cell["high"] > cell["value"] > cell["low"] for cell in out["estimates"][0]
    )
    for report in out["departments"]:
        assert report["epsilon_query"] == pytest.approx(0.9, abs=1e-6)
        assert report["epsilon_limit"] == 1.0

    # Execute 2: a department is asked to train one round costing epsilon 1.0
    job = TrainJob(state_dir=str(tmp_path), epsilon=1.0, num_rounds=1, job_id="train-1")
    model = build_model(model_spec(job), seed=job.seed)
    train = Message(
        content=RecordDict(
            {
                p.Record.ARRAYS: ArrayRecord(model.state_dict()),
                p.Record.CONFIG: ConfigRecord({"server-round": 1}),
            }
        ),
        dst_node_id=1,
        message_type=MessageType.TRAIN,
    )
    context = Context(1, 1, {"partition-id": 0}, RecordDict(), {})
    reply = make_client_app(job=job)(train, context)

    # Assert 2: refused by the ledger the query charged, nothing recorded
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    assert fedgov[p.Reply.STATUS] == p.Status.REFUSED
    assert "would be exceeded" in str(fedgov[p.Reply.REASON])
    history = open_budget_book(tmp_path, departments[0]).status("randhie").history
    assert [r.kind for r in history] == ["query"]


def test_a_failed_node_is_not_counted_as_a_seventh_department() -> None:
    # A node whose reply names no department used to be counted next to the
    # department it was, "missing": 6 departments read as 12.
    base = _result(answered=5)
    last = base.departments[-1].department
    reports = (
        *base.departments[:-1],
        DepartmentReport(last, "missing", "no answer"),
        DepartmentReport("node 9", "failed", "error"),
    )
    result = QueryResult(
        base.query, 0.95, base.groups, base.cells, base.estimates, reports, 1.0
    )

    text = format_result(result)

    assert "5 of 6 departments answered" in text
    assert "budget charged at 5 department(s)" in text


def test_a_department_charged_then_failing_is_counted_as_charged() -> None:
    base = _result(answered=5)
    last = base.departments[-1].department
    reports = (
        *base.departments[:-1],
        DepartmentReport(last, "refused", "failed after epsilon 0.9 was charged: x",
                         0.9, 1.8, 8.0),
    )  # fmt: skip
    result = QueryResult(
        base.query, 0.95, base.groups, base.cells, base.estimates, reports, 1.0
    )

    text = format_result(result)

    assert "5 of 6 departments answered" in text
    assert "budget charged at 6 department(s)" in text
