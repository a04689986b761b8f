"""``fedgov ledger checkpoint``: publish actors' logs as C2SP checkpoints.

    keys     --state-dir DIR --county NAME
    publish  --state-dir DIR --county NAME [--witness-policy FILE]
    show     --state-dir DIR

For every actor log under a fedgov state folder: ``keys`` prints the
``log <vkey>`` policy line of its checkpoint key (created on first use
beside the log, sealed with ``$FEDGOV_KEY_PASSWORD``); ``publish`` signs
its latest signed head as a checkpoint, submits it to every witness of the
policy that has a URL, and stores the note with the cosignatures it got;
``show`` prints each log's latest stored checkpoint. Run them where the
actors' keys are (each department's machine, or the demo's one folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedgov.errors import ConfigurationError
from ledger.cosignature import cosignature_timestamp
from ledger.errors import MalformedNoteError
from ledger.layout import find_logs
from ledger.note import Note
from ledger.store import LogStore
from ledger.witness_client import WitnessClient, checkpoint_signer, publish_checkpoint
from ledger.witness_policy import WitnessPolicy

if TYPE_CHECKING:
    import argparse

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``keys``, ``publish`` and ``show`` sub-commands."""
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    keys = commands.add_parser("keys", help="print each log's 'log <vkey>' line")
    _state_arguments(keys, county=True)
    keys.set_defaults(func=_keys)

    publish = commands.add_parser(
        "publish", help="checkpoint each log, have the policy's witnesses cosign"
    )
    _state_arguments(publish, county=True)
    publish.add_argument(
        "--witness-policy", type=Path, help="tlog-policy file: witnesses with URLs"
    )
    publish.set_defaults(func=_publish)

    show = commands.add_parser("show", help="print each log's latest checkpoint")
    _state_arguments(show, county=False)
    show.set_defaults(func=_show)


def _state_arguments(parser: argparse.ArgumentParser, *, county: bool) -> None:
    parser.add_argument("--state-dir", type=Path, required=True, help="state folder")
    if county:
        parser.add_argument(
            "--county", required=True, help="the county's name, a DNS label"
        )


def _logs(state_dir: Path) -> list[Path]:
    logs = find_logs(state_dir)
    if not logs:
        raise ConfigurationError("--state-dir", f"no actor log under {state_dir}")
    return logs


def _keys(args: argparse.Namespace) -> int:
    for path in _logs(args.state_dir):
        with LogStore(path) as store:
            print(f"log {checkpoint_signer(store, args.county).vkey}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    policy = (
        WitnessPolicy.read(args.witness_policy)
        if args.witness_policy is not None
        else None
    )
    witnesses = [
        WitnessClient(w.url, w.vkey)
        for w in (policy.witnesses if policy is not None else ())
        if w.url is not None
    ]
    failed = 0
    for path in _logs(args.state_dir):
        with LogStore(path) as store:
            if store.latest_tree_head() is None:
                print(f"{path}: no signed head yet, nothing to publish")
                continue
            published = publish_checkpoint(
                store, checkpoint_signer(store, args.county), witnesses
            )
        cosigners = ", ".join(published.cosigned_by) or "no witness"
        checkpoint = published.checkpoint
        print(
            f"{checkpoint.origin} size {checkpoint.tree_size}: cosigned by {cosigners}"
        )
        for failure in published.failures:
            print(f"  FAILED {failure}")
        failed += len(published.failures)
    for client in witnesses:
        client.close()
    return 1 if failed else 0


def _show(args: argparse.Namespace) -> int:
    for path in _logs(args.state_dir):
        with LogStore(path) as store:
            stored = store.checkpoints()
        if not stored:
            print(f"# {path}: no checkpoint published\n")
            continue
        note = Note.parse(stored[-1])
        print(f"# {path}: checkpoint {len(stored) - 1}")
        for signature in note.signatures[1:]:
            try:
                when = f"at {cosignature_timestamp(signature)}"
            except MalformedNoteError:
                when = "(not a cosignature/v1)"
            print(f"# cosigned by {signature.name} {when}")
        print(note.format())
    return 0
