"""``fedgov portal``: serve the county portal; make auditor tokens.

    serve [--tls-cert PEM --tls-key PEM] [--host 127.0.0.1] [--port 8443]
          [--rpc-url URL] [--state-dir DIR ...] [--runs-dir DIR]
          [--registry ADDR] [--roles ADDR] [--consultation ADDR] [--data-dir DIR]
          [--auditor-tokens FILE] [--relayer-key-file KEYSTORE]
          [--registrar-roll ROLL --registrar-key-file KEYSTORE
           [--registrar-credential-key PEM]]
    token [--tokens FILE] --name NAME

In a county installation (``fedgov init``) the portal reads the county's
chain, contracts, state and runs folders from ``county.toml`` and keeps its
own files (auditor tokens, audit reports) in ``$FEDGOV_HOME/portal``; flags
override. Without a county, ``--rpc-url`` and ``--consultation`` default to
``$FEDGOV_RPC_URL`` and ``$FEDGOV_CONSULTATION`` (what ``fedgov vote node``
prints) and ``--tokens`` is required. Keystore
passwords come from ``$FEDGOV_KEY_PASSWORD`` (or the variable ``--*-password-env``
names), the credential key's passphrase from ``$FEDGOV_VOTE_KEY_PASSPHRASE``.
Without ``--tls-cert`` the portal serves plain HTTP and warns loudly.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fedgov.county import CountyConfig, county_home, find_county
from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once
from fedgov.portal.security import add_token
from fedgov.portal.settings import KeyFile, PortalSettings, RegistrarDesk

__all__ = ["InsecurePortalWarning", "configure", "portal_dir", "settings_from_args"]

TOKENS_FILE = "auditor-tokens"


def portal_dir(county: CountyConfig) -> Path:
    """Where the portal of ``county`` keeps its own files."""
    return county.file.parent / "portal"


class InsecurePortalWarning(UserWarning):
    """The portal serves plain HTTP."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``serve`` and ``token`` to ``fedgov portal``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1] if __doc__ else None
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the county portal")
    serve.add_argument("--rpc-url", default=os.environ.get("FEDGOV_RPC_URL"))
    serve.add_argument(
        "--state-dir",
        type=Path,
        action="append",
        default=[],
        help="a fedgov state folder (audit logs, budgets); repeat for several",
    )
    serve.add_argument("--runs-dir", type=Path, help="the jobs' run folders")
    serve.add_argument("--registry", help="AnchorRegistry address")
    serve.add_argument("--roles", help="Roles address (checked against the registry's)")
    serve.add_argument(
        "--consultation",
        default=os.environ.get("FEDGOV_CONSULTATION"),
        help="Consultation contract address",
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="the portal's files (default: the county's portal folder, else ./portal-data)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--tls-cert", type=Path, help="certificate chain (PEM)")
    serve.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    serve.add_argument(
        "--auditor-tokens", type=Path, help="token digests (fedgov portal token)"
    )
    serve.add_argument(
        "--budget-key",
        default="auto",
        help="budget ledgers' key source (fedgov budget)",
    )
    serve.add_argument(
        "--relayer-key-file",
        type=Path,
        help="keystore of the account paying ballots' gas",
    )
    serve.add_argument("--relayer-password-env", default="FEDGOV_KEY_PASSWORD")
    desk = serve.add_argument_group(
        "registrar's desk (the roll and the key file, or none)"
    )
    desk.add_argument("--registrar-roll", type=Path, help="the roll (fedgov vote roll)")
    desk.add_argument(
        "--registrar-credential-key",
        type=Path,
        help="fedgov vote keygen's key file (blind RSA consultations only)",
    )
    desk.add_argument("--registrar-key-file", type=Path, help="registrar's keystore")
    desk.add_argument("--registrar-password-env", default="FEDGOV_KEY_PASSWORD")
    desk.add_argument(
        "--registrar-passphrase-env",
        default="FEDGOV_VOTE_KEY_PASSPHRASE",
        help="variable holding the credential key's passphrase",
    )
    serve.add_argument(
        "--origin",
        action="append",
        default=[],
        help="another origin the portal is reached at (behind a proxy)",
    )
    serve.set_defaults(func=_serve)

    token = commands.add_parser("token", help="make an auditor token")
    token.add_argument(
        "--tokens", type=Path, help="the tokens file (default: the county portal's)"
    )
    token.add_argument("--name", required=True, help="the auditor's name")
    token.set_defaults(func=_token)


