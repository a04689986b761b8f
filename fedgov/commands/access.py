"""``fedgov access``: who may ask, and which departments agreed.

For the county's admin (on chain, the Roles contract)::

    fedgov access grant ADDRESS --rpc URL --roles ADDR --admin-key FILE
    fedgov access revoke ADDRESS --rpc URL --roles ADDR --admin-key FILE
    fedgov access list --rpc URL --roles ADDR

For an analyst (``key`` makes a key file; its address is what the admin
grants)::

    fedgov access key --out analyst.json
    fedgov access request --key analyst.json --department D --dataset X \\
        --purpose P --columns a,b --max-epsilon E [--days N] \\
        --chain-id N --roles ADDR --out application.json

For a department's data officer (on the department's machine; the
agreement is stored where the department's node finds it, and recorded in
the department's audit log)::

    fedgov access approve application.json --key officer.json \\
        --department D --state-dir DIR --chain-id N --roles ADDR [--registry ADDR] \\
        [--days N] [--max-epsilon E] [--columns a,b]
    fedgov access deny application.json --key officer.json --reason TEXT ...
    fedgov access agreements --department D --state-dir DIR --chain-id N --roles ADDR
    fedgov access policy [FILE | --department D --state-dir DIR]

``policy`` checks a department's policy file (exit 1 naming the key and the
rule it breaks) and prints what it allows, with the digest its audit
records name.

Keys are read sealed with ``$FEDGOV_KEY_PASSWORD``, or as plaintext demo
keys (which warn). See ``docs/access.md``.
"""

from __future__ import annotations

import argparse
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from department_nodes.access import POLICY_FILE, AgreementStore
from fedgov.access import Agreement, ApprovalRequest
from fedgov.access_policy import AccessPolicy, load_policy
from fedgov.commands._department import (
    access_domain,
    add_chain_arguments,
    add_department_arguments,
    commit_department_records,
    county_defaults,
    department_log_records,
    load_person_key,
)
from fedgov.county import find_county
from fedgov.errors import ConfigurationError
from ledger.access import SignedAgreement, SignedApprovalRequest
from ledger.access_records import (
    POLICY_SHA256,
    agreement_record,
    application_denied_record,
    policy_record,
)
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.keys import key_password, load_or_create_key
from ledger.layout import department_dir
from ledger.records import Role, now_ms

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

__all__ = ["configure"]

_DAY_S = 86_400


def _columns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the admin's, analyst's and data officer's sub-commands."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def roles_command(name: str, text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "--rpc", help="the county chain's URL (default: the county's)"
        )
        command.add_argument(
            "--roles", help="the Roles contract (default: the county's)"
        )
        return command

    for name, verb in (("grant", "grant"), ("revoke", "revoke")):
        change = roles_command(name, f"admin: {verb} an address the analyst role")
        change.add_argument("address", help="the analyst's address")
        change.add_argument(
            "--admin-key",
            type=Path,
            help="the admin's key file (default: the county's)",
        )
        change.set_defaults(
            func=county_defaults(_grant if name == "grant" else _revoke)
        )
    listing = roles_command("list", "every address holding the analyst role")
    listing.set_defaults(func=county_defaults(_list))

    key = commands.add_parser("key", help="make an analyst's or officer's key file")
    key.add_argument("--out", type=Path, required=True, help="the new key file")
    key.set_defaults(func=_key)

    request = commands.add_parser(
        "request", help="analyst: ask a department for a data-use agreement"
    )
    request.add_argument("--key", type=Path, required=True, help="your key file")
    request.add_argument("--department", required=True)
    request.add_argument("--dataset", required=True)
    request.add_argument("--purpose", required=True, help="what the data is for")
    request.add_argument(
        "--columns", type=_columns, required=True, help="comma-separated columns"
    )
    request.add_argument(
        "--max-epsilon",
        type=float,
        required=True,
        help="the largest epsilon one request may take",
    )
    request.add_argument(
        "--days", type=int, default=90, help="how long the agreement should run"
    )
    add_chain_arguments(request, registry=False)
    request.add_argument("--out", type=Path, required=True, help="the signed request")
    request.set_defaults(func=county_defaults(_request))

    for name, text in (
        ("approve", "data officer: sign a data-use agreement for a request"),
        ("deny", "data officer: turn a request down (recorded)"),
    ):
        decision = commands.add_parser(name, help=text)
        decision.add_argument("application", type=Path, help="the analyst's file")
        decision.add_argument(
            "--key", type=Path, required=True, help="your data officer key file"
        )
        add_department_arguments(decision)
        add_chain_arguments(decision, registry=True)
        decision.add_argument(
            "--policy",
            type=Path,
            help=f"the department's policy (default: its folder's {POLICY_FILE})",
        )
        if name == "approve":
            decision.add_argument(
                "--days", type=int, help="run for fewer days than asked"
            )
            decision.add_argument(
                "--max-epsilon", type=float, help="allow less epsilon than asked"
            )
            decision.add_argument(
                "--columns", type=_columns, help="allow fewer columns than asked"
            )
            decision.set_defaults(func=county_defaults(_approve))
        else:
            decision.add_argument(
                "--reason", required=True, help="why (recorded, shown to the analyst)"
            )
            decision.set_defaults(func=county_defaults(_deny))

    agreements = commands.add_parser(
        "agreements", help="data officer: the department's agreements"
    )
    add_department_arguments(agreements)
    add_chain_arguments(agreements, registry=False)
    agreements.set_defaults(func=county_defaults(_agreements))

    policy = commands.add_parser(
        "policy", help="data officer: check a policy file, show what it allows"
    )
    policy.add_argument(
        "file",
        type=Path,
        nargs="?",
        help=f"the policy (default: the department's {POLICY_FILE})",
    )
    policy.add_argument("--department", help="the department whose policy to show")
    policy.add_argument(
        "--state-dir",
        type=Path,
        help="the department's state folder (default: the county's)",
    )
    policy.set_defaults(func=_policy)


