"""Auditors' pages: every actor's log, the latest audit, a re-run, downloads.

The audit is ``fedgov audit verify`` itself (:func:`ledger.audit.verify_audit`
over every actor log of the state folders, against the AnchorRegistry), run
in a background thread when an auditor asks; its JSON report is kept in the
portal's data folder (``audit-report.json``) with who asked and when, and
served as is.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fedgov.portal import _sources as src
from fedgov.portal.inputs import InputError, form_text
from fedgov.portal.security import require_csrf

if TYPE_CHECKING:
    from starlette.requests import Request

    from fedgov.portal._context import PortalContext
    from fedgov.portal.county import County
    from fedgov.portal.settings import PortalSettings

__all__ = ["REPORT_FORMAT", "AuditRunner", "routes"]

_log = logging.getLogger(__name__)

REPORT_FORMAT = "fedgov-portal-audit-v1"


class AuditRunner:
    """Runs the auditor in the background and keeps its latest report."""

    def __init__(self, settings: PortalSettings, county: County) -> None:
        self._settings = settings
        self._county = county
        self._path = settings.data_dir / "audit-report.json"
        self._lock = threading.Lock()
        self._running: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self._settings.registry is not None and bool(self._settings.state_dirs)

    def running(self) -> dict[str, Any] | None:
        with self._lock:
            return None if self._running is None else dict(self._running)

    def latest(self) -> dict[str, Any] | None:
        """The stored result of the latest audit, if any."""
        try:
            stored = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            return {"error": f"{self._path} is unreadable: {e}"}
        return stored if isinstance(stored, dict) else None

    def start(self, *, by: str, allow_unanchored: bool) -> bool:
        """Start an audit unless one runs; whether this call started it."""
        if not self.enabled:
            raise InputError(
                "audit", "this portal knows no AnchorRegistry or no state folder"
            )
        with self._lock:
            if self._running is not None:
                return False
            self._running = {"by": by, "started": time.time()}
        threading.Thread(
            target=self._run,
            args=(by, allow_unanchored),
            name="fedgov-portal-audit",
            daemon=True,
        ).start()
        return True

    def _run(self, by: str, allow_unanchored: bool) -> None:
        started = time.time()
        result: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "by": by,
            "started": started,
            "allow_unanchored": allow_unanchored,
        }
        try:
            logs = [log.path for log in src.actor_logs(self._settings.state_dirs)]
            assert self._settings.registry is not None
            report = src.run_audit(
                logs,
                chain=self._county.chain,
                registry=self._settings.registry,
                roles=self._settings.roles,
                allow_unanchored=allow_unanchored,
            )
            result["report"] = _relabel(report, self._settings.state_dirs)
        except src.FedgovError as e:
            result["error"] = str(e)
        except Exception as e:  # the thread must record why it stopped
            _log.exception("the portal's audit failed")
            result["error"] = f"{type(e).__name__}: {e}"
        result["finished"] = time.time()
        self._write(result)
        with self._lock:
            self._running = None

    def _write(self, result: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix="audit-report.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(result, out, indent=1)
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _relabel(value: Any, state_dirs: tuple[Path, ...]) -> Any:
    """``value`` with logs named from their state folder, not the server's root.

    The auditor labels a log by its path; the public page needs
    ``departments/<name>/audit-<address>.db``, not where the county keeps it.
    """
    if isinstance(value, str):
        for folder in state_dirs:
            for prefix in {f"{folder}/", f"{folder.resolve()}/"}:
                value = value.replace(prefix, "")
        return value
    if isinstance(value, dict):
        return {k: _relabel(v, state_dirs) for k, v in value.items()}
    if isinstance(value, list):
        return [_relabel(v, state_dirs) for v in value]
    return value


def routes(ctx: PortalContext) -> list[Route]:
    async def page(request: Request) -> Response:
        ctx.county.refresh()
        return ctx.render(
            request,
            "audit.html",
            logs=ctx.county.logs(),
            latest=ctx.audits.latest(),
            running=ctx.audits.running(),
            audit_enabled=ctx.audits.enabled,
            registry=ctx.settings.registry,
        )

    async def verify(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        require_csrf(request, form_text(form, "csrf_token"))
        by = ctx.auditors.require(request)
        started = ctx.audits.start(
            by=by, allow_unanchored=form_text(form, "allow_unanchored") == "on"
        )
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"started": started}, status_code=202)
        return RedirectResponse("/audit", status_code=303)

    async def report(request: Request) -> Response:
        latest = ctx.audits.latest()
        if latest is None:
            return JSONResponse({"error": "no audit has run yet"}, status_code=404)
        return JSONResponse(
            latest,
            headers={"Content-Disposition": 'attachment; filename="audit-report.json"'},
        )

    async def export(request: Request) -> Response:
        log_id = str(request.path_params["log_id"])
        ctx.county.refresh()
        found = ctx.county.log_of(log_id)
        if found is None:
            return JSONResponse({"error": f"no log 0x{log_id}"}, status_code=404)
        source, meta = found
        folder = tempfile.mkdtemp(prefix="fedgov-portal-export-")
        target = Path(folder) / "export.jsonl"
        src.write_raw_export(target, source.path)
        who = source.department or source.role
        return FileResponse(
            target,
            media_type="application/x-ndjson",
            filename=f"{who}-audit-{meta.actor}.jsonl",
            background=BackgroundTask(_remove, Path(folder)),
        )

    return [
        Route("/audit", page),
        Route("/audit/verify", verify, methods=["POST"]),
        Route("/audit/report.json", report),
        Route("/audit/logs/{log_id:str}.jsonl", export),
    ]


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
