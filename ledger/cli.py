"""``fedgov ledger``: operate the ledger, one command group per concern.

fedgov ledger node start|stop|status|run         (ledger.node_cli)
fedgov ledger anchor                             anchor every signed head now
fedgov ledger key --state-dir D --department N   a department's audit address
fedgov ledger log serve|info|export|verify ...   (ledger.log_cli)
fedgov ledger checkpoint keys|publish|show ...   (ledger.checkpoint_cli)
fedgov ledger witness key|serve ...              (ledger.witness_cli)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.county import county_home, find_county
from fedgov.errors import ConfigurationError
from ledger import checkpoint_cli, log_cli, node_cli, witness_cli
from ledger.county_ledger import CountyLedger
from ledger.keys import key_password, load_or_create_key
from ledger.layout import KEY_FILE, department_dir, find_logs

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command groups."""
    groups = parser.add_subparsers(title="groups", metavar="GROUP")
    node_cli.configure(
        groups.add_parser("node", help="the county's chain node: start, stop, status")
    )
    anchor = groups.add_parser(
        "anchor",
        help="anchor every actor's latest signed head on the county's chain now",
    )
    anchor.add_argument(
        "--state-dir", type=Path, help="actors' state (default: the county's)"
    )
    anchor.set_defaults(func=_anchor)
    key = groups.add_parser(
        "key", help="a department's audit address (its key is created if missing)"
    )
    key.add_argument("--state-dir", type=Path, required=True)
    key.add_argument("--department", required=True)
    key.set_defaults(func=_key)
    log_cli.configure(
        groups.add_parser("log", help="audit logs: serve, info, export, verify")
    )
    checkpoint_cli.configure(
        groups.add_parser(
            "checkpoint", help="C2SP checkpoints of actor logs: keys, publish, show"
        )
    )
    witness_cli.configure(
        groups.add_parser("witness", help="a C2SP tlog-witness: key, serve")
    )


def _anchor(args: argparse.Namespace) -> int:
    county = find_county()
    if county is None:
        raise ConfigurationError(
            "county", f"no county at {county_home()}: `fedgov init` first"
        )
    ledger = CountyLedger.from_county(county)
    state = args.state_dir or county.paths.state_dir
    logs = find_logs(state)
    anchored = ledger.relay(logs).flush()
    print(
        f"{len(anchored)} anchor(s) sent for {len(logs)} log(s) under {state} on "
        f"{ledger.describe()}"
    )
    return 0


def _key(args: argparse.Namespace) -> int:
    folder = department_dir(args.state_dir, args.department)
    account = load_or_create_key(folder / KEY_FILE, password=key_password())
    print(account.address)
    return 0
