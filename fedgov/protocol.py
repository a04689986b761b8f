"""Names shared by the coordinator and department nodes in Flower messages.

Flower strategies expect an ``ArrayRecord`` under ``"arrays"`` and a
``MetricRecord`` with ``"num-examples"`` under ``"metrics"``; fedgov adds a
``ConfigRecord`` under ``"fedgov"`` that says which department replied and
whether it trained, so a refusal is an answer, not a crash.
"""

from __future__ import annotations

from typing import Final

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
