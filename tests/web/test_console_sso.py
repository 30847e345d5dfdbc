"""Console sign-in with Entra ID (OpenID Connect with PKCE) against a local provider that signs
its ID tokens: a known user gets a session with their cosell role; an unknown user, a forged
nonce, a wrong signing key or a foreign state is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from console_world import ConsoleWorld
from fake_oidc import CLIENT_ID, FakeProvider
from joserfc.jwk import RSAKey
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from cosell.clock import ManualClock
from cosell.sandbox.servers import ServedApp, bind
from cosell.store.sql import Store, sqlite_url
from cosell.web.sso import EntraSignIn, SsoConfig

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    served = ServedApp("oidc", bind(0))
    fake.issuer = served.url
    served.start(fake.app())
    yield fake
    served.stop()


@pytest.fixture
def world(tmp_path: Path, provider: FakeProvider) -> Iterator[ConsoleWorld]:
    clock = ManualClock(START)  # sessions expire on this clock; ID tokens on the real one
    store = Store.open(sqlite_url(tmp_path), clock=clock)
    world = ConsoleWorld(store, clock)
    sso = EntraSignIn(SsoConfig(provider.issuer, CLIENT_ID), world.auth, "test-session-key")
    world.dashboard.sso = sso
    world.app = ConsoleWorld.build_app(world)
    yield world
    store.close()


def single_sign_on(client: TestClient, next_: str = "/records") -> httpx.Response:
    start = client.get("/sign-in/sso", params={"next": next_}, follow_redirects=False)
    assert start.status_code == 303
    authorize = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(authorize.headers["location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_the_sign_in_page_offers_entra_id(world: ConsoleWorld) -> None:
    page = world.client().get("/sign-in").text
    assert 'href="/sign-in/sso?next=/"' in page


def test_a_known_user_signs_in_with_their_cosell_role(world: ConsoleWorld) -> None:
    world.users.add("sam@contoso.example", "operator", None)
    client = world.client()
    answer = single_sign_on(client)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/records"
    page = client.get("/records")
    assert page.status_code == 200
    assert "sam@contoso.example (operator)" in page.text


def test_an_unknown_user_is_refused(world: ConsoleWorld) -> None:
    with capture_logs() as logs:
        answer = single_sign_on(world.client())
    assert answer.status_code == 403
    assert "cosell users add sam@contoso.example --sso" in answer.text
    assert [e["event"] for e in logs if e["event"].startswith("sign_in")] == [
        "sign_in.sso_unknown_user"
    ]


@pytest.mark.parametrize("forgery", ["nonce", "key"])
def test_a_forged_id_token_is_refused(
    world: ConsoleWorld, provider: FakeProvider, forgery: str
) -> None:
    world.users.add("sam@contoso.example", "admin", None)
    if forgery == "nonce":
        provider.wrong_nonce = True
    else:
        provider.signing_key = RSAKey.generate_key(2048, {"kid": "k1"})
    client = world.client()
    answer = single_sign_on(client)
    assert answer.status_code == 403
    assert "the ID token is not valid" in answer.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_an_answer_for_another_sign_in_is_refused(world: ConsoleWorld) -> None:
    world.users.add("sam@contoso.example", "viewer", None)
    victim, attacker = world.client(), world.client()
    start = attacker.get("/sign-in/sso", follow_redirects=False)
    authorize = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(authorize.headers["location"])
    victim.get("/sign-in/sso", follow_redirects=False)  # the victim's own flow cookie
    answer = victim.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert answer.status_code == 403
    assert "state" in answer.text
