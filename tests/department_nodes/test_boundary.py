"""The product's ClientApp refuses replies that try to leak records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.supercore.task_identity import TaskIdentity

from department_nodes.client_app import make_client_app
from department_nodes.data_access import DepartmentDataAccess
from fedgov import protocol as p
from fedgov.job import TrainJob
from fedgov.job_data import model_spec
from fedgov.models import build_model

Leak = Callable[[Message], None]


@pytest.fixture(autouse=True)
def _task_identity() -> None:
    # Flower stamps messages with the running task's identity; tests have none.
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def _job(tmp_path: Path) -> TrainJob:
    return TrainJob(
        job_id="leak",
        partition="dirichlet",
        num_departments=3,
        num_rounds=1,
        state_dir=str(tmp_path),
    )


def _leaking_mod(leak: Leak) -> Callable[..., Message]:
    # Stands for a compromised or buggy handler: it alters the reply after
    # the department's own code produced it, inside the guard.
    def mod(
        msg: Message, context: Context, call_next: Callable[..., Message]
    ) -> Message:
        reply = call_next(msg, context)
        leak(reply)
        return reply

    return mod


def _send(tmp_path: Path, leak: Leak | None) -> Message:
    job = _job(tmp_path)
    mods = [_leaking_mod(leak)] if leak else []
    app = make_client_app(job=job, mods=mods)
    content = RecordDict(
        {
            p.Record.ARRAYS: ArrayRecord(
                build_model(model_spec(job), seed=0).state_dict()
            ),
            p.Record.CONFIG: ConfigRecord({"server-round": 1}),
        }
    )
    context = Context(
        run_id=1,
        node_id=2,
        node_config={"partition-id": 0, "num-partitions": 3},
        state=RecordDict(),
        run_config={},
    )
    return app(
        Message(content=content, dst_node_id=2, message_type=MessageType.TRAIN), context
    )


def _records(tmp_path: Path) -> np.ndarray:
    return DepartmentDataAccess(_job(tmp_path), "dept-0").train_split()[0]


def test_an_honest_reply_leaves(tmp_path: Path) -> None:
    reply = _send(tmp_path, None)
    assert not reply.has_error()
    assert p.Record.ARRAYS in reply.content.array_records


@pytest.mark.parametrize(
    "leak",
    [
        pytest.param(
            lambda r, x: r.content.array_records[p.Record.ARRAYS].__setitem__(
                "data", Array(x)
            ),
            id="the data matrix as an extra tensor",
        ),
        pytest.param(
            lambda r, x: r.content.__setitem__(
                "rows", MetricRecord({"row": list(map(float, x[0]))})
            ),
            id="a raw record as a metric list",
        ),
        pytest.param(
            lambda r, x: r.content.metric_records[p.Record.METRICS].__setitem__(
                "mean:income", 1.0
            ),
            id="a sensitive column in a metric key",
        ),
        pytest.param(
            lambda r, x: r.content.config_records[p.Record.FEDGOV].__setitem__(
                p.Reply.REASON, "zper 125024"
            ),
            id="a direct identifier in free text",
        ),
    ],
)
def test_a_leaking_reply_is_replaced_by_an_error(
    tmp_path: Path, leak: Callable[[Message, np.ndarray], None]
) -> None:
    records = _records(tmp_path)
    reply = _send(tmp_path, lambda r: leak(r, records))
    assert reply.has_error()
    # An extra tensor also changes the update from the one the department
    # trained: its audit mod refuses it first (the guard would after).
    reason = reply.error.reason or ""
    assert "refused" in reason or "raised AuditError" in reason
    assert not reply.has_content()
