"""``fedgov audit``: the auditor's command line.

    verify  [--since] [--rpc URL --registry ADDR [--roles ADDR]]
            [--log FILE ... | --state-dir DIR | --service HOST:PORT --log-id ID ...]
            [--only LOG ...] [--run-record FILE] [--checkpoint FILE]
            [--allow-unanchored] [--require-access] [--witness-policy FILE]
            [--no-epsilon] [--json] [--auditor-dir DIR]
    export  --state-dir DIR --out DIR

``verify`` audits the logs against the anchors on the chain and exits 0
when every check passes, 1 when any fails (the last line names the first
failure: its log, record or anchor, and why). Every log the AnchorRegistry
lists must be among those given; ``--only`` narrows the audit explicitly,
and the report lists what it left out. With no flags it verifies the
county installed at ``$FEDGOV_HOME`` (:mod:`fedgov.county`): its chain and
contracts, every actor log under its state folder, every run record in its
runs folder, its witness policy; explicit flags override. After a run that
passes, the auditor keeps the heads it checked in its own folder
(:mod:`auditor.incremental`); ``--since`` then verifies only what is new.
``export`` writes every actor log under a fedgov state folder as export
files for an auditor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.incremental import STATE_FILE, AuditorState, state_after_full, verify_since
from auditor.verify import LogSource, load_log, verify_audit
from fedgov.county import CountyConfig, county_home, find_county
from fedgov.errors import ConfigurationError
from fedgov.types import check_address
from ledger.actor_log import export_logs
from ledger.chain import Chain
from ledger.client import LogClient
from ledger.layout import find_logs
from ledger.transport import ClientTLS
from ledger.witness_policy import WitnessPolicy

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``verify`` and ``export`` sub-commands."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    verify = commands.add_parser(
        "verify", help="verify audit logs against their on-chain anchors"
    )
    verify.add_argument(
        "--since",
        action="store_true",
        help="verify only what is new since the last verification that passed "
        "(a consistency proof from each log's last checked head)",
    )
    verify.add_argument(
        "--auditor-dir",
        type=Path,
        help="the auditor's own state (default: the county's auditor folder)",
    )
    verify.add_argument(
        "--rpc", help="JSON-RPC URL of the chain (default: the county's)"
    )
    verify.add_argument(
        "--registry", help="AnchorRegistry address (default: the county's)"
    )
    verify.add_argument(
        "--roles", help="Roles address (checked against the registry's)"
    )
    sources = verify.add_argument_group("logs (at least one kind)")
    sources.add_argument(
        "--log", type=Path, action="append", default=[], help="export or LogStore file"
    )
    sources.add_argument(
        "--state-dir", type=Path, help="every actor log under a state folder"
    )
    sources.add_argument("--service", help="audit log service, host:port")
    sources.add_argument(
        "--log-id",
        action="append",
        default=[],
        help="0x log id to fetch from --service",
    )
    sources.add_argument("--service-ca", type=Path, help="the service's TLS CA (PEM)")
    sources.add_argument(
        "--service-insecure",
        action="store_true",
        help="plaintext to --service (tests only)",
    )
    verify.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="LOG",
        help="audit only this log: an actor address, a 0x log id, 'coordinator' "
        "or a department name (repeatable); the report names what is left out",
    )
    verify.add_argument(
        "--run-record", type=Path, help="the coordinator's run_record.json"
    )
    verify.add_argument(
        "--checkpoint",
        type=Path,
        help="the exported model file: checked against its signed provenance "
        "manifest (<file>.provenance.json) and the coordinator's log",
    )
    verify.add_argument(
        "--require-access",
        action="store_true",
        help="fail every spend or read no signed request covers, even at a "
        "department without an access policy",
    )
    verify.add_argument(
        "--allow-unanchored",
        action="store_true",
        help="report records after the last anchor (or witnessed checkpoint) as "
        "warnings, not failures",
    )
    verify.add_argument(
        "--witness-policy",
        type=Path,
        help="C2SP tlog-policy file: every log's checkpoints need its quorum",
    )
    verify.add_argument(
        "--no-epsilon",
        action="store_true",
        help="skip recomputing epsilon (saves loading the accountant)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_verify)

    export = commands.add_parser(
        "export", help="export every actor log of a state folder"
    )
    export.add_argument("--state-dir", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="folder for the files")
    export.set_defaults(func=_export)


def _sources(args: argparse.Namespace, county: CountyConfig | None) -> list[LogSource]:
    sources: list[LogSource] = list(args.log)
    state_dir = args.state_dir
    if state_dir is None and not sources and args.service is None and county:
        state_dir = county.paths.state_dir
    if state_dir is not None:
        found = find_logs(state_dir)
        if not found:
            raise ConfigurationError("--state-dir", f"no actor log under {state_dir}")
        sources.extend(found)
    if args.service is not None:
        sources.extend(_fetch(args))
    elif args.log_id:
        raise ConfigurationError("--log-id", "needs --service")
    if not sources:
        raise ConfigurationError(
            "--log", "give --log, --state-dir or --service (or install a county)"
        )
    return sources


def _fetch(args: argparse.Namespace) -> list[LogSource]:
    if not args.log_id:
        raise ConfigurationError("--log-id", "name the logs to fetch from --service")
    tls = ClientTLS.from_files(args.service_ca) if args.service_ca else None
    with LogClient(args.service, tls=tls, insecure=args.service_insecure) as client:
        return [client.fetch_log(_log_id(text)) for text in args.log_id]


def _log_id(text: str) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError as e:
        raise ConfigurationError("--log-id", f"{text!r} is not hex") from e
    if len(value) != 32:
        raise ConfigurationError("--log-id", f"{text!r} is not 32 bytes")
    return value


def _verify(args: argparse.Namespace) -> int:
    for flag, value in (("--registry", args.registry), ("--roles", args.roles)):
        if value is not None:
            check_address(flag, value)
    county = find_county()
    rpc = args.rpc or (county.chain.rpc_url if county else None)
    registry = args.registry or (county.contracts.anchor_registry if county else None)
    if rpc is None or registry is None:
        raise ConfigurationError(
            "--rpc",
            f"give --rpc and --registry, or install a county at {county_home()} "
            "(`fedgov init`)",
        )
    roles = args.roles or (
        county.contracts.roles if county and args.registry is None else None
    )
    sources = _sources(args, county)
    policy_file = args.witness_policy or (county.witness_policy if county else None)
    policy = WitnessPolicy.read(policy_file) if policy_file is not None else None
    auditor_dir = args.auditor_dir or (county.paths.auditor_dir if county else None)
    state_file = auditor_dir / STATE_FILE if auditor_dir is not None else None
    files = [s for s in sources if isinstance(s, Path) and _is_store(s)]
    keeps_state = state_file is not None and len(files) == len(sources)
    chain = Chain.connect(rpc, accounts=[])
    previous = AuditorState.load(state_file) if state_file and args.since else None
    if args.since and state_file is None:
        raise ConfigurationError("--since", "needs --auditor-dir (or a county)")
    if args.since and args.only:
        raise ConfigurationError(
            "--only", "narrows a full verification; --since verifies every log"
        )
    if args.since and (args.checkpoint is not None or args.require_access):
        raise ConfigurationError(
            "--since",
            "checks only what is new in each log: --checkpoint and "
            "--require-access need a full verification",
        )
    if args.since and not keeps_state:
        raise ConfigurationError(
            "--since", "verifies log store files only (--state-dir or the county's)"
        )
    state: AuditorState | None
    if previous is not None:
        report, state = verify_since(
            previous,
            files,
            chain=chain,
            registry=registry,
            allow_unanchored=args.allow_unanchored,
            witness_policy=policy,
        )
    else:
        if args.since:
            print("no earlier verification on record: verifying everything")
        run_records = [] if args.run_record is not None else _run_records(county, args)
        report = verify_audit(
            sources,
            chain=chain,
            registry=registry,
            roles=roles,
            run_record=args.run_record,
            checkpoint=args.checkpoint,
            allow_unanchored=args.allow_unanchored,
            recompute_epsilon=not args.no_epsilon,
            witness_policy=policy,
            run_records=run_records,
            only=args.only,
            require_access=args.require_access,
        )
        state = (
            state_after_full(
                files, report, chain_id=chain.chain_id, registry=str(registry)
            )
            if keeps_state and report.ok
            else None
        )
    if report.ok and state is not None and state_file is not None:
        state.save(state_file)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary())
    if report.first_failure is not None:
        print(f"fedgov audit verify: FAILED: {report.first_failure}", file=sys.stderr)
        return 1
    return 0


def _run_records(county: CountyConfig | None, args: argparse.Namespace) -> list[Path]:
    """Every run record of the county's runs folder (when its logs are audited)."""
    if county is None or args.log or args.service or args.state_dir is not None:
        return []
    return sorted(county.paths.runs_dir.glob("*/run_record.json"))


def _is_store(path: Path) -> bool:
    try:
        with path.open("rb") as data:
            return data.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _export(args: argparse.Namespace) -> int:
    logs = find_logs(args.state_dir)
    if not logs:
        raise ConfigurationError("--state-dir", f"no actor log under {args.state_dir}")
    for target in export_logs(logs, args.out):
        log = load_log(target)
        print(f"{target}: {len(log.records)} records, {len(log.heads)} signed heads")
    return 0
