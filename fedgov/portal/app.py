"""The portal's ASGI application: pages, APIs, and the errors they answer with.

:func:`create_app` wires the parts together from :class:`PortalSettings`.
Errors are answered in the reader's terms: a bad input ``400`` naming the
field and the rule, a missing page ``404``, a contract's refusal ``409``
with its reason, an unreachable chain ``503``; pages get an HTML page,
``/api`` and JSON callers get ``{"error": ...}``. No traceback or key ever
reaches a response; a file the portal cannot read is logged, not shown.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fedgov.errors import ConfigurationError
from fedgov.portal import _sources as src
from fedgov.portal import audit, datause, jobs, votes
from fedgov.portal._context import PACKAGE_DIR, PortalContext, make_templates
from fedgov.portal.audit import AuditRunner
from fedgov.portal.county import County
from fedgov.portal.inputs import InputError, form_text
from fedgov.portal.security import (
    Auditors,
    AuthError,
    CsrfError,
    SecurityMiddleware,
    require_csrf,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fedgov.portal.settings import PortalSettings

__all__ = ["STATIC_DIR", "ServerTiming", "create_app", "open_context"]

_log = logging.getLogger(__name__)

STATIC_DIR = PACKAGE_DIR / "static"
BUNDLE_DIR = STATIC_DIR / "dist"
_BUNDLES = ("vote.js", "retally.js", "proofs.js", "budgets.js", "job.js")


class ServerTiming:
    """``Server-Timing: app;dur=MS``: the server's time until the response starts.

    Browsers show it next to the network time; the benchmark reads it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"server-timing", f"app;dur={ms:.1f}".encode()),
                ]
            await send(message)

        await self.app(scope, receive, timed)


def _check_bundles() -> None:
    missing = [name for name in _BUNDLES if not (BUNDLE_DIR / name).is_file()]
    if missing:
        raise ConfigurationError(
            "portal assets",
            f"{', '.join(missing)} not built in {BUNDLE_DIR}: run `make portal-assets`",
        )


def open_context(
    settings: PortalSettings, chain: src.Chain | None = None
) -> PortalContext:
    """The running portal's parts: the chain, the county, who may act for whom."""
    relayer = src.load_account(settings.relayer) if settings.relayer else None
    if chain is None:
        chain = src.open_chain(settings.rpc_url)
    county = County(settings, chain)
    registrar = None
    desk = settings.registrar_desk
    if desk is not None:
        assert county.consultations is not None  # PortalSettings checks it
        registrar = src.open_registrar(
            county.consultations,
            account=src.load_account(desk.account),
            roll=desk.roll,
            credential_key=desk.credential_key,
            passphrase=src.load_passphrase(desk.passphrase_env)
            if desk.credential_key
            else "",
        )
    return PortalContext(
        settings=settings,
        county=county,
        templates=make_templates(),
        auditors=Auditors(settings.auditor_tokens, tls=settings.tls),
        audits=AuditRunner(settings, county),
        relayer=relayer,
        registrar=registrar,
    )


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.headers.get(
        "accept", ""
    ).startswith("application/json")


def create_app(
    settings: PortalSettings, *, chain: src.Chain | None = None
) -> Starlette:
    """The portal for ``settings`` (``chain``: an already open connection)."""
    _check_bundles()
    ctx = open_context(settings, chain)

    def answer(request: Request, status: int, title: str, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        return ctx.render(
            request, "error.html", status_code=status, title=title, message=message
        )

    async def bad_input(request: Request, exc: Exception) -> Response:
        return answer(request, 400, "Not accepted", str(exc))

    async def not_found(request: Request, exc: Exception) -> Response:
        return answer(request, 404, "Not found", str(exc))

    async def forbidden(request: Request, exc: Exception) -> Response:
        return answer(request, 403, "Refused", str(exc))

    async def unauthorized(request: Request, exc: Exception) -> Response:
        return answer(request, 401, "Sign-in needed", str(exc))

    async def refused(request: Request, exc: Exception) -> Response:
        reason = exc.reason if isinstance(exc, src.ContractRevertError) else str(exc)
        return answer(request, 409, "The contract refused", reason)

    async def chain_down(request: Request, exc: Exception) -> Response:
        _log.warning("chain unreachable: %s", exc)
        return answer(request, 503, "The chain did not answer", str(exc))

    async def chain_error(request: Request, exc: Exception) -> Response:
        _log.warning("chain error: %s", exc)
        return answer(request, 502, "The chain answered unexpectedly", str(exc))

    async def unreadable(request: Request, exc: Exception) -> Response:
        _log.error("the portal cannot read the county's files: %s", exc)
        return answer(
            request,
            500,
            "Unreadable",
            "the portal cannot read one of the county's files; its operator "
            "finds why in the portal's log",
        )

    async def voting_error(request: Request, exc: Exception) -> Response:
        return answer(request, 400, "Not accepted", str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = {404: "Not found", 405: "Not allowed"}.get(
            exc.status_code, "Not accepted"
        )
        return answer(request, exc.status_code, title, str(exc.detail))

    async def home(request: Request) -> Response:
        ctx.county.refresh()
        latest = ctx.audits.latest()
        return ctx.render(
            request,
            "home.html",
            entries=len(ctx.county.register()),
            logs=len(ctx.county.log_paths()),
            latest=latest,
            consultation=settings.consultation,
        )

    async def signin_page(request: Request) -> Response:
        return ctx.render(request, "signin.html")

    async def signin(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        require_csrf(request, form_text(form, "csrf_token"))
        name = ctx.auditors.check_token(form_text(form, "token", limit=128).strip())
        response = RedirectResponse("/audit", status_code=303)
        response.headers.append("Set-Cookie", ctx.auditors.session_cookie(name))
        return response

    async def signout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=2)
        require_csrf(request, form_text(form, "csrf_token"))
        response = RedirectResponse("/", status_code=303)
        response.headers.append("Set-Cookie", ctx.auditors.clear_cookie())
        return response

    routes = [
        Route("/", home),
        Route("/signin", signin_page),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        *votes.routes(ctx),
        *datause.routes(ctx),
        *jobs.routes(ctx),
        *audit.routes(ctx),
        Mount("/static", app=StaticFiles(directory=Path(STATIC_DIR)), name="static"),
    ]

    def warm_up() -> None:
        # Index the county's logs and read the budgets (which loads the
        # accountant) while the server starts listening, so that the first
        # visitor does not wait for them; then move everything alive (torch,
        # web3, the index) out of the garbage collector's sight: a full
        # collection over that heap took ~300 ms of some requests.
        try:
            ctx.county.refresh(force=True)
            ctx.county.budgets()
        except src.FedgovError as e:
            _log.error("the portal could not read the county at start-up: %s", e)
        gc.freeze()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        threading.Thread(
            target=warm_up, name="fedgov-portal-warm-up", daemon=True
        ).start()
        yield

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=[
            Middleware(ServerTiming),
            Middleware(
                SecurityMiddleware, tls=settings.tls, origins=settings.extra_origins
            ),
        ],
        exception_handlers={
            InputError: bad_input,
            votes.ConsultationNotFound: not_found,
            CsrfError: forbidden,
            AuthError: unauthorized,
            src.ContractRevertError: refused,
            src.ChainUnavailableError: chain_down,
            src.ChainError: chain_error,
            src.VotingError: voting_error,
            src.LedgerError: unreadable,
            ConfigurationError: bad_input,
            HTTPException: http_error,
        },
    )
    app.state.portal = ctx
    return app
