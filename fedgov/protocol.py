"""Names shared by the coordinator and department nodes in Flower messages.

Flower strategies expect an ``ArrayRecord`` under ``"arrays"`` and a
``MetricRecord`` with ``"num-examples"`` under ``"metrics"``; fedgov adds a
``ConfigRecord`` under ``"fedgov"`` that says which department replied and
whether it trained, so a refusal is an answer, not a crash.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
from flwr.app import ArrayRecord

__all__ = [
    "ARRAYS",
    "CONFIG",
    "FEDGOV",
    "KEY_DEPARTMENT",
    "KEY_REASON",
    "KEY_STATUS",
    "METRICS",
    "NUM_EXAMPLES",
    "STATUS_OK",
    "STATUS_REFUSED",
    "arrays_to_numpy",
    "hash_arrays",
]

ARRAYS: Final = "arrays"
METRICS: Final = "metrics"
CONFIG: Final = "config"
FEDGOV: Final = "fedgov"

NUM_EXAMPLES: Final = "num-examples"
KEY_DEPARTMENT: Final = "department"
KEY_STATUS: Final = "status"
KEY_REASON: Final = "reason"

STATUS_OK: Final = "ok"
STATUS_REFUSED: Final = "refused"


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
