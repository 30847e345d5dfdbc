"""Search: operators, AND/OR, case rules, associations, paging, caps, index lag, rate."""

from typing import Any

import pytest
from hs_api import Api

from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig

SEARCH = "/crm/v3/objects/deals/search"


def _names(api: Api, *filters: dict[str, Any], **extra: Any) -> list[str]:
    body = {"filterGroups": [{"filters": list(filters)}] if filters else [], "limit": 100, **extra}
    results = api.ok("POST", SEARCH, json=body)["results"]
    return [r["properties"]["dealname"] for r in results]


@pytest.fixture
def deals(api: Api) -> Api:
    api.deal(dealname="Alpha Contoso", amount="100", dealtype="newbusiness")
    api.deal(dealname="Beta Fabrikam", amount="500", closedate="2026-04-01T00:00:00Z")
    api.deal(dealname="Gamma Contoso", amount="900", dealstage="closedwon")
    return api


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"propertyName": "amount", "operator": "EQ", "value": "500"}, ["Beta Fabrikam"]),
        (
            {"propertyName": "amount", "operator": "NEQ", "value": "500"},
            ["Alpha Contoso", "Gamma Contoso"],
        ),
        ({"propertyName": "amount", "operator": "LT", "value": "500"}, ["Alpha Contoso"]),
        (
            {"propertyName": "amount", "operator": "LTE", "value": "500"},
            ["Alpha Contoso", "Beta Fabrikam"],
        ),
        ({"propertyName": "amount", "operator": "GT", "value": "500"}, ["Gamma Contoso"]),
        (
            {"propertyName": "amount", "operator": "GTE", "value": "500"},
            ["Beta Fabrikam", "Gamma Contoso"],
        ),
        (
            {"propertyName": "amount", "operator": "BETWEEN", "value": "200", "highValue": "900"},
            ["Beta Fabrikam", "Gamma Contoso"],
        ),
        (
            {"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"]},
            ["Gamma Contoso"],
        ),
        (
            {"propertyName": "dealstage", "operator": "NOT_IN", "values": ["closedwon"]},
            ["Alpha Contoso", "Beta Fabrikam"],
        ),
        ({"propertyName": "closedate", "operator": "HAS_PROPERTY"}, ["Beta Fabrikam"]),
        (
            {"propertyName": "closedate", "operator": "NOT_HAS_PROPERTY"},
            ["Alpha Contoso", "Gamma Contoso"],
        ),
        (
            {"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "contoso"},
            ["Alpha Contoso", "Gamma Contoso"],
        ),
        (
            {"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "fab*"},
            ["Beta Fabrikam"],
        ),
        (
            {"propertyName": "dealname", "operator": "NOT_CONTAINS_TOKEN", "value": "contoso"},
            ["Beta Fabrikam"],
        ),
        (
            {"propertyName": "closedate", "operator": "GTE", "value": "1775001600000"},
            ["Beta Fabrikam"],
        ),
        (
            {"propertyName": "dealname", "operator": "EQ", "value": "ALPHA CONTOSO"},
            ["Alpha Contoso"],
        ),
    ],
)
def test_each_operator(deals: Api, flt: dict[str, Any], expected: list[str]) -> None:
    assert _names(deals, flt) == expected


def test_enumerations_are_case_sensitive_and_string_in_wants_lowercase(deals: Api) -> None:
    upper = {"propertyName": "dealtype", "operator": "EQ", "value": "NEWBUSINESS"}
    assert _names(deals, upper) == []
    in_upper = {"propertyName": "dealname", "operator": "IN", "values": ["Alpha Contoso"]}
    in_lower = {"propertyName": "dealname", "operator": "IN", "values": ["alpha contoso"]}
    assert (_names(deals, in_upper), _names(deals, in_lower)) == ([], ["Alpha Contoso"])


def test_filters_and_within_a_group_and_groups_or(deals: Api) -> None:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "amount", "operator": "GT", "value": "50"},
                    {"propertyName": "amount", "operator": "LT", "value": "200"},
                ]
            },
            {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]},
        ]
    }
    names = [r["properties"]["dealname"] for r in deals.ok("POST", SEARCH, json=body)["results"]]
    assert names == ["Alpha Contoso", "Gamma Contoso"]


def test_associated_company_pseudo_property(api: Api) -> None:
    company = api.ok("POST", "/crm/v3/objects/companies", 201, json={"properties": {"name": "C"}})
    linked = api.deal(dealname="Linked")
    api.deal(dealname="Alone")
    api.ok(
        "PUT", f"/crm/v4/objects/deal/{linked['id']}/associations/default/company/{company['id']}"
    )
    flt = {"propertyName": "associations.company", "operator": "EQ", "value": company["id"]}
    assert _names(api, flt) == ["Linked"]


def test_sort_query_and_paging(deals: Api) -> None:
    body = {"sorts": [{"propertyName": "amount", "direction": "DESCENDING"}], "limit": 2}
    first = deals.ok("POST", SEARCH, json=body)
    assert first["total"] == 3
    assert first["paging"] == {"next": {"after": "2"}}
    rest = deals.ok("POST", SEARCH, json={**body, "after": "2"})
    assert [r["properties"]["amount"] for r in first["results"] + rest["results"]] == [
        "900",
        "500",
        "100",
    ]
    assert "paging" not in rest
    assert _names(deals, query="contoso gam") == ["Gamma Contoso"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"limit": 201}, "limit must be between 1 and 200"),
        ({"after": "9950", "limit": 100}, "Paging past 10000 results"),
        ({"filterGroups": [{"filters": []}] * 6}, "Too many filters"),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "amount", "operator": "EQ", "value": "1"}] * 7}
                ]
            },
            "Too many filters",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "amount", "operator": "EQ", "value": "1"}] * 6}
                ]
                * 4
            },
            "Too many filters",
        ),
        (
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "amount", "operator": "LIKE", "value": "1"}]}
                ]
            },
            "Invalid operator",
        ),
    ],
)
def test_request_caps_are_validation_errors(api: Api, body: dict[str, Any], fragment: str) -> None:
    response = api.call("POST", SEARCH, json=body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert fragment in response.json()["message"]


@pytest.mark.parametrize("config", [HubSpotEmulatorConfig(search_lag_seconds=2.0)])
def test_writes_reach_search_after_the_index_lag(api: Api, clock: ManualClock) -> None:
    deal = api.deal(dealname="Lagging")
    assert _names(api) == []
    clock.advance(2.0)
    assert _names(api) == ["Lagging"]
    api.ok("PATCH", f"/crm/v3/objects/deals/{deal['id']}", json={"properties": {"amount": "7"}})
    flt = {"propertyName": "amount", "operator": "EQ", "value": "7"}
    assert _names(api, flt) == []
    assert _names(api) == ["Lagging"]  # the old version is still what search sees
    clock.advance(2.0)
    assert _names(api, flt) == ["Lagging"]


def test_archived_records_never_appear(api: Api) -> None:
    deal = api.deal(dealname="Gone")
    api.ok("DELETE", f"/crm/v3/objects/deals/{deal['id']}", 204)
    assert _names(api) == []


def test_search_has_its_own_per_second_limit_and_no_rate_headers(
    api: Api, clock: ManualClock
) -> None:
    answers = [api.call("POST", SEARCH, json={}) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[-1].json()["message"] == "You have reached your secondly limit."
    assert not [h for h in answers[0].headers if h.lower().startswith("x-hubspot-ratelimit")]
    clock.advance(1.0)
    assert api.call("POST", SEARCH, json={}).status_code == 200
