"""The report's figures (matplotlib, PNG), drawn from the tidy tables.

Every figure shows each seed's point, not only a mean, so the spread is in
plain sight; lines join the means. A figure without data (a profile that
did not run its sweep) is skipped and the caller is told so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from experiments._report_analysis import (
    DATASETS,
    DEPARTMENT_METRIC,
    EPSILON_PANELS,
    PRIMARY,
    TARGETS,
    configured,
    epsilon_label,
    epsilon_points,
    select,
    spread,
    variants,
)
from experiments.results import TidyTables

__all__ = ["FIGURES", "draw_figures"]

_COLORS = {
    "federated": "tab:blue",
    "centralized": "tab:green",
    "local": "tab:orange",
    "secagg": "tab:purple",
}


def _epsilon_position(epsilon: float, finite: list[float]) -> float:
    # No DP sits one step right of the largest epsilon on the log axis.
    if math.isinf(epsilon):
        return math.log2(max(finite)) + 1.5 if finite else 0.0
    return math.log2(epsilon)


def _series(
    ax: Axes,
    frame: pd.DataFrame,
    column: str,
    *,
    x: Callable[[float], float],
    label: str,
    color: str,
) -> None:
    if frame.empty:
        return
    points = frame.dropna(subset=[column])
    xs = np.array([x(float(e)) for e in points["epsilon"]])
    jitter = {"federated": -0.08, "centralized": 0.0, "local": 0.08}.get(label, 0.0)
    ax.scatter(xs + jitter, points[column], s=12, color=color, alpha=0.6)
    means = spread(points, ["epsilon"], column)
    ax.plot(
        [x(float(e)) for e in means["epsilon"]],
        means["mean"],
        "-o",
        color=color,
        markersize=4,
        label=label,
    )


def _epsilon_figure(tables: TidyTables, path: Path) -> bool:
    runs = tables.runs
    fig, grid = plt.subplots(2, 2, figsize=(11, 8))
    drawn = False
    for ax, panel in zip(grid.flat, EPSILON_PANELS, strict=True):
        points = {
            kind: epsilon_points(runs, panel.dataset, kind) for kind, _ in panel.series
        }
        if points["federated"].empty:
            _empty(ax, panel.dataset)
            continue
        drawn = True
        epsilons = sorted(
            {float(e) for frame in points.values() for e in frame.get("epsilon", [])}
        )
        finite = [e for e in epsilons if math.isfinite(e)]

        def at(e: float, finite: list[float] = finite) -> float:
            return _epsilon_position(e, finite)

        for kind, column in panel.series:
            _series(ax, points[kind], column, x=at, label=kind, color=_COLORS[kind])
        for target in TARGETS:
            if panel.targets and target.dataset == panel.dataset:
                ax.plot(
                    [at(target.epsilon) - 0.3, at(target.epsilon) + 0.3],
                    [target.threshold] * 2,
                    color="red",
                    linewidth=2,
                )
        ax.set_xticks([at(e) for e in epsilons], [epsilon_label(e) for e in epsilons])
        ax.set_xlabel("epsilon per department (delta 1e-5)")
        ax.set_ylabel(panel.label, fontsize=8)
        ax.set_title(
            f"{panel.dataset}: {panel.label}"
            + (" (red: targets)" if panel.targets else ""),
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path, drawn)


def _departments_figure(tables: TidyTables, path: Path, epsilon: float) -> bool:
    frame = tables.departments
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    drawn = False
    for ax, dataset in zip(axes, DATASETS, strict=True):
        metric = DEPARTMENT_METRIC[dataset]
        federated = select(
            frame, sweep="epsilon", kind="federated", dataset=dataset, epsilon=epsilon
        )
        local = select(
            frame, sweep="baselines", kind="local", dataset=dataset, epsilon=epsilon
        )
        if federated.empty:
            _empty(ax, dataset)
            continue
        drawn = True
        sizes = federated.groupby("department")["num_train"].mean().sort_values()
        names = list(sizes.index)
        xs = np.arange(len(names))
        for offset, (label, part) in zip(
            (-0.18, 0.18), (("federated", federated), ("local", local)), strict=True
        ):
            if part.empty:
                continue
            stats = spread(part, ["department"], metric.column).set_index("department")
            stats = stats.reindex(names)
            ax.bar(
                xs + offset,
                stats["mean"],
                width=0.36,
                color=_COLORS[label],
                alpha=0.75,
                label=f"{label} (epsilon {epsilon_label(epsilon)})",
            )
            for i, name in enumerate(names):
                values = select(part, department=name)[metric.column]
                ax.scatter([i + offset] * len(values), values, s=8, color="black")
        # "civil-affairs-self-emp-not-inc" -> "self-emp-\nnot-inc", to fit.
        short = [
            n.removeprefix("civil-affairs-")
            .replace("-or-", "-or-\n")
            .replace("emp-", "emp-\n")
            for n in names
        ]
        ax.set_xticks(
            xs, [f"{s}\n{int(sizes[n])}" for s, n in zip(short, names, strict=True)]
        )
        ax.tick_params(axis="x", labelsize=7)
        lows = pd.concat(
            [federated[metric.column], local.get(metric.column, pd.Series())]
        )
        low = float(np.nanmin(lows)) if len(lows) else 0.0
        ax.set_ylim(max(0.0, low - 0.05), None)
        ax.set_ylabel(metric.label, fontsize=8)
        ax.set_title(f"{dataset}: per department (label: training records)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, path, drawn)


def _rounds_figure(tables: TidyTables, path: Path) -> bool:
    rounds = select(tables.rounds, sweep="epsilon", kind="federated", scope="overall")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    drawn = False
    columns = {
        "adult": ("test_accuracy", "accuracy, official test split"),
        "randhie": ("auc", "ROC AUC, departments' held-out (weighted mean)"),
    }
    cmap = plt.get_cmap("viridis")
    for ax, dataset in zip(axes, DATASETS, strict=True):
        column, label = columns[dataset]
        part = select(rounds, dataset=dataset)
        if part.empty:
            _empty(ax, dataset)
            continue
        drawn = True
        epsilons = sorted(part["epsilon"].unique())
        for i, epsilon in enumerate(epsilons):
            stats = spread(select(part, epsilon=epsilon), ["round"], column)
            color = cmap(i / max(1, len(epsilons) - 1))
            ax.plot(
                stats["round"],
                stats["mean"],
                color=color,
                label=epsilon_label(float(epsilon)),
            )
            ax.fill_between(
                stats["round"], stats["min"], stats["max"], color=color, alpha=0.2
            )
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.set_title(
            f"{dataset}: {configured(tables.runs, dataset, model=True)}, "
            "natural departments",
            fontsize=9,
        )
        ax.legend(fontsize=8, loc="lower right", title="epsilon", title_fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path, drawn)


def _variants(runs: pd.DataFrame, dataset: str) -> list[tuple[str, pd.DataFrame]]:
    """The epsilon-1 variants compared in the strategy and cost figures."""
    return [(v.short, v.runs) for v in variants(runs, dataset)]


def _dots(ax: Axes, groups: list[tuple[str, pd.Series]], color: str) -> None:
    for i, (_, values) in enumerate(groups):
        values = values.dropna()
        if len(values):
            ax.scatter([i] * len(values), values, s=14, color=color, alpha=0.7)
            ax.plot([i - 0.25, i + 0.25], [values.mean()] * 2, color="black")
    ax.set_xticks(range(len(groups)), [name for name, _ in groups], fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def _strategy_figure(tables: TidyTables, path: Path) -> bool:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    drawn = False
    for ax, dataset in zip(axes, DATASETS, strict=True):
        metric = PRIMARY[dataset]
        variants = _variants(tables.runs, dataset)
        if all(v.empty for _, v in variants):
            _empty(ax, dataset)
            continue
        drawn = True
        _dots(
            ax,
            [(n, v.get(metric.column, pd.Series(dtype=float))) for n, v in variants],
            _COLORS["federated"],
        )
        ax.set_ylabel(metric.label)
        ax.set_title(f"{dataset}: aggregation at epsilon 1 (dots: seeds, bar: mean)")
    return _save(fig, path, drawn)


def _partition_figure(tables: TidyTables, path: Path) -> bool:
    runs = tables.runs
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    drawn = False
    for col, dataset in enumerate(DATASETS):
        metric = PRIMARY[dataset]
        natural = select(
            runs, sweep="epsilon", kind="federated", dataset=dataset, epsilon=1.0
        )
        skew = select(runs, sweep="partition", dataset=dataset)
        count = pd.concat(
            [
                select(runs, sweep="departments", dataset=dataset),
                select(skew, dirichlet_alpha=1.0),
            ]
        )
        for row, (frame, axis, xlabel) in enumerate(
            (
                (
                    skew,
                    "dirichlet_alpha",
                    "Dirichlet alpha (5 departments; small: label-skewed)",
                ),
                (count, "num_departments", "number of departments (Dirichlet alpha 1)"),
            )
        ):
            ax = axes[row][col]
            if frame.empty:
                _empty(ax, dataset)
                continue
            drawn = True
            values = sorted(frame[axis].unique())
            groups = [
                (f"{v:g}", select(frame, **{axis: v})[metric.column]) for v in values
            ]
            groups.append(
                ("natural", natural.get(metric.column, pd.Series(dtype=float)))
            )
            _dots(ax, groups, _COLORS["federated"])
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(metric.label, fontsize=8)
            ax.set_title(
                f"{dataset}: {configured(tables.runs, dataset)}, epsilon 1", fontsize=9
            )
    return _save(fig, path, drawn)


def _cost_figure(tables: TidyTables, path: Path) -> bool:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    drawn = False
    for col, dataset in enumerate(DATASETS):
        variants = _variants(tables.runs, dataset)
        nodp = select(
            tables.runs,
            sweep="epsilon",
            kind="federated",
            dataset=dataset,
            epsilon=math.inf,
        )
        variants.insert(1, (f"{configured(tables.runs, dataset)}\nno DP", nodp))
        if all(v.empty for _, v in variants):
            _empty(axes[0][col], dataset)
            _empty(axes[1][col], dataset)
            continue
        drawn = True
        _dots(
            axes[0][col],
            [(n, v.get("cpu_seconds", pd.Series(dtype=float))) for n, v in variants],
            _COLORS["secagg"],
        )
        axes[0][col].set_ylabel("CPU seconds per job (all parties)")
        axes[0][col].set_title(
            f"{dataset}: compute, epsilon 1, in-process engine", fontsize=9
        )
        traffic = []
        for name, frame in variants:
            if frame.empty or "bytes_down" not in frame:
                traffic.append((name, pd.Series(dtype=float)))
                continue
            total = (
                (frame["bytes_down"] + frame["bytes_up"]) / frame["num_rounds"] / 1024
            )
            traffic.append((name, total))
        _dots(axes[1][col], traffic, _COLORS["secagg"])
        axes[1][col].set_ylabel("KiB per round (both directions, serialised)")
        axes[0][col].set_ylim(bottom=0)
        axes[1][col].set_ylim(bottom=0)
    return _save(fig, path, drawn)


def _empty(ax: Axes, dataset: str) -> None:
    ax.text(0.5, 0.5, f"{dataset}: no points in this profile", ha="center", va="center")
    ax.set_axis_off()


def _save(fig: Figure, path: Path, drawn: bool) -> bool:
    if drawn:
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


FIGURES: dict[str, Callable[[TidyTables, Path], bool]] = {
    "accuracy_vs_epsilon.png": _epsilon_figure,
    "departments.png": lambda t, p: _departments_figure(t, p, 1.0),
    "accuracy_vs_rounds.png": _rounds_figure,
    "strategies.png": _strategy_figure,
    "partitions.png": _partition_figure,
    "cost.png": _cost_figure,
}


def draw_figures(tables: TidyTables, folder: Path) -> list[str]:
    """Draw every figure that has data into ``folder``; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        target = folder / name
        target.unlink(missing_ok=True)
        if draw(tables, target):
            written.append(name)
    return written
