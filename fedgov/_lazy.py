"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names and the modules that define them; a name is
imported the first time it is used. A Flower ClientApp process that imports
one submodule then pays only for that submodule's dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` re-exporting ``exports``.

    ``exports`` maps each public name to the module defining it; a resolved
    name is cached in ``namespace`` (the package's ``globals()``).
    """

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(exports)

    return getattr_, dir_
