"""The coordinator's query service: one standing run that answers many questions.

``fedgov federation up`` submits one run of the coordinator's ServerApp
whose run_config names a socket (``query-service``,
:data:`RUN_CONFIG_SERVICE`). That run does not train: it listens on the
socket (:class:`QueryService`, mode 0600, only its own user answered) and
answers each :class:`~fedgov.questions.Question` ``fedgov query`` sends,
through the run's Grid, until ``fedgov federation down`` asks it to stop.

Each question is handled as a one-query run would be, minus the start of a
ServerApp: the query is built and validated here
(:func:`question_query`), sent to every department as a QUERY message
carrying the question's own job settings (its id, purpose, budget and the
analyst's signed request, :data:`fedgov.job.QUESTION_KEYS`), and each
department checks the request, calibrates its noise and charges its budget
before it answers. The coordinator's audit hook
(:meth:`coordinator.audit.CoordinatorAudit.open`: its key, log and anchor
relay, opened for the first question and kept open between questions)
records each question and anchors every head before its answer goes back,
and the answer is written to
``<runs>/<query id>/query_result.json`` as a one-query run writes it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, cast

from coordinator.analytics import format_result, run_query
from coordinator.audit import CoordinatorAudit
from fedgov.errors import ConfigurationError, FedgovError
from fedgov.files import write_json_atomic
from fedgov.job import DEFAULT_ACCOUNTANT, parse_accountant
from fedgov.job_data import dataset_fields
from fedgov.local_socket import LocalSocketError, OwnerOnlyListener
from fedgov.questions import (
    Question,
    QuestionWireError,
    receive_message,
    send_message,
)
from fedgov.run_record import QUERY_RESULT_FILE
from privacy.mechanisms import Predicate, Query, QueryKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flwr.serverapp import Grid

    from coordinator.analytics import QueryResult
    from fedgov.job import TrainJob
    from ledger.county_ledger import CountyLedger

__all__ = ["RUN_CONFIG_SERVICE", "QueryService", "question_query"]

logger = logging.getLogger(__name__)

RUN_CONFIG_SERVICE: Final = "query-service"
"""The run_config key of a standing query run: the socket it answers on."""

_ACCEPT_SECONDS = 0.5
_RECEIVE_SECONDS = 30.0


def question_query(question: Question) -> Query:
    """The validated :class:`~privacy.mechanisms.Query` ``question`` asks.

    Raises :class:`~privacy.mechanisms.QueryError` naming the argument.
    """
    return Query(
        kind=cast(QueryKind, question.kind),
        dataset=question.dataset,
        column=question.column,
        group_by=question.group_by,
        where=tuple(Predicate.parse(text) for text in question.where),
        bins=question.bins,
        quantiles=question.quantiles if question.kind == "quantiles" else (),
        rows_per_person=question.rows_per_person,
        query_id=question.query_id,
        epsilon=question.epsilon,
        delta=question.delta,
        accountant=parse_accountant(
            question.accountant or DEFAULT_ACCOUNTANT.value, argument="--accountant"
        ),
    )


@dataclass(frozen=True)
class _Asked:
    """One question, as this run asks it."""

    query: Query
    job: TrainJob
    settings: dict[str, str | float]


class QueryService:
    """Answers questions on ``path`` through ``grid``, under the run's ``job``.

    ``departments`` are those asked (the federation's); ``ledger`` is where
    the coordinator's audit heads are anchored (``None``: the job's own
    registry, as :meth:`CoordinatorAudit.open` decides); each answer is
    written under ``runs``. ``ready`` is set once the socket listens.
    """

    def __init__(
        self,
        grid: Grid,
        job: TrainJob,
        *,
        path: Path,
        departments: Sequence[str],
        state_dir: Path,
        runs: Path,
        ledger: CountyLedger | None,
        confidence: float = 0.95,
    ) -> None:
        self.grid = grid
        self.job = job
        self.path = Path(path).absolute()
        self.departments = tuple(departments)
        self.state_dir = state_dir
        self.runs = runs
        self.ledger = ledger
        self.confidence = confidence
        self.ready = threading.Event()
        self.answered = 0
        self._audit: CoordinatorAudit | None = None

    def serve(self, stop: threading.Event | None = None) -> None:
        """Answer questions until a ``stop`` request (or ``stop`` is set)."""
        stop = stop or threading.Event()
        try:
            with OwnerOnlyListener(
                self.path,
                service="a query service",
                argument=RUN_CONFIG_SERVICE,
                accept_seconds=_ACCEPT_SECONDS,
            ) as listener:
                self._open_audit_early()
                self.ready.set()
                logger.info("query service listening on %s", self.path)
                while not stop.is_set():
                    conn = listener.accept()
                    if conn is None:
                        continue
                    with conn:
                        if self._serve_one(conn):
                            stop.set()
        finally:
            self.close()
        logger.info("query service stopped after %d questions", self.answered)

    def close(self) -> None:
        """Anchor what is left and stop the audit relay (:meth:`serve` does, at its end)."""
        audit, self._audit = self._audit, None
        if audit is not None:
            audit.close()

    def _serve_one(self, conn: socket.socket) -> bool:
        """Answer one connection; ``True`` when it asked the service to stop."""
        conn.settimeout(_RECEIVE_SECONDS)
        try:
            kind, body = receive_message(conn)
        except (LocalSocketError, OSError) as e:
            logger.warning("query service: unreadable request (%s)", e)
            with contextlib.suppress(OSError, LocalSocketError):
                send_message(conn, _refusal("request", str(e)))
            return False
        conn.settimeout(None)
        reply: dict[str, object]
        try:
            if kind == "ping":
                reply = {
                    "pong": {
                        "dataset": self.job.dataset,
                        "departments": list(self.departments),
                        "answered": self.answered,
                    }
                }
            elif kind == "stop":
                reply = {"stopping": {}}
            elif kind == "ask":
                reply = {"answer": self.answer(Question.from_json(body))}
            else:
                reply = _refusal("request", f"unknown request {kind!r}")
        except ConfigurationError as e:
            reply = _refusal(e.argument, e.rule)
        except QuestionWireError as e:
            reply = _refusal("question", e.rule)
        except FedgovError as e:
            reply = _refusal("query", str(e))
        except Exception as e:
            # One question's failure is that question's: the run goes on
            # answering the next, and the log keeps the traceback.
            logger.exception("query service: the question failed")
            reply = _refusal(
                "query-service", f"the question failed ({e!r}); see its log"
            )
        with contextlib.suppress(OSError):
            send_message(conn, reply)
        return kind == "stop"

    def answer(self, question: Question) -> dict[str, object]:
        """Ask the departments ``question``; its answer as :func:`ask` returns it."""
        asked = self._asked(question)
        result = self._run(asked)
        self.answered += 1
        run_dir = self.runs / asked.query.query_id
        write_json_atomic(run_dir / QUERY_RESULT_FILE, result.to_json())
        return {
            "answered": bool(result.answered),
            "text": format_result(result),
            "result": result.to_json(),
            "run_dir": str(run_dir),
        }

    def _asked(self, question: Question) -> _Asked:
        if question.state_dir and Path(question.state_dir).resolve() != self.state_dir:
            raise ConfigurationError(
                "--state-dir",
                f"the standing federation's departments keep their books in "
                f"{self.state_dir}",
            )
        dataset, _ = dataset_fields(question.dataset)
        if dataset != self.job.dataset:
            raise ConfigurationError(
                "--dataset",
                f"the standing federation's departments hold {self.job.dataset!r}, "
                f"not {dataset!r}: `fedgov federation down`, then `up --dataset "
                f"{question.dataset}`",
            )
        if not question.timeout > 0:
            raise ConfigurationError("--timeout", "must be positive")
        query = question_query(question)
        if (self.runs / query.query_id).exists():
            raise ConfigurationError(
                "--query-id", f"{query.query_id!r} was asked before: name another"
            )
        settings: dict[str, str | float] = {
            "job-id": query.query_id,
            "purpose": question.purpose or self.job.purpose,
            "access-request": question.access_request,
        }
        job = replace(
            self.job,
            job_id=query.query_id,
            purpose=str(settings["purpose"]),
            access_request=question.access_request,
            round_timeout=question.timeout,
        )
        if question.budget_epsilon is not None:
            settings["budget-epsilon"] = question.budget_epsilon
            job = replace(job, budget_epsilon=question.budget_epsilon)
        return _Asked(query=query, job=job, settings=settings)

    def _hook(self, job: TrainJob) -> CoordinatorAudit | None:
        """The coordinator's audit hook for the question ``job``.

        The key, log and anchor relay are opened for the first question and
        stay open until :meth:`close`: per question, only its records are
        written and every head anchored.
        """
        if not job.audit:
            return None
        if self._audit is None:
            self._audit = self._open_audit()
        return self._audit.for_job(job)

    def _open_audit(self) -> CoordinatorAudit:
        return CoordinatorAudit.open(
            self.job,
            ledger=self.ledger,
            state_dir=self.state_dir,
            departments=self.departments,
        )

    def _open_audit_early(self) -> None:
        # Before the first question, so that it does not wait for the key, the
        # role check and the relay; what fails here is the first question's
        # error to report (with its id), not the service's.
        if not self.job.audit:
            return
        try:
            self._audit = self._open_audit()
        except FedgovError as e:
            logger.warning("audit hook not opened at start (%s)", e)

    def _run(self, asked: _Asked) -> QueryResult:
        started = time.monotonic()
        audit = self._hook(asked.job)
        try:
            result = run_query(
                self.grid,
                asked.query,
                timeout=asked.job.round_timeout,
                confidence=self.confidence,
                departments=self.departments,
                settings=asked.settings,
            )
            if audit is not None:
                audit.record_query(result)
        finally:
            if audit is not None:
                audit.anchor()
        logger.info(
            "question %s answered in %.2f s (audit anchored)",
            asked.query.query_id,
            time.monotonic() - started,
        )
        return result


def _refusal(argument: str, rule: str) -> dict[str, object]:
    return {"refused": {"argument": argument, "rule": rule}}
