"""``fedgov data``: a data officer checks her department's table, or drafts a declaration.

``fedgov data check --dataset FILE_OR_NAME --source SRC`` checks the table
against the declaration in the database and prints the report: counts and
row numbers, never a SENSITIVE or CORE value; nothing leaves the machine.
Exit code 0: valid; 1: the table breaks the declaration (or cannot be read).

``fedgov data draft SRC [--name NAME] [--output FILE]`` writes a declaration
draft from the table's column names and types for a person to complete.

Retention and destruction, on the department's machine:

``fedgov data import --dataset X --source SRC --department D --state-dir DIR``
checks the table and seals a copy into the department's vault for X (under
its own data key, :mod:`privacy.vault`); the department's node then reads
that copy. ``fedgov data retention --state-dir DIR`` lists each vault, since
when its records are held and when the declaration's retention period ends.
``fedgov data destroy --dataset X --department D --state-dir DIR [--due]
[--reason TEXT]`` crypto-shreds the vault (tombstone, data key, files) and
records a ``dataset_destroyed`` record in the department's audit log; from
then on the department refuses every read of X.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from fedgov.commands._department import (
    add_chain_arguments,
    add_department_arguments,
    commit_department_records,
    county_defaults,
    department_log_records,
)
from fedgov.data.catalog import get_dataset
from fedgov.data.checking import check_source
from fedgov.data.drafting import draft_declaration
from fedgov.data.reading import read_source
from fedgov.data.sources import Source
from fedgov.errors import ConfigurationError
from ledger.access_records import destruction_record
from ledger.records import now_ms
from privacy.vault import RECORDS, DatasetVault

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` and ``draft`` subcommands to ``parser``."""
    commands = parser.add_subparsers(dest="data_command", metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="check a department's table against a dataset declaration",
        description="Check a department's table against a dataset declaration, in "
        "the database; print counts and row numbers only. Exit code 1 if invalid.",
    )
    check.add_argument(
        "--dataset",
        required=True,
        help="a declaration file (*.yaml) or a built-in dataset (randhie, adult)",
    )
    check.add_argument(
        "--source",
        required=True,
        help="csv:PATH, parquet:PATH, sqlite:PATH#TABLE, "
        "postgresql://USER@HOST/DB#TABLE or postgresql://USER@HOST/DB?query=SQL",
    )
    check.add_argument("--department", help="the department's id, for the report")
    check.set_defaults(func=_check)
    draft = commands.add_parser(
        "draft",
        help="write a declaration draft from a table's column names and types",
        description="Write a declaration draft from a table's column names and "
        "types, with TODO wherever a person must decide. Never copies bounds or "
        "categories from the records.",
    )
    draft.add_argument("source", help="the table, as for check --source")
    draft.add_argument("--name", help="the dataset's name (default: the file's name)")
    draft.add_argument(
        "--output", type=Path, help="write the draft here (default: print it)"
    )
    draft.set_defaults(func=_draft)

    seal = commands.add_parser(
        "import",
        help="check a department's table and seal a copy into its vault",
        description="Check a department's table against the declaration and seal "
        "a copy into the department's vault, under the dataset's own data key: "
        "the department's node reads it from there, and destroy shreds it.",
    )
    seal.add_argument("--dataset", required=True, help="declaration or built-in id")
    seal.add_argument("--source", required=True, help="the table, as for check")
    add_department_arguments(seal)
    seal.add_argument("--key-dir", type=Path, help="keep the data key here instead")
    seal.set_defaults(func=county_defaults(_import))

    retention = commands.add_parser(
        "retention", help="each vault: held since, retention, due, destroyed"
    )
    retention.add_argument(
        "--state-dir", type=Path, help="the state folder (default: the county's)"
    )
    retention.add_argument("--department", help="one department only")
    retention.set_defaults(func=county_defaults(_retention))

    destroy = commands.add_parser(
        "destroy",
        help="crypto-shred a department's records of a dataset (recorded)",
        description="Destroy a department's records of a dataset: write the "
        "tombstone, shred the data key, delete the sealed files, and record it in "
        "the department's audit log. Every later read of the dataset is refused.",
    )
    destroy.add_argument("--dataset", required=True, help="declaration or built-in id")
    add_department_arguments(destroy)
    destroy.add_argument(
        "--due",
        action="store_true",
        help="only if the declaration's retention period has ended (else exit 1)",
    )
    destroy.add_argument(
        "--reason", help="why (default with --due: the retention period)"
    )
    destroy.add_argument("--key-dir", type=Path, help="where the data key is kept")
    add_chain_arguments(destroy, registry=True, roles=False)
    destroy.set_defaults(func=county_defaults(_destroy))


