import pytest
from sf_api import Api

from cosell.emulators.salesforce.org import Org

REF = "sobjects/Opportunity/Referral_Identifier__c"
BODY = {"Name": "Co-sell deal", "StageName": "Prospecting", "CloseDate": "2026-06-30"}


@pytest.fixture
def ref_api(api: Api) -> Api:
    api.add_field(
        "Opportunity.Referral_Identifier__c",
        type="Text",
        label="Referral Identifier",
        length=100,
        externalId=True,
        unique=False,
    )
    return api


def test_no_match_inserts_with_201_and_created_true(ref_api: Api) -> None:
    response = ref_api.patch(f"{REF}/3f2b-01", json=BODY)
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "success": True, "errors": [], "created": True}
    assert body["id"].startswith("006")
    got = ref_api.get(f"sobjects/Opportunity/{body['id']}").json()
    assert got["Referral_Identifier__c"] == "3f2b-01"


def test_one_match_updates_with_200_on_v46_and_later(ref_api: Api) -> None:
    created = ref_api.patch(f"{REF}/abc", json=BODY).json()["id"]
    response = ref_api.patch(f"{REF}/ABC", json={"Amount": 50})
    assert response.status_code == 200
    assert response.json() == {"id": created, "success": True, "errors": [], "created": False}
    assert ref_api.get(f"sobjects/Opportunity/{created}").json()["Amount"] == 50


@pytest.mark.parametrize("version", ["45.0", "31.0"])
def test_one_match_updates_with_204_and_no_body_up_to_v45(ref_api: Api, version: str) -> None:
    ref_api.patch(f"{REF}/abc", json=BODY)
    response = ref_api.patch(
        f"/services/data/v{version}/{REF}/abc", json={"Description": "changed"}
    )
    assert response.status_code == 204
    assert response.content == b""


def test_insert_before_v46_has_no_created_flag(ref_api: Api) -> None:
    response = ref_api.patch(f"/services/data/v45.0/{REF}/new-one", json=BODY)
    assert response.status_code == 201
    assert "created" not in response.json()


def test_several_matches_answer_300_with_record_urls(ref_api: Api) -> None:
    first = ref_api.opportunity(Referral_Identifier__c="dup")
    second = ref_api.opportunity(Referral_Identifier__c="dup")
    response = ref_api.patch(f"{REF}/dup", json={"Amount": 1})
    assert response.status_code == 300
    assert sorted(response.json()) == sorted(
        f"/services/data/v62.0/sobjects/Opportunity/{i}" for i in (first, second)
    )
    assert ref_api.get(f"sobjects/Opportunity/{first}").json()["Amount"] is None


@pytest.mark.parametrize("field", ["Nope__c", "Name"])
def test_unknown_or_non_external_field_is_404(ref_api: Api, field: str) -> None:
    response = ref_api.patch(f"sobjects/Opportunity/{field}/x", json=BODY)
    assert response.status_code == 404
    assert response.json() == [
        {
            "message": f"Provided external ID field does not exist or is not accessible: {field}",
            "errorCode": "NOT_FOUND",
        }
    ]


def test_update_only_does_not_insert(ref_api: Api) -> None:
    response = ref_api.patch(f"{REF}/missing", params={"updateOnly": "true"}, json=BODY)
    assert response.status_code == 404
    assert (
        ref_api.get("query", params={"q": "SELECT COUNT() FROM Opportunity"}).json()["totalSize"]
        == 0
    )
    ref_api.patch(f"{REF}/present", json=BODY)
    updated = ref_api.patch(f"{REF}/present", params={"updateOnly": "true"}, json={"Amount": 9})
    assert updated.status_code == 200


def test_post_to_id_path_inserts_and_patch_there_is_405(ref_api: Api) -> None:
    inserted = ref_api.post("sobjects/Opportunity/Id", json=BODY)
    assert inserted.status_code == 201
    assert inserted.json()["id"].startswith("006")
    refused = ref_api.patch("sobjects/Opportunity/Id", json=BODY)
    assert refused.status_code == 405
    assert refused.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    assert "Allowed are GET,HEAD,POST" in refused.json()[0]["message"]


def test_url_encoded_values_and_get_by_external_id(ref_api: Api) -> None:
    created = ref_api.patch(f"{REF}/a%2Fb%20c", json=BODY).json()["id"]
    got = ref_api.get(f"{REF}/a%2Fb%20c")
    assert got.status_code == 200
    assert got.json()["Id"] == created
    assert got.json()["Referral_Identifier__c"] == "a/b c"
    assert ref_api.get(f"{REF}/other").status_code == 404


def test_upsert_validation_errors_keep_their_shape(ref_api: Api) -> None:
    response = ref_api.patch(f"{REF}/bad", json={**BODY, "StageName": "Won-ish"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_an_upsert_finds_its_match_without_reading_every_record(
    ref_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill upserts thousands of opportunities by referral id: each finds its match from
    the field's index, as a query by value does, not by reading the whole table."""
    for n in range(30):
        ref_api.opportunity(Referral_Identifier__c=f"ref-{n}")
    read_all: list[str] = []
    real = Org.live
    monkeypatch.setattr(Org, "live", lambda self, obj: read_all.append(obj.name) or real(self, obj))

    updated = ref_api.patch(f"{REF}/REF-7", json={"Amount": 7})
    created = ref_api.patch(f"{REF}/ref-new", json=BODY)

    assert (updated.status_code, created.status_code) == (200, 201)
    assert "Opportunity" not in read_all
    found = ref_api.get(f"sobjects/Opportunity/{updated.json()['id']}").json()
    assert (found["Referral_Identifier__c"], found["Amount"]) == ("ref-7", 7)
