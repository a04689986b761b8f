"""``fedgov county``: the county installation: show it, enrol a department.

    show                                   the county file, its chain, its contracts
    enroll --department NAME --address 0x  a department running on its own machine

A department that runs on another machine creates its audit key there
(``fedgov ledger key --state-dir DIR --department NAME`` prints its address)
and hands the address to the county's data office, which enrols it: its
address gets the department role on chain, and the county keeps a replica
of its log that the department fills over the audit log service (served by
``fedgov ledger log serve --replicas STATE``).
"""

from __future__ import annotations

import argparse

from fedgov.county import CountyConfig, county_home, find_county
from fedgov.engines.audit import enroll_department
from fedgov.errors import ConfigurationError
from ledger.county_ledger import CountyLedger
from ledger.node import node_status

__all__ = ["configure", "require_county"]


def require_county() -> CountyConfig:
    """The county installed at ``$FEDGOV_HOME``, or a clear error."""
    county = find_county()
    if county is None:
        raise ConfigurationError(
            "county",
            f"no county installed at {county_home()}: run `fedgov init --county NAME` "
            "(or set $FEDGOV_HOME)",
        )
    return county


def _show(args: argparse.Namespace) -> int:
    county = require_county()
    print(f"county {county.county}: {county.file}")
    print(f"  chain id {county.chain.chain_id} at {county.chain.rpc_url}")
    if county.chain.node_dir is not None:
        print(f"  {node_status(county.chain.node_dir).describe()}")
    print(f"  Roles          {county.contracts.roles}")
    print(f"  AnchorRegistry {county.contracts.anchor_registry}")
    if county.contracts.consultation:
        print(f"  Consultation   {county.contracts.consultation}")
    print(f"  state {county.paths.state_dir}, runs {county.paths.runs_dir}")
    print(f"  auditor {county.paths.auditor_dir}")
    print(f"  keys {'sealed' if county.keys_sealed else 'in PLAINTEXT (demo mode)'}")
    if county.witness_policy is not None:
        print(f"  witness policy {county.witness_policy}")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    county = require_county()
    replica = enroll_department(
        CountyLedger.from_county(county),
        county.paths.state_dir,
        args.department,
        args.address,
    )
    print(f"{args.department} ({args.address}) enrolled; its log's replica: {replica}")
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``show`` and ``enroll``."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    show = commands.add_parser("show", help="the county's configuration and chain")
    show.set_defaults(func=_show)
    enroll = commands.add_parser(
        "enroll", help="enrol a department that runs on its own machine"
    )
    enroll.add_argument("--department", required=True)
    enroll.add_argument("--address", required=True, help="its audit key's address")
    enroll.set_defaults(func=_enroll)
