"""``fedgov ledger node``: start, stop and look at the county's chain node.

    start   [--dir DIR]    run it in the background (returns once it answers)
    stop    [--dir DIR]    stop it (it snapshots its state first)
    status  [--dir DIR]    running or not, pid, RPC URL, latest block
    run     [--dir DIR]    run it in the foreground (a service manager's unit)

``--dir`` defaults to the node folder of the county at ``$FEDGOV_HOME``
(``fedgov init`` made it). See :mod:`ledger.node`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.county import county_home, find_county
from fedgov.errors import ConfigurationError
from ledger.node import node_status, run_node, start_node, stop_node

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``start``, ``stop``, ``status`` and ``run``."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, text, handler in (
        ("start", "start the county's chain node in the background", _start),
        ("stop", "stop the chain node (after a final snapshot)", _stop),
        ("status", "is the chain node running, and how far is its chain", _status),
        ("run", "run the chain node in the foreground until SIGTERM", _run),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--dir", type=Path, help="the node's folder (default: the county's)"
        )
        command.set_defaults(func=handler)


def _folder(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    county = find_county()
    if county is None:
        raise ConfigurationError(
            "--dir",
            f"no county at {county_home()} (`fedgov init`), and no --dir given",
        )
    if county.chain.node_dir is None:
        raise ConfigurationError(
            f"{county.file} [chain.node_dir]",
            f"is not set: the county's chain at {county.chain.rpc_url} is run "
            "elsewhere, not by `fedgov ledger node`",
        )
    return county.chain.node_dir


def _start(args: argparse.Namespace) -> int:
    print(start_node(_folder(args)).describe())
    return 0


def _stop(args: argparse.Namespace) -> int:
    folder = _folder(args)
    print(
        f"chain node in {folder}: stopped"
        if stop_node(folder)
        else f"chain node in {folder}: was not running"
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    status = node_status(_folder(args))
    print(status.describe())
    return 0 if status.running else 3


def _run(args: argparse.Namespace) -> int:
    return run_node(_folder(args))
