"""``fedgov data``: a data officer checks her department's table, or drafts a declaration.

``fedgov data check --dataset FILE_OR_NAME --source SRC`` checks the table
against the declaration in the database and prints the report: counts and
row numbers, never a SENSITIVE or CORE value; nothing leaves the machine.
Exit code 0: valid; 1: the table breaks the declaration (or cannot be read).

``fedgov data draft SRC [--name NAME] [--output FILE]`` writes a declaration
draft from the table's column names and types for a person to complete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fedgov.data.catalog import get_dataset
from fedgov.data.checking import check_source
from fedgov.data.drafting import draft_declaration
from fedgov.data.sources import Source
from fedgov.errors import ConfigurationError

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
