"""Records: typed property values, validation errors, unique values, history and sources."""

import json

import pytest
from hs_api import Api


def _problems(body: dict) -> list[dict]:
    return json.loads(body["message"].removeprefix("Property values were not valid: "))


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("amount", "1500.00", "1500"),
        ("amount", 12.5, "12.5"),
        ("closedate", "2026-05-01T10:30:00Z", "2026-05-01T10:30:00.000Z"),
        ("closedate", "1767225600000", "2026-01-01T00:00:00.000Z"),
        ("dealtype", "newbusiness", "newbusiness"),
        ("description", "", None),
    ],
)
def test_values_are_stored_as_their_type_reads_them(
    api: Api, name: str, value: object, stored: str | None
) -> None:
    deal = api.deal(**{name: value})
    read = api.ok("GET", f"/crm/v3/objects/deals/{deal['id']}", params={"properties": name})
    assert read["properties"][name] == stored


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"amount": "lots"}, "INVALID_INTEGER"),
        ({"dealtype": "NEWBUSINESS"}, "INVALID_OPTION"),
        ({"closedate": "yesterday"}, "INVALID_DATE"),
        ({"no_such": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_lastmodifieddate": "2026-01-01"}, "READ_ONLY_VALUE"),
        ({"dealstage": "not-a-stage"}, "INVALID_OPTION"),
    ],
)
def test_bad_values_are_a_400_listing_each_problem(api: Api, values: dict, code: str) -> None:
    deal = api.deal()
    response = api.call("PATCH", f"/crm/v3/objects/deals/{deal['id']}", json={"properties": values})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert [p["error"] for p in _problems(body)] == [code]
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]


def test_date_property_must_be_midnight_utc(api: Api) -> None:
    api.ok(
        "POST",
        "/crm/v3/properties/deals",
        201,
        json={
            "name": "signed_on",
            "label": "Signed",
            "type": "date",
            "fieldType": "date",
            "groupName": "dealinformation",
        },
    )
    ok = api.deal(signed_on="2026-04-02")
    assert ok["properties"]["signed_on"] == "2026-04-02"
    late = api.call(
        "POST",
        "/crm/v3/objects/deals",
        json={
            "properties": {
                "dealname": "x",
                "dealstage": "closedwon",
                "signed_on": "2026-04-02T18:31:29.103Z",
            }
        },
    )
    [problem] = _problems(late.json())
    assert problem["error"] == "INVALID_DATE"
    assert "18:31:29.103 UTC, not midnight" in problem["message"]


def test_deal_needs_a_name_and_stage(api: Api) -> None:
    response = api.call("POST", "/crm/v3/objects/deals", json={"properties": {"amount": "1"}})
    assert response.status_code == 400
    assert {p["name"] for p in _problems(response.json())} == {"dealname", "dealstage"}


def test_stage_drives_the_derived_closed_won_properties(api: Api) -> None:
    deal = api.deal(dealstage="closedwon")
    props = api.ok(
        "GET",
        f"/crm/v3/objects/deals/{deal['id']}",
        params=[("properties", "hs_is_closed_won"), ("properties", "hs_deal_stage_probability")],
    )["properties"]
    assert (props["hs_is_closed_won"], props["hs_deal_stage_probability"]) == ("true", "1")


def test_unique_property_refuses_a_second_holder_and_serves_id_property(api: Api) -> None:
    api.ok(
        "POST",
        "/crm/v3/properties/deals",
        201,
        json={
            "name": "referral_id",
            "label": "Referral",
            "type": "string",
            "fieldType": "text",
            "groupName": "dealinformation",
            "hasUniqueValue": True,
        },
    )
    first = api.deal(referral_id="R-1")
    second = api.call(
        "POST",
        "/crm/v3/objects/deals",
        json={"properties": {"dealname": "dup", "dealstage": "closedwon", "referral_id": "R-1"}},
    )
    assert second.status_code == 400
    assert f"{first['id']} already has that value" in second.json()["message"]
    found = api.ok("GET", "/crm/v3/objects/deals/R-1", params={"idProperty": "referral_id"})
    assert found["id"] == first["id"]


def test_duplicate_contact_email_is_a_conflict(api: Api) -> None:
    body = {"properties": {"email": "ada@contoso.example"}}
    first = api.ok("POST", "/crm/v3/objects/contacts", 201, json=body)
    again = api.call("POST", "/crm/v3/objects/contacts", json=body)
    assert again.status_code == 409
    assert again.json()["message"] == f"Contact already exists. Existing ID: {first['id']}"
    # another contact given that email: a validation error naming the contact that has it
    other = api.ok("POST", "/crm/v3/objects/contacts", 201, json={"properties": {"email": "b@c.x"}})
    moved = api.call("PATCH", f"/crm/v3/objects/contacts/{other['id']}", json=body)
    assert moved.status_code == 400
    assert moved.json()["category"] == "VALIDATION_ERROR"
    assert moved.json()["message"].endswith(
        f"on {other['id']}. {first['id']} already has that value."
    )


def test_properties_parameter_accepts_commas_and_repeats(api: Api) -> None:
    deal = api.deal(amount="5", description="d")
    path = f"/crm/v3/objects/deals/{deal['id']}"
    commas = api.ok("GET", f"{path}?properties=amount,description,unknown_one")
    repeats = api.ok("GET", f"{path}?properties=amount&properties=description")
    assert commas["properties"] == repeats["properties"]
    assert "unknown_one" not in commas["properties"]


def test_history_names_the_app_or_the_user_who_wrote(api: Api) -> None:
    deal = api.deal()
    path = f"/crm/v3/objects/deals/{deal['id']}"
    api.as_user(4242).ok("PATCH", path, json={"properties": {"dealstage": "qualifiedtobuy"}})
    read = api.ok(
        "GET",
        path,
        params={"propertiesWithHistory": "dealstage", "properties": "hs_updated_by_user_id"},
    )
    latest, first = read["propertiesWithHistory"]["dealstage"][:2]
    assert (latest["sourceType"], latest["updatedByUserId"]) == ("CRM_UI", 4242)
    assert (first["sourceType"], first["sourceId"]) == (
        "INTEGRATION",
        str(api.emulator.config.app_id),
    )
    assert read["properties"]["hs_updated_by_user_id"] == "4242"


def test_archive_hides_the_record_until_restored(api: Api, client) -> None:
    deal = api.deal()
    path = f"/crm/v3/objects/deals/{deal['id']}"
    assert api.call("DELETE", path).status_code == 204
    assert api.call("GET", path).json()["category"] == "OBJECT_NOT_FOUND"
    assert api.ok("GET", "/crm/v3/objects/deals", params={"archived": "true"})["results"][0][
        "archived"
    ]
    restored = client.post(f"/_emulator/objects/deals/{deal['id']}/restore")
    assert restored.status_code == 200
    assert api.ok("GET", path)["archived"] is False


def test_object_type_ids_and_singular_names_address_the_same_records(api: Api) -> None:
    deal = api.deal()
    by_id = api.ok("GET", f"/crm/v3/objects/0-3/{deal['id']}")
    assert by_id["id"] == deal["id"]
    page = api.ok("GET", f"/crm/v4/objects/deal/{deal['id']}/associations/company")
    assert page == {"results": []}
