"""Jobs: the history, a job's rounds, and its progress streamed as it is recorded."""

from __future__ import annotations

import json
import threading
import warnings
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from fedgov.job import TrainJob
from ledger.keys import PlaintextKeyWarning
from tests.audit_federation import run_job
from tests.audit_fixtures import AuditHarness, ledger_on
from tests.portal._county import JOB_ID, copy_state
from tests.portal.conftest import client_for, served

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from flwr.app import Context, Message
    from flwr.clientapp.typing import Mod

    from tests.portal._county import County

pytestmark = pytest.mark.anvil


def test_a_finished_job_shows_its_rounds_accuracy_and_epsilon(county: County) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    history = client.get("/jobs")
    page = client.get(f"/jobs/entry?id={JOB_ID}")
    progress = client.get(f"/api/jobs/progress?id={JOB_ID}").json()

    # Assert: rounds from the coordinator's log, accuracy from the run record.
    assert history.status_code == 200
    assert f"<code>{JOB_ID}</code>" in history.text
    assert page.status_code == 200
    assert progress["finished"]
    assert progress["rounds_done"] == county.job.num_rounds
    expected = [r["aggregated_evaluate"]["eval-accuracy"] for r in county.record.rounds]
    assert [r["accuracy"] for r in progress["rounds"]] == pytest.approx(expected)
    for row in progress["rounds"]:
        assert len(row["trained"]) == 6
        assert row["refused"] == []
    summary = {d.department: d for d in county.record.departments}
    for use in progress["departments"]:
        assert use["epsilon_total"] == pytest.approx(
            summary[use["department"]].epsilon_total, rel=1e-9
        )


def test_unknown_jobs_are_named_in_the_error(county: County) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    missing = client.get("/api/jobs/progress?id=no-such-job")
    hostile = client.get("/jobs/entry?id=%3Cscript%3E")

    # Assert
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "id: no training job 'no-such-job' in the audit logs"
    }
    assert hostile.status_code == 400
    assert "<script>" not in hostile.text


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


def test_a_running_job_is_streamed_round_by_round(
    county: County, tmp_path: Path, flower_task: None
) -> None:
    # Prepare: a second job in a copy of the county, its rounds held back by
    # a gate until the stream has shown the previous one.
    state = copy_state(county, tmp_path / "state")
    gate = threading.Semaphore(0)

    def gated(mod: Mod) -> Mod:
        def wrapper(msg: Message, context: Context, call_next: Any) -> Message:
            if msg.metadata.message_type == "train" and context.node_id == 1:
                gate.acquire(timeout=60)
            return mod(msg, context, call_next)

        return wrapper

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        # Contracts of its own: anchoring the copy's logs in the county's
        # registry would make the county's files look truncated.
        env = AuditHarness(
            ledger_on(
                county.chain,
                admin=county.chain.accounts[9],
                relayer=county.chain.accounts[8],
            ),
            state,
            tuple(f"health-site-{i}" for i in range(1, 7)),
        )
    job = TrainJob(job_id="live-job", dataset="randhie", num_rounds=2, purpose="live")
    worker = threading.Thread(
        target=run_job, args=(env, job, tmp_path / "run"), kwargs={"wrap": gated}
    )
    seen: list[int] = []

    # Execute
    worker.start()
    try:
        with (
            served(
                county.settings(
                    state_dirs=(state,),
                    registry=env.registry.address,
                    roles=env.roles.address,
                )
            ) as url,
            httpx2.Client(base_url=url, timeout=60) as client,
        ):
            while client.get("/api/jobs/progress?id=live-job").status_code != 200:
                threading.Event().wait(0.1)
            with client.stream("GET", "/api/jobs/stream?id=live-job") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                for progress in _events(stream.iter_lines()):
                    seen.append(progress["rounds_done"])
                    if progress["finished"]:
                        break
                    gate.release()
    finally:
        for _ in range(4):
            gate.release()
        worker.join(timeout=120)
        env.close()

    # Assert: the stream showed the job before, between and after its rounds.
    assert seen[0] == 0
    assert seen[-1] == 2
    assert 1 in seen
