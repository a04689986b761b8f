"""Validating what comes in: JSON bodies, form fields, uploads, query strings.

Every check raises :class:`InputError` naming the field and the rule, which
the portal answers with ``400`` and those words; nothing unvalidated reaches
the chain or a template.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address

from fedgov.errors import FedgovError

if TYPE_CHECKING:
    from collections.abc import Collection

    from starlette.datastructures import FormData
    from starlette.requests import Request

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_UPLOAD_BYTES",
    "InputError",
    "address_field",
    "form_text",
    "hex_field",
    "int_field",
    "json_body",
    "query_choice",
    "query_text",
    "upload_text",
]

MAX_JSON_BYTES = 16 * 1024
"""Largest JSON body the API accepts (a ballot is ~1.2 KiB)."""
MAX_UPLOAD_BYTES = 16 * 1024
"""Largest receipt (pasted or uploaded) the portal reads (one is ~0.5 KiB)."""
_HEX = re.compile(r"^(0x)?([0-9a-fA-F]{2})*$")
_SAFE_TEXT = re.compile(r"^[\w .:@/+-]*$")


class InputError(FedgovError):
    """A request's input breaks a rule; ``field`` names it."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``application/json``, at most 16 KiB)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/json":
        raise InputError("body", f"must be application/json, got {kind or 'nothing'}")
    declared = request.headers.get("content-length")
    if declared is not None and (
        not declared.isdigit() or int(declared) > MAX_JSON_BYTES
    ):
        raise InputError("body", f"must be at most {MAX_JSON_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise InputError("body", f"must be at most {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(body)
    except ValueError as e:
        raise InputError("body", f"is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise InputError("body", "must be a JSON object")
    return value


def hex_field(document: dict[str, Any], name: str, size: int | None = None) -> bytes:
    """A byte string given as hex (with or without ``0x``) of ``size`` bytes."""
    value = document.get(name)
    if not isinstance(value, str) or not _HEX.match(value):
        raise InputError(name, "must be a hex string")
    data = bytes.fromhex(value.removeprefix("0x"))
    if size is not None and len(data) != size:
        raise InputError(name, f"must be {size} bytes, got {len(data)}")
    return data


def address_field(document: dict[str, Any], name: str) -> str:
    """A 20-byte address, checksummed."""
    value = document.get(name)
    if not isinstance(value, str) or not is_address(value):
        raise InputError(name, "must be a 20-byte hex address")
    return str(to_checksum_address(value))


def int_field(document: dict[str, Any], name: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (JSON numbers only, never floats or text)."""
    value = document.get(name)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not low <= value <= high
    ):
        raise InputError(name, f"must be an integer in {low}..{high}")
    return value


def form_text(form: FormData, name: str, *, limit: int = 256) -> str:
    """A form field's text (not a file), at most ``limit`` characters."""
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(name, "must be text, not a file")
    if len(value) > limit:
        raise InputError(name, f"must be at most {limit} characters")
    return value


async def upload_text(form: FormData, name: str) -> str:
    """An uploaded file's text (UTF-8, at most 16 KiB), or ``""`` if none."""
    value = form.get(name)
    if value is None or isinstance(value, str):
        return ""
    data = await value.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(name, f"the file must be at most {MAX_UPLOAD_BYTES} bytes")
    if not data:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(name, "the file is not UTF-8 text") from None


def query_choice(
    request: Request, name: str, allowed: Collection[str], default: str = ""
) -> str:
    """A query-string value that must be one of ``allowed`` (or absent)."""
    value = request.query_params.get(name, default)
    if value and value not in allowed:
        shown = ", ".join(sorted(allowed)[:20])
        raise InputError(name, f"must be one of: {shown}")
    return value


def query_text(request: Request, name: str, *, limit: int = 128) -> str:
    """A short, plain query-string value (letters, digits, ``.:@/+-_`` and spaces)."""
    value = request.query_params.get(name, "")
    if len(value) > limit or not _SAFE_TEXT.match(value):
        raise InputError(name, f"must be at most {limit} plain characters")
    return value
