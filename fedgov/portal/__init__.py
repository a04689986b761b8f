"""The county portal: residents vote and check in a browser; everyone sees the
data-use register; auditors and data officers see the ledger (docs/portal.md).

``fedgov portal serve`` runs it; :func:`create_app` builds the ASGI app from a
:class:`PortalSettings`. Public names are imported on first use
(:mod:`fedgov._lazy`): ``fedgov portal token`` never loads web3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from fedgov.portal.app import create_app
    from fedgov.portal.settings import KeyFile, PortalSettings, RegistrarDesk

__all__ = ["KeyFile", "PortalSettings", "RegistrarDesk", "create_app"]

_EXPORTS: dict[str, str] = {
    "KeyFile": "fedgov.portal.settings",
    "PortalSettings": "fedgov.portal.settings",
    "RegistrarDesk": "fedgov.portal.settings",
    "create_app": "fedgov.portal.app",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
