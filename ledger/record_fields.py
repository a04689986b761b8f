"""Names, text forms and digests shared by the records' writers and the auditor.

A department's records say which message they come from in
``details["phase"]``; records of a SecAgg+ round, at either end, carry
``details["aggregation"] == "secagg+"``. Numbers that are not record fields
travel as :func:`number_text`, so the auditor reads back the exact float.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = [
    "ACCOUNTANT",
    "AGGREGATION",
    "BUDGET_GENERATION",
    "ENTRY_DEPARTMENT",
    "ENTRY_QUERY",
    "ENTRY_ROUND",
    "MAX_REASON_CHARS",
    "PHASE_BUDGET",
    "PHASE_EVALUATE",
    "PHASE_QUERY",
    "PHASE_TRAIN",
    "ROSTER_PREFIX",
    "SECURE_AGGREGATION",
    "STAGE",
    "STAGE_PERSONALISE",
    "WireForm",
    "answer_sha256",
    "canonical_sha256",
    "file_sha256",
    "number_text",
    "query_result_sha256",
    "query_sha256",
]

PHASE_TRAIN: Final = "train"
PHASE_EVALUATE: Final = "evaluate"
PHASE_QUERY: Final = "query"
PHASE_BUDGET: Final = "budget"
"""``details["phase"]`` of a ``budget_grant`` (a limit created or changed)."""

BUDGET_GENERATION: Final = "budget-generation"
"""Details key of ``budget_spend`` and ``budget_grant`` records: the generation
the department's budget book reached with that change. The node refuses to
spend from a book below the latest one its log records; the auditor checks
they rise by one with nothing skipped."""

ROSTER_PREFIX: Final = "department:"
"""``job_submit`` details ``department:<name>`` hold each department's address."""
ENTRY_DEPARTMENT: Final = "department"
"""``details["entry"]`` of a coordinator record about one department."""
ENTRY_ROUND: Final = "round"
"""``details["entry"]`` of a coordinator's ``aggregate`` record for the round."""
ENTRY_QUERY: Final = "query"
"""``details["entry"]`` of a coordinator's ``analytics_query`` record for the query."""

ACCOUNTANT: Final = "accountant"
"""``budget_spend`` details key naming the accountant (absent: RDP, as before)."""

AGGREGATION: Final = "aggregation"
"""Details key naming how a round's updates were summed, when not in the clear."""
SECURE_AGGREGATION: Final = "secagg+"

STAGE: Final = "stage"
"""Details key of a ``train_round`` (and its ``budget_spend``) that is not a
federated round."""
STAGE_PERSONALISE: Final = "personalise"
"""The stage in which a department fine-tunes the final layer and keeps the model."""
MAX_REASON_CHARS: Final = 2000
"""A refusal's reason is cut to this length (a record holds statements)."""


def number_text(value: float | int) -> str:
    """A metric as record text: ``repr`` of the float, so it reads back exactly."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


def canonical_sha256(value: Mapping[str, object]) -> bytes:
    """SHA-256 of ``value`` as compact JSON with sorted keys (floats as ``repr``).

    Both ends of a query hash its wire form and its result this way, so
    anyone holding the JSON can recompute the digest a record names.
    """
    text = json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("utf-8")).digest()


def file_sha256(path: Path) -> bytes:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


class WireForm(Protocol):
    """What travels in a message as a flat config (``privacy.mechanisms.Query``)."""

    def to_config(self) -> Mapping[str, Any]: ...


def query_sha256(query: WireForm) -> bytes:
    """SHA-256 of a query's wire form (``Query.to_config()``), as compact JSON."""
    return canonical_sha256(query.to_config())


def answer_sha256(values: Sequence[float]) -> bytes:
    """SHA-256 of a released answer vector: its entries as little-endian float64."""
    return hashlib.sha256(struct.pack(f"<{len(values)}d", *values)).digest()


def query_result_sha256(result: Mapping[str, Any]) -> bytes:
    """SHA-256 of a released query result: its JSON form without ``elapsed_s``.

    ``result`` is ``QueryResult.to_json()`` or the ``query_result.json``
    a deployed query run writes; timing is not part of what was released.
    """
    return canonical_sha256({k: v for k, v in result.items() if k != "elapsed_s"})
