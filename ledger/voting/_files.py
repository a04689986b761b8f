"""Reading and writing the voting package's JSON files (rolls, wallets, receipts...).

Files holding secrets (the roll's names and salts, a resident's voting key,
the registrar's signing key) are created owner-only (mode 0600) before any
byte is written, so they never exist world-readable, even briefly.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from ledger.voting.errors import VotingFileError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["check_kind", "read_json", "write_json", "write_private_bytes"]


def write_json(path: Path, document: dict[str, Any], *, private: bool) -> None:
    """Write ``document`` as indented JSON; ``private`` files are mode 0600."""
    text = json.dumps(document, indent=1) + "\n"
    if private:
        write_private_bytes(path, text.encode("utf-8"))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(data)


def read_json(path: Path, *, kind: str) -> dict[str, Any]:
    """The JSON object in ``path``, whose ``format`` field must be ``kind``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise VotingFileError(str(path), f"cannot read: {e.strerror}") from e
    except ValueError as e:
        raise VotingFileError(str(path), f"not JSON: {e}") from e
    return check_kind(document, kind=kind, source=str(path))


def check_kind(document: object, *, kind: str, source: str) -> dict[str, Any]:
    """``document`` (decoded JSON) if it is an object whose ``format`` is ``kind``."""
    if not isinstance(document, dict) or document.get("format") != kind:
        raise VotingFileError(source, f"not a {kind} file")
    return document
