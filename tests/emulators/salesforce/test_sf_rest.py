import re
from email.utils import format_datetime

import pytest
from sf_api import START, Api

from cosell.clock import ManualClock
from cosell.emulators.salesforce import ids

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")


def test_versions_list_needs_no_token_and_unknown_version_is_404(api: Api) -> None:
    listed = api.client.get("/services/data/")
    assert listed.status_code == 200
    versions = [v["version"] for v in listed.json()]
    assert "62.0" in versions
    assert "31.0" in versions
    assert listed.json()[0] == {
        "label": "Summer '14",
        "url": "/services/data/v31.0",
        "version": "31.0",
    }
    missing = api.get("/services/data/v99.0/sobjects")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_create_get_update_delete_round_trip(api: Api, clock: ManualClock) -> None:
    account = api.create("Account", Name="Contoso", BillingCountry="US")
    opp = api.opportunity(AccountId=account, Amount=1200.5)
    assert opp.startswith("006")
    assert ids.normalize(opp) == opp

    got = api.get(f"sobjects/Opportunity/{opp}").json()
    assert next(iter(got)) == "attributes"
    assert got["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v62.0/sobjects/Opportunity/{opp}",
    }
    assert got["Amount"] == 1200.5
    assert got["AccountId"] == account
    assert got["IsWon"] is False
    assert got["Probability"] == 10
    assert got["CurrencyIsoCode"] == "USD"
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert STAMP.match(got[name]), got[name]
    assert got["CreatedById"].startswith("005")

    clock.advance(61)
    assert (
        api.patch(f"sobjects/Opportunity/{opp}", json={"stagename": "Closed Won"}).status_code
        == 204
    )
    after = api.get(
        f"sobjects/Opportunity/{opp}",
        params={"fields": "stagename,IsWon,IsClosed,Probability,LastModifiedDate"},
    ).json()
    assert after["StageName"] == "Closed Won"
    assert after["IsWon"] is True
    assert after["IsClosed"] is True
    assert after["Probability"] == 100
    assert after["LastModifiedDate"] > got["LastModifiedDate"]
    assert set(after) == {
        "attributes",
        "StageName",
        "IsWon",
        "IsClosed",
        "Probability",
        "LastModifiedDate",
    }

    assert api.delete(f"sobjects/Opportunity/{opp}").status_code == 204
    assert api.get(f"sobjects/Opportunity/{opp}").status_code == 404
    again = api.patch(f"sobjects/Opportunity/{opp}", json={"Amount": 1})
    assert again.status_code == 404
    assert again.json() == [
        {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
    ]


def test_fifteen_character_and_lowercase_ids_are_accepted(api: Api) -> None:
    opp = api.opportunity()
    assert api.get(f"sobjects/Opportunity/{opp[:15]}").json()["Id"] == opp
    assert api.get(f"sobjects/Opportunity/{opp.lower()}").json()["Id"] == opp


@pytest.mark.parametrize(
    ("body", "status", "code", "fields"),
    [
        ({"Name": "x", "StageName": "Prospecting"}, 400, "REQUIRED_FIELD_MISSING", ["CloseDate"]),
        (
            {"Name": "x" * 121, "StageName": "Prospecting", "CloseDate": "2026-01-01"},
            400,
            "STRING_TOO_LONG",
            ["Name"],
        ),
        (
            {"Name": "x", "StageName": "prospecting", "CloseDate": "2026-01-01"},
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
        ),
        (
            {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-01-01", "Colour": "red"},
            400,
            "INVALID_FIELD",
            None,
        ),
        (
            {
                "Name": "x",
                "StageName": "Prospecting",
                "CloseDate": "2026-01-01",
                "AccountId": "not-an-id",
            },
            400,
            "MALFORMED_ID",
            ["AccountId"],
        ),
        (
            {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-01-01", "IsWon": True},
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["IsWon"],
        ),
    ],
)
def test_write_errors_have_salesforce_shape(
    api: Api, body: dict[str, object], status: int, code: str, fields: list[str] | None
) -> None:
    response = api.post("sobjects/Opportunity", json=body)
    assert response.status_code == status
    errors = response.json()
    assert isinstance(errors, list)
    assert len(errors) == 1
    assert errors[0]["errorCode"] == code
    assert errors[0].get("fields") == fields
    assert errors[0]["message"]


def test_invalid_field_message_names_column_and_type(api: Api) -> None:
    response = api.post("sobjects/Contact", json={"LastName": "Doe", "Shoe": 9})
    assert response.json() == [
        {
            "message": "No such column 'Shoe' on sobject of type Contact",
            "errorCode": "INVALID_FIELD",
        }
    ]


def test_not_found_malformed_id_and_unknown_type(api: Api) -> None:
    missing = api.get("sobjects/Opportunity/006000000000000AAA")
    assert missing.status_code == 404
    assert missing.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    malformed = api.get("sobjects/Opportunity/006xyz")
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_ID"
    unknown = api.post("sobjects/Widget__c", json={"Name": "x"})
    assert unknown.status_code == 404
    assert unknown.json()[0]["errorCode"] == "NOT_FOUND"
    user = api.post("sobjects/User", json={"LastName": "x"})
    assert user.status_code == 400
    assert user.json()[0]["errorCode"] == "INVALID_TYPE"


def test_duplicate_value_on_unique_external_id(api: Api) -> None:
    api.add_field(
        "Opportunity.Referral_Identifier__c",
        type="Text",
        label="Referral",
        length=100,
        externalId=True,
        unique=True,
    )
    first = api.opportunity(Referral_Identifier__c="ref-1")
    response = api.post(
        "sobjects/Opportunity",
        json={
            "Name": "x",
            "StageName": "Prospecting",
            "CloseDate": "2026-01-01",
            "Referral_Identifier__c": "REF-1",
        },
    )
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "duplicate value found: Referral_Identifier__c duplicates value on record "
            f"with id: {first}",
            "errorCode": "DUPLICATE_VALUE",
            "fields": [],
        }
    ]


def test_custom_validation_rule_is_injectable(api: Api) -> None:
    rule = {
        "sobject": "Opportunity",
        "field": "Amount",
        "operator": "equals",
        "value": 13,
        "message": "Unlucky amount",
    }
    assert api.client.post("/_emulator/validation-rules", json=rule).status_code == 201
    response = api.post(
        "sobjects/Opportunity",
        json={"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-01-01", "Amount": 13},
    )
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "Unlucky amount",
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "fields": [],
        }
    ]
    assert (
        api.post(
            "sobjects/Opportunity",
            json={"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-01-01", "Amount": 14},
        ).status_code
        == 201
    )


