"""The portal's own protections: headers, CSRF, auditor sign-in.

**Headers.** Every response carries a strict Content-Security-Policy —
scripts, styles, images and connections from the portal itself only, no
inline script or style, no framing, forms posting only back to the portal —
plus ``nosniff``, ``no-referrer`` and, over HTTPS, HSTS.

**Who may change what.** Reading is public. Three things change state, each
authenticated by the credential of the actor it acts for:

- a resident's credential request carries their roll key's EIP-712
  signature and a ballot its voting key's (the contract checks both again);
  a reveal needs the salt only the ballot's owner knows;
- re-running the audit needs an **auditor token**: a random 256-bit secret
  made by ``fedgov portal token``, of which the portal stores only the
  SHA-256. An auditor signs in once with it (an HMAC-signed, HttpOnly,
  SameSite=Strict session cookie), or sends it as ``Authorization: Bearer``
  from a script. Tokens rather than chain keys: the auditor needs no key in a
  browser, and what the token unlocks (spending the portal's CPU on a re-run)
  changes no record, so a stolen token costs time, never integrity.

**CSRF.** Every state-changing request from a browser must carry the token
of the double-submit cookie (a form field, or the ``X-CSRF-Token`` header for
the page scripts), and a cross-site ``Origin`` or ``Sec-Fetch-Site`` is
refused outright. Bearer-token requests carry no cookie and need neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders

from fedgov.errors import ConfigurationError, FedgovError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSP",
    "Auditors",
    "AuthError",
    "CsrfError",
    "SecurityMiddleware",
    "add_token",
    "csrf_token",
    "require_csrf",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_SESSION_S = 8 * 3600
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfError(FedgovError):
    """A state-changing request without the page's CSRF token, or cross-site."""


class AuthError(FedgovError):
    """A request needing an auditor's token came without a valid one."""


def _cookie(tls: bool, name: str) -> str:
    # __Host- cookies are bound to this host and path "/", never sent in clear.
    return f"__Host-fedgov-{name}" if tls else f"fedgov-{name}"


