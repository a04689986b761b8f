"""The report's Markdown, written from the tidy tables and the analysis.

Sentences that state a finding are computed from the data (how many
departments gain, by how much a target is missed), so the text cannot drift
from the numbers when the report is regenerated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from experiments._report_analysis import (
    DATASETS,
    DEPARTMENT_METRIC,
    EPSILON_PANELS,
    PRIMARY,
    VALIDATION,
    configured,
    department_table,
    engine_check,
    epsilon_label,
    epsilon_points,
    personalisation_table,
    plain_fedavg,
    select,
    server_tuning_table,
    spread,
    target_table,
    variants,
)
from experiments.results import TidyTables

__all__ = ["ReportContext", "render_report"]


@dataclass(frozen=True)
class ReportContext:
    """Facts about the run that produced the tables."""

    profile: str
    command: str
    seconds: float | None
    cpus: int
    figures: Sequence[str]


# Columns printed as counts, and as short numbers (epsilon, alpha, learning rate).
_COUNTS = {
    "n",
    "better",
    "departments",
    "seeds",
    "num_train",
    "num_departments",
    "num_departments_actual",
    "rounds_compared",
    "missing_rows",
    "points",
    "num_rounds",
    "batch_size",
    "all",
    "kept",
}
_SHORT = {"epsilon", "dirichlet_alpha", "learning_rate", "max_grad_norm", "target"}


def _f(value: object, digits: int = 4, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        number = float(value)
        if math.isnan(number):
            return "-"
        if math.isinf(number):
            return "no DP"
        if column in _COUNTS:
            return f"{number:,.0f}"
        if column in _SHORT:
            return f"{number:g}"
        return f"{number:.{digits}f}"
    return str(value)


def _table(frame: pd.DataFrame, columns: dict[str, str], digits: int = 4) -> str:
    if frame.empty:
        return "_(no points in this profile)_\n"
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, rule]
    for _, row in frame.iterrows():
        cells = (_f(row[c], digits, c) for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure(name: str, context: ReportContext, caption: str) -> str:
    if name not in context.figures:
        return f"_(figure {name} not drawn: no data in this profile)_\n"
    return f"![{caption}]({name})\n\n_{caption}_\n"


def _pm(stats: pd.DataFrame) -> pd.DataFrame:
    out = stats.copy()
    out["value"] = [
        f"{m:.4f} ± {s:.4f} [{lo:.4f}, {hi:.4f}]" if n > 1 else f"{m:.4f}"
        for m, s, lo, hi, n in zip(
            out["mean"],
            out["std"].fillna(0),
            out["min"],
            out["max"],
            out["n"],
            strict=True,
        )
    ]
    return out


def _targets(tables: TidyTables) -> str:
    table = target_table(tables.runs)
    text = _table(
        table,
        {
            "dataset": "dataset",
            "epsilon": "epsilon",
            "metric": "metric",
            "target": "target",
            "mean": "federated (mean of seeds)",
            "min": "min",
            "max": "max",
            "n": "seeds",
            "margin": "margin",
            "met": "met",
        },
    )
    missed = table[~table["met"]] if not table.empty else table
    for _, row in missed.iterrows():
        if row["n"]:
            column = PRIMARY[str(row["dataset"])].column
            central = select(
                tables.runs,
                sweep="baselines",
                kind="centralized",
                dataset=row["dataset"],
            )
            same = _mean(select(central, epsilon=row["epsilon"]), column)
            plain = _mean(select(central, epsilon=math.inf), column)
            text += (
                f"\n* **Missed:** {row['dataset']} at epsilon {row['epsilon']:g}: "
                f"{row['mean']:.4f} against {row['target']:.3f}, short by "
                f"{-row['margin']:.4f}. On the same splits, centralized DP-SGD at "
                f"this epsilon reaches {same:.4f} and centralized training without DP "
                f"{plain:.4f}"
                + (
                    ": the target lies above what this model gets from the pooled "
                    "records without any privacy.\n"
                    if plain < row["target"]
                    else ".\n"
                )
            )
    departments = department_table(tables.departments)
    if not departments.empty:
        for dataset in DATASETS:
            part = select(departments, dataset=dataset)
            if part.empty:
                continue
            better = int(part["better_off"].sum())
            verdict = "met" if better == len(part) else "missed"
            text += (
                f"\n* **Every department better off federated ({dataset}), {verdict}:** "
                f"{better} of {len(part)} (department, epsilon) pairs gain on "
                f"{DEPARTMENT_METRIC[dataset].label} (mean over seeds)"
            )
            worst = part.sort_values("gain").iloc[0]
            text += (
                f"; the smallest gain is {worst['gain']:+.4f} "
                f"({worst['department']}, epsilon {epsilon_label(worst['epsilon'])}).\n"
            )
    personal = personalisation_table(tables.departments)
    for dataset in DATASETS:
        part = select(personal, dataset=dataset)
        if part.empty:
            continue
        kept = int(part["at_least_local"].sum())
        verdict = "met" if kept == len(part) else "missed"
        worst = part.sort_values("gain").iloc[0]
        text += (
            f"\n* **Every department's personalised model at least as good as its "
            f"local-only model ({dataset}), {verdict}:** {kept} of {len(part)} "
            f"(department, epsilon) pairs at the same total epsilon, on "
            f"{DEPARTMENT_METRIC[dataset].label} (mean over seeds); the smallest "
            f"difference is {worst['gain']:+.4f} ({worst['department']}, epsilon "
            f"{epsilon_label(worst['epsilon'])}: personalised "
            f"{worst['personalised']:.4f}, local-only {worst['local']:.4f}, "
            f"federated alone {worst['federated']:.4f}){_seed_noise(worst)}.\n"
        )
    return text


def _seed_noise(row: pd.Series) -> str:
    # A mean over a few split seeds moves with the seeds alone; saying how far
    # tells a margin from noise.
    se = float(row["gain_se"])
    if math.isnan(se) or se == 0:
        return ""
    gain = float(row["gain"])
    where = (
        "within one standard error of level"
        if abs(gain) < se
        else f"{abs(gain) / se:.1f} standard errors {'below' if gain < 0 else 'above'} level"
    )
    return (
        f"; over its {int(row['seeds'])} seeds that difference has a standard error "
        f"of {se:.4f}, so it lies {where}"
    )


def _personalisation_section(tables: TidyTables) -> str:
    table = personalisation_table(tables.departments)
    if table.empty:
        return "_(no personalisation points in this profile)_\n"
    runs = select(tables.runs, sweep="personalise", kind="federated")
    settings = "; ".join(
        f"{dataset}: {1 - float(part['personalise_share'].iloc[0]):.0%} of it on the "
        f"rounds, then {int(part['personalise_epochs'].iloc[0])} epochs at learning "
        f"rate {float(part['personalise_learning_rate'].iloc[0]):g}"
        for dataset, part in runs.groupby("dataset")
    )
    text = (
        "Every department's own held-out records, means over seeds, at the same "
        "total epsilon per department: *local-only* spends it all training alone; "
        "*federated* spends it all on the rounds (the epsilon sweep's model); "
        "*personalised* spends part of it on the rounds (*rounds only*: that global "
        "model) and what the rounds leave, under the same accountant, on DP-SGD on "
        f"the final layer ({settings}), charged to and audited in the department's "
        "own budget book and log. Metric: accuracy for Adult, ROC AUC for RandHIE.\n\n"
    )
    summary = (
        table.groupby(["dataset", "epsilon"])
        .agg(
            kept=("at_least_local", "sum"),
            all=("at_least_local", "size"),
            mean=("gain", "mean"),
            smallest=("gain", "min"),
        )
        .reset_index()
    )
    text += _table(
        summary,
        {
            "dataset": "dataset",
            "epsilon": "epsilon",
            "kept": "personalised >= local-only",
            "all": "departments",
            "mean": "mean difference",
            "smallest": "smallest difference",
        },
    )
    for dataset in DATASETS:
        part = select(table, dataset=dataset).sort_values(["epsilon", "num_train"])
        if part.empty:
            continue
        text += f"\n**{dataset}**\n\n" + _table(
            part,
            {
                "epsilon": "epsilon",
                "department": "department",
                "num_train": "training records",
                "local": "local-only",
                "federated": "federated",
                "rounds_only": "rounds only",
                "personalised": "personalised",
                "gain": "personalised - local",
                "gain_se": "standard error",
                "gain_min": "worst seed",
                "at_least_local": ">= local",
            },
        )
    return text


def _server_tuning_section(tables: TidyTables) -> str:
    table = server_tuning_table(tables.runs)
    if table.empty:
        return "_(no server-optimizer tuning points in this profile)_\n"
    text = ""
    for dataset in DATASETS:
        part = select(table, dataset=dataset).sort_values("validation", ascending=False)
        if part.empty:
            continue
        chosen = part[part["chosen"]].iloc[0]
        configured = part[part["configured"]]
        per_epsilon = {
            name: f"epsilon {name.removeprefix('validation_eps')}"
            for name in part.columns
            if name.startswith("validation_eps") and part[name].notna().any()
        }
        text += (
            f"**{dataset}** at {' and '.join(per_epsilon.values())}, split seeds "
            f"100-102, ranked by {VALIDATION[dataset].label} (validation; mean of "
            f"{int(chosen['seeds'])} seeds at each epsilon). Chosen: "
            f"{chosen['strategy']} with "
            f"{chosen['model']}; the report's points run with "
            + (
                f"{configured.iloc[0]['strategy']} with {configured.iloc[0]['model']}"
                if not configured.empty
                else "a pair not in this grid"
            )
            + (
                " (as chosen).\n\n"
                if not configured.empty and bool(configured.iloc[0]["chosen"])
                else " (NOT the chosen pair: configs/experiment does not follow "
                "the protocol).\n\n"
            )
        )
        text += _table(
            part,
            {
                "strategy": "strategy",
                "model": "model",
                **{name: label for name, label in per_epsilon.items()},
                "validation": "validation (mean)",
                "std": "std",
                "worst_seed": "worst seed",
                "seeds": "seeds",
                "chosen": "chosen",
            },
        )
        text += "\n"
    return text


def _setup(tables: TidyTables) -> str:
    runs = select(tables.runs, sweep="epsilon", kind="federated")
    lines = [
        "| dataset | strategy | model | rounds | local epochs | batch | learning rate "
        "(no DP) | clipping norm | delta | departments |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in DATASETS:
        part = select(runs, dataset=dataset)
        private = part[part["private"]] if not part.empty else part
        if private.empty:
            continue
        row = private.iloc[0]
        plain = part[~part["private"]]
        no_dp = f" ({plain['learning_rate'].iloc[0]:g})" if not plain.empty else ""
        lines.append(
            f"| {dataset} | {row['strategy']} | {row['model']} | {row['num_rounds']} | "
            f"{row['local_epochs']} | {row['batch_size']} | "
            f"{row['learning_rate']:g}{no_dp} | {row['max_grad_norm']:g} | "
            f"{row['delta']:g} | {int(row['num_departments_actual'])} (natural) |"
        )
    return "\n".join(lines) + "\n"


def _spent_section(tables: TidyTables) -> str:
    runs = select(tables.runs, sweep="epsilon", kind="federated")
    if runs.empty:
        return ""
    private = runs[runs["private"]]
    stats = (
        private.groupby(["dataset", "epsilon"])["epsilon_spent_max"].max().reset_index()
    )
    return (
        "Largest epsilon any department spent (RDP accountant, at delta 1e-5), "
        "against the job's epsilon:\n\n"
        + _table(
            stats,
            {"dataset": "dataset", "epsilon": "epsilon", "epsilon_spent_max": "spent"},
        )
    )


def _epsilon_section(tables: TidyTables) -> str:
    parts = []
    for panel in EPSILON_PANELS:
        rows = []
        for kind, column in panel.series:
            frame = epsilon_points(tables.runs, panel.dataset, kind)
            for _, stat in _pm(spread(frame, ["epsilon"], column)).iterrows():
                rows.append(
                    {"kind": kind, "epsilon": stat["epsilon"], "value": stat["value"]}
                )
        if not rows:
            continue
        frame = pd.DataFrame(rows).pivot(
            index="epsilon", columns="kind", values="value"
        )
        frame = frame.reset_index().sort_values("epsilon")
        columns = {"epsilon": "epsilon"}
        columns.update({kind: kind for kind, _ in panel.series if kind in frame})
        parts.append(
            f"**{panel.dataset}**, {panel.label}: mean ± std [min, max] over seeds\n\n"
            + _table(frame, columns)
        )
    return "\n".join(parts)


def _department_section(tables: TidyTables) -> str:
    table = department_table(tables.departments)
    if table.empty:
        return "_(no local-only baselines in this profile)_\n"
    at_one = select(table, epsilon=1.0).sort_values(["dataset", "num_train"])
    text = (
        "At epsilon 1, means over seeds; the metric is accuracy for Adult and ROC "
        "AUC for RandHIE (gain, other metric: AUC for Adult, accuracy for RandHIE):"
        "\n\n"
    )
    text += _table(
        at_one,
        {
            "dataset": "dataset",
            "department": "department",
            "num_train": "training records",
            "federated": "federated",
            "local": "local-only",
            "gain": "gain",
            "gain_min": "worst seed",
            "other_gain": "gain, other metric",
            "better_off": "better off",
        },
    )
    summary = (
        table.groupby(["dataset", "epsilon"])
        .agg(
            better=("better_off", "sum"),
            departments=("better_off", "size"),
            smallest=("gain", "min"),
            mean=("gain", "mean"),
        )
        .reset_index()
    )
    text += "\nAt every epsilon: departments better off federated, out of all:\n\n"
    text += _table(
        summary,
        {
            "dataset": "dataset",
            "epsilon": "epsilon",
            "better": "better off",
            "departments": "departments",
            "mean": "mean gain",
            "smallest": "smallest gain",
        },
    )
    return text


def _variants_section(tables: TidyTables) -> str:
    rows = []
    for dataset in DATASETS:
        metric = PRIMARY[dataset]
        for variant in variants(tables.runs, dataset, non_private=True):
            frame = variant.runs
            if frame.empty:
                continue
            rows.append(
                {
                    "dataset": dataset,
                    "variant": variant.name,
                    "metric": frame[metric.column].mean(),
                    "std": frame[metric.column].std(),
                    "cpu": frame["cpu_seconds"].mean(),
                    "wall": frame["wall_seconds"].mean(),
                    "kib": (
                        (frame["bytes_down"] + frame["bytes_up"]) / frame["num_rounds"]
                    ).mean()
                    / 1024,
                    "seeds": len(frame),
                }
            )
    return _table(
        pd.DataFrame(rows),
        {
            "dataset": "dataset",
            "variant": "epsilon 1 unless said",
            "metric": "metric (as above)",
            "std": "std",
            "cpu": "CPU s / job",
            "wall": "wall s / job",
            "kib": "KiB / round",
            "seeds": "seeds",
        },
    )


def _partition_section(tables: TidyTables) -> str:
    rows = []
    for dataset in DATASETS:
        metric = PRIMARY[dataset]
        for sweep in ("partition", "departments"):
            frame = select(tables.runs, sweep=sweep, dataset=dataset)
            if frame.empty:
                continue
            stats = spread(frame, ["num_departments", "dirichlet_alpha"], metric.column)
            for _, s in stats.iterrows():
                rows.append({"dataset": dataset, **s.to_dict()})
    return _table(
        pd.DataFrame(rows),
        {
            "dataset": "dataset",
            "num_departments": "departments",
            "dirichlet_alpha": "alpha",
            "mean": "mean",
            "std": "std",
            "min": "min",
            "max": "max",
            "n": "seeds",
        },
    )


def _engine_section(tables: TidyTables) -> str:
    check = engine_check(tables.runs, tables.rounds)
    text = _table(
        check,
        {
            "secure_aggregation": "SecAgg+",
            "rounds_compared": "rounds",
            "max_round_metric_difference": "max abs. difference, any round's "
            "held-out accuracy, AUC or loss, any department",
            "max_final_metric_difference": "max abs. difference, final pooled metrics",
            "missing_rows": "unmatched rows",
            "wall_seconds_inprocess": "wall s in-process",
            "wall_seconds_simulation": "wall s simulation",
        },
        digits=6,
    )
    if not check.empty:
        extra = (
            check["wall_seconds_simulation"] - check["wall_seconds_inprocess"]
        ).mean()
        text += (
            "\nWithout SecAgg+ the engines agree to float rounding (Flower samples "
            "departments in random order, so the weighted average sums in another order); with it, "
            "to SecAgg+'s stochastic rounding of every update (unseeded; see "
            "docs/experiments.md).\n"
            f"\nThe simulation took {extra:.0f} s more per job on average, almost all "
            "of it starting Ray and its actors; `run_simulation` starts and stops Ray "
            "for every job, which is why the sweeps run in-process.\n"
        )
    return text


def _cost_sentences(tables: TidyTables) -> str:
    lines = []
    for dataset in DATASETS:
        plain = plain_fedavg(tables.runs, dataset)
        secure = select(tables.runs, sweep="secagg", dataset=dataset)
        if plain.empty or secure.empty:
            continue

        def per_round(frame: pd.DataFrame) -> float:
            moved = (frame["bytes_down"] + frame["bytes_up"]) / frame["num_rounds"]
            return float(moved.mean())

        lines.append(
            f"* {dataset}: SecAgg+ carries {per_round(secure) / per_round(plain):.1f}x the "
            f"bytes of a plain round ({per_round(secure) / 1024:.0f} against "
            f"{per_round(plain) / 1024:.0f} KiB) and costs "
            f"{secure['cpu_seconds'].mean() / plain['cpu_seconds'].mean():.2f}x the CPU "
            f"time per job ({secure['cpu_seconds'].mean():.0f} against "
            f"{plain['cpu_seconds'].mean():.0f} s, all departments together)."
        )
    return "\n".join(lines) + "\n" if lines else ""


def _tuning_section(tables: TidyTables) -> str:
    runs = select(tables.runs, sweep="tuning")
    if runs.empty:
        return "_(no tuning points in this profile)_\n"
    parts = []
    for dataset in DATASETS:
        column = "pooled_accuracy" if dataset == "adult" else "pooled_auc"
        for kind, what in (
            (
                "federated",
                f"{configured(tables.runs, dataset)} at epsilon 1, natural departments",
            ),
            (
                "centralized",
                "non-private centralized (the learning rate of no-DP points)",
            ),
        ):
            part = select(runs, dataset=dataset, kind=kind)
            if part.empty:
                continue
            part = part.sort_values(column, ascending=False)
            parts.append(
                f"**{dataset}**, {what}; split seed {int(part['seed'].iloc[0])}, "
                f"ranked by {column.replace('_', ' ')} (held-out records)\n\n"
                + _table(
                    part,
                    {
                        "model": "model",
                        "batch_size": "batch",
                        "learning_rate": "learning rate",
                        "max_grad_norm": "clip",
                        "num_rounds": "rounds / passes",
                        column: column.replace("_", " "),
                        "cpu_seconds": "CPU s",
                    },
                )
            )
    return "\n".join(parts)


def _engines_used(tables: TidyTables) -> str:
    runs = tables.runs
    if runs.empty:
        return "_(no points)_\n"
    counts = (
        runs.groupby(["sweep", "kind", "engine"], dropna=False).size().reset_index()
    )
    counts.columns = ["sweep", "kind", "engine", "points"]
    counts["engine"] = counts["engine"].replace("", "- (baseline, no federation)")
    return _table(counts, {c: c for c in counts.columns})


def _mean(frame: pd.DataFrame, column: str) -> float:
    if frame.empty or column not in frame:
        return math.nan
    return float(frame[column].mean())


def _compare(a: float, b: float, unit: str = "points") -> str:
    """``a`` against ``b`` in words, as percentage points of accuracy or AUC."""
    if math.isnan(a) or math.isnan(b):
        return "not measured"
    gap = 100 * (a - b)
    if abs(gap) < 0.05:
        return "level with"
    return f"{abs(gap):.1f} {unit} {'above' if gap > 0 else 'below'}"


# The strategy sweep's alternatives: Flower's name, the report's, and why each
# differs from a size-weighted average.
_ALTERNATIVES = (
    ("fedavg", "FedAvg (no server optimizer)", ""),
    ("fedprox", "FedProx", ""),
    (
        "fedmedian",
        "FedMedian",
        " (the coordinate-wise median ignores department sizes, so a small "
        "department's noisy update counts as much as a large one's)",
    ),
    (
        "fedavgm",
        "FedAvgM (server momentum)",
        " (momentum keeps the averaged update moving in its recent direction, so "
        "what only small departments teach builds up faster)",
    ),
)


def _findings(tables: TidyTables) -> str:
    runs = tables.runs
    lines = []
    fed = {
        d: select(runs, sweep="epsilon", kind="federated", dataset=d, epsilon=1.0)
        for d in DATASETS
    }
    central = {
        d: select(runs, sweep="baselines", kind="centralized", dataset=d, epsilon=1.0)
        for d in DATASETS
    }
    local = {
        d: select(runs, sweep="baselines", kind="local", dataset=d, epsilon=1.0)
        for d in DATASETS
    }
    if not fed["adult"].empty:
        eight = select(
            runs, sweep="epsilon", kind="federated", dataset="adult", epsilon=8.0
        )
        sizes = (
            select(tables.departments, run_id=fed["adult"]["run_id"].iloc[0])
            .set_index("department")["num_train"]
            .astype(float)
        )
        slower = (sizes.sum() / sizes).drop(sizes.idxmax())
        noise_gain = _mean(eight, "test_accuracy") - _mean(
            fed["adult"], "test_accuracy"
        )
        central_gap = _mean(central["adult"], "test_accuracy") - _mean(
            fed["adult"], "test_accuracy"
        )
        adult = configured(runs, "adult")
        # Less noise closing under a quarter of the gap: the noise is not the limit.
        limit = (
            f"{adult}, not the noise"
            if noise_gain < 0.25 * central_gap
            else "largely the DP noise"
        )
        lines.append(
            f"* **Adult, what limits the federated model is {limit}.** "
            f"At epsilon 1 it is {_compare(_mean(fed['adult'], 'test_accuracy'), _mean(central['adult'], 'test_accuracy'))} "
            "centralized DP-SGD on the official test split, and epsilon 8 gains "
            f"{100 * (_mean(eight, 'test_accuracy') - _mean(fed['adult'], 'test_accuracy')):+.2f} "
            "points over epsilon 1. A department with n records takes about n / batch "
            f"local steps a round and {adult} weighs its update by n / N, so what only it "
            "can teach the model (the coefficient of its own class of worker) moves "
            "n / N times as fast as in centralized training: "
            f"{slower.min():.0f} to {slower.max():.0f} times slower for the "
            f"{len(slower)} smaller departments, while the largest holds "
            f"{100 * sizes.max() / sizes.sum():.0f} % of the records. "
            "On the departments' held-out records the federated model is "
            f"{_compare(_mean(fed['adult'], 'pooled_accuracy'), _mean(local['adult'], 'pooled_accuracy'))} "
            "every department's own model (local-only) at the same epsilon."
        )
    departments = department_table(tables.departments)
    for dataset in DATASETS:
        part = select(departments, dataset=dataset, epsilon=1.0)
        if part.empty:
            continue
        winners = part[part["better_off"]].sort_values("num_train")
        losers = part[~part["better_off"]].sort_values("num_train")
        text = (
            f"* **{dataset}, who gains at epsilon 1:** {len(winners)} of {len(part)} "
            "departments are better off federated"
        )
        if not winners.empty:
            text += (
                " ("
                + ", ".join(
                    f"{r.department} {r.gain:+.3f}" for r in winners.itertuples()
                )
                + ")"
            )
        if not losers.empty:
            text += "; worse off: " + ", ".join(
                f"{r.department} {r.gain:+.3f}" for r in losers.itertuples()
            )
        lines.append(text + ".")
    if not fed["randhie"].empty:
        lines.append(
            "* **RandHIE:** the federated model's pooled AUC is "
            f"{_compare(_mean(fed['randhie'], 'pooled_auc'), _mean(central['randhie'], 'pooled_auc'))} "
            "centralized DP-SGD at epsilon 1; the six sites are of similar size, so "
            f"{configured(runs, 'randhie')}'s weighting by size costs little here, "
            "and every site's within-site AUC "
            "is compared with its own model above."
        )
    for dataset in DATASETS:
        metric = PRIMARY[dataset].column
        named = configured(runs, dataset)
        base = _mean(fed[dataset], metric)
        compared = []
        for strategy, label, why in _ALTERNATIVES:
            points = select(runs, sweep="strategy", dataset=dataset, strategy=strategy)
            # The configured optimizer's own points are the epsilon sweep's.
            if points.empty or label.split()[0] == named:
                continue
            gap = _compare(_mean(points, metric), base)
            # The explanation of a loss, given only where there is one.
            if strategy == "fedmedian" and not gap.endswith("below"):
                why = ""
            compared.append(f"{label} is {gap} it{why}")
        secure = select(runs, sweep="secagg", dataset=dataset)
        if not secure.empty:
            plain = _mean(plain_fedavg(runs, dataset), metric)
            compared.append(
                f"FedAvg under SecAgg+ is {_compare(_mean(secure, metric), plain)} "
                "plain FedAvg (SecAgg+ only quantises the weighted sum)"
            )
        if compared:
            lines.append(
                f"* **{dataset}, aggregation, against {named}:** "
                + "; ".join(compared)
                + "."
            )
    return "\n".join(lines) + "\n" if lines else "_(no points)_\n"


def _optional_sections(tables: TidyTables, context: ReportContext) -> str:
    """The sections of sweeps ``make report`` leaves out to stay under 30
    minutes, when their points were run (``python -m experiments.sweep -m
    +sweep=strategy`` and so on, into the same data folder)."""
    text = ""
    if not select(tables.runs, sweep="strategy").empty:
        caption = "Epsilon 1, natural departments: each seed's final model."
        text += (
            "## Aggregation strategies and secure aggregation\n\n"
            f"{_figure('strategies.png', context, caption)}\n"
            f"{_variants_section(tables)}\n"
        )
    if not select(tables.runs, sweep="partition").empty:
        caption = (
            "The configured server optimizer at epsilon 1 on Dirichlet label-skewed "
            "partitions (natural partition for reference)."
        )
        text += (
            "## Label skew and number of departments\n\n"
            f"{_figure('partitions.png', context, caption)}\n"
            f"{_partition_section(tables)}\n"
        )
    return text


def render_report(tables: TidyTables, context: ReportContext) -> str:
    """The whole ``report.md``."""
    seconds = (
        f"{context.seconds / 60:.1f} min on {context.cpus} CPU cores"
        if context.seconds is not None
        else "not measured"
    )
    return f"""# fedgov experiments: privacy, utility and cost of federated DP training