def test_if_unmodified_since_guards_patch(api: Api, clock: ManualClock) -> None:
    opp = api.opportunity()
    read_at = clock.now()
    clock.advance(120)
    assert api.patch(f"sobjects/Opportunity/{opp}", json={"Amount": 5}).status_code == 204
    stale = api.patch(
        f"sobjects/Opportunity/{opp}",
        json={"Amount": 6},
        headers={"If-Unmodified-Since": format_datetime(read_at, usegmt=True)},
    )
    assert stale.status_code == 412
    assert stale.json()[0]["errorCode"] == "PRECONDITION_FAILED"
    fresh = api.patch(
        f"sobjects/Opportunity/{opp}",
        json={"Amount": 7},
        headers={"If-Unmodified-Since": format_datetime(clock.now(), usegmt=True)},
    )
    assert fresh.status_code == 204
    malformed = api.patch(
        f"sobjects/Opportunity/{opp}",
        json={"Amount": 8},
        headers={"If-Unmodified-Since": "yesterday-ish"},
    )
    assert malformed.status_code == 400
    amount = api.get(f"sobjects/Opportunity/{opp}", params={"fields": "Amount"}).json()["Amount"]
    assert amount == 7


def test_multi_currency_off_makes_currency_an_invalid_field(api: Api) -> None:
    api.emulator.config.multi_currency = False
    api.emulator.reset()
    api.relogin()
    response = api.post(
        "sobjects/Opportunity",
        json={
            "Name": "x",
            "StageName": "Prospecting",
            "CloseDate": "2026-01-01",
            "CurrencyIsoCode": "EUR",
        },
    )
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_describe_has_realistic_field_entries_and_304(api: Api, clock: ManualClock) -> None:
    described = api.get("sobjects/Opportunity/describe")
    assert described.status_code == 200
    body = described.json()
    assert body["name"] == "Opportunity"
    assert body["keyPrefix"] == "006"
    stage = next(f for f in body["fields"] if f["name"] == "StageName")
    assert stage["type"] == "picklist"
    assert stage["restrictedPicklist"] is True
    assert [p["value"] for p in stage["picklistValues"]][-2:] == ["Closed Won", "Closed Lost"]
    account = next(f for f in body["fields"] if f["name"] == "AccountId")
    assert account["referenceTo"] == ["Account"]
    assert account["relationshipName"] == "Account"
    for key in (
        "label",
        "length",
        "nillable",
        "createable",
        "updateable",
        "externalId",
        "unique",
        "custom",
        "soapType",
    ):
        assert key in stage
    later = format_datetime(START.replace(year=2027), usegmt=True)
    assert (
        api.get("sobjects/Opportunity/describe", headers={"If-Modified-Since": later}).status_code
        == 304
    )
    names = [o["name"] for o in api.get("sobjects").json()["sobjects"]]
    assert {
        "Opportunity",
        "Account",
        "Contact",
        "OpportunityContactRole",
        "OpportunityTeamMember",
        "User",
        "Note",
    } <= set(names)


