"""simple-salesforce, unmodified, against the emulator served over TLS by uvicorn.

Every test runs once per way of logging in: simple-salesforce's own SOAP username-password
login, its OAuth password, JWT bearer and client-credentials logins, and a token fetched by hand
and handed over as ``session_id``. Its login helpers address ``https://<domain>.salesforce.com``;
a requests transport adapter mounted on those hosts sends them to the emulator instead. That is
configuration of the ``requests.Session`` simple-salesforce is given, not a change to it.
"""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import trustme
import uvicorn
from requests.adapters import HTTPAdapter
from simple_salesforce import (
    Salesforce,
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from cosell.clock import OffsetClock
from cosell.emulators.salesforce import SalesforceEmulator, SalesforceEmulatorConfig, create_app
from cosell.emulators.salesforce.tls import self_signed_certificate
from support.wait import wait_until

MY_DOMAIN = "cosell-sandbox.my"  # client credentials need a My Domain, never login or test
LOGIN_HOSTS = ("login", "test", MY_DOMAIN)


class EmulatorAdapter(HTTPAdapter):
    """Sends every request it is mounted for to the emulator's scheme, host and port."""

    def __init__(self, emulator_url: str) -> None:
        super().__init__()
        self._target = urlsplit(emulator_url)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(request.url))
        request.url = urlunsplit(
            parts._replace(scheme=self._target.scheme, netloc=self._target.netloc)
        )
        return super().send(request, *args, **kwargs)


@dataclass
class Served:
    url: str
    ca_path: str
    config: SalesforceEmulatorConfig
    clock: OffsetClock
    emulator: SalesforceEmulator
    jwt_key: str

    def reset(self) -> None:
        """A freshly seeded org on the real time, so tests neither see nor age each other."""
        self.emulator.reset()
        self.clock.reset()

    def session(self) -> requests.Session:
        """A requests session that trusts the emulator and reaches it for the login hosts."""
        session = requests.Session()
        session.trust_env = False  # an ambient REQUESTS_CA_BUNDLE would override verify
        session.verify = self.ca_path
        adapter = EmulatorAdapter(self.url)
        for domain in LOGIN_HOSTS:
            session.mount(f"https://{domain}.salesforce.com/", adapter)
        return session

    def calls(self, route: str) -> int:
        counts: dict[str, int] = self.emulator.calls.snapshot()["calls"]
        return counts.get(route, 0)


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    server.run(sockets=[sock])


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"https://127.0.0.1:{port}"
    jwt_cert, jwt_key = self_signed_certificate()
    config = SalesforceEmulatorConfig(public_url=url, query_batch_size=5, jwt_cert_pem=jwt_cert)
    clock = OffsetClock()
    app = create_app(config, clock=clock)
    with cert.private_key_and_cert_chain_pem.tempfile() as pem, ca.cert_pem.tempfile() as ca_path:
        server = uvicorn.Server(
            uvicorn.Config(
                app, ssl_certfile=pem, ssl_keyfile=pem, log_level="warning", lifespan="off"
            )
        )
        thread = threading.Thread(target=_serve, args=(server, sock), daemon=True)
        thread.start()
        wait_until(lambda: server.started, 10, what="the emulator to start")
        try:
            yield Served(url, ca_path, config, clock, app.state.emulator, jwt_key.decode())
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def _token_by_hand(served: Served, session: requests.Session) -> Salesforce:
    token = session.post(
        f"{served.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": served.config.client_id,
            "client_secret": served.config.client_secret,
        },
        timeout=10,
    )
    assert token.status_code == 200
    body = token.json()
    assert body["instance_url"] == served.url
    return Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        session=session,
        version="62.0",
    )


def _credentials(served: Served, login: str) -> dict[str, Any]:
    config = served.config
    return {
        "soap": {"username": config.username, "password": config.password, "security_token": ""},
        "oauth-password": {
            "username": config.username,
            "password": config.password,
            "consumer_key": config.client_id,
            "consumer_secret": config.client_secret,
        },
        "jwt": {
            "username": config.username,
            "consumer_key": config.client_id,
            "privatekey": served.jwt_key,
        },
        "client-credentials": {
            "consumer_key": config.client_id,
            "consumer_secret": config.client_secret,
            "domain": MY_DOMAIN,
        },
    }[login]


CREDENTIAL_LOGINS = ["soap", "oauth-password", "jwt", "client-credentials"]


@pytest.fixture(params=["token-by-hand", *CREDENTIAL_LOGINS])
def sf(served: Served, request: pytest.FixtureRequest) -> Iterator[Salesforce]:
    served.reset()
    session = served.session()
    if request.param == "token-by-hand":
        yield _token_by_hand(served, session)
    else:
        credentials = _credentials(served, request.param)
        yield Salesforce(**credentials, session=session, version="62.0")
    session.close()


@pytest.mark.parametrize(
    ("login", "route"),
    [
        ("soap", "POST /services/Soap/u/{version}"),
        ("oauth-password", "POST /services/oauth2/token"),
        ("jwt", "POST /services/oauth2/token"),
        ("client-credentials", "POST /services/oauth2/token"),
    ],
)
def test_own_logins_reach_the_emulator(served: Served, login: str, route: str) -> None:
    served.reset()
    with served.session() as session:
        sf = Salesforce(**_credentials(served, login), session=session, version="62.0")
        assert served.calls(route) == 1
        assert sf.sf_instance == urlsplit(served.url).netloc
        assert sf.limits()["DailyApiRequests"]["Max"] == served.config.daily_api_limit


@pytest.mark.parametrize("sf", CREDENTIAL_LOGINS, indirect=True)
def test_an_ended_session_logs_in_again(sf: Salesforce, served: Served) -> None:
    first = sf.session_id
    served.emulator.sessions.revoke_all()
    assert sf.Account.create({"Name": "After revoke"})["success"] is True
    assert sf.session_id != first


