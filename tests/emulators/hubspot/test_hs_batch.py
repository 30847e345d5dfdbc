"""Batch endpoints: the envelope, the 100-input cap, 207 partial results, all-or-nothing."""

from typing import Any

from hs_api import Api

BATCH = "/crm/v3/objects/deals/batch"


def _input(n: int, **extra: Any) -> dict[str, Any]:
    return {"properties": {"dealname": f"D{n}", "dealstage": "qualifiedtobuy", **extra}}


def test_create_without_trace_ids_is_all_or_nothing(api: Api) -> None:
    body = {"inputs": [_input(1), _input(2, amount="x")]}
    response = api.call("POST", f"{BATCH}/create", json=body)
    assert response.status_code == 400
    assert api.ok("GET", "/crm/v3/objects/deals")["results"] == []


def test_create_with_trace_ids_reports_each_failure(api: Api) -> None:
    inputs = [
        {**_input(1), "objectWriteTraceId": "t1"},
        {**_input(2, amount="x"), "objectWriteTraceId": "t2"},
    ]
    response = api.call("POST", f"{BATCH}/create", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert (body["status"], body["numErrors"], len(body["results"])) == ("COMPLETE", 1, 1)
    assert body["errors"][0]["context"] == {"objectWriteTraceId": ["t2"]}
    assert body["errors"][0]["category"] == "VALIDATION_ERROR"


def test_more_than_the_cap_is_refused_before_any_write(api: Api) -> None:
    inputs = [_input(n) for n in range(101)]
    response = api.call("POST", f"{BATCH}/create", json={"inputs": inputs})
    assert response.status_code == 400
    assert "at most 100 inputs, got 101" in response.json()["message"]
    assert (
        len(api.ok("POST", f"{BATCH}/create", 201, json={"inputs": inputs[:100]})["results"]) == 100
    )


def test_read_reports_unknown_ids_in_a_207(api: Api) -> None:
    known = api.deal()
    response = api.call(
        "POST",
        f"{BATCH}/read",
        json={"inputs": [{"id": known["id"]}, {"id": "404"}], "properties": ["dealname"]},
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == [known["id"]]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"] == {"ids": ["404"]}


def test_update_refuses_duplicate_ids_and_bad_values_without_writing(api: Api) -> None:
    deal = api.deal(amount="1")
    twice = {"inputs": [{"id": deal["id"], "properties": {"amount": "2"}}] * 2}
    assert "Duplicate IDs" in api.call("POST", f"{BATCH}/update", json=twice).json()["message"]
    mixed = {
        "inputs": [
            {"id": deal["id"], "properties": {"amount": "3"}},
            {"id": deal["id"] + "0", "properties": {"amount": "x"}},
        ]
    }
    other = api.deal()
    mixed["inputs"][1]["id"] = other["id"]
    assert api.call("POST", f"{BATCH}/update", json=mixed).status_code == 400
    read = api.ok("GET", f"/crm/v3/objects/deals/{deal['id']}", params={"properties": "amount"})
    assert read["properties"]["amount"] == "1"


def test_upsert_by_unique_property_says_which_are_new(api: Api) -> None:
    api.ok(
        "POST",
        "/crm/v3/properties/deals",
        201,
        json={
            "name": "referral_id",
            "label": "R",
            "type": "string",
            "fieldType": "text",
            "groupName": "dealinformation",
            "hasUniqueValue": True,
        },
    )
    api.deal(referral_id="A")
    body = {"inputs": [{"id": ref, "idProperty": "referral_id", **_input(0)} for ref in ("A", "B")]}
    results = api.ok("POST", f"{BATCH}/upsert", json=body)["results"]
    assert sorted((r["properties"]["referral_id"], r["new"]) for r in results) == [
        ("A", False),
        ("B", True),
    ]


def test_archive_is_204_and_forgiving(api: Api) -> None:
    deal = api.deal()
    response = api.call(
        "POST", f"{BATCH}/archive", json={"inputs": [{"id": deal["id"]}, {"id": "1"}]}
    )
    assert (response.status_code, response.content) == (204, b"")
    assert api.ok("GET", "/crm/v3/objects/deals")["results"] == []