def _check(args: argparse.Namespace) -> int:
    spec = get_dataset(args.dataset)
    result = check_source(
        spec.schema,
        Source.parse(args.source),
        department=args.department,
        dataset=spec.id,
        unit=spec.unit,
    )
    print("\n".join(result.lines()))
    return 0 if result.ok else 1


def _draft(args: argparse.Namespace) -> int:
    source = Source.parse(args.source)
    name = args.name or _default_name(source)
    text = draft_declaration(source, name=name)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.output.exists():
        raise ConfigurationError(
            "--output", f"{str(args.output)!r} exists; fedgov never overwrites a file"
        )
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: fill in every TODO, then run fedgov data check")
    return 0


def _default_name(source: Source) -> str:
    if source.table is not None:
        return source.table.rpartition(".")[2]
    return Path(source.location).stem if source.kind.is_file else "dataset"


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _import(args: argparse.Namespace) -> int:
    spec = get_dataset(args.dataset)
    frame, _ = read_source(
        spec.schema,
        Source.parse(args.source),
        department=args.department,
        dataset=spec.id,
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    vault = DatasetVault(args.state_dir, args.department, spec.id, key_dir=args.key_dir)
    path = vault.seal(RECORDS, buffer.getvalue())
    state = vault.state()
    assert state is not None
    print(
        f"{len(frame)} records of {spec.id} sealed for {args.department} in {path} "
        f"(key {state.key_id}, held since {_day(state.held_since)})"
    )
    return 0


def _retention(args: argparse.Namespace) -> int:
    root = Path(args.state_dir) / "departments"
    pattern = f"{args.department or '*'}/datasets/*"
    now = int(time.time())
    rows = 0
    for folder in sorted(root.glob(pattern)):
        department, dataset = folder.parent.parent.name, folder.name
        vault = DatasetVault(args.state_dir, department, dataset)
        tombstone = vault.tombstone()
        state = vault.state()
        if tombstone is not None:
            line = f"destroyed {_day(tombstone.destroyed_at)} ({tombstone.reason})"
        elif state is None:
            continue
        else:
            retention = _retention_of(dataset)
            if retention is None:
                line = f"held since {_day(state.held_since)}, no retention declared"
            else:
                due = state.due_at(retention)
                status = "DUE" if due <= now else "held"
                line = (
                    f"{status}: held since {_day(state.held_since)}, retention "
                    f"{retention} days, due {_day(due)}"
                )
        print(f"{department:<28} {dataset:<16} {line}")
        rows += 1
    if not rows:
        print(f"no department under {args.state_dir} holds a vault")
    return 0


def _retention_of(dataset: str) -> int | None:
    try:
        retention = get_dataset(dataset).retention
    except ConfigurationError:
        return None  # a dataset declared by a file the catalog does not know here
    return None if retention is None else retention.days


def _destroy(args: argparse.Namespace) -> int:
    spec = get_dataset(args.dataset)
    vault = DatasetVault(args.state_dir, args.department, spec.id, key_dir=args.key_dir)
    retention = spec.retention.days if spec.retention is not None else None
    reason = args.reason
    if args.due:
        state = vault.state()
        if retention is None:
            raise ConfigurationError(
                "--due", f"the declaration of {spec.id} states no retention period"
            )
        now = int(time.time())
        if state is None or state.due_at(retention) > now:
            held = (
                "never held"
                if state is None
                else f"due {_day(state.due_at(retention))}"
            )
            print(f"{args.department}'s records of {spec.id} are not due ({held})")
            return 1
        assert spec.retention is not None
        reason = reason or (
            f"retention period of {retention} days ended ({spec.retention.description})"
        )
    if not reason:
        raise ConfigurationError("--reason", "say why the records are destroyed")
    tombstone = vault.tombstone()
    if tombstone is not None and any(
        record.dataset == spec.id and record.details.get("key-id") == tombstone.key_id
        for record in department_log_records(args, b"dataset_destroyed")
    ):
        print(f"{args.department}'s records of {spec.id} were destroyed already")
        return 0
    # A tombstone without its record: a destruction whose recording failed.
    tombstone = tombstone or vault.destroy(reason=reason)
    commit_department_records(
        args,
        lambda actor: [
            destruction_record(
                actor=actor,
                department=args.department,
                dataset=spec.id,
                reason=tombstone.reason,
                key_id=tombstone.key_id,
                held_since=tombstone.held_since,
                destroyed_at=tombstone.destroyed_at,
                files=tombstone.files,
                retention_days=retention,
                timestamp_ms=now_ms(),
            )
        ],
    )
    print(
        f"{args.department}'s records of {spec.id} destroyed: data key "
        f"{tombstone.key_id} shredded, {len(tombstone.files)} sealed file(s) deleted; "
        "recorded in its audit log"
    )
    return 0
