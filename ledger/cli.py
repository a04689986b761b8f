"""``fedgov ledger``: operate the ledger, one command group per concern.

fedgov ledger log serve|info|export|verify ...   (ledger.log_cli)
fedgov ledger checkpoint keys|publish|show ...   (ledger.checkpoint_cli)
fedgov ledger witness key|serve ...              (ledger.witness_cli)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger import checkpoint_cli, log_cli, witness_cli

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command groups."""
    groups = parser.add_subparsers(title="groups", metavar="GROUP")
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
