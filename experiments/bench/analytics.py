"""Latency and accuracy of federated DP analytics over the six RandHIE departments.

Run ``python -m experiments.bench.analytics``. It prints, side by side:

* **latency** of a grouped histogram (``mdvis`` in 6 bins by ``female``) in
  the simulation engine: the whole run, the first query round (which starts
  the simulated departments) and a second one, against one department's own
  work (plan, ledger charge, load, exact answer, noise) measured directly;
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
from flwr.app import Context, RecordDict
from flwr.serverapp import Grid, ServerApp

from coordinator.analytics import QueryResult, run_query
from department_nodes.analytics import department_records, local_answer
from department_nodes.client_app import make_client_app
from department_nodes.node import DepartmentNode, NodePolicy
from fedgov.data import department_ids
from fedgov.engines.simulation import simulate
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
    # Two queries in one simulation run: the first pays for starting the
    # simulated departments (Ray actors importing the ClientApp), the second
    # is what a query costs once the federation is up.
    queries = [replace(_histogram(0.5), query_id=f"bench-{i}") for i in (1, 2)]
    results: list[QueryResult] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        results.extend(run_query(grid, query) for query in queries)

    job = TrainJob(state_dir=str(state_dir / "simulation"), job_id="bench")
    departments = [str(d) for d in department_ids("randhie")]
    start = time.perf_counter()
    simulate(server_app, make_client_app(job=job), num_supernodes=len(departments))
    total = time.perf_counter() - start
    timings = []
    for department in departments:
        policy = NodePolicy(department=department, state_dir=state_dir / "direct")
        node = DepartmentNode(job, policy, RecordDict())
        began = time.perf_counter()
        local_answer(replace(queries[0], query_id=f"direct-{department}"), node)
        timings.append(time.perf_counter() - began)
    work = float(np.median(timings))
    cold, warm = (r.elapsed_s for r in results)
    print("latency: grouped histogram (2 groups x 6 bins), 6 departments, simulation")
    print(f"  departments answering: {[len(r.answered) for r in results]}")
    print(f"  whole simulation run, 2 queries (Ray start-up included) {total:8.2f} s")
    print(f"  first query round (departments start up)              {cold:8.2f} s")
    print(f"  second query round (send, answer, combine)            {warm:8.2f} s")
    print(f"  one department's own work (charge, load, noise)       {work:8.3f} s")
    print(
        f"  ratio second round / department work                  {warm / work:8.1f} x"
    )


def _relative_errors(query: Query, exact_parts: list[np.ndarray]) -> np.ndarray:
    plan = plan_answer(query)
    exact = np.sum(exact_parts, axis=0)
    errors = []
    for _ in range(REPETITIONS):
        noisy = np.sum([release_gaussian(plan, part) for part in exact_parts], axis=0)
        errors.append(np.abs(noisy - exact) / np.maximum(exact, 1.0))
    return np.asarray(errors)


def _accuracy(state_dir: Path) -> None:
    departments = [str(d) for d in department_ids("randhie")]
    records = [
        department_records("randhie", d, seed=0, state_dir=state_dir)
        for d in departments
    ]
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
        _accuracy(Path(folder) / "exact")


if __name__ == "__main__":
    main()
