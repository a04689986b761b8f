"""``python -m experiments.report``: run the sweeps, build the tables, draw, write.

The whole report in one command (``make report``):

1. every sweep of the profile runs as a Hydra multirun of
   :mod:`experiments.sweep` (points already on disk are reused; ``--workers``
   multiruns at a time, each in its own process);
2. the points are folded into tidy CSV tables (:mod:`experiments.results`);
3. figures (PNG) and ``report.md`` are written next to them.

Profiles: ``full`` is the committed report (``reports/``); ``tiny`` is the
same pipeline on two rounds, one seed and RandHIE alone (personalisation
included), for CI. Points a
completed run of the profile did not use are pruned from ``data/runs``, so
the committed data is exactly what the report shows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from experiments._report_figures import draw_figures
from experiments._report_text import ReportContext, render_report
from experiments.results import load_results, tidy_tables
from fedgov.errors import ConfigurationError, FedgovError

__all__ = ["PROFILES", "ReportError", "SweepCall", "build_report", "configure", "main"]

logger = logging.getLogger(__name__)


class ReportError(FedgovError):
    """A sweep of the report failed; its log names the point."""


@dataclass(frozen=True)
class SweepCall:
    """One Hydra multirun: ``+sweep=<sweep>`` with extra overrides."""

    sweep: str
    overrides: tuple[str, ...] = ()

    def argv(self, data: Path, force: bool) -> list[str]:
        return [
            "-m",
            f"+sweep={self.sweep}",
            f"output={data}",
            *(["force=true"] if force else []),
            *self.overrides,
        ]

    @property
    def name(self) -> str:
        return "-".join([self.sweep, *(o.replace("=", "_") for o in self.overrides)])


def _adult(sweep: str, *overrides: str) -> SweepCall:
    return SweepCall(sweep, ("experiment=adult", *overrides))


def _randhie(sweep: str) -> SweepCall:
    return SweepCall(sweep, ("experiment=randhie",))


# One multirun per dataset and sweep, so that workers share the long ones.
# The targets' sweeps first (an interrupted run has them), Adult's 40-round
# sweeps before RandHIE's. Adult's server-optimizer protocol is over a third
# of all the work: as one multirun it ran alone on one worker for the last
# 15 minutes, so it runs as two, one per epsilon, that both workers share.
# What the report needs to answer its targets, in
# under 30 minutes on 2 quiet cores: the aggregation, label-skew,
# department-count, SecAgg+ and learning-rate sweeps (configs/sweep/) run on
# their own, into the same data folder, and the report shows them when their
# points are there.
PROFILES: dict[str, tuple[SweepCall, ...]] = {
    "full": (
        _adult("epsilon"),
        _adult("personalise"),
        _adult("baselines"),
        _randhie("epsilon"),
        _randhie("personalise"),
        _randhie("baselines"),
        _adult("server_tuning", "privacy.epsilon=0.5"),
        _adult("server_tuning", "privacy.epsilon=1"),
        _randhie("server_tuning"),
        SweepCall("engines"),
    ),
    "tiny": (
        SweepCall(
            "epsilon",
            ("experiment=randhie", "seed=0", "num_rounds=2", "privacy.epsilon=1,null"),
        ),
        SweepCall(
            "baselines",
            (
                "experiment=randhie",
                "seed=0",
                "num_rounds=2",
                "privacy.epsilon=1",
            ),
        ),
        SweepCall(
            "personalise",
            (
                "experiment=randhie",
                "seed=0",
                "num_rounds=2",
                "privacy.epsilon=1",
                "personalise_epochs=1",
            ),
        ),
    ),
}
# Where each profile writes unless told otherwise; tiny never touches reports/.
DEFAULT_OUTPUT = {"full": Path("reports"), "tiny": Path("runs/report-tiny")}


def _run_in_process(call: SweepCall, data: Path, force: bool) -> None:
    from experiments import sweep

    saved = sys.argv
    sys.argv = [saved[0], *call.argv(data, force)]
    try:
        sweep.main()
    finally:
        sys.argv = saved


def _run_subprocess(call: SweepCall, data: Path, force: bool, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{call.name}.log"
    command = [sys.executable, "-m", "experiments.sweep", *call.argv(data, force)]
    logger.info("sweep %s: started (log %s)", call.name, log)
    with log.open("w", encoding="utf-8") as handle:
        status = subprocess.run(
            command, stdout=handle, stderr=subprocess.STDOUT, check=False
        )
    if status.returncode != 0:
        raise ReportError(
            f"sweep {call.name} failed (exit {status.returncode}); see {log}"
        )
    logger.info("sweep %s: done", call.name)


def run_sweeps(
    calls: Sequence[SweepCall], data: Path, *, workers: int, force: bool
) -> None:
    """Run ``calls``: in this process one after another, or ``workers`` at a time."""
    if workers < 1:
        raise ConfigurationError("workers", f"must be >= 1, got {workers}")
    if workers == 1:
        for call in calls:
            _run_in_process(call, data, force)
        return
    logs = Path("runs") / "report-logs"
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_subprocess, c, data, force, logs) for c in calls]
        for future in futures:
            future.result()


def _prune(data: Path, since: float) -> list[Path]:
    # A point is touched (written or reused) by every run that uses it.
    stale = [p for p in (data / "runs").glob("*.json.gz") if p.stat().st_mtime < since]
    for path in stale:
        logger.info("pruned %s: not part of this report", path.name)
        path.unlink()
    return stale


_TIMING = "timing.json"


def _write_timing(data: Path, profile: str, workers: int, started: float) -> None:
    # Kept with the data, so that a report rebuilt from stored points still
    # says how long computing them took, and with which code.
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    timing = {
        "profile": profile,
        "commit": commit or None,
        "workers": workers,
        "cpus": os.cpu_count() or 1,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
    }
    (data / _TIMING).write_text(json.dumps(timing, indent=2) + "\n", encoding="utf-8")


def build_report(output: Path, *, profile: str, command: str) -> Path:
    """Tables, figures and ``report.md`` from the points under ``output/data``."""
    data = output / "data"
    timing_file = data / _TIMING
    timing = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    tables = tidy_tables(load_results(data))
    data.mkdir(parents=True, exist_ok=True)
    tables.runs.to_csv(data / "runs.csv", index=False, float_format="%.6g")
    # Twenty thousand rows for the full profile: gzipped (pandas reads it as is).
    tables.rounds.to_csv(
        data / "rounds.csv.gz",
        index=False,
        float_format="%.6g",
        compression={"method": "gzip", "mtime": 0},
    )
    tables.departments.to_csv(
        data / "departments.csv", index=False, float_format="%.6g"
    )
    figures = draw_figures(tables, output)
    context = ReportContext(
        profile=profile,
        command=command,
        seconds=timing.get("seconds"),
        cpus=int(timing.get("cpus", os.cpu_count() or 1)),
        figures=figures,
    )
    report = output / "report.md"
    report.write_text(render_report(tables, context), encoding="utf-8")
    return report


def configure(parser: argparse.ArgumentParser) -> None:
    """``python -m experiments.report [--profile full|tiny] [--output DIR] ...``."""
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="reports/ (full), runs/report-tiny (tiny)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="multiruns at a time (1: in this process)",
    )
    parser.add_argument("--force", action="store_true", help="recompute stored points")
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="rebuild tables, figures and report.md from the stored points",
    )

    def run(args: argparse.Namespace) -> int:
        output: Path = args.output or DEFAULT_OUTPUT[args.profile]
        command = (
            "make report"
            if args.profile == "full"
            else (f"python -m experiments.report --profile {args.profile}")
        )
        if not args.tables_only:
            started = time.time()
            data = (output / "data").resolve()
            run_sweeps(
                PROFILES[args.profile], data, workers=args.workers, force=args.force
            )
            _prune(data, started)
            _write_timing(data, args.profile, args.workers, started)
        report = build_report(output, profile=args.profile, command=command)
        print(f"report written to {report}")
        return 0

    parser.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    parser = argparse.ArgumentParser(
        prog="python -m experiments.report", description=__doc__
    )
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FedgovError as exc:
        print(f"experiments.report: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
