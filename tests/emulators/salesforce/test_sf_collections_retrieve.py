"""sObject Collections: retrieve by GET and POST (nulls, limits, field checks), the write
operations' allOrNone and 200-record rules, recorded shapes, and one API call per request."""

import json
from pathlib import Path
from typing import Any

import pytest
from sf_api import Api

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared/reference/fixtures/salesforce"
MALFORMED = "001notanid"


def accounts(api: Api, *names: str) -> list[str]:
    return [api.create("Account", Name=name) for name in names]


def test_post_retrieve_answers_in_request_order_with_nulls(api: Api) -> None:
    first, second, gone = accounts(api, "One", "Two", "Gone")
    assert api.delete(f"sobjects/Account/{gone}").status_code == 204
    contact = api.create("Contact", LastName="Other type")
    before = api.emulator.usage.used()
    body = {"ids": [second, MALFORMED, first, gone, contact], "fields": ["id", "name"]}
    response = api.post("composite/sobjects/Account", json=body)
    assert response.status_code == 200
    assert api.emulator.usage.used() == before + 1
    assert response.json() == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v62.0/sobjects/Account/{second}",
            },
            "Id": second,
            "Name": "Two",
        },
        None,
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v62.0/sobjects/Account/{first}",
            },
            "Id": first,
            "Name": "One",
        },
        None,
        None,
    ]


def test_post_retrieve_takes_up_to_2000_ids(api: Api) -> None:
    [real] = accounts(api, "Real")
    ids = [real, *([MALFORMED] * 1999)]
    got = api.post("composite/sobjects/Account", json={"ids": ids, "fields": ["Name"]})
    assert got.status_code == 200
    assert len(got.json()) == 2000
    assert got.json()[0]["Name"] == "Real"
    over = api.post("composite/sobjects/Account", json={"ids": [*ids, real], "fields": ["Name"]})
    assert over.status_code == 400
    assert over.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_get_retrieve_is_bounded_by_the_url_length(api: Api) -> None:
    [real] = accounts(api, "Real")
    ids = ",".join([real] * 800)
    got = api.get("composite/sobjects/Account", params={"ids": ids, "fields": "Name"})
    assert got.status_code == 200
    assert {r["Name"] for r in got.json()} == {"Real"}
    too_long = ",".join([real] * 900)
    refused = api.get("composite/sobjects/Account", params={"ids": too_long, "fields": "Name"})
    assert refused.status_code == 414


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ids": ["001000000000000AAA"], "fields": ["Nope"]}, "INVALID_FIELD"),
        ({"ids": ["001000000000000AAA"], "fields": []}, "MISSING_ARGUMENT"),
        ({"ids": [], "fields": ["Name"]}, "MISSING_ARGUMENT"),
        ({"ids": "001000000000000AAA", "fields": ["Name"]}, "JSON_PARSER_ERROR"),
        ({"ids": ["001000000000000AAA"], "fields": "Name"}, "JSON_PARSER_ERROR"),
    ],
)
def test_post_retrieve_refuses_bad_requests(api: Api, body: dict[str, Any], code: str) -> None:
    response = api.post("composite/sobjects/Account", json=body)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


def test_get_retrieve_needs_fields(api: Api) -> None:
    [real] = accounts(api, "Real")
    response = api.get("composite/sobjects/Account", params={"ids": real})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MISSING_ARGUMENT"


def test_retrieve_hides_fields_strict_access_does_not_grant(api: Api) -> None:
    api.add_field("Account.Secret__c", type="Text", label="Secret", length=20)
    [real] = accounts(api, "Real")
    assert api.client.put("/_emulator/access", json={"fls_strict": True}).status_code == 200
    body = {"ids": [real], "fields": ["Name", "Secret__c"]}
    response = api.post("composite/sobjects/Account", json=body)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_update_all_or_none_rolls_back_the_good_records(api: Api) -> None:
    first, second = accounts(api, "One", "Two")
    records = [
        {"attributes": {"type": "Account"}, "id": first, "Name": "Uno"},
        {"attributes": {"type": "Account"}, "id": second, "Name": "x" * 256},
    ]
    results = api.patch("composite/sobjects", json={"allOrNone": True, "records": records}).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert api.get(f"sobjects/Account/{first}").json()["Name"] == "One"


def test_delete_takes_at_most_200_ids(api: Api) -> None:
    response = api.delete("composite/sobjects", params={"ids": ",".join([MALFORMED] * 201)})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert response.json()[0]["message"] == (
        "record limit reached. cannot submit more than 200 records into this call"
    )


def test_a_collections_write_is_one_api_call(api: Api) -> None:
    api.emulator.calls.reset()
    before = api.emulator.usage.used()
    records = [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(200)]
    results = api.post("composite/sobjects", json={"records": records}).json()
    assert all(r["success"] for r in results)
    assert api.emulator.usage.used() == before + 1
    assert api.emulator.calls.snapshot()["total"] == 1


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="reference fixtures not present")
def test_collection_results_have_the_recorded_keys(api: Api) -> None:
    def recorded(name: str) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())
        return body

    records = [{"attributes": {"type": "Account"}, "Name": "A"}]
    created = api.post("composite/sobjects", json={"records": records}).json()
    assert [list(r) for r in created] == [list(recorded("collections-create.200.json")[0])]
    records = [{"attributes": {"type": "Account"}, "id": created[0]["id"], "Name": "B"}]
    updated = api.patch("composite/sobjects", json={"records": records}).json()
    assert [list(r) for r in updated] == [list(r) for r in recorded("collections-update.200.json")]
    deleted = api.delete("composite/sobjects", params={"ids": created[0]["id"]}).json()
    assert [list(r) for r in deleted] == [list(r) for r in recorded("collections-delete.200.json")]
