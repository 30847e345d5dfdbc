"""simple-salesforce, unmodified, against the emulator served over TLS by uvicorn."""

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
import trustme
import uvicorn
from simple_salesforce import (
    Salesforce,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from cosell.clock import OffsetClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app


@dataclass
class Served:
    url: str
    ca_path: str
    config: SalesforceEmulatorConfig
    clock: OffsetClock


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
    config = SalesforceEmulatorConfig(public_url=url, query_batch_size=5)
    clock = OffsetClock()
    with cert.private_key_and_cert_chain_pem.tempfile() as pem, ca.cert_pem.tempfile() as ca_path:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(config, clock=clock),
                ssl_certfile=pem,
                ssl_keyfile=pem,
                log_level="warning",
                lifespan="off",
            )
        )
        thread = threading.Thread(target=_serve, args=(server, sock), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.01)
        try:
            yield Served(url, ca_path, config, clock)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


@pytest.fixture
def sf(served: Served) -> Iterator[Salesforce]:
    session = requests.Session()
    session.trust_env = False  # an ambient REQUESTS_CA_BUNDLE would override verify
    session.verify = served.ca_path
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
    yield Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        session=session,
        version="62.0",
    )
    session.close()


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
