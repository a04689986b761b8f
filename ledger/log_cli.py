"""Command line for audit logs: serve them, inspect, export and verify them.

    serve   (--log DB [--log DB ...] | --replicas DIR) (--tls-cert C --tls-key K
            [--client-ca CA] | --insecure) [--key-file KEYSTORE --chain-id N
            --registry ADDR]
    info    DB
    export  DB OUT.jsonl
    verify  OUT.jsonl [--chain-id N --registry ADDR]

``serve`` hosts every ``--log`` until interrupted, signing heads for the logs
whose actor owns a ``--key-file`` (an encrypted keystore; its password is
read from the environment variable named by ``--password-env``, never from
the command line). ``--replicas DIR`` hosts the county's replicas of the
departments that run elsewhere (every department folder under the state
folder DIR that holds a log but no key), including those enrolled while it
runs: the departments push to them (``department_nodes._audit_push``).
``verify`` is the auditor's offline check of an export.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.errors import ConfigurationError
from fedgov.signals import StopSignal
from fedgov.types import check_address
from ledger.chain import account_from_key_file
from ledger.export import verify_export
from ledger.layout import replica_logs
from ledger.service import HostedLog, LogServer
from ledger.store import LogStore
from ledger.transport import ServerTLS
from ledger.tree_head import SigningDomain

if TYPE_CHECKING:
    import argparse

    from eth_account.signers.local import LocalAccount

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve``, ``info``, ``export`` and ``verify`` sub-commands."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve audit logs over gRPC")
    serve.add_argument("--log", type=Path, action="append", default=[], help="store")
    serve.add_argument(
        "--replicas", type=Path, help="state folder: host its departments' replicas"
    )
    serve.add_argument("--address", default="127.0.0.1:50051", help="host:port")
    serve.add_argument("--tls-cert", type=Path, help="server certificate chain (PEM)")
    serve.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    serve.add_argument(
        "--client-ca", type=Path, help="require client certs from this CA"
    )
    serve.add_argument("--insecure", action="store_true", help="plaintext (tests only)")
    serve.add_argument("--key-file", type=Path, action="append", default=[])
    serve.add_argument("--password-env", default="FEDGOV_KEY_PASSWORD")
    _domain_arguments(serve)
    serve.set_defaults(func=_serve)

    info = commands.add_parser("info", help="a store's actor, size, root, latest head")
    info.add_argument("store", type=Path)
    info.set_defaults(func=_info)

    export = commands.add_parser("export", help="write a store's export file")
    export.add_argument("store", type=Path)
    export.add_argument("out", type=Path)
    export.set_defaults(func=_export)

    verify = commands.add_parser("verify", help="verify an export file offline")
    verify.add_argument("export", type=Path)
    _domain_arguments(verify)
    verify.set_defaults(func=_verify)


def _domain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chain-id", type=int, help="EIP-712 domain: chain id")
    parser.add_argument("--registry", help="EIP-712 domain: anchor registry address")


def _domain(args: argparse.Namespace) -> SigningDomain | None:
    if (args.chain_id is None) != (args.registry is None):
        raise ConfigurationError("--chain-id", "give both --chain-id and --registry")
    if args.chain_id is None:
        return None
    return SigningDomain(
        chain_id=args.chain_id,
        verifying_contract=check_address("--registry", args.registry),
    )


def _existing_store(path: Path) -> LogStore:
    if not path.exists():
        raise ConfigurationError("store", f"{path} does not exist")
    return LogStore(path)


def _serve(args: argparse.Namespace) -> int:
    domain = _domain(args)
    tls = None
    if args.tls_cert is not None or args.tls_key is not None:
        if args.tls_cert is None or args.tls_key is None:
            raise ConfigurationError("--tls-cert", "give both --tls-cert and --tls-key")
        tls = ServerTLS.from_files(args.tls_cert, args.tls_key, args.client_ca)
    signers: dict[str, LocalAccount] = {}
    if args.key_file:
        if domain is None:
            raise ConfigurationError(
                "--key-file", "signing needs --chain-id and --registry"
            )
        password = os.environ.get(args.password_env)
        if password is None:
            raise ConfigurationError(
                "--password-env", f"${args.password_env} is not set"
            )
        for key_file in args.key_file:
            account = account_from_key_file(key_file, password)
            signers[account.address] = account
    if not args.log and args.replicas is None:
        raise ConfigurationError("--log", "give --log files or --replicas DIR")
    stores = [_existing_store(path) for path in args.log]
    discover = None
    if args.replicas is not None:
        folder: Path = args.replicas

        def discover(known: set[bytes]) -> list[HostedLog]:
            found = []
            for path in replica_logs(folder):
                store = LogStore(path)
                if store.log_id in known:
                    store.close()
                    continue
                stores.append(store)
                found.append(HostedLog(store))
            return found

        stores_found = discover(set())
    else:
        stores_found = []
    hosted = [
        HostedLog(
            store, signers.get(store.actor), domain if store.actor in signers else None
        )
        for store in stores[: len(args.log)]
    ] + stores_found
    stop = StopSignal()
    server = LogServer(
        hosted,
        address=args.address,
        tls=tls,
        insecure=args.insecure,
        discover=discover,
    )
    with server:
        for log in hosted:
            signing = "signs heads" if log.signer else "no signing key"
            store = log.store
            print(f"{server.target} 0x{store.log_id.hex()} {store.actor}: {signing}")
        stop.wait()
    for store in stores:
        store.close()
    return 0


def _info(args: argparse.Namespace) -> int:
    with _existing_store(args.store) as store:
        print(f"actor     {store.actor}")
        print(f"log name  {store.log_name}")
        print(f"log id    0x{store.log_id.hex()}")
        print(f"size      {store.size}")
        print(f"root      0x{store.root().hex()}")
        latest = store.latest_tree_head()
        if latest is None:
            print("signed    none")
        else:
            head = latest.head
            print(f"signed    size {head.tree_size} at {head.timestamp} ms")
    return 0


def _export(args: argparse.Namespace) -> int:
    with _existing_store(args.store) as store:
        store.export(args.out)
        heads = len(store.signed_heads())
        print(f"{args.out}: {store.size} records, {heads} signed heads")
    return 0


def _verify(args: argparse.Namespace) -> int:
    result = verify_export(args.export, domain=_domain(args))
    print(f"OK {args.export}: log 0x{result.log_id.hex()} of {result.actor}")
    print(f"   {result.size} records, root 0x{result.root.hex()}")
    print(f"   {len(result.heads)} signed heads verified", end="")
    if result.latest_head is None:
        print(" (none: nothing in this log is signed)")
    else:
        print(f", latest at size {result.latest_head.head.tree_size}")
    return 0
