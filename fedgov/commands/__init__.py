"""The product's commands on top of the engines: ``fedgov train``, ``fedgov demo``,
``fedgov deploy`` and ``fedgov query`` (see :mod:`fedgov.cli`).

Import the modules themselves: this package re-exports nothing.
"""
