"""``fedgov ledger``: operate the ledger, one command group per concern.

fedgov ledger log serve|info|export|verify ...   (ledger.log_cli)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger import log_cli

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command groups."""
    groups = parser.add_subparsers(title="groups", metavar="GROUP")
    log_cli.configure(
        groups.add_parser("log", help="audit logs: serve, info, export, verify")
    )
