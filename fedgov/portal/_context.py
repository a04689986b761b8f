"""What every page handler shares: settings, the county, templates, who may act."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.templating import Jinja2Templates

from fedgov.portal.security import csrf_token

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from starlette.requests import Request
    from starlette.responses import Response

    from fedgov.portal._sources import Registrar
    from fedgov.portal.audit import AuditRunner
    from fedgov.portal.county import County
    from fedgov.portal.security import Auditors
    from fedgov.portal.settings import PortalSettings

__all__ = ["PACKAGE_DIR", "PortalContext", "make_templates"]

PACKAGE_DIR = Path(__file__).parent


def _when(value: float | int | None, *, ms: bool = False) -> str:
    if value is None:
        return "-"
    seconds = value / 1000 if ms else value
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )


def _eps(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _short(value: str, keep: int = 10) -> str:
    return (
        value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-keep // 2 :]}"
    )


def make_templates() -> Jinja2Templates:
    """The page templates, autoescaped, with the portal's filters."""
    templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
    env = templates.env
    env.autoescape = True
    env.filters["when"] = _when
    env.filters["when_ms"] = lambda v: _when(v, ms=True)
    env.filters["eps"] = _eps
    env.filters["short"] = _short
    return templates


@dataclass
class PortalContext:
    """The running portal's parts."""

    settings: PortalSettings
    county: County
    templates: Jinja2Templates
    auditors: Auditors
    audits: AuditRunner
    relayer: LocalAccount | None
    registrar: Registrar | None

    def render(
        self,
        request: Request,
        template: str,
        *,
        status_code: int = 200,
        **values: Any,
    ) -> Response:
        """A page: ``template`` with the values every page needs."""
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "csrf_token": csrf_token(request),
                "auditor": self.auditors.auditor(request),
                "auditors_enabled": self.auditors.enabled,
                "insecure": not self.settings.tls,
                **values,
            },
            status_code=status_code,
        )
