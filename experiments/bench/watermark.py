"""Fingerprinted releases: cost, and how well leaked copies are traced.

Run ``python -m experiments.bench.watermark``. On a k-anonymous extract of
real records (Adult's largest department, and a RandHIE health bureau, whose
extract holds far less entropy), it prints:

* making one fingerprinted release (publish, mark, release check, CSV,
  sealed record) against the release check and CSV writing alone;
* tracing a 10 % leak against 20 releases against reading the leaked file;
* over seeded trials, for leaks of 1 %, 5 %, 10 % and 50 % of the rows,
  reordered, one random column dropped, numbers rewritten as floats and
  rounded to their published precision: how often the right recipient is
  named among 20, how often anyone else is, and the median p-value of the
  right one. Innocent releases' p-values should be uniform: the share below
  0.05 is printed next to it;
* coalitions of 2 to 9 recipients merging their copies cell by cell: how
  often at least one of them is named, how many, and how many innocents.

:func:`adult_extract` and :func:`randhie_extract` are the stewards'
extracts the tests use too: quasi-identifiers coarsened (age in decades,
education in levels), groups smaller than k suppressed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fedgov.data import get_dataset, load_department
from privacy.release import ReleasePolicy, check_release
from privacy.tracing import ReleaseRegistry, make_release, read_leaked, trace_leak
from privacy.watermark import MarkLayout, publish

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from decimal import Decimal

__all__ = [
    "ADULT_CARRIERS",
    "RANDHIE_CARRIERS",
    "RANDHIE_STEPS",
    "adult_extract",
    "leak",
    "main",
    "published_decimals",
    "randhie_extract",
]

ADULT_CARRIERS = ("fnlwgt", "hours_per_week")
RANDHIE_CARRIERS = ("mdeoff", "pioff")
RANDHIE_STEPS = {
    "xage": "1",
    "educdec": "1",
    "time": "0.01",
    "mdeoff": "1",
    "pioff": "1",
}
_K = 5
_FRACTIONS = (0.01, 0.05, 0.10, 0.50)


def _records(dataset: str, department: str) -> pd.DataFrame:
    data = load_department(dataset, department, seed=0)
    return pd.concat([data.train.records, data.held_out.records])


def _suppress(frame: pd.DataFrame, quasi: Sequence[str], k: int) -> pd.DataFrame:
    sizes = frame.groupby(list(quasi))[quasi[0]].transform("size")
    return frame[sizes >= k].reset_index(drop=True)


def adult_extract(department: str = "civil-affairs-private") -> pd.DataFrame:
    """A k-anonymous (k = 5) extract of one Adult department's records."""
    records = _records("adult", department)
    records["age"] = np.maximum(17, records["age"] // 10 * 10)
    quasi = ["age", "sex", "marital_status", "education_num", "workclass"]
    return _suppress(records, quasi, _K)[
        [*quasi, "relationship", "fnlwgt", "hours_per_week"]
    ]


def randhie_extract(department: str = "health-site-1") -> pd.DataFrame:
    """A k-anonymous (k = 5) extract of one RandHIE bureau's records."""
    records = _records("randhie", department)
    records["xage"] = records["xage"] // 10 * 10.0
    records["educdec"] = np.select(
        [records["educdec"] < level for level in (9, 12, 13, 16)],
        [0.0, 9.0, 12.0, 13.0],
        16.0,
    )
    quasi = ["site", "xage", "female", "educdec", "child"]
    rest = ["year", "plan", "coins", "idp", "num", "time", "mdeoff", "pioff"]
    return _suppress(records, quasi, _K)[[*quasi, *rest]]


def leak(
    copy: pd.DataFrame,
    fraction: float,
    rng: np.random.Generator,
    *,
    drop: str,
    decimals: dict[str, int],
) -> pd.DataFrame:
    """The usual edits: a share of the rows in random order, a column
    dropped, numbers turned into floats (with float error) and rounded to
    the decimals they were published with."""
    rows = max(1, round(fraction * len(copy)))
    taken = copy.iloc[rng.permutation(len(copy))[:rows]].drop(columns=[drop])
    for name, places in decimals.items():
        if name in taken.columns:
            noisy = pd.to_numeric(taken[name]).astype(np.float64) * (1 + 1e-12)
            taken[name] = noisy.round(places)
    return taken.reset_index(drop=True)


def published_decimals(step: Decimal) -> int:
    """Decimal places a number published at ``step`` is written with."""
    exponent = step.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _best(run: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _line(what: str, seconds: float, baseline: float, baseline_name: str) -> None:
    print(
        f"{what:<48} {seconds * 1e3:9.1f} ms   {baseline_name:<26} "
        f"{baseline * 1e3:9.1f} ms   ratio {seconds / baseline:6.2f}"
    )


def _releases(
    state: Path,
    extract: pd.DataFrame,
    *,
    dataset: str,
    department: str,
    carriers: Sequence[str],
    steps: dict[str, str],
    recipients: int,
) -> tuple[ReleaseRegistry, list[pd.DataFrame]]:
    registry = ReleaseRegistry(state, department)
    copies = []
    for n in range(recipients):
        made = make_release(
            extract,
            registry=registry,
            dataset=dataset,
            recipient=f"recipient-{n:02d}",
            carriers=carriers,
            steps=steps,
        )
        path = state / f"{made.record.release}.csv"
        path.write_bytes(made.data)
        copies.append(read_leaked(path)[0])
    return registry, copies


def costs(state: Path, extract: pd.DataFrame, recipients: int) -> None:
    schema = get_dataset("adult").schema
    layout = MarkLayout.plan(schema, extract.columns, steps={}, carriers=ADULT_CARRIERS)
    policy = ReleasePolicy.from_schema(schema, k=_K)
    published = publish(extract, schema, layout)
    registry = ReleaseRegistry(state / "costs", "civil-affairs-private")
    making = _best(
        lambda: make_release(
            extract,
            registry=registry,
            dataset="adult",
            recipient="bench",
            carriers=ADULT_CARRIERS,
        )
    )
    plain = _best(
        lambda: (
            check_release(published, policy=policy, recipient="bench"),
            published.to_csv(index=False),
        )
    )
    _line(
        f"make a release, {len(extract)} rows x {len(extract.columns)}",
        making,
        plain,
        "release check + to_csv",
    )
    registry, copies = _releases(
        state / "trace",
        extract,
        dataset="adult",
        department="civil-affairs-private",
        carriers=ADULT_CARRIERS,
        steps={},
        recipients=recipients,
    )
    path = state / "leak.csv"
    sample = leak(copies[0], 0.10, np.random.default_rng(0), drop="sex", decimals={})
    sample.to_csv(path, index=False)
    tracing = _best(lambda: trace_leak(read_leaked(path)[0], [registry]))
    reading = _best(lambda: read_leaked(path))
    _line(
        f"trace a 10% leak ({len(sample)} rows) among {recipients}",
        tracing,
        reading,
        "reading the leaked CSV",
    )


def detection(
    state: Path,
    extract: pd.DataFrame,
    *,
    dataset: str,
    department: str,
    carriers: Sequence[str],
    steps: dict[str, str],
    recipients: int,
    trials: int,
) -> None:
    registry, copies = _releases(
        state,
        extract,
        dataset=dataset,
        department=department,
        carriers=carriers,
        steps=steps,
        recipients=recipients,
    )
    layout = registry.records()[0].layout
    decimals = {name: published_decimals(step) for name, step in layout.steps}
    print(
        f"{dataset} {department}: {len(extract)} rows, {recipients} recipients, "
        f"{trials} trials per fraction, alpha 1e-6"
    )
    print(
        f"  {'leaked':>7} {'rows':>6} {'named right':>12} {'named wrong':>12} "
        f"{'median log10 p':>15} {'innocent p<.05':>15}"
    )
    rng = np.random.default_rng(2024)
    for fraction in _FRACTIONS:
        right = wrong = low = innocents = 0
        best: list[float] = []
        for _ in range(trials):
            source = int(rng.integers(recipients))
            drop = str(rng.choice(extract.columns))
            sample = leak(copies[source], fraction, rng, drop=drop, decimals=decimals)
            report = trace_leak(sample, [registry])
            named = {c.record.recipient for c in report.named}
            truth = f"recipient-{source:02d}"
            right += truth in named
            wrong += bool(named - {truth})
            for candidate in report.candidates:
                if candidate.record.recipient == truth:
                    best.append(candidate.evidence.log10_p)
                else:
                    innocents += 1
                    low += candidate.evidence.log10_p <= np.log10(0.05)
        print(
            f"  {fraction:>7.0%} {max(1, round(fraction * len(extract))):>6} "
            f"{right / trials:>12.1%} {wrong / trials:>12.1%} "
            f"{float(np.median(best)):>15.1f} {low / innocents:>15.3f}"
        )


def collusion(
    state: Path, extract: pd.DataFrame, *, recipients: int, trials: int
) -> None:
    """Coalitions merging their copies cell by cell, each cell taken from a
    colluder chosen at random (what defeats a majority vote too)."""
    registry, copies = _releases(
        state,
        extract,
        dataset="adult",
        department="civil-affairs-private",
        carriers=ADULT_CARRIERS,
        steps={},
        recipients=recipients,
    )
    print(
        "collusion on adult: each carrier cell picked at random among c copies, "
        f"{trials} trials per c and leak"
    )
    print(
        f"  {'c':>3} {'leaked':>7} {'some colluder named':>20} "
        f"{'colluders named':>16} {'innocents named':>16}"
    )
    rng = np.random.default_rng(7)
    for size in (2, 3, 5, 9):
        for fraction in (0.10, 0.50):
            some = named_total = innocent = 0
            for _ in range(trials):
                members = rng.choice(recipients, size, replace=False)
                merged = copies[members[0]].copy()
                for name in ADULT_CARRIERS:
                    cells = np.stack([copies[m][name].to_numpy() for m in members])
                    merged[name] = cells[rng.integers(0, size, cells.shape[1]),
                                         np.arange(cells.shape[1])]  # fmt: skip
                sample = leak(merged, fraction, rng, drop="sex", decimals={})
                report = trace_leak(sample, [registry])
                named = {c.record.recipient for c in report.named}
                guilty = {f"recipient-{m:02d}" for m in members}
                some += bool(named & guilty)
                named_total += len(named & guilty)
                innocent += len(named - guilty)
            print(
                f"  {size:>3} {fraction:>7.0%} {some / trials:>20.1%} "
                f"{named_total / trials:>16.2f} {innocent / trials:>16.2f}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=20)
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args(argv)
    adult = adult_extract()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        costs(state / "costs", adult, args.recipients)
        detection(
            state / "adult",
            adult,
            dataset="adult",
            department="civil-affairs-private",
            carriers=ADULT_CARRIERS,
            steps={},
            recipients=args.recipients,
            trials=args.trials,
        )
        detection(
            state / "randhie",
            randhie_extract(),
            dataset="randhie",
            department="health-site-1",
            carriers=RANDHIE_CARRIERS,
            steps=RANDHIE_STEPS,
            recipients=args.recipients,
            trials=args.trials,
        )
        collusion(
            state / "collusion",
            adult,
            recipients=args.recipients,
            trials=max(1, args.trials // 5),
        )


if __name__ == "__main__":
    main()
