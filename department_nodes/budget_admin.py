"""A department officer's changes to the budget book, on the department's record.

``fedgov budget set`` changes a dataset's lifetime limit. The change is not
only written to the book: it is a ``budget_grant`` record in the
department's own audit log, signed with the department's key (who, why, the
new and the previous limit, the book generation it made), written under the
department's audit lock so that no handler runs in between. Changes the log
misses are recorded first, and a book below what the log records is refused
(:mod:`department_nodes._audit_budget`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from department_nodes._audit_budget import BudgetSync
from ledger.actor_log import ActorLog, append_and_sign
from ledger.keys import key_password, load_or_create_key
from ledger.layout import KEY_FILE, department_dir
from privacy.budget import open_budget_book

if TYPE_CHECKING:
    from ledger.tree_head import SigningDomain
    from privacy.budget import Budget, BudgetGrant

__all__ = ["BUDGET_PURPOSE", "LimitChange", "set_limit_on_record"]

BUDGET_PURPOSE = "budget-administration"
"""The declared purpose of a limit change made outside any job."""


@dataclass(frozen=True)
class LimitChange:
    """A recorded limit change: the grant, and the log that holds it."""

    grant: BudgetGrant
    log: Path
    signed: bool
    """Whether a head covering the record was signed (a registry was given)."""


def set_limit_on_record(
    state_dir: str | Path,
    department: str,
    dataset: str,
    budget: Budget,
    *,
    by: str,
    reason: str,
    key: str = "auto",
    domain: SigningDomain | None = None,
) -> LimitChange:
    """Set ``department``'s limit on ``dataset`` and record it in its audit log.

    ``key`` is the book's key source; ``domain`` the registry the
    department's heads are signed for (``None``: the record is durable but
    waits for the department's next signed head).
    """
    directory = department_dir(state_dir, department)
    account = load_or_create_key(directory / KEY_FILE, password=key_password())
    log = ActorLog(directory, account, domain)
    book = open_budget_book(state_dir, department, key=key)
    with log.open() as store:
        sync = BudgetSync(book, account.address, department, BUDGET_PURPOSE, "")
        records = sync.before(store)
        grant = book.set_limit(dataset, budget, by=by, reason=reason, floor=sync.floor)
        records += sync.after([])
        append_and_sign(store, records, account, domain)
    return LimitChange(grant, log.path, signed=domain is not None)