@pytest.mark.parametrize("sf", ["token-by-hand"], indirect=True)
def test_a_handed_session_cannot_log_in_again(sf: Salesforce, served: Served) -> None:
    served.emulator.sessions.revoke_all()
    with pytest.raises(SalesforceExpiredSession):
        sf.Account.create({"Name": "After revoke"})


@pytest.mark.parametrize(
    ("login", "wrong", "code"),
    [
        ("soap", {"password": "not-the-password"}, "INVALID_LOGIN"),
        ("soap", {"security_token": "SOMETOKEN"}, "INVALID_LOGIN"),
        ("oauth-password", {"password": "not-the-password"}, "invalid_grant"),
        ("jwt", {"privatekey": self_signed_certificate()[1].decode()}, "invalid_grant"),
        ("client-credentials", {"consumer_secret": "not-the-secret"}, "invalid_client"),
    ],
)
def test_wrong_credentials_fail_authentication(
    served: Served, login: str, wrong: dict[str, str], code: str
) -> None:
    served.reset()
    credentials = {**_credentials(served, login), **wrong}
    failure = None
    with served.session() as session:
        try:
            Salesforce(**credentials, session=session, version="62.0")
        except SalesforceAuthenticationFailed as error:
            failure = error.code
    assert failure == code


def test_an_unapproved_jwt_user_gets_simple_salesforces_own_hint(served: Served) -> None:
    served.reset()
    credentials = {**_credentials(served, "jwt"), "username": "someone@partner.example"}
    failure = None
    with served.session() as session:
        try:
            with pytest.warns(UserWarning, match="self-authorize"):
                Salesforce(**credentials, session=session, version="62.0")
        except SalesforceAuthenticationFailed as error:
            failure = error.auth_message
    assert failure == "user hasn't approved this consumer"


def test_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Opportunity.create(
        {"Name": "Simple deal", "StageName": "Prospecting", "CloseDate": "2026-09-30"}
    )
    assert created["success"] is True
    got = sf.Opportunity.get(created["id"])
    assert got["Name"] == "Simple deal"
    assert got["attributes"]["type"] == "Opportunity"
    opportunities = sf.Opportunity  # each attribute access builds a new SFType
    assert opportunities.update(created["id"], {"Amount": 42}) == 204
    assert opportunities.api_usage["api-usage"].used > 0
    assert sf.Opportunity.get(created["id"])["Amount"] == 42
    assert sf.Opportunity.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.get(created["id"])


def test_query_all_across_pages_and_include_deleted(sf: Salesforce) -> None:
    names = [f"Paged {i:02d}" for i in range(12)]
    ids = [sf.Account.create({"Name": n})["id"] for n in names]
    sf.Account.delete(ids[0])
    soql = "SELECT Id, Name FROM Account WHERE Name LIKE 'Paged%' ORDER BY Name"
    live = sf.query_all(soql)
    assert live["totalSize"] == 11
    assert [r["Name"] for r in live["records"]] == names[1:]
    everything = sf.query_all(soql, include_deleted=True)
    assert everything["totalSize"] == 12
    first = sf.query(soql)
    assert first["done"] is False
    assert len(first["records"]) == 5


def test_upsert_describe_and_tooling(sf: Salesforce, served: Served) -> None:
    created = sf.toolingexecute(
        "sobjects/CustomField",
        method="POST",
        data={
            "FullName": "Opportunity.Referral_Identifier__c",
            "Metadata": {
                "type": "Text",
                "label": "Referral",
                "length": 100,
                "externalId": True,
                "unique": True,
            },
        },
    )
    assert created["success"] is True
    body = {"Name": "Upserted", "StageName": "Qualification", "CloseDate": "2026-10-01"}
    assert sf.Opportunity.upsert("Referral_Identifier__c/ref-77", body) == 201
    assert sf.Opportunity.upsert("Referral_Identifier__c/ref-77", {"Amount": 7}) == 200
    got = sf.Opportunity.get_by_custom_id("Referral_Identifier__c", "ref-77")
    assert got["Amount"] == 7
    described = sf.Opportunity.describe()
    assert "Referral_Identifier__c" in [f["name"] for f in described["fields"]]
    assert sf.describe()["sobjects"]


@pytest.mark.parametrize("sf", ["token-by-hand"], indirect=True)
def test_updated_and_deleted_methods(sf: Salesforce, served: Served) -> None:
    start = served.clock.now() - timedelta(minutes=1)
    record = sf.Account.create({"Name": "Replicated"})["id"]
    served.clock.advance(120)
    assert record in sf.Account.updated(start, served.clock.now())["ids"]
    sf.Account.delete(record)
    served.clock.advance(120)
    assert record not in sf.Account.updated(start, served.clock.now())["ids"]
    deleted = sf.Account.deleted(start, served.clock.now())
    assert record in [d["id"] for d in deleted["deletedRecords"]]


@pytest.mark.parametrize("sf", ["token-by-hand"], indirect=True)
def test_lock_fault_reaches_the_client(sf: Salesforce, served: Served) -> None:
    sf.session.post(
        f"{served.url}/_emulator/faults",
        json={"kind": "unable_to_lock_row", "count": 1},
        timeout=10,
    )
    # Not pytest.raises(...) as info: a kept traceback holds the TLS connection open, which
    # stalls the server's graceful shutdown.
    code = None
    try:
        sf.Account.create({"Name": "Locked"})
    except SalesforceMalformedRequest as error:
        code = error.content[0]["errorCode"]
    assert code == "UNABLE_TO_LOCK_ROW"
    assert sf.Account.create({"Name": "Fine"})["success"] is True
