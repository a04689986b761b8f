"""Noise the two accountants ask for, and how long calibrating it takes.

Run: ``python -m experiments.bench.accounting [--epsilons 0.5 1 2] [--all]``.

For the demo's job (RandHIE, batch 64, 10 rounds) and Adult's tuned job
(batch 512, 40 rounds), each department's DP-SGD has its own Poisson rate
``q = 1 / steps per epoch`` and step count; the bench takes the smallest
and the largest department of each (``--all``: every one) and one analytics
answer (``q = 1``). For each target epsilon at the job's delta it prints, side
by side from one run, the noise multiplier that RDP and PLD calibrate, their
ratio, what RDP's noise really costs under PLD, and each calibration's wall
time (cold: the accountants' caches cleared first).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

from department_nodes.data_access import DepartmentDataAccess
from department_nodes.training import plan_local_training
from fedgov.job import Accountant, TrainJob
from fedgov.job_data import departments_for
from privacy.accounting import (
    GaussianSpend,
    calibrate_noise_multiplier,
    epsilon_spent,
)

__all__ = ["main"]

JOBS = {
    # fedgov demo's job (fedgov.commands.demo.run_demo), at its default 10 rounds.
    "demo (randhie)": TrainJob(dataset="randhie", batch_size=64, num_rounds=10),
    # configs/experiment/adult.yaml
    "adult": TrainJob(dataset="adult", batch_size=512, num_rounds=40),
}


@dataclass(frozen=True)
class Case:
    label: str
    sample_rate: float
    steps: int
    delta: float


def _cases(everyone: bool) -> list[Case]:
    cases: list[Case] = []
    for name, job in JOBS.items():
        plans = []
        for department in departments_for(job):
            plan = plan_local_training(
                num_examples=DepartmentDataAccess(job, department).num_train_examples(),
                batch_size=job.batch_size,
                local_epochs=job.local_epochs,
                num_rounds=job.num_rounds,
                epsilon=None,
                delta=job.delta,
            )
            plans.append((department, plan))
        plans.sort(key=lambda item: item[1].num_examples)
        chosen = plans if everyone else [plans[0], plans[-1]]
        for department, plan in chosen:
            cases.append(
                Case(
                    f"{name} {department} (n={plan.num_examples})",
                    plan.sample_rate,
                    plan.steps_per_round * job.num_rounds,
                    job.delta,
                )
            )
    cases.append(Case("one analytics answer", 1.0, 1, 1e-5))
    return cases


def _calibrate(
    case: Case, epsilon: float, accountant: Accountant
) -> tuple[float, float]:
    calibrate_noise_multiplier.cache_clear()
    started = time.perf_counter()
    noise = calibrate_noise_multiplier(
        epsilon=epsilon,
        delta=case.delta,
        sample_rate=case.sample_rate,
        steps=case.steps,
        accountant=accountant,
    )
    return noise, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument(
        "--all", action="store_true", help="every department, not the extremes"
    )
    args = parser.parse_args(argv)
    header = (
        f"{'case':<44} {'q':>7} {'steps':>6} {'eps':>5} {'sigma RDP':>10} "
        f"{'sigma PLD':>10} {'PLD/RDP':>8} {'RDP noise, PLD eps':>19} "
        f"{'t RDP s':>8} {'t PLD s':>8}"
    )
    print(header)
    print("-" * len(header))
    ratios: list[float] = []
    for case in _cases(args.all):
        for epsilon in args.epsilons:
            rdp, t_rdp = _calibrate(case, epsilon, Accountant.RDP)
            pld, t_pld = _calibrate(case, epsilon, Accountant.PLD)
            spend = GaussianSpend(rdp, case.sample_rate, case.steps)
            actual = epsilon_spent([spend], delta=case.delta, accountant=Accountant.PLD)
            ratios.append(pld / rdp)
            print(
                f"{case.label:<44} {case.sample_rate:>7.4f} {case.steps:>6} "
                f"{epsilon:>5g} {rdp:>10.4f} {pld:>10.4f} {pld / rdp:>8.3f} "
                f"{actual:>19.3f} {t_rdp:>8.2f} {t_pld:>8.2f}"
            )
    print(
        f"\nPLD needs {min(ratios):.3f}-{max(ratios):.3f} x the noise RDP needs "
        "for the same (epsilon, delta)."
    )


if __name__ == "__main__":
    main()
