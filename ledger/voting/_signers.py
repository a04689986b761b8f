"""Who signs a command's transactions: a keystore file, or a dev chain's known keys.

- ``--key-file KEYSTORE`` — an encrypted keystore (the county's real keys);
  its password comes from the environment variable named by
  ``--password-env`` (default ``FEDGOV_KEY_PASSWORD``), never the command line.
- ``--dev-account N`` — account ``N`` of the development mnemonic that anvil
  (and Hardhat) fund by default. These keys are public knowledge: using one
  warns, on both channels, and is only for a local dev chain.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account import Account

from fedgov.errors import ConfigurationError
from ledger.chain import account_from_key_file

if TYPE_CHECKING:
    import argparse

    from eth_account.signers.local import LocalAccount

__all__ = [
    "DEV_MNEMONIC",
    "InsecureDevKeyWarning",
    "add_signer_arguments",
    "dev_account",
    "signer_from_args",
]

_log = logging.getLogger(__name__)

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""The mnemonic anvil and Hardhat derive their funded dev accounts from."""


class InsecureDevKeyWarning(UserWarning):
    """A transaction is signed with a publicly known development key."""


def dev_account(index: int) -> LocalAccount:
    """Dev account ``index`` of :data:`DEV_MNEMONIC`, with a loud warning."""
    if not 0 <= index < 1000:
        raise ConfigurationError("--dev-account", f"must be in 0..999, got {index}")
    message = (
        f"signing with development account {index}, whose key is public "
        "knowledge: only for a local development chain"
    )
    warnings.warn(message, InsecureDevKeyWarning, stacklevel=2)
    _log.warning(message)
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


def add_signer_arguments(parser: argparse.ArgumentParser, *, who: str) -> None:
    """``--key-file``/``--password-env`` or ``--dev-account``: ``who`` signs."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key-file", type=Path, help=f"{who}'s encrypted keystore")
    group.add_argument(
        "--dev-account",
        type=int,
        metavar="N",
        help=f"{who} is dev-mnemonic account N (local dev chains only)",
    )
    parser.add_argument(
        "--password-env",
        default="FEDGOV_KEY_PASSWORD",
        help="environment variable holding the keystore password",
    )


def signer_from_args(args: argparse.Namespace) -> LocalAccount:
    """The account :func:`add_signer_arguments`' options name."""
    if args.dev_account is not None:
        return dev_account(int(args.dev_account))
    password = os.environ.get(args.password_env)
    if password is None:
        raise ConfigurationError(
            "--password-env", f"${args.password_env} is not set (keystore password)"
        )
    return account_from_key_file(Path(args.key_file), password)
