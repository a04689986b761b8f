"""``fedgov demo``: the product end to end on embedded defaults.

Six RandHIE study sites act as six county health bureaus. They train one
model with DP-SGD through Flower's simulation engine, each under its own
durable privacy budget; the demo compares the result with a centralized
non-private model trained on the pooled records (which the product itself
never pools), and prints epsilon per department.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.guard import RoundReport
from coordinator.run_record import RunRecord
from coordinator.simulation import SimulationEngine
from experiments.baselines import BaselineResult, centralized_baseline
from fedgov.job import TrainJob

__all__ = ["DemoResult", "configure", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced, for the caller (and the tests) to check."""

    output: Path
    baseline: BaselineResult
    record: RunRecord
    extras: dict[str, object] = field(default_factory=dict)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _quiet_flower() -> None:
    # Flower logs every strategy step at INFO; the demo prints its own table.
    for name in ("flwr", "ray", "opacus", "datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _progress(total: int, started: float) -> object:
    def show(report: RoundReport) -> None:
        evaluation = report.aggregated_evaluate
        trained = sum(o.status == "trained" for o in report.train)
        print(
            f"  round {report.server_round:>2}/{total}: accuracy "
            f"{_fmt(evaluation.get('eval-accuracy'))}, AUC {_fmt(evaluation.get('eval-auc'))}, "
            f"{trained}/{len(report.train)} departments trained, "
            f"{report.round_seconds:.1f} s (elapsed {time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    return show


def _print_tables(record: RunRecord, baseline: BaselineResult) -> None:
    print(
        "\nAccuracy per round (federated evaluation on every department's held-out split)"
    )
    print(f"  {'round':>5}  {'accuracy':>8}  {'AUC':>6}  {'loss':>6}")
    for row in record.rounds:
        ev = row["aggregated_evaluate"]
        print(
            f"  {row['server_round']:>5}  {_fmt(ev.get('eval-accuracy')):>8}  "
            f"{_fmt(ev.get('eval-auc')):>6}  {_fmt(ev.get('eval-loss')):>6}"
        )
    last = record.rounds[-1]["aggregated_evaluate"] if record.rounds else {}
    print(
        f"  {'base':>5}  {_fmt(baseline.held_out.accuracy):>8}  {_fmt(baseline.held_out.auc):>6}  "
        f"{_fmt(baseline.held_out.loss):>6}   <- {baseline.name}, pooled records, same split"
    )
    print("\nPrivacy per department (epsilon at delta = job delta; RDP accountant)")
    print(
        f"  {'department':<16} {'records':>7} {'rounds':>6} {'eps job':>8} "
        f"{'eps total':>9} {'limit':>6} {'accuracy':>8} {'AUC':>6}"
    )
    for dept in record.departments:
        print(
            f"  {dept.department:<16} {dept.num_examples:>7} {dept.rounds_trained:>6} "
            f"{dept.epsilon_job:>8.3f} {dept.epsilon_total:>9.3f} {dept.epsilon_limit:>6.1f} "
            f"{_fmt(dept.final_accuracy):>8} {_fmt(dept.final_auc):>6}"
        )
    gap = (last.get("eval-auc") or float("nan")) - (
        baseline.held_out.auc or float("nan")
    )
    print(
        f"\nFederated DP model: accuracy {_fmt(last.get('eval-accuracy'))}, AUC "
        f"{_fmt(last.get('eval-auc'))}; centralized non-private: accuracy "
        f"{_fmt(baseline.held_out.accuracy)}, AUC {_fmt(baseline.held_out.auc)} "
        f"(AUC difference {gap:+.4f})."
    )


def run_demo(
    *, output: Path, rounds: int = 10, epsilon: float = 1.0, budget_epsilon: float = 8.0
) -> DemoResult:
    """Run the demo into ``output`` (run record, checkpoint, department state)."""
    _quiet_flower()
    started = time.perf_counter()
    job = TrainJob(
        job_id=f"demo-{time.strftime('%Y%m%d-%H%M%S')}",
        dataset="randhie",
        num_rounds=rounds,
        epsilon=epsilon,
        budget_epsilon=budget_epsilon,
        run_dir=str(output / "run"),
        state_dir=str(output / "state"),
    )
    print("fedgov demo: 6 RandHIE study sites = 6 county health bureaus")
    print(
        f"task: predict whether a resident visits a doctor in a year (any_visit); "
        f"DP-SGD at epsilon {epsilon} per department for the whole job, delta {job.delta}\n"
    )
    print(
        "[1/2] centralized non-private baseline on the pooled records (same split) ..."
    )
    baseline = centralized_baseline(job, private=False)
    print(
        f"  accuracy {_fmt(baseline.held_out.accuracy)}, AUC {_fmt(baseline.held_out.auc)} "
        f"({time.perf_counter() - started:.0f} s)\n"
    )
    print(
        f"[2/2] federated training: Flower simulation engine, {rounds} rounds, "
        f"strategy {job.strategy}, model {job.model} ..."
    )
    record = SimulationEngine().run(job, on_round=_progress(rounds, started))  # type: ignore[arg-type]
    _print_tables(record, baseline)
    print(f"\nrun record: {output / 'run' / 'run_record.json'}")
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return DemoResult(output=output, baseline=baseline, record=record)


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov demo [--rounds N] [--epsilon E] [--output DIR]``."""
    parser.add_argument("--rounds", type=int, default=10, help="federated rounds (10)")
    parser.add_argument(
        "--epsilon", type=float, default=1.0, help="epsilon per department"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for the run (runs/demo-<time>)",
    )

    def run(args: argparse.Namespace) -> int:
        output = args.output or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
        run_demo(output=output, rounds=args.rounds, epsilon=args.epsilon)
        return 0

    parser.set_defaults(func=run)
