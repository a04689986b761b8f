"""Latency and accuracy of federated DP analytics over the six RandHIE departments.

Run ``python -m experiments.bench.analytics``. It prints, side by side:

* **latency** of one grouped histogram (``mdvis`` in 6 bins by ``female``)
  end to end in the simulation engine (Ray start-up and all), the query
  round inside it, and one department's own work (plan, ledger charge, load,
  exact answer, noise) measured directly;
* **accuracy** of the DP answers at epsilon 0.1 and 1 against the exact
  answer: the mechanism is run offline, 100 times, on the real exact
  per-department answers (the coordinator's sum of six noisy vectors, as
  :func:`coordinator.analytics.run_query` computes it), reporting the
  relative error of the total count and of the histogram cells, with one
  record per person-year (``rows_per_person=5``) and with one per person.

Department ledgers live in a temporary directory; nothing real is spent.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from flwr.app import RecordDict

from coordinator.analytics import run_simulated_query
from department_nodes.analytics import department_records, local_answer
from department_nodes.node import DepartmentNode, NodePolicy
from fedgov.data import department_ids
from fedgov.job import TrainJob
from privacy.mechanisms import Query, exact_answer, plan_answer, release_gaussian

REPETITIONS = 100
EPSILONS = (0.1, 1.0)
DELTA = 1e-5


def _histogram(epsilon: float, rows_per_person: int | None = None) -> Query:
    return Query(
        kind="histogram",
        dataset="randhie",
        column="mdvis",
        bins=(0, 1, 2, 5, 10, 20, 80),
        group_by="female",
        rows_per_person=rows_per_person,
        epsilon=epsilon,
        delta=DELTA,
    )


def _latency(state_dir: Path) -> None:
    query = _histogram(0.5)
    start = time.perf_counter()
    result = run_simulated_query(query, state_dir=state_dir / "simulation")
    total = time.perf_counter() - start
    departments = [str(d) for d in department_ids("randhie")]
    job = TrainJob(state_dir=str(state_dir / "direct"), job_id="bench")
    timings = []
    for department in departments:
        policy = NodePolicy(department=department, state_dir=state_dir / "direct")
        node = DepartmentNode(job, policy, RecordDict())
        began = time.perf_counter()
        local_answer(replace(query, query_id=f"bench-{department}"), node)
        timings.append(time.perf_counter() - began)
    print("latency: grouped histogram (2 groups x 6 bins), 6 departments")
    print(f"  {len(result.answered)} of {len(departments)} departments answered")
    print(
        f"  end to end in the simulation engine (Ray start-up included) {total:8.2f} s"
    )
    print(
        f"  the query round (send, answer, combine)                  {result.elapsed_s:8.2f} s"
    )
    print(
        f"  one department's own work, median of 6 (charge, load, noise) "
        f"{np.median(timings) * 1e3:8.1f} ms"
    )
    print(
        f"  ratio end to end / department work                       "
        f"{total / np.median(timings):8.0f} x"
    )


def _relative_errors(query: Query, exact_parts: list[np.ndarray]) -> np.ndarray:
    plan = plan_answer(query)
    exact = np.sum(exact_parts, axis=0)
    errors = []
    for _ in range(REPETITIONS):
        noisy = np.sum([release_gaussian(plan, part) for part in exact_parts], axis=0)
        errors.append(np.abs(noisy - exact) / np.maximum(exact, 1.0))
    return np.asarray(errors)


def _accuracy() -> None:
    departments = [str(d) for d in department_ids("randhie")]
    records = [department_records("randhie", d, seed=0) for d in departments]
    print(f"\naccuracy: relative error |noisy - exact| / exact over {REPETITIONS} runs")
    print(
        f"  {'epsilon':>7} {'rows/person':>11} {'sigma/dept':>10} "
        f"{'total count':>12} {'cells: median':>14} {'cells: p90':>10} "
        f"{'smallest cell':>14}"
    )
    for epsilon in EPSILONS:
        for rows in (5, 1):
            query = _histogram(epsilon, rows_per_person=rows)
            parts = [exact_answer(query, r) for r in records]
            exact = np.sum(parts, axis=0)
            cells = _relative_errors(query, parts)
            count = Query(
                kind="count",
                dataset="randhie",
                rows_per_person=rows,
                epsilon=epsilon,
                delta=DELTA,
            )
            totals = _relative_errors(count, [exact_answer(count, r) for r in records])
            smallest = int(np.argmin(exact))
            print(
                f"  {epsilon:>7g} {rows:>11d} {plan_answer(query).noise_std[0]:>10.1f} "
                f"{np.mean(totals):>11.3%} {np.median(cells):>14.3%} "
                f"{np.quantile(cells, 0.9):>10.3%} "
                f"{np.mean(cells[:, smallest]):>8.1%} (n={int(exact[smallest])})"
            )


def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="fedgov-bench-analytics-") as folder:
        _latency(Path(folder))
    _accuracy()


if __name__ == "__main__":
    main()
