"""``fedgov ledger witness``: run a C2SP ``tlog-witness`` for a county's logs.

    key    --key-file PEM --name NAME
    serve  --key-file PEM --name NAME --policy FILE --state DB [--address HOST:PORT]

``key`` creates the witness's Ed25519 cosigning key on first use (sealed
with ``$FEDGOV_KEY_PASSWORD``, plaintext and warned without it) and prints
its ``cosignature/v1`` vkey, the line a policy's ``witness`` entry names.
``serve`` cosigns checkpoints of the logs listed by ``log`` lines of the
policy file (a C2SP ``tlog-policy`` file; its other lines are ignored
here), keeping its state in the SQLite file ``--state``, until interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.signals import StopSignal
from ledger.cosignature import Cosigner
from ledger.keys import key_password
from ledger.note import NoteVerifier
from ledger.note_keys import load_or_create_note_key
from ledger.witness import Witness
from ledger.witness_http import WitnessServer
from ledger.witness_policy import WitnessPolicy
from ledger.witness_state import WitnessState

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]

_POWER = "cosign checkpoints as this witness"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``key`` and ``serve`` sub-commands."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    key = commands.add_parser("key", help="create the cosigning key, print its vkey")
    _key_arguments(key)
    key.set_defaults(func=_key)

    serve = commands.add_parser("serve", help="serve add-checkpoint over HTTP")
    _key_arguments(serve)
    serve.add_argument(
        "--policy", type=Path, required=True, help="tlog-policy file: its log lines"
    )
    serve.add_argument(
        "--state", type=Path, required=True, help="the witness's SQLite state file"
    )
    serve.add_argument("--address", default="127.0.0.1:7380", help="host:port")
    serve.set_defaults(func=_serve)


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-file", type=Path, required=True, help="the Ed25519 key (PKCS#8 PEM)"
    )
    parser.add_argument(
        "--name", required=True, help="the witness's key name, e.g. example.org/w1"
    )


def _cosigner(args: argparse.Namespace) -> Cosigner:
    key = load_or_create_note_key(args.key_file, password=key_password(), power=_POWER)
    return Cosigner(args.name, key)


def _key(args: argparse.Namespace) -> int:
    print(_cosigner(args).vkey)
    return 0


def _serve(args: argparse.Namespace) -> int:
    cosigner = _cosigner(args)
    policy = WitnessPolicy.read(args.policy)
    logs = {log.origin: [NoteVerifier(log.vkey)] for log in policy.logs}
    stop = StopSignal()
    with WitnessState(args.state) as state:
        witness = Witness(cosigner, logs, state)
        with WitnessServer(witness, args.address) as server:
            print(
                f"witness {cosigner.name} on {server.url}: {len(logs)} logs, "
                f"vkey {cosigner.vkey}",
                flush=True,
            )
            stop.wait()
    return 0
