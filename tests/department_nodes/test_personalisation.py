"""Personalisation under the department's own budget: the split, the charge, the layer."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    RecordDict,
)
from flwr.supercore.task_identity import TaskIdentity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from department_nodes.client_app import make_client_app
from department_nodes.node import (
    DepartmentNode,
    is_personalisation,
    personalised_model_path,
)
from department_nodes.training import (
    final_layer,
    plan_local_training,
    train_final_layer,
)
from fedgov import protocol as p
from fedgov.data import TaskKind
from fedgov.errors import ConfigurationError
from fedgov.job import Accountant, TrainJob
from fedgov.job_data import model_spec
from fedgov.models import ModelSpec, build_model
from privacy.accounting import GaussianSpend, epsilon_spent, history_epsilon
from privacy.budget import open_budget_book
from privacy.errors import BudgetExceeded


@pytest.fixture(autouse=True)
def _task_identity() -> None:
    # Flower stamps messages with the running task's identity; tests have none.
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def _job(tmp_path: Path, **overrides: object) -> TrainJob:
    settings_: dict[str, object] = {
        "job_id": "personal-test",
        "dataset": "randhie",
        "partition": "dirichlet",
        "num_departments": 3,
        "num_rounds": 2,
        "epsilon": 1.0,
        "model": "logreg",
        "personalise": True,
        "personalise_share": 0.4,
        "personalise_epochs": 1,
        "state_dir": str(tmp_path / "state"),
    }
    settings_.update(overrides)
    return TrainJob(**settings_)  # type: ignore[arg-type]


def _context(job: TrainJob) -> Context:
    return Context(
        run_id=1,
        node_id=10,
        node_config={"partition-id": 0, "num-partitions": job.num_departments},
        state=RecordDict(),
        run_config=job.to_run_config(),
    )


def _message(job: TrainJob, server_round: int, *, personalise: bool) -> Message:
    config: dict[str, int | bool] = {p.Instruction.SERVER_ROUND: server_round}
    if personalise:
        config[p.Instruction.PERSONALISE] = True
    content = RecordDict(
        {
            p.Record.ARRAYS: ArrayRecord(
                build_model(model_spec(job), seed=0).state_dict()
            ),
            p.Record.CONFIG: ConfigRecord(config),
        }
    )
    return Message(content=content, dst_node_id=10, message_type=MessageType.TRAIN)


def _reply_fields(reply: Message) -> tuple[str, str, dict[str, float]]:
    fedgov = reply.content.config_records[p.Record.FEDGOV]
    metrics = reply.content.metric_records[p.Record.METRICS]
    return (
        str(fedgov[p.Reply.STATUS]),
        str(fedgov[p.Reply.DEPARTMENT]),
        {k: float(v) for k, v in metrics.items()},  # type: ignore[arg-type]
    )


# -- the split ----------------------------------------------------------------


def test_the_rounds_get_what_personalisation_leaves() -> None:
    assert TrainJob(epsilon=2.0).rounds_epsilon == 2.0
    job = TrainJob(epsilon=2.0, personalise=True, personalise_share=0.25)
    assert job.rounds_epsilon == pytest.approx(1.5)
    assert TrainJob(epsilon=None, personalise=True).rounds_epsilon is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("personalise_share", 0.0),
        ("personalise_share", 1.0),
        ("personalise_epochs", 0),
        ("personalise_learning_rate", 0.0),
    ],
)
def test_a_bad_personalisation_setting_is_named(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=field):
        TrainJob(**{field: value})  # type: ignore[arg-type]


def test_the_fine_tuning_is_calibrated_on_what_the_rounds_left() -> None:
    # Prepare: a job's rounds calibrated to 60 % of epsilon 1
    rounds = plan_local_training(
        num_examples=2000,
        batch_size=100,
        local_epochs=1,
        num_rounds=5,
        epsilon=0.6,
        delta=1e-5,
    )
    assert rounds.round_spend is not None
    prior = (rounds.round_spend,) * 5

    # Act
    tune = plan_local_training(
        num_examples=2000,
        batch_size=100,
        local_epochs=2,
        num_rounds=1,
        epsilon=1.0,
        delta=1e-5,
        prior=prior,
    )

    # Assert: the whole history meets epsilon 1, and uses it (PLD composes
    # below the sum, so the fine-tuning costs more than the 0.4 the rounds left)
    assert tune.round_spend is not None
    total = epsilon_spent([*prior, tune.round_spend], delta=1e-5)
    assert 0.999 <= total <= 1.0
    assert epsilon_spent([tune.round_spend], delta=1e-5) > 0.4


def test_nothing_left_is_refused_with_the_figure() -> None:
    rounds = plan_local_training(
        num_examples=500,
        batch_size=50,
        local_epochs=1,
        num_rounds=1,
        epsilon=1.0,
        delta=1e-5,
    )
    assert rounds.round_spend is not None
    with pytest.raises(ConfigurationError, match="already spent"):
        plan_local_training(
            num_examples=500,
            batch_size=50,
            local_epochs=1,
            num_rounds=1,
            epsilon=1.0,
            delta=1e-5,
            prior=(rounds.round_spend,) * 2,
        )


# PLD calibration after prior spends takes seconds a case: with the slow suite
# (the fixed case above runs in the fast one).
@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    epsilon=st.sampled_from([0.5, 1.0, 3.0]),
    share=st.floats(min_value=0.1, max_value=0.9),
    rounds=st.integers(min_value=1, max_value=4),
    records=st.integers(min_value=200, max_value=5000),
    epochs=st.integers(min_value=1, max_value=3),
    accountant=st.sampled_from(list(Accountant)),
)
def test_rounds_and_fine_tuning_never_exceed_the_jobs_epsilon(
    epsilon: float,
    share: float,
    rounds: int,
    records: int,
    epochs: int,
    accountant: Accountant,
) -> None:
    # As a department plans them: the rounds on (1 - share) * epsilon, the
    # fine-tuning on the rest, both under the job's accountant.
    job = TrainJob(
        epsilon=epsilon,
        personalise=True,
        personalise_share=share,
        accountant=accountant,
        num_rounds=rounds,
    )
    assert job.rounds_epsilon is not None
    plan = plan_local_training(
        num_examples=records,
        batch_size=256,
        local_epochs=1,
        num_rounds=rounds,
        epsilon=job.rounds_epsilon,
        delta=job.delta,
        accountant=accountant,
    )
    assert plan.round_spend is not None
    prior = (plan.round_spend,) * rounds
    tune = plan_local_training(
        num_examples=records,
        batch_size=256,
        local_epochs=epochs,
        num_rounds=1,
        epsilon=epsilon,
        delta=job.delta,
        accountant=accountant,
        prior=prior,
    )
    assert tune.round_spend is not None
    history = [(s, accountant) for s in (*prior, tune.round_spend)]
    assert history_epsilon(history, delta=job.delta) <= epsilon


# -- the layer ----------------------------------------------------------------


def test_only_the_final_layer_moves_and_the_model_is_left_trainable() -> None:
    # Prepare: an MLP and some private training on random records
    model = build_model(ModelSpec(kind="mlp", num_features=6, hidden=(8,)), seed=0)
    head = final_layer(model)
    before = {n: t.detach().clone() for n, t in model.state_dict().items()}
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 6)).astype(np.float32)
    labels = rng.integers(0, 2, size=300)
    plan = plan_local_training(
        num_examples=300,
        batch_size=50,
        local_epochs=1,
        num_rounds=1,
        epsilon=1.0,
        delta=1e-5,
    )

    # Act
    train_final_layer(
        model,
        features,
        labels,
        plan=plan,
        learning_rate=0.5,
        max_grad_norm=1.0,
        generator=torch.Generator().manual_seed(0),
        task=TaskKind.BINARY,
    )

    # Assert
    head_names = {
        n for n, t in model.named_parameters() if any(t is h for h in head.parameters())
    }
    for name, tensor in model.state_dict().items():
        moved = not torch.equal(tensor, before[name])
        assert moved == (name in head_names), name
    assert all(param.requires_grad for param in model.parameters())


# -- the department's handler ---------------------------------------------------


def test_personalisation_is_charged_to_the_same_book_and_the_model_kept(
    tmp_path: Path,
) -> None:
    # Prepare: the job's two rounds at this department
    job = _job(tmp_path)
    app = make_client_app()
    context = _context(job)
    for server_round in (1, 2):
        status, _, _ = _reply_fields(
            app(_message(job, server_round, personalise=False), context)
        )
        assert status == p.Status.OK

    # Act
    message = _message(job, 3, personalise=True)
    reply = app(message, context)

    # Assert: charged as "personalise" to the department's book, the job's
    # total at most its epsilon, only metrics sent back, the model kept
    assert is_personalisation(message)
    status, department, metrics = _reply_fields(reply)
    assert status == p.Status.OK
    assert not reply.content.array_records
    history = open_budget_book(job.state_dir, department).status("randhie").history
    assert [r.kind for r in history] == ["train_round", "train_round", "personalise"]
    assert history[-1].round == 3
    composed = history_epsilon(
        [(r.spend, r.accountant) for r in history], delta=job.delta
    )
    assert metrics[p.Metric.EPSILON_JOB] == pytest.approx(composed)
    assert 0.99 * job.epsilon <= composed <= job.epsilon  # type: ignore[operator]
    rounds_only = history_epsilon(
        [(r.spend, r.accountant) for r in history[:2]], delta=job.delta
    )
    assert rounds_only <= 0.6 + 1e-9
    assert 0 <= metrics[p.Metric.EVAL_ACCURACY] <= 1
    assert personalised_model_path(
        Path(job.state_dir), department, job.job_id
    ).is_file()


def test_personalisation_over_the_lifetime_budget_is_refused_uncharged(
    tmp_path: Path,
) -> None:
    # Prepare: a lifetime budget the rounds fill
    job = _job(tmp_path, budget_epsilon=0.6, personalise_share=0.5)
    app = make_client_app()
    context = _context(job)
    for server_round in (1, 2):
        app(_message(job, server_round, personalise=False), context)

    # Act
    reply = app(_message(job, 3, personalise=True), context)

    # Assert
    status, department, _ = _reply_fields(reply)
    assert status == p.Status.REFUSED
    history = open_budget_book(job.state_dir, department).status("randhie").history
    assert [r.kind for r in history] == ["train_round", "train_round"]


@pytest.mark.parametrize("personalise", [False, True], ids=["round", "personalisation"])
def test_a_spend_that_no_longer_fits_when_charged_is_refused_uncharged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, personalise: bool
) -> None:
    # Prepare: another job fills the budget between the department's check of
    # the spend and its charge (the book is shared by every job and query).
    job = _job(tmp_path, budget_epsilon=3.0)
    app = make_client_app()
    context = _context(job)
    if personalise:
        app(_message(job, 1, personalise=False), context)
    checked = DepartmentNode._refused_by_budget
    checks: list[Message | None] = []

    def check_then_spent_elsewhere(
        node: DepartmentNode,
        msg: Message,
        server_round: int,
        spend: GaussianSpend,
        *,
        accountant: Accountant,
    ) -> Message | None:
        refused = checked(node, msg, server_round, spend, accountant=accountant)
        checks.append(refused)
        other = open_budget_book(node.policy.state_dir, node.policy.department)
        with contextlib.suppress(BudgetExceeded):
            while True:
                other.charge(
                    job.dataset,
                    spend,
                    accountant=accountant,
                    kind="query",
                    job_id="other",
                )
        return refused

    monkeypatch.setattr(
        DepartmentNode, "_refused_by_budget", check_then_spent_elsewhere
    )

    # Act
    reply = app(_message(job, 2, personalise=personalise), context)

    # Assert
    status, department, metrics = _reply_fields(reply)
    assert checks[-1] is None
    assert status == p.Status.REFUSED
    assert metrics[p.Metric.EPSILON_LIMIT] == pytest.approx(3.0)
    history = open_budget_book(job.state_dir, department).status("randhie").history
    mine = [r.kind for r in history if r.job_id == job.job_id]
    assert mine == (["train_round"] if personalise else [])
    assert {r.job_id for r in history} >= {"other"}
