"""The county portal: residents vote and check in a browser; everyone sees the
data-use register; auditors and data officers see the ledger (docs/portal.md).

``fedgov portal serve`` runs it; :func:`fedgov.portal.app.create_app` builds
the ASGI app from a :class:`fedgov.portal.settings.PortalSettings`. The portal
is the top layer: nothing of fedgov imports it.

Import the modules themselves: this package re-exports nothing, so that
``fedgov portal token`` never loads web3.
"""