def test_seeded_users_and_related_objects(api: Api) -> None:
    users = api.get("query", params={"q": "SELECT Id, Username FROM User"}).json()["records"]
    assert len(users) >= 3
    assert any(u["Username"] == "integration@partner.example" for u in users)
    opp = api.opportunity()
    contact = api.create("Contact", FirstName="Ada", LastName="Lovelace", Email="ada@x.example")
    role = api.create(
        "OpportunityContactRole", OpportunityId=opp, ContactId=contact, Role="Decision Maker"
    )
    member = api.create(
        "OpportunityTeamMember",
        OpportunityId=opp,
        UserId=users[1]["Id"],
        TeamMemberRole="Sales Rep",
    )
    note = api.create("Note", ParentId=opp, Title="Kick-off", Body="Met the customer")
    assert (role[:3], member[:3], note[:3]) == ("00K", "00q", "002")
    assert api.get(f"sobjects/Contact/{contact}").json()["Name"] == "Ada Lovelace"


def test_unknown_resources_and_verbs_answer_in_error_array_shape(api: Api) -> None:
    unknown = api.get("nothing/here")
    assert unknown.status_code == 404
    assert unknown.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]
    verb = api.call("PUT", "sobjects/Account")
    assert verb.status_code == 405
    assert verb.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_account_etag_if_match_and_if_none_match(api: Api, clock: ManualClock) -> None:
    account = api.create("Account", Name="Tagged")
    first = api.get(f"sobjects/Account/{account}")
    tag = first.headers["ETag"]
    assert tag.startswith('"')
    assert api.get(f"sobjects/Account/{account}", headers={"If-None-Match": tag}).status_code == 304
    clock.advance(5)
    assert (
        api.patch(
            f"sobjects/Account/{account}", json={"Phone": "1"}, headers={"If-Match": tag}
        ).status_code
        == 204
    )
    stale = api.patch(f"sobjects/Account/{account}", json={"Phone": "2"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    new_tag = api.get(f"sobjects/Account/{account}").headers["ETag"]
    assert new_tag != tag
    assert (
        api.patch(
            f"sobjects/Account/{account}", json={"Phone": "3"}, headers={"If-None-Match": new_tag}
        ).status_code
        == 412
    )
    opp = api.opportunity()
    assert "ETag" not in api.get(f"sobjects/Opportunity/{opp}").headers
    assert (
        api.patch(
            f"sobjects/Opportunity/{opp}", json={"Amount": 1}, headers={"If-Match": '"whatever"'}
        ).status_code
        == 204
    )


def test_stages_can_be_added_with_closed_and_won_flags(api: Api) -> None:
    added = api.client.post("/_emulator/stages", json={"name": "Declined", "closed": True})
    assert {"name": "Declined", "probability": 0, "closed": True, "won": False} in added.json()[
        "stages"
    ]
    opp = api.opportunity(StageName="Closed Won")
    assert (
        api.patch(f"sobjects/Opportunity/{opp}", json={"StageName": "Declined"}).status_code == 204
    )
    got = api.get(f"sobjects/Opportunity/{opp}").json()
    assert (got["IsClosed"], got["IsWon"], got["Probability"]) == (True, False, 0)
    api.emulator.org.object("Opportunity").field("StageName").picklist.append("On Hold")  # type: ignore[union-attr]
    api.patch(f"sobjects/Opportunity/{opp}", json={"StageName": "On Hold"})
    held = api.get(f"sobjects/Opportunity/{opp}").json()
    assert (held["IsClosed"], held["IsWon"]) == (False, False)
