"""Coordinator's and departments' pages: the history of jobs, a job's progress live.

A job's rounds come from the coordinator's audit log as it writes them
(``aggregate`` records: who trained, refused or was rejected, and the
lifetime epsilon each department reported) and from the departments'
``budget_spend`` records (the epsilon each charged); a round is on the page
as soon as it is durable in the log. Accuracy per round comes from the job's
run folder: ``progress.json``, which the coordinator rewrites after every
round, then ``run_record.json`` once the job ends. The page follows a
running job over server-sent events (``/api/jobs/stream``), sent whenever
the county's files change; without JavaScript it shows the job as it was
when loaded.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fedgov.portal import _sources as src
from fedgov.portal.inputs import InputError, query_text
from fedgov.portal.register import EntryKind, RegisterEntry

if TYPE_CHECKING:
    from starlette.requests import Request

    from fedgov.portal._context import PortalContext

__all__ = ["job_progress", "routes"]

_STREAM_POLL_S = 1.0
_STREAM_LIMIT_S = 3600.0


def _accuracies(run: src.RunFolder | None) -> dict[int, float | None]:
    rounds: list[Any] = []
    if run is not None:
        rounds = (run.run_record or run.progress or {}).get("rounds", [])
    out: dict[int, float | None] = {}
    for row in rounds:
        if isinstance(row, dict) and "server_round" in row:
            evaluation = row.get("aggregated_evaluate") or {}
            value = evaluation.get(src.Metric.EVAL_ACCURACY)
            out[int(row["server_round"])] = (
                float(value) if isinstance(value, int | float) else None
            )
    return out


def job_progress(entry: RegisterEntry, run: src.RunFolder | None) -> dict[str, Any]:
    """A training job's progress as plain JSON values (the page and the stream)."""
    accuracy = _accuracies(run)
    rounds = []
    for progress in entry.rounds:
        statuses: dict[str, list[str]] = {}
        for department, status in progress.statuses:
            statuses.setdefault(status, []).append(department)
        rounds.append(
            {
                "round": progress.round,
                "trained": sorted(statuses.pop(src.Outcome.TRAINED, [])),
                "refused": sorted(statuses.pop(src.Outcome.REFUSED, [])),
                "other": {k: sorted(v) for k, v in sorted(statuses.items())},
                "epsilon_total": dict(progress.epsilon_total),
                "accuracy": accuracy.get(progress.round),
                "timestamp_ms": progress.timestamp_ms,
            }
        )
    return {
        "id": entry.id,
        "purpose": entry.purpose,
        "dataset": entry.dataset,
        "detail": entry.detail,
        "rounds_planned": entry.rounds_planned,
        "rounds_done": len(entry.rounds),
        "finished": entry.finished,
        "started_ms": entry.started_ms,
        "last_ms": entry.last_ms,
        "departments": [
            {
                "department": d.department,
                "epsilon": d.epsilon,
                "epsilon_total": d.epsilon_total,
                "status": d.status,
                "reason": d.reason,
            }
            for d in entry.departments
        ],
        "rounds": rounds,
        "run_folder": None if run is None else run.path.name,
    }


def routes(ctx: PortalContext) -> list[Route]:
    def job_of(request: Request) -> RegisterEntry:
        job = query_text(request, "id", limit=256)
        entry = ctx.county.entry(EntryKind.TRAINING, job) if job else None
        if entry is None:
            raise InputError("id", f"no training job {job!r} in the audit logs")
        return entry

    def history() -> dict[str, Any]:
        ctx.county.refresh()
        entries = [e for e in ctx.county.register() if e.kind == EntryKind.TRAINING]
        runs = ctx.county.runs()
        audited = {e.id for e in entries}
        unaudited = [
            run
            for run in runs
            if run.run_record is not None
            and str(run.run_record.get("job", {}).get("job-id", "")) not in audited
        ]
        return {"entries": entries, "unaudited": unaudited}

    async def jobs(request: Request) -> Response:
        return ctx.render(
            request, "jobs.html", **await anyio.to_thread.run_sync(history)
        )

    def progress_of(request: Request) -> dict[str, Any]:
        ctx.county.refresh()
        entry = job_of(request)
        return job_progress(entry, ctx.county.run_of(entry.id))

    async def job_page(request: Request) -> Response:
        progress = await anyio.to_thread.run_sync(progress_of, request)
        return ctx.render(request, "job.html", job=progress)

    async def api_progress(request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(progress_of, request))

    async def api_stream(request: Request) -> Response:
        first = await anyio.to_thread.run_sync(progress_of, request)

        async def events() -> AsyncIterator[str]:
            sent = json.dumps(first)
            yield f"event: progress\ndata: {sent}\n\n"
            started = time.monotonic()
            while time.monotonic() - started < _STREAM_LIMIT_S:
                await anyio.sleep(_STREAM_POLL_S)
                if await request.is_disconnected():
                    return
                current = json.dumps(
                    await anyio.to_thread.run_sync(progress_of, request)
                )
                if current != sent:
                    sent = current
                    yield f"event: progress\ndata: {current}\n\n"
                else:
                    yield ": idle\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return [
        Route("/jobs", jobs),
        Route("/jobs/entry", job_page),
        Route("/api/jobs/progress", api_progress),
        Route("/api/jobs/stream", api_stream),
    ]
