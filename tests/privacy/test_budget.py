"""The durable budget book: persistence, refusal, concurrency, tampering."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
from pathlib import Path

import pytest

from fedgov.errors import ConfigurationError
from fedgov.job import Accountant
from privacy.accounting import GaussianSpend, epsilon_spent
from privacy.budget import Budget, BudgetBook, BudgetGrant, open_budget_book
from privacy.errors import BudgetBookError, BudgetExceeded, BudgetRolledBack

PLD = Accountant.PLD
ROUND = GaussianSpend(noise_multiplier=1.0, sample_rate=0.1, steps=10)


def _ledger(tmp_path: Path, department: str = "health-site-1") -> BudgetBook:
    return BudgetBook(tmp_path / "budget.json", department=department)


def test_spend_survives_a_restart(tmp_path: Path) -> None:
    # Prepare
    first = _ledger(tmp_path)
    first.ensure_limit("randhie", Budget(epsilon=10.0, delta=1e-5))
    first.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="job-1", round=1
    )
    # Execute: a new process would open the same file.
    reopened = _ledger(tmp_path)
    status = reopened.status("randhie")
    # Assert
    assert len(status.history) == 1
    assert status.spent == pytest.approx(epsilon_spent([ROUND], delta=1e-5))
    assert status.remaining == pytest.approx(10.0 - status.spent)


def test_a_second_job_does_not_reset_the_spend(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=10.0, delta=1e-5))
    ledger.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="job-1", round=1
    )
    second = ledger.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="job-2", round=1
    )
    assert second.epsilon_after == pytest.approx(
        epsilon_spent([ROUND, ROUND], delta=1e-5)
    )


def test_refusal_records_nothing(tmp_path: Path) -> None:
    # Prepare: a limit that fits one round but not two.
    one = epsilon_spent([ROUND], delta=1e-5)
    two = epsilon_spent([ROUND, ROUND], delta=1e-5)
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=(one + two) / 2, delta=1e-5))
    ledger.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="j", round=1
    )
    # Execute / Assert
    with pytest.raises(BudgetExceeded) as info:
        ledger.charge(
            "randhie", ROUND, accountant=PLD, kind="train_round", job_id="j", round=2
        )
    assert info.value.spent == pytest.approx(one)
    assert info.value.requested == pytest.approx(two)
    assert info.value.limit == pytest.approx((one + two) / 2)
    assert "health-site-1" in str(info.value)
    assert len(ledger.status("randhie").history) == 1


def test_ensure_limit_keeps_the_limit_on_file(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=2.0, delta=1e-5))
    kept = ledger.ensure_limit("randhie", Budget(epsilon=50.0, delta=1e-5))
    assert kept.epsilon == 2.0
    ledger.set_limit(
        "randhie", Budget(epsilon=3.0, delta=1e-5), by="officer", reason="approved"
    )
    assert ledger.status("randhie").limit.epsilon == 3.0


def test_unknown_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BudgetBookError, match="no budget set for dataset 'adult'"):
        _ledger(tmp_path).status("adult")


def test_a_ledger_of_another_department_is_refused(tmp_path: Path) -> None:
    _ledger(tmp_path).ensure_limit("randhie", Budget(epsilon=1.0, delta=1e-5))
    with pytest.raises(BudgetBookError, match="belongs to department 'health-site-1'"):
        _ledger(tmp_path, department="health-site-2").status("randhie")


def test_a_corrupt_file_is_reported_not_reset(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=1.0, delta=1e-5))
    ledger.path.write_bytes(b"{not json")
    with pytest.raises(BudgetBookError, match="unreadable"):
        ledger.status("randhie")


def test_every_change_raises_the_generation_and_is_listed_with_who_and_why(
    tmp_path: Path,
) -> None:
    # Prepare
    book = _ledger(tmp_path)
    limit = Budget(epsilon=5.0, delta=1e-5)

    # Execute
    empty = book.generation()
    book.ensure_limit("randhie", limit, by="node", reason="first use")
    book.ensure_limit("randhie", Budget(epsilon=9.0, delta=1e-5))  # kept: no change
    spend = book.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="j", round=1
    )
    raised = book.set_limit(
        "randhie", Budget(epsilon=100.0, delta=1e-5), by="alice", reason="council"
    )
    changes = book.changes()

    # Assert
    assert (empty, book.generation()) == (0, 3)
    assert [c.generation for c in changes] == [1, 2, 3]
    created, charged, changed = changes
    assert isinstance(created, BudgetGrant)
    assert (created.previous, created.limit, created.by) == (None, limit, "node")
    assert charged == spend
    assert changed == raised
    assert (raised.previous, raised.by, raised.reason) == (limit, "alice", "council")
    assert book.changes(since=2) == [raised]


def test_a_book_below_the_logged_generation_is_refused_not_recreated(
    tmp_path: Path,
) -> None:
    # Prepare: three changes on record, then the book is rolled back, then deleted.
    book = _ledger(tmp_path)
    book.ensure_limit("randhie", Budget(epsilon=10.0, delta=1e-5))
    book.charge("randhie", ROUND, accountant=PLD, kind="train_round", job_id="j")
    old = book.path.read_bytes()
    book.charge("randhie", ROUND, accountant=PLD, kind="train_round", job_id="j")
    book.path.write_bytes(old)

    # Execute / Assert
    with pytest.raises(BudgetRolledBack, match="at generation 2, but department"):
        book.charge(
            "randhie", ROUND, accountant=PLD, kind="train_round", job_id="j", floor=3
        )
    book.path.unlink()
    with pytest.raises(BudgetRolledBack, match="is missing") as missing:
        book.ensure_limit("randhie", Budget(epsilon=8.0, delta=1e-5), floor=3)
    assert not book.path.exists()
    assert (missing.value.generation, missing.value.floor) == (0, 3)
    with pytest.raises(BudgetRolledBack):
        book.set_limit(
            "randhie", Budget(epsilon=8.0, delta=1e-5), by="x", reason="y", floor=3
        )


def test_a_limit_change_needs_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="reason: say why"):
        _ledger(tmp_path).set_limit(
            "randhie", Budget(epsilon=1.0, delta=1e-5), by="x", reason=" "
        )


@pytest.mark.parametrize("name", ["../../../x", "..", "a/b", ".hidden", "", "x" * 101])
def test_names_that_would_leave_the_state_folder_are_refused(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ConfigurationError, match="is not a valid name"):
        open_budget_book(tmp_path, name)
    book = _ledger(tmp_path)
    with pytest.raises(ConfigurationError, match=r"dataset: .* is not a valid name"):
        book.ensure_limit(name, Budget(epsilon=1.0, delta=1e-5))
    assert list(tmp_path.iterdir()) == []


def _charge_many(path: str, count: int) -> None:
    ledger = BudgetBook(path, department="health-site-1")
    for i in range(count):
        with contextlib.suppress(BudgetExceeded):
            ledger.charge(
                "randhie",
                ROUND,
                accountant=PLD,
                kind="train_round",
                job_id="race",
                round=i,
            )


def test_concurrent_processes_cannot_overspend(tmp_path: Path) -> None:
    # Prepare: room for exactly three rounds.
    three = epsilon_spent([ROUND] * 3, delta=1e-5)
    four = epsilon_spent([ROUND] * 4, delta=1e-5)
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=(three + four) / 2, delta=1e-5))
    # Execute: two processes race for it.
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_charge_many, args=(str(ledger.path), 3)) for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    # Assert
    assert len(ledger.status("randhie").history) == 3


# -- accountants -------------------------------------------------------------------

RDP = Accountant.RDP


def _old_file(tmp_path: Path, spends: int) -> BudgetBook:
    """A ledger as fedgov wrote it before it named accountants: no such key."""
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=10.0, delta=1e-5))
    for i in range(spends):
        ledger.charge(
            "randhie", ROUND, accountant=RDP, kind="train_round", job_id="old", round=i
        )
    doc = json.loads(ledger.path.read_bytes())
    for record in doc["datasets"]["randhie"]["spends"]:
        del record["accountant"]
    ledger.path.write_text(json.dumps(doc))
    return ledger


def test_records_name_their_accountant_and_old_ones_read_as_rdp(
    tmp_path: Path,
) -> None:
    # Prepare
    ledger = _old_file(tmp_path, spends=2)

    # Act
    status = ledger.status("randhie")

    # Assert: the old figures stand, under RDP
    assert [r.accountant for r in status.history] == [RDP, RDP]
    assert status.spent == epsilon_spent([ROUND] * 2, delta=1e-5, accountant=RDP)


def test_a_mixed_history_is_composed_by_the_tightest_accountant_named(
    tmp_path: Path,
) -> None:
    # Prepare: two RDP rounds from before, then a PLD round
    ledger = _old_file(tmp_path, spends=2)
    before = ledger.status("randhie").spent

    # Act
    projected = ledger.check("randhie", ROUND, accountant=PLD)
    record = ledger.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="new", round=1
    )

    # Assert: the whole history re-accounted under PLD, which is less than
    # RDP says for it, and (here) less than RDP said for the first two alone
    history = [ROUND] * 3
    pld = epsilon_spent(history, delta=1e-5, accountant=PLD)
    rdp = epsilon_spent(history, delta=1e-5, accountant=RDP)
    assert projected == record.epsilon_after == pld < rdp
    assert pld < before
    status = ledger.status("randhie")
    assert status.spent == pld
    assert [r.accountant for r in status.history] == [RDP, RDP, PLD]
    stored = json.loads(ledger.path.read_bytes())["datasets"]["randhie"]["spends"]
    assert stored[-1]["accountant"] == "pld"


def test_the_limit_check_uses_the_mixed_composition(tmp_path: Path) -> None:
    # Prepare: a limit that three rounds fit under PLD but not under RDP
    history = [ROUND] * 3
    pld = epsilon_spent(history, delta=1e-5, accountant=PLD)
    rdp = epsilon_spent(history, delta=1e-5, accountant=RDP)
    ledger = _old_file(tmp_path, spends=2)
    ledger.set_limit(
        "randhie",
        Budget(epsilon=(pld + rdp) / 2, delta=1e-5),
        by="test",
        reason="between the two",
    )

    # Act / Assert: refused as RDP, allowed as PLD
    with pytest.raises(BudgetExceeded) as info:
        ledger.charge(
            "randhie", ROUND, accountant=RDP, kind="train_round", job_id="n", round=1
        )
    assert info.value.requested == pytest.approx(rdp)
    assert ledger.charge(
        "randhie", ROUND, accountant=PLD, kind="train_round", job_id="n", round=1
    ).epsilon_after == pytest.approx(pld)


def test_a_record_naming_an_unknown_accountant_is_refused(tmp_path: Path) -> None:
    # Prepare
    ledger = _ledger(tmp_path)
    ledger.ensure_limit("randhie", Budget(epsilon=10.0, delta=1e-5))
    ledger.charge("randhie", ROUND, accountant=PLD, kind="q", job_id="q", round=0)
    doc = json.loads(ledger.path.read_bytes())
    doc["datasets"]["randhie"]["spends"][0]["accountant"] = "zcdp"
    ledger.path.write_text(json.dumps(doc))

    # Act / Assert: neither read nor charged against
    with pytest.raises(BudgetBookError, match="accountant 'zcdp'") as info:
        ledger.status("randhie")
    assert str(ledger.path) in str(info.value)
    with pytest.raises(BudgetBookError, match="accountant 'zcdp'"):
        ledger.charge("randhie", ROUND, accountant=PLD, kind="q", job_id="q2")
