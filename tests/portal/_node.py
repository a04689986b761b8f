"""Runs the portal's browser cryptography under node (``js/harness.mjs``).

The page scripts import these very modules (``fedgov/portal/web/src/lib``);
node runs them with the same WebCrypto API the browser offers, so the tests
check the browser's arithmetic against the Python implementation without
starting a browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

LIB = Path(__file__).parents[2] / "fedgov" / "portal" / "web" / "src" / "lib"
HARNESS = Path(__file__).parent / "js" / "harness.mjs"


def run_js(*operations: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation's ``{"ok": result}`` or ``{"error": message}``."""
    node = shutil.which("node")
    assert node is not None, "node is required (the portal's build uses it)"
    assert (LIB.parent.parent / "node_modules").is_dir(), "run `make portal-assets`"
    done = subprocess.run(
        [node, str(HARNESS), str(LIB)],
        input=json.dumps(list(operations)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def js(operation: dict[str, Any]) -> Any:
    """One operation's result; fails the test with the JS error otherwise."""
    (result,) = run_js(operation)
    assert "ok" in result, result.get("error")
    return result["ok"]
