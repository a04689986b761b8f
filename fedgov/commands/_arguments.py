"""The analyst's command-line arguments, declared without importing what signs.

``fedgov query`` declares them on its light path (:mod:`fedgov.commands.query`);
:mod:`fedgov.commands._analyst` turns them into the analyst's key and the
county's Roles contract when a command signs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_analyst_arguments"]


def add_analyst_arguments(
    parser: argparse.ArgumentParser, *, purpose: bool = True
) -> None:
    """``--analyst-key``, ``--rpc``, ``--roles`` and (unless the command has
    one already) ``--purpose``."""
    group = parser.add_argument_group("the analyst's signed request")
    group.add_argument(
        "--analyst-key", type=Path, help="sign the request with this key file"
    )
    if purpose:
        group.add_argument(
            "--purpose", help="the declared purpose (recorded everywhere)"
        )
    group.add_argument(
        "--rpc", help="the county chain's JSON-RPC URL (default: the county's)"
    )
    group.add_argument(
        "--roles", help="the county's Roles contract (default: the county's)"
    )
