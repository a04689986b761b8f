"""``fedgov budget show|set``, as a department data officer types them.

A limit change is a signed-for record in the department's audit log; a name
that would leave the state folder is refused; one department's unreadable
book is reported without hiding the others'.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING

import pytest

from fedgov.cli import main
from fedgov.job import Accountant
from ledger.keys import PlaintextKeyWarning
from ledger.layout import find_logs
from ledger.records import Action
from ledger.store import LogStore
from privacy.accounting import GaussianSpend
from privacy.budget import Budget, open_budget_book

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def _quiet_demo_keys() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        yield


def _books(state: Path, *departments: str) -> None:
    for department in departments:
        book = open_budget_book(state, department)
        book.ensure_limit("randhie", Budget(epsilon=3.0, delta=1e-5))
        book.charge(
            "randhie",
            GaussianSpend(2.0, 0.02, 100),
            accountant=Accountant.PLD,
            kind="train_round",
            job_id="job",
            round=1,
        )


def test_set_records_a_budget_grant_with_who_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    state = tmp_path / "state"
    _books(state, "health-site-1")

    # Act: the raise from 3 to 100, as typed.
    code = main(
        [
            "budget",
            "set",
            "--state-dir",
            str(state),
            "--department",
            "health-site-1",
            "--dataset",
            "randhie",
            "--epsilon",
            "100",
            "--delta",
            "1e-5",
            "--reason",
            "council resolution 14",
            "--by",
            "alice",
        ]
    )

    # Assert
    out = capsys.readouterr().out
    assert code == 0
    assert "health-site-1/randhie: limit epsilon 100.0" in out
    assert "recorded as budget_grant, book generation 3" in out
    (log,) = find_logs(state)
    with LogStore(log) as store:
        grant = store.records(0)[-1]
    assert grant.action is Action.BUDGET_GRANT
    assert (grant.details["by"], grant.details["reason"]) == (
        "alice",
        "council resolution 14",
    )
    assert grant.details["previous-epsilon-limit"] == "3.0"


def test_set_requires_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "budget",
                "set",
                "--state-dir",
                "x",
                "--department",
                "d",
                "--dataset",
                "randhie",
                "--epsilon",
                "1",
                "--delta",
                "1e-5",
            ]
        )
    assert "--reason" in capsys.readouterr().err


def test_a_department_name_that_leaves_the_state_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Act
    code = main(
        [
            "budget",
            "set",
            "--state-dir",
            str(tmp_path / "state"),
            "--department",
            "../../../x",
            "--dataset",
            "randhie",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
            "--reason",
            "attack",
        ]
    )

    # Assert
    assert code == 1
    err = capsys.readouterr().err
    assert "--department: '../../../x' is not a valid name" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_show_reports_an_unreadable_book_and_still_shows_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    state = tmp_path / "state"
    _books(state, "health-site-1", "health-site-2", "health-site-3")
    open_budget_book(state, "health-site-2").path.write_bytes(b"corrupt")

    # Act
    code = main(["budget", "show", "--state-dir", str(state)])
    captured = capsys.readouterr()
    as_json = main(["budget", "show", "--state-dir", str(state), "--json"])
    rows = json.loads(capsys.readouterr().out)

    # Assert
    assert (code, as_json) == (1, 1)
    assert "health-site-1" in captured.out
    assert "health-site-3" in captured.out
    assert "health-site-2                  UNREADABLE" in captured.out
    assert "fedgov budget show: health-site-2: " in captured.err
    assert "integrity check failed" in captured.err
    assert [r["department"] for r in rows] == [
        "health-site-1",
        "health-site-3",
        "health-site-2",
    ]
    assert "error" in rows[2]


def test_a_registry_that_is_not_an_address_is_named_and_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _books(tmp_path, "health-site-1")
    before = open_budget_book(tmp_path, "health-site-1").generation()
    code = main(
        [
            "budget",
            "set",
            "--state-dir",
            str(tmp_path),
            "--department",
            "health-site-1",
            "--dataset",
            "randhie",
            "--epsilon",
            "100",
            "--delta",
            "1e-5",
            "--reason",
            "test",
            "--chain-id",
            "1",
            "--registry",
            "0xnotanaddress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "--registry: must be a 0x-prefixed 20-byte hex address" in err
    assert "Traceback" not in err
    assert open_budget_book(tmp_path, "health-site-1").generation() == before
