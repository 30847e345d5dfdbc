"""HubSpot's own Python client (hubspot-api-client), unmodified, against the emulator served by
uvicorn: CRUD, search, batch, associations v4, properties, pipelines, OAuth and the webhook
signature check. The SDK deserialises every answer into its generated models, which check the
required fields and enumerations, so a response shape the SDK cannot read fails here."""

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from hubspot import Client
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.pipelines import ApiException as PipelineApiException
from hubspot.crm.pipelines import PipelineStageInput
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate
from hubspot.utils.signature import Signature

from cosell.clock import OffsetClock
from cosell.emulators.hubspot import HubSpotEmulator, HubSpotEmulatorConfig, create_app
from support.wait import wait_until

HOOK_URL = "https://receiver.example/hubspot/webhooks"


@dataclass
class Served:
    url: str
    config: HubSpotEmulatorConfig
    emulator: HubSpotEmulator
    received: list[httpx.Request]

    def client(self, token: str | None = None) -> Client:
        return Client.create(access_token=token or self.config.private_app_token, host=self.url)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    received: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = HubSpotEmulatorConfig(public_url=url, burst_limit=10_000, search_per_second=1000)
    delivery = httpx.Client(transport=httpx.MockTransport(receive))
    app = create_app(config, clock=OffsetClock(), delivery_client=delivery)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, what="the emulator to start")
    try:
        yield Served(url, config, app.state.emulator, received)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.emulator.close()
        delivery.close()


@pytest.fixture
def hs(served: Served) -> Client:
    served.emulator.reset()
    served.received.clear()
    return served.client()


def _deal(hs: Client, name: str, **extra: str) -> str:
    props = {"dealname": name, "dealstage": "appointmentscheduled", **extra}
    created = hs.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
    return str(created.id)


def test_crud_round_trip_reads_back_typed_values(hs: Client) -> None:
    company = hs.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Contoso", "country": "Germany"})
    )
    created = hs.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"dealname": "Rollout", "amount": "1500.00", "dealstage": "contractsent"},
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        )
    )
    assert created.properties["amount"] == "1500"
    got = hs.crm.deals.basic_api.get_by_id(
        created.id, properties=["dealname", "amount"], associations=["companies"]
    )
    assert got.properties["dealname"] == "Rollout"
    assert {a.id for a in got.associations["companies"].results} == {company.id}
    updated = hs.crm.deals.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"amount": "", "description": "x"})
    )
    assert updated.properties.get("amount") is None
    assert updated.updated_at >= got.updated_at
    hs.crm.deals.basic_api.archive(created.id)
    with pytest.raises(ApiException) as missing:
        hs.crm.deals.basic_api.get_by_id(created.id)
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["category"] == "OBJECT_NOT_FOUND"
    archived = hs.crm.deals.basic_api.get_by_id(created.id, archived=True)
    assert archived.archived is True
    assert archived.archived_at is not None


def test_list_pages_with_after(hs: Client) -> None:
    ids = [_deal(hs, f"Deal {n}") for n in range(5)]
    first = hs.crm.deals.basic_api.get_page(limit=2)
    assert [d.id for d in first.results] == ids[:2]
    rest = hs.crm.deals.basic_api.get_page(limit=10, after=first.paging.next.after)
    assert [d.id for d in rest.results] == ids[2:]
    assert rest.paging is None


def test_invalid_property_is_a_validation_error(hs: Client) -> None:
    deal_id = _deal(hs, "Typed")
    with pytest.raises(ApiException) as error:
        hs.crm.deals.basic_api.update(
            deal_id, SimplePublicObjectInput(properties={"no_such_property": "1"})
        )
    body = json.loads(error.value.body)
    assert error.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert "PROPERTY_DOESNT_EXIST" in body["message"]


