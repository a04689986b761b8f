"""Folding audit records into register entries (pure, no chain)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fedgov.portal.register import EntryKind, RecordRef, RegisterBuilder, parse_record


def _record(action: str, job: str, when: int, **fields: Any) -> dict[str, Any]:
    return {
        "action": action,
        "job": job,
        "timestamp_ms": when,
        "purpose": "approval #7",
        "dataset": "randhie",
        "details": {},
        **fields,
    }


def _spend(
    job: str, department: str, epsilon: str, total: str, phase: str
) -> dict[str, Any]:
    return _record(
        "budget_spend",
        job,
        2_000,
        epsilon=epsilon,
        delta="0.00001",
        details={"department": department, "phase": phase, "epsilon-total": total},
    )


def test_a_job_is_its_roster_its_rounds_and_each_department_s_spends() -> None:
    # Prepare
    builder = RegisterBuilder()
    submit = _record(
        "job_submit",
        "job-1",
        1_000,
        details={
            "department:a": "0x1",
            "department:b": "0x2",
            "num-rounds": "2",
            "strategy": "fedavg",
        },
    )
    rounds = [
        _record(
            "aggregate",
            "job-1",
            3_000,
            round=1,
            details={
                "entry": "department",
                "department": "a",
                "train": "trained",
                "epsilon-total": "0.5",
            },
        ),
        _record(
            "aggregate",
            "job-1",
            3_000,
            round=1,
            details={
                "entry": "department",
                "department": "b",
                "train": "refused",
                "reason": "over budget",
            },
        ),
    ]

    # Execute
    builder.add(submit, RecordRef("c", 0), role="coordinator", department="")
    for i, record in enumerate(rounds, start=1):
        builder.add(record, RecordRef("c", i), role="coordinator", department="")
    builder.add(
        _spend("job-1", "a", "0.3", "0.3", "train"),
        RecordRef("a", 0),
        role="department",
        department="a",
    )
    builder.add(
        _spend("job-1", "a", "0.2", "0.5", "train"),
        RecordRef("a", 3),
        role="department",
        department="a",
    )
    builder.add(
        _record(
            "access_denied",
            "job-1",
            2_500,
            details={"department": "b", "phase": "train", "reason": "over budget"},
        ),
        RecordRef("b", 0),
        role="department",
        department="b",
    )
    (entry,) = builder.entries()

    # Assert
    assert (entry.kind, entry.id, entry.purpose, entry.rounds_planned) == (
        EntryKind.TRAINING,
        "job-1",
        "approval #7",
        2,
    )
    a, b = entry.departments
    assert (a.department, a.epsilon, a.spends, a.epsilon_total, a.status) == (
        "a",
        0.5,
        2,
        0.5,
        "charged",
    )
    assert (b.status, b.reason, b.epsilon) == ("refused", "over budget", 0.0)
    assert entry.records == (
        RecordRef("c", 0),
        RecordRef("a", 0),
        RecordRef("a", 3),
        RecordRef("b", 0),
    )
    assert entry.rounds[0].statuses == (("a", "trained"), ("b", "refused"))
    assert not entry.finished
    assert entry.started_ms == 1_000
    assert entry.last_ms == 3_000


def test_a_query_and_a_job_of_the_same_id_are_two_entries() -> None:
    # Prepare
    builder = RegisterBuilder()
    builder.add(
        _spend("x", "a", "0.5", "0.5", "query"),
        RecordRef("a", 0),
        role="department",
        department="a",
    )
    builder.add(
        _spend("x", "a", "0.1", "0.6", "train"),
        RecordRef("a", 1),
        role="department",
        department="a",
    )
    builder.add(
        _record(
            "analytics_query",
            "x",
            4_000,
            details={
                "entry": "query",
                "kind": "histogram",
                "column": "mdvis",
                "group-by": "female",
            },
        ),
        RecordRef("c", 0),
        role="coordinator",
        department="",
    )

    # Execute
    entries = {e.kind: e for e in builder.entries()}

    # Assert
    assert entries[EntryKind.QUERY].detail == "histogram mdvis by female"
    assert entries[EntryKind.QUERY].finished
    assert entries[EntryKind.QUERY].departments[0].epsilon == 0.5
    assert entries[EntryKind.TRAINING].departments[0].epsilon == 0.1


def test_records_of_no_job_and_malformed_ones_are_ignored() -> None:
    # Prepare
    builder = RegisterBuilder()

    # Execute
    builder.add(
        _record("key_rotation", "", 1),
        RecordRef("a", 0),
        role="department",
        department="a",
    )
    builder.add(
        {"action": "budget_spend", "job": "j", "details": "x"},
        RecordRef("a", 1),
        role="department",
        department="a",
    )
    builder.add(
        _record("data_read", "j", 1),
        RecordRef("a", 2),
        role="department",
        department="a",
    )

    # Assert
    assert builder.entries() == []
    assert parse_record(b"not json") is None
    assert parse_record(b"[1]") is None


@given(
    st.lists(
        st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=20
    )
)
def test_a_department_s_charge_is_the_sum_of_its_spends(spends: list[float]) -> None:
    # Prepare
    builder = RegisterBuilder()

    # Execute
    for i, epsilon in enumerate(spends):
        builder.add(
            _spend("j", "a", repr(epsilon), "0", "train"),
            RecordRef("a", i),
            role="department",
            department="a",
        )
    (entry,) = builder.entries()

    # Assert
    assert entry.departments[0].epsilon == sum(spends)
    assert entry.departments[0].spends == len(spends) == len(entry.records)
