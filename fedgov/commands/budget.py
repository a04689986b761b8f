"""``fedgov budget``: each department's privacy budget, from its own budget book.

``fedgov budget show --state-dir DIR`` prints, for every department budget book
under ``DIR/departments/``, each dataset's limit, epsilon spent, remaining
epsilon and (with ``--history``) every spend; a book that cannot be read is
reported for its department and the others are still shown (exit 1).
``fedgov budget set`` changes a limit, with a ``--reason``: the change is a
``budget_grant`` record in the department's audit log, signed with its key
(:mod:`department_nodes.budget_admin`). Both read the sealed book with the
department's key source.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any

from department_nodes.budget_admin import set_limit_on_record
from fedgov.county import default_state_dir, find_county
from fedgov.errors import ConfigurationError
from fedgov.types import check_address, check_name
from ledger.tree_head import SigningDomain
from privacy.budget import Budget, BudgetStatus, open_budget_book
from privacy.errors import PrivacyError

__all__ = ["configure"]


def _departments(state_dir: Path, chosen: list[str] | None) -> list[str]:
    if chosen:
        return [check_name("--department", name) for name in chosen]
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


def _rows(
    state_dir: Path, department: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    book = open_budget_book(state_dir, department, key=args.key)
    datasets = [args.dataset] if args.dataset else list(book.datasets())
    return [_status_json(book.status(d), history=args.history) for d in datasets]


def _show(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir or default_state_dir())
    if args.dataset:
        check_name("--dataset", args.dataset)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for department in _departments(state_dir, args.department):
        try:
            rows += _rows(state_dir, department, args)
        except PrivacyError as e:
            # One department's unreadable book must not hide the others'.
            errors.append({"department": department, "error": str(e)})
    if args.json:
        print(json.dumps(rows + errors, indent=2))
    else:
        _print(rows, errors)
    for error in errors:
        print(
            f"fedgov budget show: {error['department']}: {error['error']}",
            file=sys.stderr,
        )
    return 1 if errors else 0


def _print(rows: list[dict[str, Any]], errors: list[dict[str, str]]) -> None:
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
    for error in errors:
        print(f"{error['department']:<30} UNREADABLE: see the error below")
    print(
        "(delta per dataset as in 'limit'; epsilon composes every spend under each "
        "accountant named, the least counting: docs/analytics.md#accountants)"
    )


def _domain(args: argparse.Namespace) -> SigningDomain | None:
    if (args.chain_id is None) != (args.registry is None):
        raise ConfigurationError(
            "--chain-id", "and --registry go together: both (sign a head) or neither"
        )
    if args.registry is None:
        # The county's registry, as its departments sign for (fedgov init).
        county = find_county()
        if county is None:
            return None
        return SigningDomain(county.chain.chain_id, county.contracts.anchor_registry)
    return SigningDomain(args.chain_id, check_address("--registry", args.registry))


def _set(args: argparse.Namespace) -> int:
    department = check_name("--department", args.department)
    dataset = check_name("--dataset", args.dataset)
    if not args.reason.strip():
        raise ConfigurationError("--reason", "say why the limit changes")
    state_dir = Path(args.state_dir or default_state_dir())
    change = set_limit_on_record(
        state_dir,
        department,
        dataset,
        Budget(epsilon=args.epsilon, delta=args.delta),
        by=args.by or getpass.getuser(),
        reason=args.reason,
        key=args.key,
        domain=_domain(args),
    )
    status = open_budget_book(state_dir, department, key=args.key).status(dataset)
    print(
        f"{department}/{dataset}: limit epsilon {status.limit.epsilon} at delta "
        f"{status.limit.delta}; spent {status.spent:.4f}, remaining {status.remaining:.4f}"
    )
    signed = (
        ""
        if change.signed
        else " (head not signed: no --registry given and no county installed)"
    )
    print(
        f"recorded as budget_grant, book generation {change.grant.generation}, "
        f"in {change.log}{signed}"
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
        "set", parents=[common], help="set a dataset's lifetime limit, on record"
    )
    change.add_argument("--department", required=True)
    change.add_argument("--dataset", required=True)
    change.add_argument("--epsilon", type=float, required=True)
    change.add_argument("--delta", type=float, required=True)
    change.add_argument(
        "--reason", required=True, help="why the limit changes (on the record)"
    )
    change.add_argument(
        "--by", help="who changes it (default: the login name), on the record"
    )
    change.add_argument(
        "--chain-id", type=int, help="chain the department's heads are signed for"
    )
    change.add_argument("--registry", help="AnchorRegistry address (with --chain-id)")
    change.set_defaults(func=_set)
