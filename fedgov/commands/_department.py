"""What a department's data officer's commands share: keys, the county, the log.

The data officer's commands (``fedgov access approve``, ``fedgov data
destroy``, ``fedgov release make``...) act for one department on its own
machine: they write that department's audit log with its audit key, signing
a head for the county's AnchorRegistry so that the relay anchors it, and
they check signatures in the county's access domain (chain id and Roles
contract). Both come from the flags below; a flag left out is the county's
installed at ``$FEDGOV_HOME`` (:func:`county_defaults`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.county import county_home, find_county
from fedgov.errors import ConfigurationError
from ledger.access import AccessDomain
from ledger.actor_log import ActorLog
from ledger.keys import key_password, load_key, load_or_create_key
from ledger.layout import KEY_FILE, department_dir
from ledger.records import AuditRecord
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from eth_account.signers.local import LocalAccount

    from ledger.tree_head import SignedTreeHead

__all__ = [
    "access_domain",
    "add_chain_arguments",
    "add_department_arguments",
    "commit_department_records",
    "county_defaults",
    "department_log_records",
    "load_person_key",
    "signing_domain",
]


def add_chain_arguments(
    parser: argparse.ArgumentParser, *, registry: bool, roles: bool = True
) -> None:
    """``--chain-id``, ``--roles`` (the access domain) and ``--registry``."""
    parser.add_argument(
        "--chain-id", type=int, help="the county chain's id (default: the county's)"
    )
    if roles:
        parser.add_argument(
            "--roles", help="the county's Roles contract (default: the county's)"
        )
    if registry:
        parser.add_argument(
            "--registry",
            help="the AnchorRegistry the department's audit heads are signed for "
            "(default: the county's; with neither, records are kept, heads are "
            "not signed)",
        )


def add_department_arguments(parser: argparse.ArgumentParser) -> None:
    """``--department`` and ``--state-dir``: whose folder and log."""
    parser.add_argument("--department", required=True, help="the department's id")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="the department's state folder (default: the county's)",
    )


def county_defaults(
    func: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """``func`` with the flags it was not given filled from the county
    installed at ``$FEDGOV_HOME`` (:mod:`fedgov.county`): ``--state-dir``,
    ``--chain-id``, ``--roles``, ``--registry``, ``--rpc``, ``--admin-key``."""

    def run(args: argparse.Namespace) -> int:
        county = find_county()
        if county is not None:
            admin = county.accounts.admin
            defaults: dict[str, object] = {
                "state_dir": county.paths.state_dir,
                "chain_id": county.chain.chain_id,
                "roles": county.contracts.roles,
                "registry": county.contracts.anchor_registry,
                "rpc": county.chain.rpc_url,
                "admin_key": county.home / admin if admin is not None else None,
            }
            for name, value in defaults.items():
                if value is not None and getattr(args, name, "") is None:
                    setattr(args, name, value)
        if getattr(args, "state_dir", "") is None:
            raise ConfigurationError(
                "--state-dir",
                f"give the department's state folder, or install a county at "
                f"{county_home()} (`fedgov init`)",
            )
        return func(args)

    return run


def access_domain(args: argparse.Namespace) -> AccessDomain:
    """The access domain ``--chain-id``/``--roles`` name."""
    if not args.chain_id or not args.roles:
        raise ConfigurationError(
            "--chain-id/--roles", "name the county's chain id and Roles contract"
        )
    return AccessDomain(args.chain_id, args.roles)


def signing_domain(args: argparse.Namespace) -> SigningDomain | None:
    """The audit heads' domain ``--chain-id``/``--registry`` name, if any."""
    registry = getattr(args, "registry", None)
    if not registry:
        return None
    if not args.chain_id:
        raise ConfigurationError("--chain-id", "--registry needs the chain's id")
    return SigningDomain(args.chain_id, registry)


def load_person_key(path: Path) -> LocalAccount:
    """An analyst's, officer's or admin's key file (sealed with
    ``$FEDGOV_KEY_PASSWORD``, or a plaintext demo key, which warns)."""
    return load_key(path, password=key_password())


def commit_department_records(
    args: argparse.Namespace,
    build: Callable[[str], Sequence[AuditRecord]],
) -> SignedTreeHead | None:
    """Append the records ``build(department's address)`` makes to the
    department's log, durably, signing a head when a registry is named."""
    directory = department_dir(args.state_dir, args.department)
    account = load_or_create_key(directory / KEY_FILE, password=key_password())
    return ActorLog(directory, account, signing_domain(args)).commit(
        build(str(account.address))
    )


def department_log_records(
    args: argparse.Namespace, action: bytes
) -> list[AuditRecord]:
    """The records of the department's current log whose action is ``action``."""
    directory = department_dir(args.state_dir, args.department)
    account = load_or_create_key(directory / KEY_FILE, password=key_password())
    needle = b'"action":"' + action + b'"'
    with ActorLog(directory, account, None).open() as store:
        return [
            AuditRecord.decode(data)
            for data in store.encoded_records(0)
            if needle in data
        ]
