"""Everyone's pages: the data-use register, its proofs, the departments' budgets.

The register lists every training job and query the county's logs record
(:mod:`fedgov.portal.register`): purpose, departments, dataset, the epsilon
each department charged, when. Each entry's page cites its records — the
coordinator's record of the job or query and every department's
``budget_spend`` (or refusal) — each with its RFC 9162 inclusion proof under
the latest tree head anchored on chain, which the page's script checks with
the browser's SHA-256 (``web/src/pages/proofs.js``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import anyio
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fedgov.portal.inputs import InputError, query_choice, query_text
from fedgov.portal.register import EntryKind, RegisterEntry

if TYPE_CHECKING:
    from starlette.requests import Request

    from fedgov.portal._context import PortalContext
    from fedgov.portal.county import BudgetSeries

__all__ = ["routes"]


def _filtered(
    request: Request, entries: list[RegisterEntry]
) -> tuple[list[RegisterEntry], dict[str, str], dict[str, list[str]]]:
    departments = sorted({d.department for e in entries for d in e.departments})
    datasets = sorted({e.dataset for e in entries if e.dataset})
    chosen = {
        "kind": query_choice(request, "kind", [k.value for k in EntryKind]),
        "department": query_choice(request, "department", departments),
        "dataset": query_choice(request, "dataset", datasets),
    }
    shown = [
        e
        for e in entries
        if (not chosen["kind"] or e.kind == chosen["kind"])
        and (not chosen["dataset"] or e.dataset == chosen["dataset"])
        and (
            not chosen["department"]
            or any(d.department == chosen["department"] for d in e.departments)
        )
    ]
    return shown, chosen, {"departments": departments, "datasets": datasets}


def entry_json(entry: RegisterEntry) -> dict[str, Any]:
    """A register entry as plain JSON values."""
    value = dataclasses.asdict(entry)
    value["kind"] = entry.kind.value
    value["epsilon"] = entry.epsilon
    return value


def series_json(series: BudgetSeries) -> dict[str, Any]:
    return dataclasses.asdict(series)


def routes(ctx: PortalContext) -> list[Route]:
    async def register(request: Request) -> Response:
        await anyio.to_thread.run_sync(ctx.county.refresh)
        shown, chosen, choices = _filtered(request, ctx.county.register())
        return ctx.render(
            request,
            "register.html",
            entries=shown,
            chosen=chosen,
            choices=choices,
        )

    def _entry(request: Request) -> RegisterEntry:
        kind = query_choice(request, "kind", [k.value for k in EntryKind])
        job = query_text(request, "id", limit=256)
        if not kind or not job:
            raise InputError("id", "name an entry: ?kind=training|query&id=...")
        entry = ctx.county.entry(kind, job)
        if entry is None:
            raise InputError("id", f"no {kind} {job!r} in the register")
        return entry

    async def entry_page(request: Request) -> Response:
        await anyio.to_thread.run_sync(ctx.county.refresh)
        entry = _entry(request)
        proofs = await anyio.to_thread.run_sync(ctx.county.proofs, entry.records)
        return ctx.render(
            request,
            "entry.html",
            entry=entry,
            proofs=proofs,
            proofs_json=[dataclasses.asdict(p) for p in proofs],
            registry=ctx.settings.registry,
        )

    async def api_register(request: Request) -> Response:
        await anyio.to_thread.run_sync(ctx.county.refresh)
        shown, _, _ = _filtered(request, ctx.county.register())
        return JSONResponse([entry_json(e) for e in shown])

    async def api_proofs(request: Request) -> Response:
        await anyio.to_thread.run_sync(ctx.county.refresh)
        entry = _entry(request)
        proofs = await anyio.to_thread.run_sync(ctx.county.proofs, entry.records)
        return JSONResponse(
            {
                "entry": entry_json(entry),
                "registry": ctx.settings.registry,
                "proofs": [dataclasses.asdict(p) for p in proofs],
            }
        )

    async def budgets(request: Request) -> Response:
        series = await anyio.to_thread.run_sync(ctx.county.budgets)
        return ctx.render(
            request,
            "budgets.html",
            series=series,
            series_json=[series_json(s) for s in series],
        )

    async def api_budgets(request: Request) -> Response:
        series = await anyio.to_thread.run_sync(ctx.county.budgets)
        return JSONResponse([series_json(s) for s in series])

    return [
        Route("/register", register),
        Route("/register/entry", entry_page),
        Route("/budgets", budgets),
        Route("/api/register", api_register),
        Route("/api/register/entry", api_proofs),
        Route("/api/budgets", api_budgets),
    ]
