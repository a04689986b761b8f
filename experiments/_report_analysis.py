"""What the report says, computed from the tidy tables (no plotting, no text).

Each sweep owns its points (``configs/sweep/*.yaml`` share none), so a figure
selects its points by sweep name and kind; the dataset's configured server
optimizer and model (``configs/experiment``) on the natural partition without
SecAgg+ are the epsilon sweep's, and the other sweeps compare with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DATASETS",
    "DEPARTMENT_METRIC",
    "EPSILON_PANELS",
    "PRIMARY",
    "TARGETS",
    "VALIDATION",
    "Metric",
    "Panel",
    "Target",
    "Variant",
    "configured",
    "department_table",
    "engine_check",
    "epsilon_label",
    "epsilon_points",
    "personalisation_table",
    "plain_fedavg",
    "select",
    "server_tuning_table",
    "spread",
    "target_table",
    "variants",
]

DATASETS = ("adult", "randhie")


@dataclass(frozen=True)
class Metric:
    column: str
    label: str


# The targets' metrics: Adult's official test split (the coordinator's public
# benchmark), RandHIE's pooled held-out persons (it has no public test split).
PRIMARY = {
    "adult": Metric("test_accuracy", "accuracy, official test split"),
    "randhie": Metric("pooled_auc", "ROC AUC, pooled held-out persons"),
}
DEPARTMENT_METRIC = {
    "adult": Metric(
        "held_out_accuracy", "accuracy on the department's held-out records"
    ),
    "randhie": Metric("held_out_auc", "ROC AUC on the department's held-out persons"),
}


@dataclass(frozen=True)
class Panel:
    """One view of accuracy against epsilon: the kinds of point shown, each
    with the column that is comparable across them."""

    dataset: str
    label: str
    series: tuple[tuple[str, str], ...]
    targets: bool


# Only like is compared with like: the official test split has no local-only
# value (seven models, no one model to test), and an AUC over the pooled
# held-out persons is undefined for six local models, while their mean
# within-department AUC is.
EPSILON_PANELS = (
    Panel(
        "adult",
        "accuracy, official test split",
        (("federated", "test_accuracy"), ("centralized", "test_accuracy")),
        targets=True,
    ),
    Panel(
        "adult",
        "accuracy, departments' held-out records",
        (
            ("federated", "pooled_accuracy"),
            ("centralized", "pooled_accuracy"),
            ("local", "pooled_accuracy"),
        ),
        targets=False,
    ),
    Panel(
        "randhie",
        "ROC AUC, pooled held-out persons",
        (("federated", "pooled_auc"), ("centralized", "pooled_auc")),
        targets=True,
    ),
    Panel(
        "randhie",
        "ROC AUC within each department (weighted mean)",
        (("federated", "department_auc"), ("local", "department_auc")),
        targets=False,
    ),
)


def epsilon_points(runs: pd.DataFrame, dataset: str, kind: str) -> pd.DataFrame:
    """The epsilon sweep's federated points, or the baselines of one kind."""
    sweep = "epsilon" if kind == "federated" else "baselines"
    return select(runs, sweep=sweep, kind=kind, dataset=dataset)


@dataclass(frozen=True)
class Target:
    dataset: str
    epsilon: float
    threshold: float


TARGETS = (
    Target("adult", 1.0, 0.842),
    Target("adult", 0.5, 0.835),
    Target("randhie", 1.0, 0.73),
)


def epsilon_label(epsilon: float) -> str:
    return "no DP" if math.isinf(epsilon) else f"{epsilon:g}"


def select(frame: pd.DataFrame, **equal: object) -> pd.DataFrame:
    """Rows whose columns equal the given values (all of them)."""
    if frame.empty:
        return frame
    mask = np.ones(len(frame), dtype=bool)
    for column, value in equal.items():
        if column not in frame.columns:
            return frame.iloc[0:0]
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


@dataclass(frozen=True)
class Variant:
    """One way of running the main job, as the table (``name``) and figures call it."""

    name: str
    short: str
    runs: pd.DataFrame


