"""``fedgov budget``: each department's privacy budget, from its own budget book.

``fedgov budget show --state-dir DIR`` prints, for every department budget book
under ``DIR/departments/``, each dataset's limit, epsilon spent, remaining
epsilon and (with ``--history``) every spend; ``fedgov budget set`` changes a
limit. Both read the sealed book with the department's key source.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from fedgov.county import default_state_dir
from fedgov.errors import ConfigurationError
from privacy.budget import Budget, BudgetStatus, open_budget_book

__all__ = ["configure"]


def _departments(state_dir: Path, chosen: list[str] | None) -> list[str]:
    if chosen:
        return chosen
    root = state_dir / "departments"
    found = sorted(p.parent.name for p in root.glob("*/budget.ledger"))
    if not found:
        raise ConfigurationError(
            "--state-dir", f"no department budget book under {root}"
        )
    return found


def _status_json(status: BudgetStatus, *, history: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "department": status.department,
        "dataset": status.dataset,
        "limit": {"epsilon": status.limit.epsilon, "delta": status.limit.delta},
        "spent": status.spent,
        "remaining": status.remaining,
        "spends": len(status.history),
    }
    if history:
        out["history"] = [
            {
                "time": record.timestamp,
                "kind": record.kind,
                "job": record.job_id,
                "round": record.round,
                "noise_multiplier": record.spend.noise_multiplier,
                "sample_rate": record.spend.sample_rate,
                "steps": record.spend.steps,
                "epsilon_after": record.epsilon_after,
                "accountant": record.accountant.value,
            }
            for record in status.history
        ]
    return out


def _show(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir or default_state_dir())
    rows: list[dict[str, Any]] = []
    for department in _departments(state_dir, args.department):
        book = open_budget_book(state_dir, department, key=args.key)
        datasets = [args.dataset] if args.dataset else list(book.datasets())
        rows += [_status_json(book.status(d), history=args.history) for d in datasets]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'department':<30} {'dataset':<8} {'limit':>8} {'spent':>8} {'remaining':>9} {'spends':>6}"
    )
    for row in rows:
        print(
            f"{row['department']:<30} {row['dataset']:<8} {row['limit']['epsilon']:>8.3f} "
            f"{row['spent']:>8.3f} {row['remaining']:>9.3f} {row['spends']:>6}"
        )
        for spend in row.get("history", []):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(spend["time"]))
            print(
                f"    {when} {spend['kind']:<15} job {spend['job']} round {spend['round']}: "
                f"sigma {spend['noise_multiplier']:.3f} q {spend['sample_rate']:.4f} "
                f"x{spend['steps']} ({spend['accountant']}) "
                f"-> epsilon {spend['epsilon_after']:.4f}"
            )
    print(
        "(delta per dataset as in 'limit'; epsilon composes every spend under each "
        "accountant named, the least counting: docs/analytics.md#accountants)"
    )
    return 0


def _set(args: argparse.Namespace) -> int:
    book = open_budget_book(
        Path(args.state_dir or default_state_dir()), args.department, key=args.key
    )
    book.set_limit(args.dataset, Budget(epsilon=args.epsilon, delta=args.delta))
    status = book.status(args.dataset)
    print(
        f"{args.department}/{args.dataset}: limit epsilon {status.limit.epsilon} at delta "
        f"{status.limit.delta}; spent {status.spent:.4f}, remaining {status.remaining:.4f}"
    )
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``show`` and ``set`` to ``fedgov budget``."""
    sub = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        default=None,
        help="the departments' state folder (default: the county's, fedgov init)",
    )
    common.add_argument(
        "--key",
        default="auto",
        help="book key source: auto, file:PATH, env:VAR, passphrase-env:VAR:SALT, plaintext",
    )
    show = sub.add_parser("show", parents=[common], help="limits, spend and history")
    show.add_argument("--department", action="append", help="repeat for several")
    show.add_argument("--dataset", help="only this dataset")
    show.add_argument("--history", action="store_true", help="list every spend")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_show)
    change = sub.add_parser(
        "set", parents=[common], help="set a dataset's lifetime limit"
    )
    change.add_argument("--department", required=True)
    change.add_argument("--dataset", required=True)
    change.add_argument("--epsilon", type=float, required=True)
    change.add_argument("--delta", type=float, required=True)
    change.set_defaults(func=_set)
