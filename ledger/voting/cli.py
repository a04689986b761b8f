"""``fedgov vote``: community consultations from the command line.

Everything in one process, on the embedded EVM (or any dev chain):

    rehearse [--residents 50] [--seed 0] [--abstain N] [--no-reveal N] [--ring-size 16]

A consultation over several commands needs a chain that outlives each
command: ``node`` runs a local anvil whose state persists in a folder, deploys
Roles and Consultation once, and prints the ``FEDGOV_RPC_URL`` and
``FEDGOV_CONSULTATION`` to export. Then, by role (``--rpc-url`` and
``--contract`` default to those variables)::

    admin      deploy [--roles ADDR] [--registrar ADDR]
    resident   enroll --out ROLL-KEY     (once: its address goes on the roll)
    registrar  roll RESIDENTS.txt --out ROLL
               create --roll ROLL [--ring-size K] --question Q --option A --option B
               issue --id N --roll ROLL --resident ID --request REQ --out RESP
               finalize --id N
    resident   request --id N --roll-key ROLL-KEY --wallet W --out REQ
               accept --wallet W --response RESP [--resident ID]
               commit --wallet W --choice C --receipt R [--receipt-with-choice]
               reveal --wallet W [--forget]
               check RECEIPT
    auditor    status --id N    tally --id N [--verify]
    dev chain  advance-time SECONDS

Without ``--rpc-url``/``--contract`` (or their variables), the county installed
at ``$FEDGOV_HOME`` gives its chain and its Consultation contract.
Transactions are signed with ``--key-file`` (keystore, password from
``--password-env``) or, on a dev chain, ``--dev-account N``; a resident's
commit and reveal are sent by such a *relayer* account, never by the voting
key.

Consultations use ring credentials (``--ring-size``, default 16). Blind RSA
credentials (``keygen``, then ``create``/``issue`` with ``--key KEY.pem``, the
key encrypted with the passphrase in ``$FEDGOV_VOTE_KEY_PASSPHRASE``) remain
for the browser portal; they warn, because the registrar's key can mint
ballots that the re-tally cannot always tell from abstainers' (docs/voting.md).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.county import find_county
from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once
from fedgov.signals import StopSignal
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.records import Role
from ledger.voting import resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting._files import read_json, write_json
from ledger.voting._signers import add_signer_arguments, dev_account, signer_from_args
from ledger.voting.consultation import MAX_RING, ConsultationContract, ConsultationInfo
from ledger.voting.errors import TallyMismatchError, VotingError
from ledger.voting.receipt import Receipt, check_receipt
from ledger.voting.registrar import (
    IssuedCredential,
    Registrar,
    generate_credential_key,
    load_credential_key,
    save_credential_key,
)
from ledger.voting.rehearsal import (
    DEFAULT_OPTIONS,
    DEFAULT_QUESTION,
    DEFAULT_RING_SIZE,
    rehearse_consultation,
)
from ledger.voting.roll import Roll, entry_commitment, parse_residents
from ledger.voting.tally import retally

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from eth_account.signers.local import LocalAccount

__all__ = ["CONTRACT_ENV", "KEY_PASSPHRASE_ENV", "RPC_URL_ENV", "configure"]

RPC_URL_ENV = "FEDGOV_RPC_URL"
CONTRACT_ENV = "FEDGOV_CONSULTATION"
KEY_PASSPHRASE_ENV = "FEDGOV_VOTE_KEY_PASSPHRASE"
_DEPLOYMENT_FORMAT = "fedgov-vote-deployment-v1"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``fedgov vote`` sub-commands."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1] if __doc__ else None
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(
        name: str, text: str, handler: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(func=handler)
        return sub

    rehearse = command(
        "rehearse",
        "rehearse a whole consultation in one process (registrar, residents, "
        "an abuser, an auditor)",
        _rehearse,
    )
    rehearse.add_argument("--rpc-url", help="a dev chain (default: embedded py-evm)")
    rehearse.add_argument("--residents", type=int, default=50)
    rehearse.add_argument("--seed", type=int, default=0, help="draws choices")
    rehearse.add_argument(
        "--ring-size",
        type=int,
        default=DEFAULT_RING_SIZE,
        help="keys a ring (0: blind RSA credentials)",
    )
    rehearse.add_argument("--abstain", type=int, default=0, help="residents who skip")
    rehearse.add_argument(
        "--no-reveal", type=int, default=0, help="residents who commit, never reveal"
    )
    rehearse.add_argument(
        "--no-abuse", action="store_true", help="skip the abuse attempts"
    )

    node = command(
        "node",
        "run a local anvil chain that persists, with the contracts deployed",
        _node,
    )
    node.add_argument("--dir", type=Path, required=True, help="state folder")
    node.add_argument("--port", type=int, default=8545)

    deploy = command("deploy", "admin: deploy a Consultation contract", _deploy)
    _chain_arguments(deploy, contract=False)
    deploy.add_argument("--roles", help="existing Roles contract (default: deploy one)")
    deploy.add_argument("--registrar", help="grant this address the REGISTRAR role")
    add_signer_arguments(deploy, who="the admin")

    enroll = command(
        "enroll", "resident: make the roll key the registrar puts on the roll", _enroll
    )
    enroll.add_argument("--out", type=Path, required=True, help="roll key (secret)")

    roll = command("roll", "registrar: build the eligibility roll", _roll)
    roll.add_argument(
        "residents",
        type=Path,
        help="text file, one 'RESIDENT-ID ROLL-KEY' a line (the address that "
        "`fedgov vote enroll` printed for the resident)",
    )
    roll.add_argument("--out", type=Path, required=True, help="roll file (private)")
    roll.add_argument("--public-out", type=Path, help="leaves file (publishable)")

    keygen = command("keygen", "registrar: a fresh RSA-2048 credential key", _keygen)
    keygen.add_argument("--out", type=Path, required=True)

    create = command("create", "registrar: open a consultation", _create)
    _chain_arguments(create)
    create.add_argument("--roll", type=Path, required=True)
    create.add_argument(
        "--ring-size",
        type=int,
        help=f"ring credentials: keys per ballot's ring, 1..{MAX_RING} (default "
        f"{DEFAULT_RING_SIZE})",
    )
    create.add_argument(
        "--key", type=Path, help="blind RSA credentials under this key (portal)"
    )
    create.add_argument("--question", required=True)
    create.add_argument("--question-uri", help="where the question is published")
    create.add_argument(
        "--option", action="append", required=True, help="repeat for each option"
    )
    create.add_argument("--commit-in", type=int, default=3_600, help="seconds")
    create.add_argument("--commit-for", type=int, default=86_400, help="seconds")
    create.add_argument("--reveal-for", type=int, default=86_400, help="seconds")
    add_signer_arguments(create, who="the registrar")

    issue = command("issue", "registrar: record one resident's signed request", _issue)
    _chain_arguments(issue, consultation=True)
    issue.add_argument("--roll", type=Path, required=True)
    issue.add_argument("--key", type=Path, help="blind RSA credential key")
    issue.add_argument("--resident", required=True, help="identity checked by you")
    issue.add_argument("--request", type=Path, required=True)
    issue.add_argument(
        "--out", type=Path, required=True, help="answer for the resident"
    )
    add_signer_arguments(issue, who="the registrar")

    finalize = command(
        "finalize", "anyone: close a consultation after the reveal", _finalize
    )
    _chain_arguments(finalize, consultation=True)
    add_signer_arguments(finalize, who="the sender")

    request = command(
        "request", "resident: a voting key and a blinded request", _request
    )
    _chain_arguments(request, consultation=True)
    request.add_argument(
        "--roll-key", type=Path, required=True, help="from `fedgov vote enroll`"
    )
    request.add_argument("--wallet", type=Path, required=True, help="new (secret)")
    request.add_argument("--out", type=Path, required=True, help="for the registrar")

    accept = command("accept", "resident: unblind and verify the credential", _accept)
    _chain_arguments(accept, contract=False)
    accept.add_argument("--wallet", type=Path, required=True)
    accept.add_argument("--response", type=Path, required=True)
    accept.add_argument("--resident", help="your id: check the recorded roll entry")

    commit = command("commit", "resident: commit a ballot (sent by a relayer)", _commit)
    _chain_arguments(commit, contract=False)
    commit.add_argument("--wallet", type=Path, required=True)
    commit.add_argument("--choice", required=True, help="option number or label")
    commit.add_argument("--receipt", type=Path, required=True)
    commit.add_argument(
        "--receipt-with-choice",
        action="store_true",
        help="put choice and salt in the receipt (it then proves your vote)",
    )
    add_signer_arguments(commit, who="the relayer")

    reveal = command(
        "reveal", "resident: reveal the ballot (sent by a relayer)", _reveal
    )
    _chain_arguments(reveal, contract=False)
    reveal.add_argument("--wallet", type=Path, required=True)
    reveal.add_argument(
        "--forget", action="store_true", help="delete the wallet once revealed"
    )
    add_signer_arguments(reveal, who="the relayer")

    check = command("check", "resident: is my ballot recorded and counted?", _check)
    check.add_argument("receipt", type=Path)
    check.add_argument("--rpc-url", default=os.environ.get(RPC_URL_ENV))

    status = command(
        "status", "anyone: a consultation's question, phase, counts", _status
    )
    _chain_arguments(status, consultation=True)

    tally = command(
        "tally", "auditor: the result; --verify recounts from events", _tally
    )
    _chain_arguments(tally, consultation=True)
    tally.add_argument(
        "--verify", action="store_true", help="recount from events; exit 1 on mismatch"
    )

    advance = command("advance-time", "dev chains: move block time forward", _advance)
    advance.add_argument("seconds", type=int)
    advance.add_argument("--rpc-url", default=os.environ.get(RPC_URL_ENV))


def _chain_arguments(
    parser: argparse.ArgumentParser,
    *,
    contract: bool = True,
    consultation: bool = False,
) -> None:
    parser.add_argument(
        "--rpc-url",
        default=os.environ.get(RPC_URL_ENV),
        help=f"JSON-RPC node (default ${RPC_URL_ENV})",
    )
    if contract:
        parser.add_argument(
            "--contract",
            default=os.environ.get(CONTRACT_ENV),
            help=f"Consultation contract (default ${CONTRACT_ENV})",
        )
    if consultation:
        parser.add_argument("--id", type=int, required=True, help="consultation id")


def _connect(args: argparse.Namespace, accounts: Sequence[LocalAccount] = ()) -> Chain:
    county = find_county()
    if not args.rpc_url and county is not None:
        args.rpc_url = county.chain.rpc_url
    if not args.rpc_url:
        raise ConfigurationError(
            "--rpc-url",
            f"required (or ${RPC_URL_ENV}): the embedded EVM lives only as long as "
            "one command; run `fedgov vote rehearse`, or start a chain with "
            "`fedgov vote node --dir DIR`",
        )
    return Chain.connect(args.rpc_url, accounts=accounts)


def _contract(args: argparse.Namespace, chain: Chain) -> ConsultationContract:
    county = find_county()
    if not args.contract and county is not None:
        args.contract = county.contracts.consultation
    if not args.contract:
        raise ConfigurationError("--contract", f"required (or ${CONTRACT_ENV})")
    return ConsultationContract.at(chain, args.contract)


def _passphrase() -> str:
    passphrase = os.environ.get(KEY_PASSPHRASE_ENV)
    if not passphrase:
        raise ConfigurationError(
            KEY_PASSPHRASE_ENV, "must hold the credential key's passphrase"
        )
    return passphrase


# -- everything at once ----------------------------------------------------------


def _rehearse(args: argparse.Namespace) -> int:
    chain = (
        Chain.embedded()
        if args.rpc_url is None
        else Chain.connect(args.rpc_url, accounts=[dev_account(i) for i in range(4)])
    )
    print(f"chain: {chain.endpoint} (chain id {chain.chain_id})")
    report = rehearse_consultation(
        chain,
        residents=args.residents,
        seed=args.seed,
        question=DEFAULT_QUESTION,
        options=DEFAULT_OPTIONS,
        abstain=args.abstain,
        no_reveal=args.no_reveal,
        abuses=not args.no_abuse,
        ring_size=args.ring_size,
        progress=print,
    )
    print(report.summary())
    return 0 if report.ok else 1


# -- dev chain ---------------------------------------------------------------------


def _node(args: argparse.Namespace) -> int:
    # The chain's state holds the dev accounts' history: the owner's alone.
    args.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    deployment_path = args.dir / "deployment.json"
    stop = StopSignal()
    with AnvilProcess(workdir=args.dir, port=args.port, persist_state=True) as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        if deployment_path.is_file():
            deployment = read_json(deployment_path, kind=_DEPLOYMENT_FORMAT)
            ConsultationContract.at(chain, deployment["consultation"])
        else:
            admin, registrar = anvil.accounts[:2]
            roles = Roles.deploy(chain, admin=admin)
            roles.grant(registrar.address, Role.REGISTRAR, sender=admin)
            contract = ConsultationContract.deploy(chain, roles, sender=admin)
            deployment = {
                "format": _DEPLOYMENT_FORMAT,
                "rpc_url": anvil.url,
                "roles": roles.address,
                "consultation": contract.address,
                "dev_accounts": {"admin": 0, "registrar": 1, "relayer": 2},
            }
            write_json(deployment_path, deployment, private=False)
        print(f"anvil at {anvil.url}, state in {args.dir}")
        print(f"export {RPC_URL_ENV}={anvil.url}")
        print(f"export {CONTRACT_ENV}={deployment['consultation']}")
        print("dev accounts: 0 admin, 1 registrar, 2 relayer (--dev-account N)")
        print("Ctrl-C stops the node; its state is kept for the next start")
        stop.wait()
    return 0


def _advance(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        raise ConfigurationError("seconds", f"must be positive, got {args.seconds}")
    chain = _connect(args)
    reached = advance_to(chain, latest_timestamp(chain) + args.seconds)
    print(f"block {chain.block_number} at block time {reached}")
    return 0


# -- admin and registrar -------------------------------------------------------------


def _deploy(args: argparse.Namespace) -> int:
    admin = signer_from_args(args)
    chain = _connect(args, [admin])
    roles = (
        Roles.at(chain, args.roles) if args.roles else Roles.deploy(chain, admin=admin)
    )
    if args.registrar and not roles.has_role(args.registrar, Role.REGISTRAR):
        roles.grant(args.registrar, Role.REGISTRAR, sender=admin)
    contract = ConsultationContract.deploy(chain, roles, sender=admin)
    print(f"Roles {roles.address}")
    print(f"Consultation {contract.address}")
    return 0


def _enroll(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise ConfigurationError("--out", f"{args.out} exists; never overwrite a key")
    key = resident.RollKey.generate()
    key.save(args.out)
    print(f"roll key {key.address} -> {args.out} (keep it secret)")
    print("give the registrar this address with proof of identity, for the roll")
    return 0


def _roll(args: argparse.Namespace) -> int:
    try:
        text = args.residents.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(
            "residents", f"cannot read {args.residents}: {e.strerror}"
        ) from e
    roll = Roll.build(parse_residents(text, source=str(args.residents)))
    roll.save(args.out)
    if args.public_out:
        roll.save_public(args.public_out)
    print(f"roll of {roll.size} residents, root 0x{roll.root.hex()} -> {args.out}")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    save_credential_key(generate_credential_key(), args.out, passphrase=_passphrase())
    print(f"RSA-2048 credential key -> {args.out} (encrypted)")
    return 0


def _registrar(
    args: argparse.Namespace,
) -> tuple[ConsultationContract, Registrar]:
    account = signer_from_args(args)
    chain = _connect(args, [account])
    contract = _contract(args, chain)
    key = None
    if args.key is not None:
        warn_once(
            "blind-rsa-credentials",
            "blind RSA credentials: the registrar's key can sign credentials off "
            "the record, and ballots made with them go unnoticed while they are no "
            "more than the residents who asked and abstain; consultations without "
            "--key use ring credentials, which close that gap (docs/voting.md)",
        )
        key = load_credential_key(args.key, passphrase=_passphrase())
    registrar = Registrar(contract, account=account, roll=Roll.load(args.roll), key=key)
    return contract, registrar


def _create(args: argparse.Namespace) -> int:
    if args.key is not None and args.ring_size is not None:
        raise ConfigurationError(
            "--ring-size", "ring credentials take no --key: give one or the other"
        )
    ring_size = 0 if args.key is not None else (args.ring_size or DEFAULT_RING_SIZE)
    contract, registrar = _registrar(args)
    now = latest_timestamp(contract.chain)
    commit_start = now + args.commit_in
    info = registrar.open(
        question=args.question,
        options=args.option,
        commit_start=commit_start,
        commit_end=commit_start + args.commit_for,
        reveal_end=commit_start + args.commit_for + args.reveal_for,
        ring_size=ring_size,
        question_uri=args.question_uri,
    )
    print(f"consultation {info.consultation_id} created")
    _print_info(info)
    return 0


def _issue(args: argparse.Namespace) -> int:
    contract, registrar = _registrar(args)
    info = contract.info(args.id)
    if info.ring_credentials:
        key_request = resident.BallotKeyRequest.load(args.request)
        if key_request.scope != info.scope:
            raise ConfigurationError("--request", f"is not for consultation {args.id}")
        issued = registrar.record(info, args.resident, key_request)
    else:
        request = resident.CredentialRequest.load(args.request)
        if request.scope != info.scope:
            raise ConfigurationError("--request", f"is not for consultation {args.id}")
        issued = registrar.issue(info, args.resident, request)
    issued.save(args.out)
    print(
        f"credential issued to {args.resident}, recorded in block "
        f"{issued.block_number} against roll entry 0x{issued.roll_entry.hex()} "
        f"-> {args.out}"
    )
    return 0


def _finalize(args: argparse.Namespace) -> int:
    sender = signer_from_args(args)
    contract = _contract(args, _connect(args, [sender]))
    contract.finalize(args.id, sender=sender)
    state = contract.state(args.id)
    print(f"consultation {args.id} finalized: tally {state.tally}")
    return 0


# -- resident ---------------------------------------------------------------------------


def _request(args: argparse.Namespace) -> int:
    contract = _contract(args, _connect(args))
    if args.wallet.exists():
        raise ConfigurationError(
            "--wallet", f"{args.wallet} exists; never reuse a wallet"
        )
    roll_key = resident.RollKey.load(args.roll_key)
    info = contract.info(args.id)
    if info.ring_credentials:
        wallet, key_request = resident.request_ballot_key(info, roll_key)
        wallet.save(args.wallet)
        key_request.save(args.out)
        what = f"ballot key 0x{key_request.ballot_key.hex()}"
    else:
        wallet, request = resident.request_credential(info, roll_key)
        wallet.save(args.wallet)
        request.save(args.out)
        what = "blinded request"
    print(f"voting key {wallet.voting_address} -> {args.wallet} (keep it secret)")
    print(
        f"{what} signed by roll key {roll_key.address} -> {args.out} "
        "(hand it to the registrar)"
    )
    return 0


def _accept(args: argparse.Namespace) -> int:
    wallet = resident.Wallet.load(args.wallet)
    contract = ConsultationContract.at(_connect(args), wallet.scope.contract)
    issued = IssuedCredential.load(args.response)
    info = contract.info(wallet.scope.consultation_id)
    if issued.scope != wallet.scope:
        raise ConfigurationError("--response", "is for another consultation")
    if args.resident is not None and (
        entry_commitment(args.resident, issued.roll_salt) != issued.roll_entry
    ):
        raise VotingError("the recorded roll entry is not yours")
    if not contract.credential_issued(info.consultation_id, issued.roll_entry):
        raise VotingError("no credential is recorded on chain for your roll entry")
    if info.ring_credentials:
        number = resident.recorded_ballot_key(contract, wallet, issued.roll_entry)
        print(
            f"your ballot key is recorded on chain (key {number} of the "
            f"consultation, block {issued.block_number}); your ballot will be "
            f"signed by a ring of {info.ring_size} recorded keys"
        )
        return 0
    wallet = resident.accept_credential(wallet, info, issued.blind_signature)
    wallet.save(args.wallet)
    print(
        f"credential verified for voting key {wallet.voting_address}; its issuance "
        f"is recorded in block {issued.block_number}"
    )
    return 0


def _commit(args: argparse.Namespace) -> int:
    relayer = signer_from_args(args)
    wallet = resident.Wallet.load(args.wallet)
    contract = ConsultationContract.at(_connect(args, [relayer]), wallet.scope.contract)
    info = contract.info(wallet.scope.consultation_id)
    choice = _choice(args.choice, info)
    wallet, receipt = resident.cast_ballot(
        contract,
        wallet,
        info,
        choice,
        relayer=relayer,
        receipt_with_choice=args.receipt_with_choice,
    )
    wallet.save(args.wallet)
    receipt.save(args.receipt)
    print(
        f"ballot committed in block {receipt.block_number}; receipt -> {args.receipt}; "
        f"reveal between block times {info.commit_end} and {info.reveal_end}"
    )
    return 0


def _reveal(args: argparse.Namespace) -> int:
    relayer = signer_from_args(args)
    wallet = resident.Wallet.load(args.wallet)
    contract = ConsultationContract.at(_connect(args, [relayer]), wallet.scope.contract)
    wallet, mined = resident.reveal_ballot(contract, wallet, relayer=relayer)
    print(f"ballot revealed in block {mined['blockNumber']}")
    if args.forget:
        args.wallet.unlink()
        print(f"{args.wallet} deleted: nothing left proves how you voted")
    else:
        wallet.save(args.wallet)
    return 0


def _check(args: argparse.Namespace) -> int:
    receipt = Receipt.load(args.receipt)
    contract = ConsultationContract.at(_connect(args), receipt.scope.contract)
    checked = check_receipt(contract, receipt)
    print(f"phase: {checked.phase.value}")
    print(f"recorded as cast: {'yes' if checked.recorded else 'NO'}")
    print(f"revealed (counted): {'yes' if checked.revealed else 'no'}")
    if checked.choice_matches is not None:
        print(f"counted as chosen: {'yes' if checked.choice_matches else 'NO'}")
    for note in checked.notes:
        print(f"note: {note}")
    for problem in checked.problems:
        print(f"PROBLEM: {problem}")
    return 0 if checked.ok else 1


def _choice(value: str, info: ConsultationInfo) -> int:
    if value in info.options:
        return info.options.index(value)
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(
            "--choice", f"{value!r} is no option: {', '.join(info.options)}"
        ) from None


# -- anyone -----------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    contract = _contract(args, _connect(args))
    info = contract.info(args.id)
    state = contract.state(args.id)
    _print_info(info)
    print(f"phase: {contract.phase(info).value}")
    print(
        f"credentials {state.issued}, ballots {state.committed}, revealed "
        f"{state.revealed}, unrevealed {state.unrevealed}"
    )
    if info.ring_credentials:
        print(
            f"ring credentials, {info.ring_for(state.issued)} keys a ring: the "
            "contract cannot check ring signatures; `tally --verify` counts only "
            "valid ones"
        )
    elif state.off_record:
        print(
            f"OVER-ISSUANCE: {state.off_record} more ballot(s) than recorded "
            "credentials; the registrar's key signed credentials off the record"
        )
    print(f"tally: {_labelled(info, state.tally)}")
    return 0


def _tally(args: argparse.Namespace) -> int:
    contract = _contract(args, _connect(args))
    if not args.verify:
        info = contract.info(args.id)
        print(f"tally (contract): {_labelled(info, contract.tally(args.id))}")
        return 0
    result = retally(contract, args.id)
    print(f"tally (events):   {dict(zip(result.options, result.tally, strict=True))}")
    print(
        f"tally (contract): "
        f"{dict(zip(result.options, result.contract_tally, strict=True))}"
    )
    print(
        f"credentials {result.issued}, ballots {result.committed}, revealed "
        f"{result.revealed}, never revealed {len(result.unrevealed_keys)}"
    )
    for key in result.unrevealed_keys:
        print(f"  never revealed: {key}")
    if not result.matches:
        raise TallyMismatchError(args.id, result.problems)
    print("re-tally matches the contract")
    return 0


def _labelled(info: ConsultationInfo, counts: tuple[int, ...]) -> str:
    return ", ".join(f"{o}: {c}" for o, c in zip(info.options, counts, strict=True))


def _print_info(info: ConsultationInfo) -> None:
    print(f"question: {info.question or info.question_uri}")
    print(f"options: {', '.join(f'{i}={o}' for i, o in enumerate(info.options))}")
    print(f"roll: {info.roll_size} residents, root 0x{info.eligibility_root.hex()}")
    print(
        f"windows (block time): issuance until {info.commit_start}, commit until "
        f"{info.commit_end}, reveal until {info.reveal_end}"
    )