def settings_from_args(args: argparse.Namespace) -> PortalSettings:
    """The settings ``fedgov portal serve``'s flags describe, the county's
    configuration filling in what they leave out."""
    county = find_county()
    if county is not None:
        _county_defaults(args, county)
    if not args.rpc_url:
        raise ConfigurationError(
            "--rpc-url",
            f"required (or $FEDGOV_RPC_URL) when no county is installed at "
            f"{county_home()} (fedgov init)",
        )
    desk_flags = (args.registrar_roll, args.registrar_key_file)
    if (any(desk_flags) or args.registrar_credential_key) and not all(desk_flags):
        raise ConfigurationError(
            "--registrar-roll",
            "the registrar's desk needs --registrar-roll and --registrar-key-file "
            "together (and --registrar-credential-key for blind RSA consultations)",
        )
    return PortalSettings(
        rpc_url=args.rpc_url,
        state_dirs=tuple(args.state_dir),
        runs_dir=args.runs_dir,
        registry=args.registry,
        roles=args.roles,
        consultation=args.consultation or None,
        data_dir=args.data_dir or Path("portal-data"),
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        auditor_tokens=args.auditor_tokens,
        budget_key=args.budget_key,
        relayer=KeyFile(args.relayer_key_file, args.relayer_password_env)
        if args.relayer_key_file
        else None,
        registrar_desk=RegistrarDesk(
            roll=args.registrar_roll,
            credential_key=args.registrar_credential_key,
            account=KeyFile(args.registrar_key_file, args.registrar_password_env),
            passphrase_env=args.registrar_passphrase_env,
        )
        if all(desk_flags)
        else None,
        extra_origins=tuple(args.origin),
    )


def _county_defaults(args: argparse.Namespace, county: CountyConfig) -> None:
    args.rpc_url = args.rpc_url or county.chain.rpc_url
    args.state_dir = args.state_dir or [county.paths.state_dir]
    args.runs_dir = args.runs_dir or county.paths.runs_dir
    args.registry = args.registry or county.contracts.anchor_registry
    args.roles = args.roles or county.contracts.roles
    args.consultation = args.consultation or county.contracts.consultation
    args.data_dir = args.data_dir or portal_dir(county)
    tokens = portal_dir(county) / TOKENS_FILE
    if args.auditor_tokens is None and tokens.exists():
        args.auditor_tokens = tokens


def _serve(args: argparse.Namespace) -> int:
    # Imported here: `fedgov portal token` needs neither web3 nor uvicorn.
    import uvicorn

    from fedgov.portal.app import create_app

    settings = settings_from_args(args)
    app = create_app(settings)
    scheme = "https" if settings.tls else "http"
    if not settings.tls:
        message = (
            "the portal serves PLAIN HTTP: anyone on the network path can read "
            "and rewrite its pages, including the script that makes residents' "
            "ballots; give --tls-cert and --tls-key"
            + ("" if settings.loopback else f" (it listens on {settings.host})")
        )
        warn_once("portal-plain-http", message, InsecurePortalWarning, stacklevel=1)
    print(f"fedgov portal at {scheme}://{settings.host}:{settings.port}/", flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        server_header=False,
        proxy_headers=False,
        log_level="warning",
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    if args.tokens is None:
        county = find_county()
        if county is None:
            raise ConfigurationError(
                "--tokens",
                f"required when no county is installed at {county_home()} (fedgov init)",
            )
        args.tokens = portal_dir(county) / TOKENS_FILE
    token = add_token(args.tokens, args.name)
    print(
        f"auditor token for {args.name} (shown once; {args.tokens} keeps its SHA-256):"
    )
    print(token)
    return 0