# -- the admin ------------------------------------------------------------------------


def _roles(args: argparse.Namespace, accounts: list[LocalAccount]) -> Roles:
    if not args.rpc or not args.roles:
        raise ConfigurationError(
            "--rpc/--roles", "name the county's chain and Roles contract (no county)"
        )
    return Roles.at(Chain.connect(args.rpc, accounts=accounts), args.roles)


def _admin(args: argparse.Namespace) -> LocalAccount:
    if args.admin_key is None:
        raise ConfigurationError("--admin-key", "give the county admin's key file")
    return load_person_key(args.admin_key)


def _grant(args: argparse.Namespace) -> int:
    admin = _admin(args)
    change = _roles(args, [admin]).grant(args.address, Role.ANALYST, sender=admin)
    print(f"{change.account} holds the analyst role from block {change.block_number}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    admin = _admin(args)
    change = _roles(args, [admin]).revoke(args.address, Role.ANALYST, sender=admin)
    print(
        f"{change.account} no longer holds the analyst role from block "
        f"{change.block_number}"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    holders = _roles(args, []).holders(Role.ANALYST)
    for address in holders:
        print(address)
    if not holders:
        print("no address holds the analyst role")
    return 0


# -- the analyst ----------------------------------------------------------------------


def _key(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise ConfigurationError("--out", f"{args.out} exists; it is never overwritten")
    account = load_or_create_key(args.out, password=key_password())
    print(account.address)
    return 0


def _request(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise ConfigurationError("--days", "must be at least 1")
    domain = access_domain(args)
    analyst = load_person_key(args.key)
    now = int(time.time())
    application = ApprovalRequest(
        analyst=analyst.address,
        department=args.department,
        purpose=args.purpose,
        dataset=args.dataset,
        columns=args.columns,
        max_epsilon=args.max_epsilon,
        nonce=secrets.token_bytes(32),
        issued_at=now,
        expires_at=now + args.days * _DAY_S,
    )
    signed = SignedApprovalRequest.sign(application, analyst, domain)
    if args.out.exists():
        raise ConfigurationError("--out", f"{args.out} exists; it is never overwritten")
    args.out.write_text(signed.to_text(domain) + "\n", encoding="utf-8")
    print(f"request {signed.id(domain)} for {args.department}: {args.out}")
    return 0


# -- the data officer -------------------------------------------------------------------


def _application(
    args: argparse.Namespace,
) -> tuple[SignedApprovalRequest, str, LocalAccount, AccessPolicy]:
    domain = access_domain(args)
    try:
        text = args.application.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError("application", f"cannot read: {e.strerror}") from e
    signed, _ = SignedApprovalRequest.from_text(text)
    signed.verify(domain)
    if signed.statement.department != args.department:
        raise ConfigurationError(
            "application",
            f"is addressed to {signed.statement.department}, not {args.department}",
        )
    officer = load_person_key(args.key)
    policy_file = args.policy or department_dir(args.state_dir, args.department) / (
        POLICY_FILE
    )
    policy = load_policy(policy_file)
    if not policy.is_officer(officer.address):
        raise ConfigurationError(
            "--key",
            f"{officer.address} is not a data officer of {args.department} "
            f"({policy_file} names {list(policy.data_officers)})",
        )
    return signed, signed.id(domain), officer, policy


def _approve(args: argparse.Namespace) -> int:
    signed, application_id, officer, policy = _application(args)
    domain = access_domain(args)
    application = signed.statement
    now = int(time.time())
    agreement = Agreement.answering(
        application,
        signed.digest(domain),
        officer=officer.address,
        issued_at=now,
        expires_at=None if args.days is None else now + args.days * _DAY_S,
        max_epsilon=args.max_epsilon,
        columns=args.columns,
    )
    signed_agreement = SignedAgreement.sign(agreement, officer, domain)
    agreement_id = signed_agreement.id(domain)
    # The agreement is signed under this policy (which names the officer):
    # the log holds it first, unless it is the newest policy there already.
    recorded = department_log_records(args, b"access_policy")
    policy_is_new = (
        not recorded or recorded[-1].details.get(POLICY_SHA256) != policy.digest().hex()
    )
    commit_department_records(
        args,
        lambda actor: [
            *(
                [policy_record(policy, actor=actor, timestamp_ms=now_ms())]
                if policy_is_new
                else []
            ),
            agreement_record(
                actor=actor,
                department=args.department,
                dataset=agreement.dataset,
                purpose=agreement.purpose,
                agreement=signed_agreement.to_text(domain),
                agreement_id=agreement_id,
                officer=agreement.officer,
                analyst=agreement.analyst,
                application=signed.to_text(domain),
                application_id=application_id,
                timestamp_ms=now_ms(),
            ),
        ],
    )
    AgreementStore(department_dir(args.state_dir, args.department)).add(
        signed_agreement, domain
    )
    print(
        f"agreement {agreement_id}: {agreement.analyst} may use {agreement.dataset} "
        f"{list(agreement.columns)} for {agreement.purpose!r}, epsilon <= "
        f"{agreement.max_epsilon} per request, until {agreement.expires_at}"
    )
    return 0


def _deny(args: argparse.Namespace) -> int:
    signed, application_id, officer, _ = _application(args)
    application = signed.statement
    commit_department_records(
        args,
        lambda actor: [
            application_denied_record(
                actor=actor,
                department=args.department,
                dataset=application.dataset,
                purpose=application.purpose,
                officer=officer.address,
                analyst=application.analyst,
                application_id=application_id,
                reason=args.reason,
                timestamp_ms=now_ms(),
            )
        ],
    )
    print(f"request {application_id} denied: {args.reason}")
    return 0


def _agreements(args: argparse.Namespace) -> int:
    domain = access_domain(args)
    store = AgreementStore(department_dir(args.state_dir, args.department))
    found = store.load(domain)
    now = int(time.time())
    for agreement_id, signed in found.items():
        a = signed.statement
        state = "valid" if a.issued_at <= now < a.expires_at else "expired"
        print(
            f"{agreement_id}  {state:<7}  {a.analyst}  {a.dataset} {list(a.columns)}  "
            f"{a.purpose!r}  epsilon <= {a.max_epsilon}  until {a.expires_at}  "
            f"(officer {a.officer})"
        )
    if not found:
        print(f"{args.department} holds no data-use agreement")
    return 0


def _policy(args: argparse.Namespace) -> int:
    if args.file is None:
        county = find_county()
        state_dir = args.state_dir or (
            county.paths.state_dir if county is not None else None
        )
        if args.department is None or state_dir is None:
            raise ConfigurationError(
                "file", "name a policy file, or --department (and --state-dir)"
            )
        file = department_dir(state_dir, args.department) / POLICY_FILE
    else:
        file = args.file
    policy = load_policy(file)
    if args.department is not None and policy.department != args.department:
        raise ConfigurationError(
            "--department", f"{file} is the policy of {policy.department}"
        )
    print(f"{file}: the access policy of {policy.department}")
    print(f"  sha256 {policy.digest().hex()}")
    print(f"  data officers: {', '.join(policy.data_officers) or 'none'}")
    print(f"  epsilon <= {policy.max_epsilon} per request")
    for rule in policy.rules:
        limit = rule.max_epsilon if rule.max_epsilon is not None else policy.max_epsilon
        print(
            f"  {rule.dataset}: {', '.join(k.value for k in rule.kinds)} for "
            f"{', '.join(repr(p) for p in rule.purposes)} by "
            f"{'any analyst' if rule.analysts is None else ', '.join(rule.analysts)}"
            f", columns {'any' if rule.columns is None else ', '.join(rule.columns)}"
            f", epsilon <= {min(limit, policy.max_epsilon)}"
            f"{', data-use agreement required' if rule.approval else ''}"
        )
    return 0
