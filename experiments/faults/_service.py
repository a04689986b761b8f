"""The county's audit log service killed with SIGKILL while a department pushes.

A department on its own machine commits to its own log and pushes what the
county's replica lacks to ``fedgov ledger log serve`` after every commit
(:func:`department_nodes.audit.push_to_county`, as its audit hook does). The
service is killed with SIGKILL between pushes; the department commits on;
the service is started again over the same replicas, and the next push
sends everything the replica lacks.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from eth_account import Account

from department_nodes.audit import push_to_county
from experiments.faults._common import FEDGOV, free_port, read_record
from experiments.faults._outcome import FaultOutcome
from fedgov.errors import FedgovError
from ledger.actor_log import ActorLog, append_and_sign
from ledger.client import LogClient
from ledger.export import verify_exported_log
from ledger.layout import LOG_NAME, log_path
from ledger.store import LogStore
from ledger.tree_head import SigningDomain, log_id_for

__all__ = ["log_service_kill"]

MUST_HOLD = (
    "while the log service is dead the department's commits succeed and its "
    "pushes fail quietly (logged, retried at the next commit); once the service "
    "is back the next push completes the replica: it holds every record the "
    "department committed, and every head verifies (the auditor's check of a log)"
)
_DOMAIN = SigningDomain(31337, "0x" + "cd" * 20)


@contextlib.contextmanager
def _service(replicas: Path, port: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``fedgov ledger log serve --replicas`` on ``port``, and its address."""
    process = subprocess.Popen(
        [str(FEDGOV), "ledger", "log", "serve", "--replicas", str(replicas),
         "--address", f"127.0.0.1:{port}", "--insecure"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the log service exited before it served")
        yield process, line.split()[0]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def log_service_kill(work: Path) -> FaultOutcome:
    """SIGKILL of ``fedgov ledger log serve`` between a department's pushes."""
    account = Account.create()
    replicas = work / "county"
    # The county's replica, as enrolment creates it: a log with no key beside.
    LogStore(
        log_path(replicas / "departments" / "dept-0", account.address),
        actor=account.address,
        log_name=LOG_NAME,
    ).close()
    log = ActorLog(work / "department", account, _DOMAIN)
    committed = 0
    raised: list[str] = []
    caught = _Warnings()
    logging.getLogger("department_nodes").addHandler(caught)

    def commit_and_push(target: str, index: int) -> None:
        nonlocal committed
        with log.open() as store:
            append_and_sign(
                store,
                [read_record(account.address, "log-service-kill", index)],
                account,
                _DOMAIN,
            )
            committed += 1
            try:
                push_to_county({"log-service": target}, store)
            except Exception as e:  # a push may not take the department down
                raised.append(f"{type(e).__name__}: {e}")

    try:
        port = free_port()
        with _service(replicas, port) as (process, target):
            for index in range(3):
                commit_and_push(target, index)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            for index in range(3, 6):
                commit_and_push(target, index)
        with _service(replicas, port) as (_, target):
            commit_and_push(target, 6)
            with LogClient(target, insecure=True) as client:
                replica = client.fetch_log(log_id_for(account.address, LOG_NAME))
    finally:
        logging.getLogger("department_nodes").removeHandler(caught)
    with log.open() as store:
        own = store.encoded_records(0)
    notes = [f"a push raised into the department: {message}" for message in raised]
    failed_pushes = [m for m in caught.messages if "failed (retried" in m]
    if len(failed_pushes) < 3:
        notes.append(f"{len(failed_pushes)} failed pushes were logged, 3 expected")
    try:
        verify_exported_log(replica, domain=_DOMAIN)
        verdict = True
    except FedgovError as e:
        verdict = False
        notes.append(f"the replica does not verify: {e}")
    return FaultOutcome(
        case="log service kill -9",
        must_hold=MUST_HOLD,
        faults=1,
        completed=int(not raised),
        failed_unclearly=int(bool(raised)),
        records_lost=sum(1 for data in own if data not in set(replica.records))
        + max(0, committed - len(own)),
        verdict=verdict,
        verdict_expected=True,
        errors=tuple(failed_pushes[:1]),
        notes=tuple(notes),
    )