def test_search_filters_sorts_and_pages(hs: Client) -> None:
    for n, amount in enumerate(("100", "900", "500", "700")):
        _deal(hs, f"Search {n}", amount=amount)
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="amount", operator="GTE", value="500")])
        ],
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
        properties=["dealname", "amount"],
        limit=2,
    )
    page = hs.crm.deals.search_api.do_search(request)
    assert page.total == 3
    assert [d.properties["amount"] for d in page.results] == ["900", "700"]
    request.after = page.paging.next.after
    last = hs.crm.deals.search_api.do_search(request)
    assert [d.properties["amount"] for d in last.results] == ["500"]
    assert last.paging is None


def test_batch_create_read_update_upsert_archive(hs: Client) -> None:
    hs.crm.properties.core_api.create(
        "deals",
        PropertyCreate(
            name="referral_id",
            label="Referral id",
            type="string",
            field_type="text",
            group_name="dealinformation",
            has_unique_value=True,
        ),
    )
    created = hs.crm.deals.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties={
                        "dealname": f"B{n}",
                        "dealstage": "qualifiedtobuy",
                        "referral_id": f"R{n}",
                    }
                )
                for n in range(3)
            ]
        )
    )
    assert created.status == "COMPLETE"
    assert len(created.results) == 3
    ids = sorted(r.id for r in created.results)
    read = hs.crm.deals.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=["dealname"],
            properties_with_history=[],
        )
    )
    assert sorted(r.id for r in read.results) == ids
    updated = hs.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties={"amount": "10"}) for i in ids]
        )
    )
    assert {r.properties["amount"] for r in updated.results} == {"10"}
    upserted = hs.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=ref,
                    id_property="referral_id",
                    properties={"dealname": f"U-{ref}", "dealstage": "qualifiedtobuy"},
                )
                for ref in ("R0", "R9")
            ]
        )
    )
    assert sorted((r.properties["dealname"], r.new) for r in upserted.results) == [
        ("U-R0", False),
        ("U-R9", True),
    ]
    hs.crm.deals.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids])
    )
    assert hs.crm.deals.basic_api.get_page().results[0].properties["dealname"] == "U-R9"


def test_batch_over_the_cap_is_refused(hs: Client, served: Served) -> None:
    inputs = [
        SimplePublicObjectBatchInputForCreate(
            properties={"dealname": str(n), "dealstage": "closedwon"}
        )
        for n in range(served.config.batch_limit + 1)
    ]
    with pytest.raises(ApiException) as error:
        hs.crm.deals.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
        )
    assert error.value.status == 400
    assert json.loads(error.value.body)["category"] == "VALIDATION_ERROR"


def test_associations_v4(hs: Client) -> None:
    deal_id = _deal(hs, "Linked")
    contact = hs.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "ada@contoso.example"})
    )
    company = hs.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Contoso"})
    )
    v4 = hs.crm.associations.v4
    v4.basic_api.create_default("deal", deal_id, "contact", contact.id)
    labels = v4.basic_api.create(
        "deal",
        deal_id,
        "company",
        company.id,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=5)],
    )
    assert labels.labels == ["Primary"]
    page = v4.basic_api.get_page("deal", deal_id, "company")
    assert {t.type_id for t in page.results[0].association_types} == {5, 341}
    batch = v4.batch_api.get_page(
        "deal",
        "contact",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=deal_id)]
        ),
    )
    assert [str(t.to_object_id) for t in batch.results[0].to] == [contact.id]
    v4.basic_api.archive("deal", deal_id, "contact", contact.id)
    assert v4.basic_api.get_page("deal", deal_id, "contact").results == []
    made = v4.batch_api.create(
        "deal",
        "contact",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                PublicAssociationMultiPost(
                    _from={"id": deal_id},
                    to={"id": contact.id},
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=3
                        )
                    ],
                )
            ]
        ),
    )
    assert made.status == "COMPLETE"


