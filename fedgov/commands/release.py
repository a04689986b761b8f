"""``fedgov release``: fingerprinted record-level extracts for named recipients.

``fedgov release make EXTRACT.csv ...`` checks an extract the department's
steward prepared, fingerprints it for one recipient, seals a record of who
received it into the department's state folder and a ``record_release``
record into the department's audit log, then writes the file;
``fedgov release trace LEAKED.csv ...`` names the recipient of a leaked copy
and the probability that the attribution is false; ``fedgov release list``
shows the records. See ``docs/data-protection.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from fedgov.commands._department import add_chain_arguments, commit_department_records
from fedgov.data import get_dataset
from fedgov.errors import ConfigurationError
from ledger.access_records import release_record
from ledger.records import now_ms
from privacy.tracing import (
    DEFAULT_ALPHA,
    Candidate,
    ReleaseRegistry,
    TraceReport,
    make_release,
    read_leaked,
    trace_leak,
)
from privacy.vault import DatasetVault
from privacy.watermark import DEFAULT_KEY_WIDTH, DEFAULT_MARK_FRACTION

__all__ = ["configure"]

_KEY_HELP = (
    "the department's watermark key source: auto (a 0600 key file in its state "
    "folder), file:PATH, env:VAR or passphrase-env:VAR:SALT_HEX"
)


def _step(text: str) -> tuple[str, str]:
    column, sep, step = text.partition("=")
    if not (sep and column and step):
        raise argparse.ArgumentTypeError(f"expected COLUMN=STEP, got {text!r}")
    return column, step


def _read_extract(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except OSError as e:
        raise ConfigurationError("EXTRACT", f"{path}: {e.strerror}") from e
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ConfigurationError(
            "EXTRACT", f"{path} is not a readable CSV table ({e})"
        ) from e
    if frame.empty:
        raise ConfigurationError("EXTRACT", f"{path} holds no rows")
    # Errors name rows as a spreadsheet shows them: the header is line 1.
    frame.index = pd.Index([f"{path.name}:{i + 2}" for i in range(len(frame))])
    return frame


def _write_new(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise ConfigurationError(
            "--out", f"{path} exists; a release file is never overwritten"
        ) from e
    except OSError as e:
        raise ConfigurationError("--out", f"{path}: {e.strerror}") from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _make(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise ConfigurationError(
            "--out", f"{out} exists; a release file is never overwritten"
        )
    extract_path = Path(args.extract)
    DatasetVault(
        args.state_dir, args.department, get_dataset(args.dataset).id
    ).check_readable()
    release = make_release(
        _read_extract(extract_path),
        registry=ReleaseRegistry(args.state_dir, args.department, key=args.key),
        dataset=args.dataset,
        recipient=args.recipient,
        carriers=args.mark,
        steps=dict(args.step),
        fraction=args.fraction,
        key_width=args.key_width,
        k=args.k,
        name=extract_path.name,
    )
    record = release.record
    marks = record.marks
    # In the department's audit log before the file exists to be handed over.
    commit_department_records(
        args,
        lambda actor: [
            release_record(
                actor=actor,
                department=record.department,
                dataset=record.dataset,
                purpose=args.purpose,
                release=record.release,
                recipient=record.recipient,
                rows=record.rows,
                columns=record.layout.columns,
                carriers=record.layout.carriers,
                marked=marks.changed,
                file_sha256=bytes.fromhex(record.digest),
                timestamp_ms=now_ms(),
            )
        ],
    )
    _write_new(out, release.data)
    carriers = ", ".join(
        f"{c} (step {record.layout.step(c)})" for c in record.layout.carriers
    )
    print(
        f"release {record.release} of {record.department} for {record.recipient}: "
        f"{record.rows} rows, {len(record.layout.columns)} columns, k >= {record.k}\n"
        f"  marks in {carriers}: {marks.selected} of {marks.cells} carrier cells carry "
        f"a bit, {marks.changed} moved by one step "
        f"({marks.changed / max(marks.cells, 1):.1%})\n"
        f"  written to {out} (sha256 {record.digest[:16]}...); "
        f"recorded in {args.state_dir}/departments/{record.department}/releases/ "
        "and in its audit log"
    )
    return 0


def _departments(state_dir: Path, chosen: list[str] | None) -> list[str]:
    if chosen:
        return chosen
    root = state_dir / "departments"
    found = sorted({p.parent.parent.name for p in root.glob("*/releases/*.release")})
    if not found:
        raise ConfigurationError("--state-dir", f"no release records under {root}")
    return found


def _registries(args: argparse.Namespace) -> list[ReleaseRegistry]:
    departments = _departments(Path(args.state_dir), args.department)
    if args.key != "auto" and len(departments) != 1:
        raise ConfigurationError(
            "--key",
            "a key source other than auto is one department's: name that "
            "department with --department",
        )
    return [ReleaseRegistry(args.state_dir, d, key=args.key) for d in departments]


def _p(log10: float) -> str:
    if log10 > -4:
        return f"{10**log10:.4f}"
    exponent = math.floor(log10)
    return f"{10 ** (log10 - exponent):.1f}e{exponent}"


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    record, evidence = candidate.record, candidate.evidence
    return {
        "release": record.release,
        "department": record.department,
        "recipient": record.recipient,
        "dataset": record.dataset,
        "created": record.created,
        "positions": evidence.positions,
        "matches": evidence.matches,
        "log10_p": evidence.log10_p,
        "log10_false_attribution": candidate.log10_adjusted,
    }


def _print_trace(report: TraceReport, show: int) -> None:
    tested = len(report.candidates)
    print(
        f"leaked copy: {report.rows} rows, {len(report.columns)} columns; "
        f"{tested} release(s) tested, false-attribution level {report.alpha:g} "
        "(Bonferroni over all of them)"
    )
    for release in report.exact:
        print(f"byte-identical to release {release}")
    named = report.named
    if not named:
        best = report.candidates[0]
        print(
            f"no recipient: no release's marks are significant (best: "
            f"{best.record.recipient}, {best.evidence.matches} of "
            f"{best.evidence.positions} positions match, p = {_p(best.evidence.log10_p)})"
        )
    elif len(named) > 1:
        print(f"carries the marks of {len(named)} releases: a mix of their copies")
    for candidate in named:
        record, evidence = candidate.record, candidate.evidence
        print(
            f"recipient: {record.recipient} (release {record.release} of "
            f"{record.department}, {record.created}): {evidence.matches} of "
            f"{evidence.positions} marked positions match; false-attribution "
            f"probability <= {_p(candidate.log10_adjusted)}"
        )
    print(
        f"\n{'release':<17} {'department':<28} {'recipient':<24} "
        f"{'positions':>9} {'matches':>8} {'p':>10}"
    )
    for candidate in report.candidates[:show]:
        record, evidence = candidate.record, candidate.evidence
        print(
            f"{record.release:<17} {record.department:<28} {record.recipient:<24} "
            f"{evidence.positions:>9} {evidence.matches:>8} {_p(evidence.log10_p):>10}"
        )


def _trace(args: argparse.Namespace) -> int:
    leaked, digest = read_leaked(args.leaked)
    report = trace_leak(leaked, _registries(args), alpha=args.alpha, digest=digest)
    if args.json:
        print(
            json.dumps(
                {
                    "rows": report.rows,
                    "columns": list(report.columns),
                    "alpha": report.alpha,
                    "tested": len(report.candidates),
                    "exact": list(report.exact),
                    "named": [_candidate_json(c) for c in report.named],
                    "candidates": [_candidate_json(c) for c in report.candidates],
                },
                indent=2,
            )
        )
    else:
        _print_trace(report, args.show)
    return 0


def _list(args: argparse.Namespace) -> int:
    records = [r for registry in _registries(args) for r in registry.records()]
    records.sort(key=lambda r: (r.created, r.release))
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return 0
    print(
        f"{'release':<17} {'created':<25} {'department':<28} {'recipient':<24} "
        f"{'rows':>6}  columns (carriers*)"
    )
    for r in records:
        columns = ",".join(
            f"{c}*" if c in r.layout.carriers else c for c in r.layout.columns
        )
        print(
            f"{r.release:<17} {r.created:<25} {r.department:<28} {r.recipient:<24} "
            f"{r.rows:>6}  {columns}"
        )
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``make``, ``trace`` and ``list`` to ``fedgov release``."""
    sub = parser.add_subparsers(dest="action", required=True)
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir", required=True, help="the departments' state folder"
    )
    state.add_argument("--key", default="auto", help=_KEY_HELP)

    make = sub.add_parser(
        "make",
        parents=[state],
        help="fingerprint a k-anonymous extract for one recipient and record it",
    )
    make.add_argument("extract", help="the steward's extract: CSV of declared columns")
    make.add_argument(
        "--dataset", required=True, help="the catalog dataset it comes from"
    )
    make.add_argument("--department", required=True, help="the releasing department")
    make.add_argument("--recipient", required=True, help="who receives this copy")
    make.add_argument("--out", required=True, help="the file to hand over (new)")
    make.add_argument(
        "--mark",
        action="append",
        required=True,
        metavar="COLUMN",
        help="a numeric, non-quasi-identifier column to carry marks (repeat)",
    )
    make.add_argument(
        "--step",
        action="append",
        type=_step,
        default=[],
        metavar="COLUMN=STEP",
        help="published precision of a column (needed for every float column; "
        "integers default to 1); a mark moves a carrier by one step",
    )
    make.add_argument(
        "--fraction",
        type=float,
        default=DEFAULT_MARK_FRACTION,
        help=f"share of carrier positions marked (default {DEFAULT_MARK_FRACTION})",
    )
    make.add_argument(
        "--key-width",
        type=int,
        default=DEFAULT_KEY_WIDTH,
        help="attributes keying each row's marks (default "
        f"{DEFAULT_KEY_WIDTH}; more: fewer shared positions, less robust to "
        "dropped columns)",
    )
    make.add_argument("--k", type=int, default=5, help="k-anonymity (default 5)")
    make.add_argument(
        "--purpose",
        default="record-level release",
        help="what the recipient may use it for (recorded in the audit log)",
    )
    add_chain_arguments(make, registry=True, roles=False)
    make.set_defaults(func=_make)

    trace = sub.add_parser(
        "trace", parents=[state], help="name the recipient of a leaked copy"
    )
    trace.add_argument("leaked", help="the leaked file (CSV)")
    trace.add_argument(
        "--department",
        action="append",
        help="test this department's releases (repeat; default: every department)",
    )
    trace.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"largest accepted false-attribution probability (default {DEFAULT_ALPHA:g})",
    )
    trace.add_argument(
        "--show", type=int, default=5, help="releases listed (default 5)"
    )
    trace.add_argument("--json", action="store_true", help="machine-readable output")
    trace.set_defaults(func=_trace)

    listing = sub.add_parser("list", parents=[state], help="who received which release")
    listing.add_argument("--department", action="append", help="repeat for several")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_list)
