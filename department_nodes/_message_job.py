"""The job one message runs under: the run's, with a question's own settings.

A deployed department reads its job from the run's ``run_config``. A
standing federation's query run asks many questions in one run, each
under its own id, purpose, budget and analyst's request: a QUERY message
carries those in its ``job`` record (:data:`fedgov.protocol.Record.JOB`,
the keys of :data:`fedgov.job.QUESTION_KEYS` only), over the run's job.
Every hook that reads the job (boundary guard, audit mod, access gate and
budget) reads it here, so they agree on what the question is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flwr.app import MessageType

from fedgov import protocol as p
from fedgov.job import TrainJob, question_settings

if TYPE_CHECKING:
    from flwr.app import Context, Message

__all__ = ["message_job"]


def message_job(msg: Message, context: Context) -> TrainJob:
    """``context``'s run job, with ``msg``'s question settings when it is a QUERY.

    Raises :class:`~fedgov.errors.ConfigurationError` for a ``job`` record
    holding other keys or values of the wrong type.
    """
    run_config = dict(context.run_config)
    record = msg.content.config_records.get(p.Record.JOB)
    if record is not None and msg.metadata.message_type == MessageType.QUERY:
        run_config.update(question_settings(record))
    return TrainJob.from_run_config(run_config)
