"""The coordinator's round reports as a run record's JSON, and back.

:class:`~fedgov.run_record.RunRecord` (the contract layer) holds plain JSON
values; this module turns the coordinator's :class:`RoundReport` objects into
them (:func:`round_to_json`, :func:`summarize_departments`) and back
(:func:`round_from_json`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from coordinator.guard import DepartmentOutcome, RoundReport
from fedgov import protocol as p
from fedgov.run_record import DepartmentSummary

__all__ = ["round_from_json", "round_to_json", "summarize_departments"]


def summarize_departments(reports: list[RoundReport]) -> list[DepartmentSummary]:
    """Fold the round reports into one line per department."""
    names = sorted({o.department for r in reports for o in r.train + r.evaluate})
    out = []
    for name in names:
        train = [o for r in reports for o in r.train if o.department == name]
        evals = [o for r in reports for o in r.evaluate if o.department == name]
        with_eps = [o for o in train if p.Metric.EPSILON_TOTAL in o.metrics]
        last = with_eps[-1].metrics if with_eps else {}
        trained = [o for o in train if o.status == p.Outcome.TRAINED]
        evaluated = [o for o in evals if o.status == p.Outcome.TRAINED]
        final_eval = evaluated[-1].metrics if evaluated else {}
        refusals = [
            o.reason
            for r in reports
            for o in (*r.train, *r.evaluate)
            if o.department == name and o.status == p.Outcome.REFUSED
        ]
        out.append(
            DepartmentSummary(
                department=name,
                rounds_trained=len(trained),
                rounds_refused=sum(o.status == p.Outcome.REFUSED for o in train),
                rounds_rejected=sum(o.status == p.Outcome.REJECTED for o in train),
                num_examples=int(trained[-1].metrics.get(p.Metric.NUM_EXAMPLES, 0))
                if trained
                else 0,
                epsilon_job=float(trained[-1].metrics.get(p.Metric.EPSILON_JOB, 0.0))
                if trained
                else 0.0,
                epsilon_total=float(last.get(p.Metric.EPSILON_TOTAL, 0.0)),
                epsilon_limit=float(last.get(p.Metric.EPSILON_LIMIT, 0.0)),
                final_accuracy=final_eval.get(p.Metric.EVAL_ACCURACY),
                final_auc=final_eval.get(p.Metric.EVAL_AUC),
                final_f1=final_eval.get(p.Metric.EVAL_F1),
                final_rmse=final_eval.get(p.Metric.EVAL_RMSE),
                final_mae=final_eval.get(p.Metric.EVAL_MAE),
                refused=refusals[-1] if refusals else "",
            )
        )
    return out


def round_to_json(report: RoundReport) -> dict[str, Any]:
    """One round as plain JSON values."""
    return asdict(report)


def round_from_json(data: dict[str, Any]) -> RoundReport:
    """A :class:`RoundReport` back from its JSON in a run record (``round_to_json``)."""
    fields = {**data}
    fields["train"] = [DepartmentOutcome(**o) for o in data.get("train", [])]
    fields["evaluate"] = [DepartmentOutcome(**o) for o in data.get("evaluate", [])]
    return RoundReport(**fields)
