"""The fault-injection suite as one table: what was broken, and what survived.

Run: ``python -m experiments.bench.faults [--case NAME ...] [--work DIR]``
(the deployment and chain cases need anvil: ``make anvil`` and
``FEDGOV_ANVIL``, as ``make bench`` sets it).

Each case of :mod:`experiments.faults` injects its faults into real parts
(processes killed with SIGKILL, a chain node stopped, a full file system)
and counts, from the files and processes the product left, what the
table prints: faults injected, jobs (or writes) completed, jobs failed with
a clear error, jobs failed otherwise, records lost, spends lost, and whether
the auditor's verdict is the correct one. Nothing is hard-coded: a case
that loses a record shows it here, and ``tests/faults/`` fails.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from experiments.faults import CASES, FaultOutcome

_COLUMNS = (
    "case",
    "faults",
    "completed",
    "failed clearly",
    "failed otherwise",
    "records lost",
    "spends lost",
    "verdict correct",
    "seconds",
)


def _verdict(outcome: FaultOutcome) -> str:
    correct = outcome.verdict_correct
    return "n/a" if correct is None else ("yes" if correct else "NO")


def _row(outcome: FaultOutcome, seconds: float) -> list[str]:
    return [
        outcome.case,
        str(outcome.faults),
        str(outcome.completed),
        str(outcome.failed_clearly),
        str(outcome.failed_unclearly),
        str(outcome.records_lost),
        str(outcome.spends_lost),
        _verdict(outcome),
        f"{seconds:.0f}",
    ]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench.faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--case", action="append", choices=sorted(CASES), help="only these cases"
    )
    parser.add_argument("--work", type=Path, help="keep the cases' files here")
    args = parser.parse_args(argv)
    names = args.case or list(CASES)
    results: list[tuple[FaultOutcome, float]] = []
    with tempfile.TemporaryDirectory(prefix="fedgov-faults-") as scratch:
        root = args.work or Path(scratch)
        for name in names:
            work = root / name
            work.mkdir(parents=True, exist_ok=False)
            started = time.monotonic()
            results.append((CASES[name](work), time.monotonic() - started))
    rows = [list(_COLUMNS)] + [_row(outcome, seconds) for outcome, seconds in results]
    totals = [
        "total",
        *(str(sum(int(row[i]) for row in rows[1:])) for i in range(1, 7)),
        f"{sum(o.verdict_correct is True for o, _ in results)}/"
        f"{sum(o.verdict_correct is not None for o, _ in results)}",
        f"{sum(s for _, s in results):.0f}",
    ]
    print(_table([*rows, totals]))
    broken = 0
    for outcome, _ in results:
        for error in outcome.errors:
            print(f"\n{outcome.case}: clear error: {error[:300]}")
        problems = outcome.problems()
        if problems:
            broken += 1
            print(f"\n{outcome.case}: DOES NOT HOLD ({outcome.must_hold}):")
            print("\n".join(f"  - {p}" for p in problems))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