_STRATEGY_NAMES = {
    "fedavg": "FedAvg",
    "fedavgm": "FedAvgM",
    "fedadam": "FedAdam",
    "fedyogi": "FedYogi",
    "fedprox": "FedProx",
    "fedmedian": "FedMedian",
    "fedtrimmedavg": "FedTrimmedAvg",
    "krum": "Krum",
}
_MODEL_NAMES = {"logreg": "logistic regression", "mlp": "MLP"}


def configured(runs: pd.DataFrame, dataset: str, *, model: bool = False) -> str:
    """The server optimizer the epsilon sweep's federated points of ``dataset``
    ran with (``configs/experiment``), e.g. ``FedAvgM``; with ``model``, and
    their model: ``FedAvgM, MLP``. ``FedAvg`` when there are no such points."""
    points = select(runs, sweep="epsilon", kind="federated", dataset=dataset)
    if points.empty:
        return "FedAvg"
    first = points.iloc[0]
    name = _STRATEGY_NAMES.get(str(first["strategy"]), str(first["strategy"]))
    if not model:
        return name
    return f"{name}, {_MODEL_NAMES.get(str(first['model']), str(first['model']))}"


def plain_fedavg(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """FedAvg's points at epsilon 1 without SecAgg+ (what the secagg sweep is
    compared with): the epsilon sweep's where FedAvg is the configured
    optimizer, else the strategy sweep's."""
    chosen = select(
        runs, sweep="epsilon", kind="federated", dataset=dataset, epsilon=1.0
    )
    if not chosen.empty and str(chosen.iloc[0]["strategy"]) == "fedavg":
        return chosen
    return select(runs, sweep="strategy", dataset=dataset, strategy="fedavg")


def variants(
    runs: pd.DataFrame, dataset: str, *, non_private: bool = False
) -> list[Variant]:
    """The epsilon-1 variants compared with the configured server optimizer
    (:func:`configured`; and it without DP)."""
    base = configured(runs, dataset)
    chosen = select(runs, sweep="epsilon", kind="federated", dataset=dataset)
    chosen_strategy = str(chosen.iloc[0]["strategy"]) if not chosen.empty else ""

    def strategy(name: str) -> pd.DataFrame:
        return select(runs, sweep="strategy", dataset=dataset, strategy=name)

    def federated(epsilon: float) -> pd.DataFrame:
        return select(
            runs, sweep="epsilon", kind="federated", dataset=dataset, epsilon=epsilon
        )

    found = [
        Variant(base, base, federated(1.0)),
        Variant(
            "FedAvg + SecAgg+",
            "FedAvg\n+SecAgg+",
            select(runs, sweep="secagg", dataset=dataset),
        ),
    ]
    # The strategy sweep's alternatives, less the configured one (its points
    # are the epsilon sweep's).
    for name, long in (
        ("fedavg", "FedAvg"),
        ("fedprox", "FedProx (mu 0.01)"),
        ("fedmedian", "FedMedian"),
        ("fedavgm", "FedAvgM (server momentum 0.5)"),
    ):
        if name != chosen_strategy:
            found.append(Variant(long, _STRATEGY_NAMES[name], strategy(name)))
    if non_private:
        found.append(Variant(f"{base}, no DP", f"{base}\nno DP", federated(math.inf)))
    return found


def spread(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, standard deviation, min, max and count of ``value`` over seeds."""
    if frame.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "min", "max", "n"])
    grouped = frame.groupby(by, dropna=False)[value]
    out = grouped.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


def target_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Each target against the federated points of the epsilon sweep."""
    rows = []
    for target in TARGETS:
        metric = PRIMARY[target.dataset]
        points = select(
            runs,
            sweep="epsilon",
            kind="federated",
            dataset=target.dataset,
            epsilon=target.epsilon,
        )
        values = points[metric.column].dropna() if not points.empty else pd.Series()
        mean = float(values.mean()) if len(values) else math.nan
        rows.append(
            {
                "dataset": target.dataset,
                "epsilon": target.epsilon,
                "metric": metric.label,
                "target": target.threshold,
                "mean": mean,
                "min": float(values.min()) if len(values) else math.nan,
                "max": float(values.max()) if len(values) else math.nan,
                "n": len(values),
                "margin": mean - target.threshold,
                "met": bool(mean >= target.threshold) if len(values) else False,
            }
        )
    return pd.DataFrame(rows)


def department_table(departments: pd.DataFrame) -> pd.DataFrame:
    """Per department and epsilon: federated against local-only, means over seeds.

    ``gain`` is on the dataset's department metric, which decides
    ``better_off``; ``other_gain`` is on the other one (AUC for Adult,
    accuracy for RandHIE), for the reader.
    """
    rows = []
    for dataset in DATASETS:
        metric = DEPARTMENT_METRIC[dataset].column
        other = "held_out_auc" if metric == "held_out_accuracy" else "held_out_accuracy"
        federated = select(
            departments, sweep="epsilon", kind="federated", dataset=dataset
        )
        local = select(departments, sweep="baselines", kind="local", dataset=dataset)
        if federated.empty or local.empty:
            continue
        keys = ["epsilon", "seed", "department"]
        paired = federated[[*keys, metric, other, "num_train"]].merge(
            local[[*keys, metric, other]], on=keys, suffixes=("_federated", "_local")
        )
        for (epsilon, department), group in paired.groupby(["epsilon", "department"]):
            gain = group[f"{metric}_federated"] - group[f"{metric}_local"]
            other_gain = group[f"{other}_federated"] - group[f"{other}_local"]
            rows.append(
                {
                    "dataset": dataset,
                    "epsilon": float(str(epsilon)),
                    "department": department,
                    "num_train": float(group["num_train"].mean()),
                    "federated": float(group[f"{metric}_federated"].mean()),
                    "local": float(group[f"{metric}_local"].mean()),
                    "gain": float(gain.mean()),
                    "gain_min": float(gain.min()),
                    "other_gain": float(other_gain.mean()),
                    "seeds": len(group),
                    "better_off": bool(gain.mean() > 0),
                }
            )
    return pd.DataFrame(rows)


_COMPARED = ("accuracy", "auc", "loss")


def engine_check(runs: pd.DataFrame, rounds: pd.DataFrame) -> pd.DataFrame:
    """The in-process engine against Flower's simulation on the engines sweep.

    For each configuration run by both engines: the largest absolute
    difference of any round's metric (every department and overall), of
    the final model's pooled metrics, and each engine's wall time.
    """
    points = select(runs, sweep="engines", kind="federated")
    rows: list[dict[str, object]] = []
    if points.empty:
        return pd.DataFrame(rows)
    for secure, group in points.groupby("secure_aggregation"):
        by_engine = {str(e): g.iloc[0] for e, g in group.groupby("engine")}
        if set(by_engine) != {"inprocess", "simulation"}:
            continue
        ours, flower = by_engine["inprocess"], by_engine["simulation"]
        a = select(rounds, run_id=ours["run_id"]).set_index(["round", "scope"])
        b = select(rounds, run_id=flower["run_id"]).set_index(["round", "scope"])
        joined = a[list(_COMPARED)].join(
            b[list(_COMPARED)], lsuffix="_a", rsuffix="_b", how="outer"
        )
        round_diff = max(
            float(np.nanmax(np.abs(joined[f"{c}_a"] - joined[f"{c}_b"])))
            for c in _COMPARED
        )
        final_diff = max(
            abs(float(ours[c]) - float(flower[c]))
            for c in ("pooled_accuracy", "pooled_auc", "pooled_loss")
        )
        rows.append(
            {
                "secure_aggregation": bool(secure),
                "rounds_compared": int(joined.index.get_level_values(0).nunique()),
                "max_round_metric_difference": round_diff,
                "max_final_metric_difference": final_diff,
                "missing_rows": len(a.index.symmetric_difference(b.index)),
                "wall_seconds_inprocess": float(ours["wall_seconds"]),
                "wall_seconds_simulation": float(flower["wall_seconds"]),
                "pooled_auc_inprocess": float(ours["pooled_auc"]),
                "pooled_auc_simulation": float(flower["pooled_auc"]),
            }
        )
    return pd.DataFrame(rows)


def _standard_error(values: pd.Series) -> float:
    """Standard error of the mean of ``values`` (NaN for fewer than two):
    how far seed noise alone moves a mean over seeds."""
    if len(values) < 2:
        return math.nan
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def personalisation_table(departments: pd.DataFrame) -> pd.DataFrame:
    """Per department and epsilon: local-only, federated and personalised at the
    same total epsilon, on the department's own held-out records, means over seeds.

    ``federated`` is the epsilon sweep's model (all of epsilon on the rounds);
    ``personalised`` the personalise sweep's, whose rounds had
    ``(1 - share) * epsilon`` and whose fine-tuning the rest; ``gain`` is
    personalised minus local-only, which decides ``at_least_local``; ``gain_se``
    its standard error over the seeds, paired by split seed.
    """
    rows = []
    keys = ["epsilon", "seed", "department"]
    for dataset in DATASETS:
        metric = DEPARTMENT_METRIC[dataset].column
        personal_metric = metric.replace("held_out_", "personalised_")
        federated = select(
            departments, sweep="epsilon", kind="federated", dataset=dataset
        )
        local = select(departments, sweep="baselines", kind="local", dataset=dataset)
        personal = select(
            departments, sweep="personalise", kind="federated", dataset=dataset
        )
        if personal.empty or local.empty or personal_metric not in personal:
            continue
        paired = (
            personal[[*keys, personal_metric, metric, "num_train"]]
            .rename(columns={metric: "rounds_only"})
            .merge(
                local[[*keys, metric]].rename(columns={metric: "local"}),
                on=keys,
            )
        )
        if not federated.empty:
            paired = paired.merge(
                federated[[*keys, metric]].rename(columns={metric: "federated"}),
                on=keys,
                how="left",
            )
        else:
            paired["federated"] = math.nan
        for (epsilon, department), group in paired.groupby(["epsilon", "department"]):
            gain = group[personal_metric] - group["local"]
            rows.append(
                {
                    "dataset": dataset,
                    "epsilon": float(str(epsilon)),
                    "department": department,
                    "num_train": float(group["num_train"].mean()),
                    "local": float(group["local"].mean()),
                    "federated": float(group["federated"].mean()),
                    "rounds_only": float(group["rounds_only"].mean()),
                    "personalised": float(group[personal_metric].mean()),
                    "gain": float(gain.mean()),
                    "gain_min": float(gain.min()),
                    "gain_se": _standard_error(gain),
                    "seeds": len(group),
                    "at_least_local": bool(gain.mean() >= 0),
                }
            )
    return pd.DataFrame(rows)


# The protocol's validation metric: the pooled held-out records of the tuning
# split seeds (never Adult's official test split).
VALIDATION = {
    "adult": Metric("pooled_accuracy", "accuracy, pooled held-out records"),
    "randhie": Metric("pooled_auc", "ROC AUC, pooled held-out persons"),
}


def server_tuning_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The server-optimizer protocol: each (strategy, model) averaged on
    validation over the tuning split seeds and every epsilon the protocol ran
    (its mean at each epsilon in ``validation_eps<epsilon>``); ``chosen``
    marks the best mean, and ``configured`` the pair the report's other
    points run with."""
    rows = []
    for dataset in DATASETS:
        points = select(runs, sweep="server_tuning", kind="federated", dataset=dataset)
        if points.empty:
            continue
        column = VALIDATION[dataset].column
        configured = select(
            runs, sweep="epsilon", kind="federated", dataset=dataset, epsilon=1.0
        )
        used = (
            (str(configured["strategy"].iloc[0]), str(configured["model"].iloc[0]))
            if not configured.empty
            else None
        )
        stats = spread(points, ["strategy", "model"], column)
        best = stats["mean"].idxmax()
        by_epsilon = (
            points.groupby(["strategy", "model", "epsilon"])[column].mean().to_dict()
        )
        epsilons = sorted(float(e) for e in points["epsilon"].unique())
        for index, row in stats.iterrows():
            rows.append(
                {
                    "dataset": dataset,
                    "strategy": row["strategy"],
                    "model": row["model"],
                    **{
                        f"validation_eps{e:g}": by_epsilon.get(
                            (row["strategy"], row["model"], e), math.nan
                        )
                        for e in epsilons
                    },
                    "validation": row["mean"],
                    "std": row["std"],
                    "worst_seed": row["min"],
                    "seeds": int(row["n"]) // len(epsilons),
                    "chosen": index == best,
                    "configured": used == (row["strategy"], row["model"]),
                }
            )
    return pd.DataFrame(rows)
