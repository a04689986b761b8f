"""The portal's own protections, each attacked: headers, CSRF, origins, tokens."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest
from starlette.routing import Route

from fedgov.errors import ConfigurationError
from fedgov.portal.security import CSP, Auditors, add_token
from tests.portal.conftest import client_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.portal._county import County

PAGES = (
    "/",
    "/consultations",
    "/receipts",
    "/register",
    "/budgets",
    "/jobs",
    "/audit",
    "/signin",
    "/api/register",
    "/api/budgets",
    "/no-such-page",
)


@pytest.mark.anvil
def test_every_response_carries_a_strict_content_security_policy(
    county: County,
) -> None:
    # Prepare
    client = client_for(county.settings())

    # Execute
    responses = {path: client.get(path) for path in PAGES}

    # Assert: scripts only from the portal itself, never inline; no framing.
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert "default-src 'none'" in CSP
    for path, response in responses.items():
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers["x-frame-options"] == "DENY", path
    assert responses["/no-such-page"].status_code == 404
    for path in PAGES[:8]:
        body = responses[path].text
        # No inline script: every <script> either loads from /static or is a
        # JSON data block, which browsers never execute.
        for tag in body.split("<script")[1:]:
            head = tag.split(">", 1)[0]
            assert 'src="/static/dist/' in head or 'type="application/json"' in head, (
                path,
                head,
            )
        assert " style=" not in body, path
        assert "<style" not in body, path


@pytest.mark.anvil
def test_every_state_changing_route_needs_the_csrf_token(county: County) -> None:
    # Prepare: every POST route of the app, called without a token.
    client = client_for(county.settings())
    client.get("/")
    posts = [
        route.path.replace("{consultation_id:int}", "1")
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and "POST" in (route.methods or ())
    ]

    # Execute
    answers = {path: client.post(path, json={}) for path in posts}

    # Assert: refused before anything else is looked at.
    assert len(posts) >= 7
    for path, answer in answers.items():
        assert answer.status_code == 403, (path, answer.text)
        assert "CSRF token is missing or stale" in answer.text, path


@pytest.mark.anvil
def test_cross_site_writes_are_refused_even_with_the_token(county: County) -> None:
    # Prepare
    client = client_for(county.settings())
    client.get("/")
    token = client.cookies["fedgov-csrf"]
    form = {"csrf_token": token, "receipt": "{}"}

    # Execute
    foreign = client.post(
        "/receipts", data=form, headers={"Origin": "https://evil.example"}
    )
    sibling = client.post(
        "/receipts", data=form, headers={"Sec-Fetch-Site": "same-site"}
    )
    typed = client.post(
        "/receipts",
        data=form,
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    )
    own = client.post("/receipts", data=form, headers={"Origin": "https://testserver"})
    proxy = client_for(
        county.settings(extra_origins=("https://portal.county.example",))
    )
    proxy.get("/")
    proxied = proxy.post(
        "/receipts",
        data={**form, "csrf_token": proxy.cookies["fedgov-csrf"]},
        headers={"Origin": "https://portal.county.example"},
    )

    # Assert
    assert foreign.status_code == sibling.status_code == 403
    assert foreign.json() == {"error": "cross-site request refused"}
    assert own.status_code == typed.status_code == 400  # same-origin; bad receipt
    assert proxied.status_code == 400


@pytest.mark.anvil
def test_only_a_valid_auditor_token_signs_in(county: County) -> None:
    # Prepare
    client = client_for(county.settings())
    client.get("/signin")
    token = client.cookies["fedgov-csrf"]

    # Execute
    anonymous = client.post("/audit/verify", data={"csrf_token": token})
    wrong = client.post("/signin", data={"csrf_token": token, "token": "guess"})
    right = client.post(
        "/signin",
        data={"csrf_token": token, "token": county.auditor_token},
        follow_redirects=False,
    )
    signed_in = client.get("/audit")
    session = client.cookies["fedgov-session"]
    client.cookies.delete("fedgov-session")
    client.cookies.set(
        "fedgov-session", session[:-2] + ("00" if session[-2:] != "00" else "11")
    )
    forged = client.get("/audit")

    # Assert
    assert anonymous.status_code == 401
    assert "sign in with an auditor token" in anonymous.text
    assert wrong.status_code == 401
    assert "not a valid auditor token" in wrong.text
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert county.auditor_token not in cookie
    assert "auditor <strong>ada</strong>" in signed_in.text
    assert 'id="audit-run"' in signed_in.text
    assert "auditor <strong>ada</strong>" not in forged.text


def test_token_files_hold_digests_only_and_refuse_bad_names(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "tokens"

    # Execute
    token = add_token(path, "ada")
    second = add_token(path, "grace.hopper@county")

    # Assert
    text = path.read_text()
    assert token not in text
    assert second not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    auditors = Auditors(path, tls=True)
    assert auditors.check_token(token) == "ada"
    assert auditors.cookie == "__Host-fedgov-session"
    with pytest.raises(ConfigurationError, match="already holds a token"):
        add_token(path, "ada")
    with pytest.raises(ConfigurationError, match="--name"):
        add_token(path, "ada lovelace")
    path.write_text("ada not-a-digest\n")
    with pytest.raises(ConfigurationError, match="line 1"):
        Auditors(path, tls=False)
