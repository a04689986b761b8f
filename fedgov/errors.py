"""The root of fedgov's exception hierarchy.

Every error fedgov raises on purpose derives from :class:`FedgovError`, so a
caller can catch the product's failures with one ``except`` clause and let
programming errors (``TypeError`` from a wrong call, say) propagate. Each
package defines its own subclasses next to its code and re-exports them.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "FedgovError"]


class FedgovError(Exception):
    """Base class of every error raised by fedgov."""


class ConfigurationError(FedgovError, ValueError):
    """An argument or configuration value breaks a documented rule.

    The message names the argument and the rule it breaks.
    """

    def __init__(self, argument: str, rule: str) -> None:
        self.argument = argument
        self.rule = rule
        super().__init__(f"{argument}: {rule}")