class SecurityMiddleware:
    """Adds the security headers and the CSRF cookie; refuses cross-site writes."""

    def __init__(self, app: ASGIApp, *, tls: bool, origins: tuple[str, ...]) -> None:
        self.app = app
        self.tls = tls
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
        }
        cookie = _read_cookie(headers.get("cookie", ""), _cookie(self.tls, "csrf"))
        fresh = cookie is None or not re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)
        token = secrets.token_urlsafe(32) if fresh else str(cookie)
        scope.setdefault("state", {})["csrf"] = token
        if scope["method"] in _UNSAFE and self._cross_site(scope, headers):
            await _refuse(send, "cross-site request refused")
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Content-Security-Policy"] = CSP
                out["X-Content-Type-Options"] = "nosniff"
                out["Referrer-Policy"] = "no-referrer"
                out["X-Frame-Options"] = "DENY"
                out["Cross-Origin-Opener-Policy"] = "same-origin"
                out["Cross-Origin-Resource-Policy"] = "same-origin"
                out["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if "cache-control" not in out:
                    out["Cache-Control"] = "no-store"
                if self.tls:
                    out["Strict-Transport-Security"] = "max-age=31536000"
                if fresh:
                    out.append(
                        "Set-Cookie",
                        f"{_cookie(self.tls, 'csrf')}={token}; Path=/; HttpOnly; "
                        f"SameSite=Strict{'; Secure' if self.tls else ''}",
                    )
            await send(message)

        await self.app(scope, receive, with_headers)

    def _cross_site(self, scope: Scope, headers: dict[str, str]) -> bool:
        # Browsers say where a request comes from in Sec-Fetch-Site; with
        # "Referrer-Policy: no-referrer" they send "Origin: null" on form
        # posts, so Origin decides only for clients that do not send it.
        site = headers.get("sec-fetch-site")
        if site is not None:
            return site != "same-origin"
        origin = headers.get("origin")
        if origin is None:
            return False
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        return origin != own and origin not in self.origins


async def _refuse(send: Send, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-security-policy", CSP.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _read_cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def csrf_token(request: Request) -> str:
    """The CSRF token forms and scripts of this page must send back."""
    return str(request.scope["state"]["csrf"])


def require_csrf(request: Request, submitted: str | None) -> None:
    """Raise :class:`CsrfError` unless ``submitted`` is this browser's token.

    Requests authenticated by a bearer token carry no cookie to abuse.
    """
    if request.headers.get("authorization", "").startswith("Bearer "):
        return
    # A browser without the cookie was handed a fresh random token with this
    # response, which nothing it sent can match.
    expected = csrf_token(request)
    sent = submitted or request.headers.get("x-csrf-token")
    if not sent or not hmac.compare_digest(expected, sent):
        raise CsrfError(
            "the form's CSRF token is missing or stale: reload the page and try again"
        )


# -- auditor tokens ------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_token(path: Path, name: str) -> str:
    """Make a token for auditor ``name``; store its digest in ``path`` (0600)."""
    if not _TOKEN_NAME.match(name):
        raise ConfigurationError("--name", f"{name!r}: 1-64 of A-Z a-z 0-9 . _ @ -")
    names = {n for n, _ in _read_tokens(path)} if path.exists() else set()
    if name in names:
        raise ConfigurationError("--name", f"{name!r} already holds a token")
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(f"{name} {_digest(token)}\n")
    return token


def _read_tokens(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigurationError(
            "auditor_tokens", f"cannot read {path}: {e.strerror}"
        ) from e
    tokens = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        name, _, digest = line.strip().partition(" ")
        if not _TOKEN_NAME.match(name) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigurationError(
                f"{path}, line {number}",
                "must be 'NAME SHA256-HEX' (fedgov portal token)",
            )
        tokens.append((name, digest))
    return tokens


@dataclass(frozen=True)
class _Session:
    name: str
    expires: int


class Auditors:
    """Who holds an auditor token, and their signed session cookies."""

    def __init__(self, path: Path | None, *, tls: bool) -> None:
        self._tokens = dict(_read_tokens(path)) if path is not None else {}
        # Sessions end when the portal restarts: the key lives in memory only.
        self._key = secrets.token_bytes(32)
        self.cookie = _cookie(tls, "session")
        self.tls = tls

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def check_token(self, token: str) -> str:
        """The auditor ``token`` belongs to; raises :class:`AuthError`."""
        digest = _digest(token)
        for name, stored in self._tokens.items():
            if hmac.compare_digest(stored, digest):
                return name
        raise AuthError("not a valid auditor token")

    def session_cookie(self, name: str) -> str:
        """A ``Set-Cookie`` value signing ``name`` in for a working day."""
        payload = base64.urlsafe_b64encode(
            json.dumps({"n": name, "e": int(time.time()) + _SESSION_S}).encode()
        ).decode()
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        secure = "; Secure" if self.tls else ""
        return (
            f"{self.cookie}={payload}.{mac}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={_SESSION_S}{secure}"
        )

    def clear_cookie(self) -> str:
        return f"{self.cookie}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"

    def auditor(self, request: Request) -> str | None:
        """The signed-in auditor (session cookie or bearer token), if any."""
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            try:
                return self.check_token(header.removeprefix("Bearer ").strip())
            except AuthError:
                return None
        value = request.cookies.get(self.cookie, "")
        payload, _, mac = value.partition(".")
        expected = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        if not payload or not hmac.compare_digest(mac, expected):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload))
            session = _Session(str(data["n"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < time.time() or session.name not in self._tokens:
            return None
        return session.name

    def require(self, request: Request) -> str:
        name = self.auditor(request)
        if name is None:
            raise AuthError(
                "sign in with an auditor token first"
                if self.enabled
                else "this portal has no auditor tokens (fedgov portal token)"
            )
        return name