Regenerate with `{context.command}` (profile **{context.profile}**; this run: {seconds}).
Method, grid and how to read the data: [docs/experiments.md](../docs/experiments.md).
Every number below comes from `data/runs.csv`, `data/rounds.csv.gz` and
`data/departments.csv`, which are built from the run records in `data/runs/`
(one gzipped JSON per point, named by its `run_id`, holding the product's
own run record).

## Targets

{_targets(tables)}
## Findings

{_findings(tables)}
## Setup

Departments train with DP-SGD (Opacus, Poisson sampling, PLD accounting by default, RDP available):
epsilon is per department for the whole job (every local step of every round),
delta 1e-5. Seeds 0, 1, 2 per point; a seed fixes the train/held-out split, the
initial model and the (reproducible, `secure_rng=false`) DP noise. Tuned
hyperparameters:

{_setup(tables)}
Which engine ran which points (in-process: the product's ServerApp and
ClientApps in one process, messages through Flower's protobuf wire format;
simulation: Flower's Ray simulation):

{_engines_used(tables)}
## Accuracy against epsilon

{_figure("accuracy_vs_epsilon.png", context, "Federated (each dataset's configured server optimizer and model, natural departments) against centralized and local-only training on the same splits, each panel comparing like with like; dots are seeds, lines join means; red: targets.")}
{_epsilon_section(tables)}
{_spent_section(tables)}
## Per department: do small departments lose?

{_figure("departments.png", context, "Each department's held-out quality at epsilon 1: the federated model against the department's own DP model (local-only). Labels: training records. Dots: seeds.")}
{_department_section(tables)}
## Personalisation: local-only, federated and personalised at the same epsilon

{_personalisation_section(tables)}
## Accuracy over rounds

{_figure("accuracy_vs_rounds.png", context, "Natural departments: mean over seeds, band from the seeds' min to max.")}
## Server optimizer and model: the tuning protocol

{_server_tuning_section(tables)}
{_optional_sections(tables, context)}## Cost

{_figure("cost.png", context, "CPU seconds per job (coordinator and every department together, in-process engine) and serialised bytes per round, both directions.")}
Time is CPU time of the whole federation in one process (departments train one
after another); a deployment runs departments in parallel on their own machines.
Bytes are Flower's serialised messages (model, metrics, configuration; SecAgg+'s
key exchange, shares and masked vectors), counted by the in-process engine.

{_cost_sentences(tables)}
## The in-process engine against Flower's simulation

{_engine_section(tables)}
## Tuning

{_tuning_section(tables)}
"""
