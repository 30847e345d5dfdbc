"""Signing in to the console: users and roles, sessions, CSRF, throttling, hosts, headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_world import HOST, ConsoleWorld, field, sign_in
from structlog.testing import capture_logs

from cosell.clock import ManualClock
from cosell.store.sql import Store, sqlite_url
from cosell.web.auth import SESSION_COOKIE

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def world(tmp_path: Path, clock: ManualClock) -> Iterator[ConsoleWorld]:
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    yield ConsoleWorld(store, clock)
    store.close()


def seed_dead_letter(world: ConsoleWorld, key: str = "opportunity:006D") -> None:
    world.store.enqueue(world.tenant, key)
    [job] = world.store.claim("test", START + timedelta(seconds=1), 60)
    world.store.dead_letter(job, "RejectedError: bad value")


def test_pages_need_a_signed_in_user(world: ConsoleWorld) -> None:
    client = world.client()
    response = client.get("/?q=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2F%3Fq%3Dx"
    assert client.get("/healthz").status_code == 200  # probes stay open
    assert client.get("/static/cosell.css").status_code == 200
    htmx = client.get("/static/htmx-2.0.11.min.js")  # vendored: no CDN
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:2000]


def test_sign_in_sets_a_strict_httponly_signed_cookie(world: ConsoleWorld) -> None:
    client = world.client()
    response = sign_in(client, "otto", "operator-password-1", next_="/?notice=hi")
    assert response.status_code == 303
    assert response.headers["location"] == "/?notice=hi"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert "otto (operator)" in page.text
    tampered = world.client()
    value = client.cookies[SESSION_COOKIE]
    tampered.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert tampered.get("/", follow_redirects=False).status_code == 303


def test_sign_in_goes_only_to_local_pages(world: ConsoleWorld) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = sign_in(world.client(), "vera", "viewer-password-1", next_=target)
        assert response.headers["location"] == "/"


def test_wrong_password_is_refused_and_logged_without_the_password(world: ConsoleWorld) -> None:
    client = world.client()
    with capture_logs() as logs:
        wrong = sign_in(client, "otto", "not-the-password")
        unknown = sign_in(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "User name or password is wrong." in wrong.text
    assert "User name or password is wrong." in unknown.text
    failed = [entry for entry in logs if entry["event"] == "sign_in.failed"]
    assert [entry["user"] for entry in failed] == ["otto", "nobody"]
    assert "not-the-password" not in repr(logs)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_throttled(world: ConsoleWorld, clock: ManualClock) -> None:
    client = world.client()
    for _ in range(5):
        assert sign_in(client, "otto", "guess-guess-guess").status_code == 401
    with capture_logs() as logs:
        held = sign_in(client, "otto", "operator-password-1")  # even the right one waits
    assert held.status_code == 429
    assert held.headers["Retry-After"] == "1"
    assert [entry["event"] for entry in logs] == ["sign_in.throttled"]
    # another user from the same address is not held yet (a proxy or office may share it)
    assert sign_in(client, "vera", "viewer-password-1").status_code == 303
    clock.advance(1)
    assert sign_in(client, "otto", "guess-guess-guess").status_code == 401
    held = sign_in(client, "otto", "operator-password-1")
    assert held.headers["Retry-After"] == "2"  # each further failure doubles the wait
    clock.advance(2)
    assert sign_in(client, "otto", "operator-password-1").status_code == 303
    assert sign_in(client, "otto", "guess-guess-guess").status_code == 401  # a success resets


def test_many_failures_from_one_address_hold_every_user_there(world: ConsoleWorld) -> None:
    client = world.client()
    for n in range(20):  # guessing across user names from one address
        assert sign_in(client, f"user{n}", "guess-guess-guess").status_code == 401
    assert sign_in(client, "vera", "viewer-password-1").status_code == 429


def test_signing_in_rotates_the_session(world: ConsoleWorld) -> None:
    client = world.sign_in("otto")
    first = client.cookies[SESSION_COOKIE]
    assert sign_in(client, "otto", "operator-password-1").status_code == 303
    assert client.cookies[SESSION_COOKIE] != first
    stale = world.client()
    stale.cookies.set(SESSION_COOKIE, first)
    assert stale.get("/", follow_redirects=False).status_code == 303


def test_sessions_expire(world: ConsoleWorld, clock: ManualClock) -> None:
    client = world.sign_in("vera")
    clock.advance(12 * 3600 + 1)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(world: ConsoleWorld) -> None:
    client = world.sign_in("vera")
    value = client.cookies[SESSION_COOKIE]
    csrf = field(client.get("/").text, "csrf")
    assert client.post("/sign-out", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    again = world.client()
    again.cookies.set(SESSION_COOKIE, value)
    assert again.get("/", follow_redirects=False).status_code == 303


def test_the_sign_in_form_needs_its_csrf_token(world: ConsoleWorld) -> None:
    client = world.client()
    client.get("/sign-in")
    data = {"username": "otto", "password": "operator-password-1", "csrf": "forged"}
    assert client.post("/sign-in", data=data, follow_redirects=False).status_code == 403


def test_a_viewer_cannot_act_and_an_operator_can(world: ConsoleWorld) -> None:
    seed_dead_letter(world)
    viewer = world.sign_in("vera")
    data = {"key": "opportunity:006D", "csrf": field(viewer.get("/").text, "csrf")}
    refused = viewer.post("/dead-letters/retry", data=data)
    assert refused.status_code == 403
    assert "viewer" in refused.text
    assert len(world.store.dead_letters(world.tenant)) == 1
    operator = world.sign_in("otto")
    data["csrf"] = field(operator.get("/").text, "csrf")
    response = operator.post("/dead-letters/retry", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert world.store.dead_letters(world.tenant) == []


def test_posts_need_the_sessions_csrf_token(world: ConsoleWorld) -> None:
    seed_dead_letter(world)
    operator = world.sign_in("otto")
    other = world.sign_in("ada")
    foreign = field(other.get("/").text, "csrf")
    for token in ("", foreign):
        data = {"key": "opportunity:006D", "csrf": token}
        assert operator.post("/dead-letters/retry", data=data).status_code == 403
    header = {"X-CSRF-Token": field(operator.get("/").text, "csrf")}
    data = {"key": "opportunity:006D"}
    accepted = operator.post("/dead-letters/retry", data=data, headers=header)
    assert accepted.status_code == 200
    assert world.store.dead_letters(world.tenant) == []


def test_other_hosts_are_refused(world: ConsoleWorld) -> None:
    client = world.client()
    for path in ("/", "/sign-in", "/healthz"):
        assert client.get(path, headers={"Host": "rebound.evil.example"}).status_code == 400
    assert client.get("/healthz", headers={"Host": f"{HOST}:8443"}).status_code == 200


@pytest.mark.parametrize("path", ["/sign-in", "/healthz", "/static/cosell.css"])
def test_security_headers_on_every_response(world: ConsoleWorld, path: str) -> None:
    headers = world.client().get(path).headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_api_tokens_sign_scripts_in(world: ConsoleWorld) -> None:
    token = world.users.issue_token("vera", "report")
    client = world.client()
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    wrong = {"Authorization": f"Bearer {token}x"}
    assert client.get("/", headers=wrong, follow_redirects=False).status_code == 303
