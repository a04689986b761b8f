"""Compile fedgov's Vyper contracts into the committed artifacts.

Usage::

    python -m ledger.contracts.build            # (re)write artifacts/<Name>.json
    python -m ledger.contracts.build --check    # exit 1 if any artifact is stale

The output is a pure function of the sources and the pinned compiler: JSON with
sorted keys, the EVM version pinned here rather than left to the compiler's
default, and source paths reduced to file names (the bytecode's metadata holds
an integrity hash of the sources, never their location). Running it in any
checkout therefore reproduces the committed files byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import vyper  # type: ignore[import-untyped]
from vyper.cli.vyper_compile import compile_files  # type: ignore[import-untyped]
from vyper.compiler.settings import (  # type: ignore[import-untyped]
    OptimizationLevel,
    Settings,
)

from ledger.contracts import ARTIFACT_DIR, CONTRACT_NAMES, SOURCE_DIR, source_sha256

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EVM_VERSION", "build_artifact", "main"]

# py-evm (via eth-tester 0.14) and anvil 1.7 both run Prague.
EVM_VERSION = "prague"


def _compile(source: Path, formats: list[str]) -> dict[str, Any]:
    settings = Settings(evm_version=EVM_VERSION, optimize=OptimizationLevel.GAS)
    out = compile_files(
        [str(source)],
        formats,
        paths=[str(SOURCE_DIR)],
        include_sys_path=False,
        settings=settings,
    )
    (result,) = out.values()
    return dict(result)


def build_artifact(name: str) -> str:
    """The artifact JSON text for contract ``name``, compiled from source now."""
    source = SOURCE_DIR / f"{name}.vy"
    # solc_json must be requested alone; it is the compiler's own list of the
    # files a contract pulled in through imports.
    inputs = _compile(source, ["solc_json"])["solc_json"]["sources"]
    compiled = _compile(source, ["abi", "bytecode", "bytecode_runtime"])
    sources = {
        Path(p).name: source_sha256(SOURCE_DIR / Path(p).name) for p in sorted(inputs)
    }
    artifact = {
        "contract": name,
        "compiler": f"vyper {vyper.__version__}",
        "evm_version": EVM_VERSION,
        "sources": sources,
        "abi": compiled["abi"],
        "bytecode": compiled["bytecode"],
        "bytecode_runtime": compiled["bytecode_runtime"],
    }
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` compare) every contract's artifact."""
    parser = argparse.ArgumentParser(prog="python -m ledger.contracts.build")
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed artifacts"
    )
    args = parser.parse_args(argv)
    stale = []
    for name in CONTRACT_NAMES:
        text = build_artifact(name)
        path = ARTIFACT_DIR / f"{name}.json"
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if args.check:
            if current != text:
                stale.append(name)
        elif current != text:
            ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale artifacts: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