def test_properties_and_groups(hs: Client) -> None:
    props = hs.crm.properties
    props.groups_api.create("deals", PropertyGroupCreate(name="cosell", label="Co-sell"))
    created = props.core_api.create(
        "deals",
        PropertyCreate(
            name="cosell_status",
            label="Status",
            type="enumeration",
            field_type="select",
            group_name="cosell",
            options=[
                OptionInput(label="New", value="new", display_order=0, hidden=False),
                OptionInput(label="Won", value="won", display_order=1, hidden=False),
            ],
        ),
    )
    assert [o.value for o in created.options] == ["new", "won"]
    with pytest.raises(PropertiesApiException) as duplicate:
        props.core_api.create(
            "deals",
            PropertyCreate(
                name="cosell_status",
                label="Again",
                type="string",
                field_type="text",
                group_name="cosell",
            ),
        )
    assert duplicate.value.status == 409
    updated = props.core_api.update(
        "deals", "cosell_status", PropertyUpdate(label="Co-sell status")
    )
    assert updated.label == "Co-sell status"
    names = {p.name for p in props.core_api.get_all("deals").results}
    assert {"cosell_status", "dealname", "dealstage"} <= names
    with pytest.raises(ApiException) as bad_option:
        _deal(hs, "Opt", cosell_status="lost")
    assert "INVALID_OPTION" in json.loads(bad_option.value.body)["message"]
    props.core_api.archive("deals", "cosell_status")
    assert "cosell_status" not in {p.name for p in props.core_api.get_all("deals").results}


def test_pipelines_and_stages(hs: Client) -> None:
    pipelines = hs.crm.pipelines
    default = pipelines.pipelines_api.get_by_id("deals", "default")
    assert [s.id for s in default.stages][-2:] == ["closedwon", "closedlost"]
    stage = pipelines.pipeline_stages_api.create(
        "deals",
        "default",
        PipelineStageInput(
            label="Co-sell accepted", display_order=7, metadata={"probability": "0.5"}
        ),
    )
    _deal(hs, "Staged", dealstage=stage.id)
    with pytest.raises(PipelineApiException) as in_use:
        pipelines.pipeline_stages_api.archive("deals", "default", stage.id)
    assert in_use.value.status == 400
    assert json.loads(in_use.value.body)["subCategory"] == "PipelineError.STAGE_ID_IN_USE"


def test_oauth_code_and_refresh_grants(hs: Client, served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        redirect = http.get(
            "/oauth/authorize",
            params={
                "client_id": served.config.client_id,
                "redirect_uri": "https://app.example/cb",
                "scope": "crm.objects.deals.read",
                "state": "s1",
            },
        )
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == ["s1"]
    oauth = Client.create(host=served.url).oauth.tokens_api
    first = oauth.create(
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri="https://app.example/cb",
        client_id=served.config.client_id,
        client_secret=served.config.client_secret,
    )
    assert first.expires_in == served.config.token_ttl
    again = oauth.create(
        grant_type="refresh_token",
        refresh_token=first.refresh_token,
        client_id=served.config.client_id,
        client_secret=served.config.client_secret,
    )
    assert again.access_token != first.access_token
    client = served.client(again.access_token)
    assert client.crm.deals.basic_api.get_page().results == []


def test_webhook_deliveries_pass_the_sdk_signature_check(hs: Client, served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        http.put(
            "/_emulator/webhooks",
            json={
                "target_url": HOOK_URL,
                "subscriptions": [
                    {"eventType": "deal.propertyChange", "propertyName": "dealstage"}
                ],
            },
        ).raise_for_status()
    deal_id = _deal(hs, "Hooked")
    hs.crm.deals.basic_api.update(
        deal_id, SimplePublicObjectInput(properties={"dealstage": "closedwon"})
    )
    wait_until(lambda: served.received, 5, what="a webhook delivery")
    request = served.received[0]
    body = request.content.decode()
    assert Signature.is_valid(
        signature=request.headers["X-HubSpot-Signature-v3"],
        client_secret=served.config.client_secret,
        request_body=body,
        http_uri=HOOK_URL,
        http_method="POST",
        signature_version="v3",
        timestamp=request.headers["X-HubSpot-Request-Timestamp"],
    )
    assert Signature.is_valid(
        signature=request.headers["X-HubSpot-Signature"],
        client_secret=served.config.client_secret,
        request_body=body,
        signature_version="v1",
    )
    [event] = json.loads(body)
    assert (event["objectId"], event["propertyValue"]) == (int(deal_id), "closedwon")
