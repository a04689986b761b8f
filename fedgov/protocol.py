"""Names shared by the coordinator and department nodes in Flower messages.

Flower strategies expect an ``ArrayRecord`` under ``"arrays"`` and a
``MetricRecord`` with ``"num-examples"`` under ``"metrics"``; fedgov adds a
``ConfigRecord`` under ``"fedgov"`` that says which department replied and
whether it trained, so a refusal is an answer, not a crash.

Every key either side writes or reads is a member of one of the ``StrEnum``
classes below: a member *is* its string (``Metric.EPSILON_JOB == "epsilon-job"``),
so it goes into Flower records, JSON and audit records as the plain text.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Final

import numpy as np
from flwr.app import ArrayRecord

__all__ = [
    "DATA_INVALID",
    "SECAGG_RESERVED_KEYS",
    "Instruction",
    "Metric",
    "Outcome",
    "Record",
    "Reply",
    "SecAgg",
    "SecAggTask",
    "Status",
    "arrays_to_numpy",
    "data_invalid",
    "hash_arrays",
]


class _Key(StrEnum):
    # repr as the plain string: members end up as keys of Flower records and
    # run records, whose printed forms should read as the wire does.
    def __repr__(self) -> str:
        return repr(self.value)


class Record(_Key):
    """Names of the records in a message's ``RecordDict``."""

    ARRAYS = "arrays"
    METRICS = "metrics"
    CONFIG = "config"
    FEDGOV = "fedgov"
    """A reply's ``ConfigRecord`` of :class:`Reply` keys."""
    QUERY = "query"
    """The ``ConfigRecord`` of a QUERY message holding the query's wire form."""
    JOB = "job"
    """A QUERY message's own job settings (:data:`fedgov.job.QUESTION_KEYS`): a
    standing query run asks each question under its own id, purpose, budget
    and analyst's request, over the run's run_config."""


class Reply(_Key):
    """Keys of a reply's ``"fedgov"`` ``ConfigRecord`` (or a secure round's clear metrics)."""

    DEPARTMENT = "department"
    STATUS = "status"
    REASON = "reason"


class Status(_Key):
    """What a department says it did with an instruction."""

    OK = "ok"
    REFUSED = "refused"
    REJECTED = "rejected"
    """A secure round's department found its own vector unfit to send
    (non-finite, too large): it trained, spent its budget, and sent zeros."""


class Outcome(_Key):
    """What the coordinator records of a department's part in a round or query.

    A round's outcome is ``trained``, ``refused``, ``rejected`` or ``failed``;
    a query's is the department's :class:`Status` (``ok``, ``refused``), or
    ``failed`` or ``missing`` (no reply before the timeout).
    """

    TRAINED = "trained"
    REFUSED = "refused"
    REJECTED = "rejected"
    FAILED = "failed"
    MISSING = "missing"


class Metric(_Key):
    """Metric keys of replies, and of the coordinator's central evaluation."""

    NUM_EXAMPLES = "num-examples"
    TRAIN_LOSS = "train-loss"
    EPSILON_JOB = "epsilon-job"
    EPSILON_TOTAL = "epsilon-total"
    EPSILON_LIMIT = "epsilon-limit"
    EPSILON_QUERY = "epsilon-query"
    NOISE_MULTIPLIER = "noise-multiplier"
    SAMPLE_RATE = "sample-rate"
    STEPS = "steps"
    COMPUTE_SECONDS = "compute-seconds"
    EVAL_LOSS = "eval-loss"
    EVAL_ACCURACY = "eval-accuracy"
    EVAL_AUC = "eval-auc"
    EVAL_F1 = "eval-f1"
    """Macro F1 over the classes (classification)."""
    EVAL_RMSE = "eval-rmse"
    """Root mean squared error in the target's unit (regression)."""
    EVAL_MAE = "eval-mae"
    """Mean absolute error in the target's unit (regression)."""
    TEST_LOSS = "test-loss"
    TEST_ACCURACY = "test-accuracy"
    TEST_AUC = "test-auc"
    TEST_F1 = "test-f1"
    TEST_RMSE = "test-rmse"
    TEST_MAE = "test-mae"
    QUERY_ANSWER = "query-answer"
    """A query reply's noisy answer vector."""
    QUERY_NOISE_STD = "query-noise-std"
    """A query reply's noise standard deviation, one per block of the answer."""


class Instruction(_Key):
    """Keys of an instruction's ``"config"`` record (or a secure round's FitIns)."""

    SERVER_ROUND = "server-round"
    JOB_ID = "job-id"
    DATASET_DIGEST = "dataset-digest"
    """The SHA-256 of the coordinator's dataset declaration: a department
    refuses an instruction whose digest is not its own declaration's."""
    PERSONALISE = "personalise"
    """Set (true) on the train message that closes a job with personalisation:
    the department fine-tunes the final layer, keeps the model and answers
    with its evaluation (``docs/personalisation.md``)."""


DATA_INVALID: Final = "data invalid"
"""How a department's refusal reason starts when its records break the
declaration: ``"data invalid: <reason class>"`` (never a value)."""


class SecAgg(_Key):
    """Config keys of a secure round's instruction, sent in the clear."""

    TASK = "fedgov-task"
    MAX_WEIGHT = "secagg-max-weight"
    CLIPPING_RANGE = "secagg-clipping-range"
    SUM_TASK = "secure-sum-task"
    SUM_LENGTH = "secure-sum-length"
    SUM_BOUND = "secure-sum-bound"


class SecAggTask(_Key):
    """What a secure round computes (:attr:`SecAgg.TASK`)."""

    TRAIN = "train"
    SUM = "secure-sum"


SECAGG_RESERVED_KEYS: Final = frozenset({*SecAgg, Instruction.SERVER_ROUND})
"""Keys a secure sum's caller may not set: the round's own instruction uses them."""


def data_invalid(reason_class: str) -> str:
    """A refusal's reason for records that break the declaration: the class only."""
    return f"{DATA_INVALID}: {reason_class}"


def arrays_to_numpy(record: ArrayRecord) -> dict[str, np.ndarray]:
    """An ``ArrayRecord``'s tensors as NumPy arrays, keyed by name."""
    return {name: array.numpy() for name, array in record.items()}


def hash_arrays(record: ArrayRecord) -> bytes:
    """SHA-256 over an update's tensors, the same on both sides of a message.

    Each tensor contributes its name, dtype, shape and C-order bytes, in name
    order, so the department that sent an update and the coordinator that
    received it compute the same digest for the audit log.
    """
    digest = hashlib.sha256()
    for name in sorted(record.keys()):
        array = np.ascontiguousarray(record[name].numpy())
        header = f"{name}\x00{array.dtype.str}\x00{list(array.shape)}\x00"
        digest.update(header.encode("utf-8"))
        digest.update(array.tobytes())
    return digest.digest()
