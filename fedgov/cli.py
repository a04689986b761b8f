"""The ``fedgov`` command line.

Each command lives in the package that owns it and is imported only when it
is chosen, so ``fedgov vote check`` never pays for importing torch or Flower.
A command module exposes ``configure(parser)``, which adds its arguments and
sets ``parser.set_defaults(func=...)``; ``func(args) -> int`` is the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from fedgov.errors import FedgovError

__all__ = ["COMMANDS", "main"]


class _CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...


# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("fedgov.commands.init", "create the county installation (once)"),
    "county": ("fedgov.commands.county", "show the county, enrol a department"),
    "demo": ("fedgov.commands.demo", "run the end-to-end demo on embedded defaults"),
    "train": (
        "fedgov.commands.train",
        "run a federated DP training job (Hydra overrides)",
    ),
    "deploy": (
        "fedgov.commands.deploy",
        "start a real SuperLink and one SuperNode per department, run a job, stop",
    ),
    "federation": (
        "fedgov.commands.federation",
        "a standing local federation that query and train submit to: up, down, status",
    ),
    "budget": (
        "fedgov.commands.budget",
        "show or manage departments' privacy budgets",
    ),
    "access": (
        "fedgov.commands.access",
        "analysts' role, data-use agreements: who may ask what",
    ),
    "release": ("fedgov.commands.release", "make or trace fingerprinted extracts"),
    "data": (
        "fedgov.commands.data",
        "check a department's table, draft a dataset declaration",
    ),
    "query": ("fedgov.commands.query", "ask a federated DP analytics query"),
    "ledger": ("ledger.cli", "operate the audit log service and ledger contracts"),
    "audit": ("auditor.cli", "verify audit logs against on-chain anchors"),
    "vote": (
        "ledger.voting.cli",
        "community consultations: registrar, resident, auditor",
    ),
    "portal": ("fedgov.portal.cli", "serve the county portal (residents, auditors)"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedgov",
        description="Privacy-preserving federated analytics for county governments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("command", choices=sorted(COMMANDS), help="see below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


_PACKAGES = (
    "fedgov",
    "coordinator",
    "department_nodes",
    "privacy",
    "ledger",
    "auditor",
    "experiments",
)


def _one_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    return f"{category.__name__}: {message}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fedgov`` with ``argv`` (default: the process arguments)."""
    top_args = _top_parser().parse_args(sys.argv[1:] if argv is None else argv)
    # fedgov's own packages speak at INFO; libraries (Flower's database
    # migrations, Ray, ...) only from WARNING on, unless --verbose.
    logging.basicConfig(
        level=logging.DEBUG if top_args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not top_args.verbose:
        for package in _PACKAGES:
            logging.getLogger(package).setLevel(logging.INFO)
    # Warnings go through logging, one line each (fedgov's own are said once
    # per command, fedgov.notices); --verbose adds where each was raised.
    logging.captureWarnings(True)
    if not top_args.verbose:
        warnings.formatwarning = _one_line
    module_name, text = COMMANDS[top_args.command]
    module = cast(_CommandModule, importlib.import_module(module_name))
    parser = argparse.ArgumentParser(
        prog=f"fedgov {top_args.command}", description=text
    )
    module.configure(parser)
    sub_args = parser.parse_args(top_args.args)
    func = cast(
        Callable[[argparse.Namespace], int] | None, getattr(sub_args, "func", None)
    )
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(sub_args)
    except FedgovError as exc:
        print(f"fedgov {top_args.command}: error: {exc}", file=sys.stderr)
        return 1
