"""An org saved as a JSON document and rebuilt from it answers as the original did."""

from __future__ import annotations

import json
from typing import Any

import pytest
from org_client import START, OrgClient, V, furnished_org, new_app

from cosell.clients.salesforce_auth import TOKEN_PATH, PasswordGrant, SalesforceAuth
from cosell.clock import ManualClock, OffsetClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce.snapshot import FORMAT, load_org_document, org_document
from cosell.errors import ConfigError
from cosell.sandbox.salesforce_state import document_text

READS = [
    "sobjects",
    "sobjects/Opportunity/describe",
    "sobjects/Microsoft_Solution__c/describe",
    "query?q=SELECT Id, Name, StageName, IsClosed, Probability, Amount, CloseDate, "
    "Referral_Identifier__c, Sync_with_Partner_Center__c, Solution_Area__c, Account.Name, "
    "CreatedDate, SystemModstamp FROM Opportunity ORDER BY Name",
    "queryAll?q=SELECT Id, Name, IsDeleted FROM Opportunity WHERE IsDeleted = true",
    "query?q=SELECT Id, Name, Opportunity__r.Name FROM Microsoft_Solution__c",
    "query?q=SELECT Id, Username, Name FROM User ORDER BY Username",
    "tooling/query?q=SELECT Id, FullName, Metadata, TableEnumOrId FROM CustomField",
    "tooling/query?q=SELECT Id, FullName FROM CustomObject",
    "tooling/query?q=SELECT Id, Metadata FROM StandardValueSet",
    "sobjects/Opportunity/Referral_Identifier__c/R-1",
    "/_emulator/stages",
    "/_emulator/validation-rules",
]


def reloaded(
    org: OrgClient, clock: Any, config: SalesforceEmulatorConfig | None = None
) -> OrgClient:
    """A new app, as a restarted sandbox builds it, loaded from the org's JSON text."""
    text = document_text(org_document(org.emulator))
    app = new_app(clock, config)
    load_org_document(app.state.emulator, json.loads(text))
    return OrgClient.of(app)


def answers(org: OrgClient, paths: list[str]) -> list[tuple[int, Any]]:
    return [(r.status_code, r.json()) for r in (org.call("GET", p) for p in paths)]


def deleted_window() -> str:
    return "sobjects/Opportunity/deleted/?start=2026-05-04T08:00:00Z&end=2026-05-05T00:00:00Z"


def test_a_reloaded_org_reads_the_same_schema_records_and_tooling_rows() -> None:
    clock = ManualClock(START)
    original = furnished_org(clock)
    copy = reloaded(original, ManualClock(clock.now()))
    paths = [*READS, deleted_window()]
    before = answers(original, paths)
    assert [(p, s) for p, (s, _) in zip(paths, before, strict=True) if s != 200] == []
    assert answers(copy, paths) == before
    opportunity = before[1][1]
    assert {"Referral_Identifier__c", "Solution_Area__c"} <= {
        f["name"] for f in opportunity["fields"]
    }
    assert len(before[4][1]["records"]) == 1  # the deleted opportunity is in the recycle bin


def test_writes_after_a_reload_behave_as_they_would_have_before() -> None:
    clock = ManualClock(START)
    original = furnished_org(clock)
    copy = reloaded(original, ManualClock(clock.now()))
    saved_ids = set(json.dumps(org_document(original.emulator)).split('"'))
    writes = [
        ("PATCH", "sobjects/Opportunity/Referral_Identifier__c/R-1", {"Amount": 5}),
        ("PATCH", "sobjects/Opportunity/Referral_Identifier__c/R-2", _opportunity("New")),
        ("POST", "sobjects/Opportunity", _opportunity("Bad", Description="a forbidden word")),
        ("POST", "sobjects/Opportunity", _opportunity("Parked", StageName="Declined")),
        ("POST", "sobjects/Opportunity", _opportunity("Dup", Referral_Identifier__c="R-1")),
        ("POST", "sobjects/Account", {"Name": "Fabrikam"}),
    ]
    results = []
    for org in (original, copy):
        results.append([org.call(m, p, json=b) for m, p, b in writes])
    assert [(r.status_code, r.json()) for r in results[0]] == [
        (r.status_code, r.json()) for r in results[1]
    ]
    upserted, created, invalid, parked, duplicate, account = results[1]
    assert (upserted.status_code, upserted.json()["created"]) == (200, False)
    assert (created.status_code, created.json()["created"]) == (201, True)
    assert invalid.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert duplicate.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    new_ids = {created.json()["id"], parked.json()["id"], account.json()["id"]}
    assert not new_ids & saved_ids  # the id sequence continued past every saved id
    closed = copy.call("GET", f"sobjects/Opportunity/{parked.json()['id']}").json()
    assert (closed["IsClosed"], closed["Probability"]) == (True, 0)


def _opportunity(name: str, **values: Any) -> dict[str, Any]:
    return {"Name": name, "StageName": "On Hold", "CloseDate": "2026-12-31", **values}


def test_the_document_is_plain_json_with_its_format_and_definitions() -> None:
    org = furnished_org(ManualClock(START))
    doc = json.loads(document_text(org_document(org.emulator)))
    assert doc["format"] == FORMAT
    names = [d["full_name"] for d in doc["definitions"]["custom_fields"]]
    assert "Opportunity.Referral_Identifier__c" in names
    assert "Microsoft_Solution__c" in [d["full_name"] for d in doc["definitions"]["custom_objects"]]
    assert {"On Hold", "Declined"} <= {s["name"] for s in doc["definitions"]["stages"]}
    gone = next(r for r in doc["records"]["Opportunity"] if r["Name"] == "Gone")
    assert gone["IsDeleted"] is True
    assert gone["Id"] in doc["recycle_bin"]["deleted"]
    assert isinstance(gone["CreatedDate"], str)


def test_org_settings_travel_with_the_org() -> None:
    single = SalesforceEmulatorConfig(public_url="http://testserver", multi_currency=False)
    clock = ManualClock(START)
    original = OrgClient.of(new_app(clock, single))
    assert original.client.put("/_emulator/access", json={"fls_strict": True}).is_success
    copy = reloaded(original, ManualClock(START), SalesforceEmulatorConfig())
    fields = {f["name"] for f in copy.call("GET", "sobjects/Opportunity/describe").json()["fields"]}
    assert "CurrencyIsoCode" not in fields
    assert copy.client.get("/_emulator/access").json() == {"fls_strict": True}


def test_rows_follow_the_schema_of_the_version_that_loads_them() -> None:
    org = furnished_org(ManualClock(START))
    doc = json.loads(document_text(org_document(org.emulator)))
    row = next(r for r in doc["records"]["Opportunity"] if r["Name"].startswith("Contoso"))
    del row["Sync_with_Partner_Center__c"]  # saved before this field existed
    row["Retired_Field__c"] = "x"  # a field this version no longer has
    doc["records"]["Retired_Object__c"] = [{"Id": "a9Z000000000001AAA"}]
    app = new_app(ManualClock(START))
    load_org_document(app.state.emulator, doc)
    copy = OrgClient.of(app)
    got = copy.call("GET", f"sobjects/Opportunity/{row['Id']}").json()
    assert got["Sync_with_Partner_Center__c"] is False  # the field's default
    assert "Retired_Field__c" not in got
    assert got["Referral_Identifier__c"] == "R-1"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"format": FORMAT + 1}, "format"),
        ({"kind": "something else"}, "format"),
        ({"records": {"Opportunity": [{"Id": "001000000000001AAA"}]}}, "records.Opportunity"),
        ({"next_id_number": "many"}, "next_id_number"),
        ({"settings": {"multi_currency": "yes"}}, "settings.multi_currency"),
        ({"definitions": {"custom_fields": [{"full_name": "Nope.X__c", "metadata": {}}]}}, "defin"),
    ],
)
def test_a_document_this_version_cannot_read_is_refused_naming_the_part(
    change: dict[str, Any], key: str
) -> None:
    doc = {**org_document(OrgClient.of(new_app(ManualClock(START))).emulator), **change}
    with pytest.raises(ConfigError) as refused:
        load_org_document(new_app(ManualClock(START)).state.emulator, doc)
    assert refused.value.key.startswith(key)
    if change.get("format"):
        assert "newer cosell" in str(refused.value)


def test_the_clock_offset_survives_a_reload() -> None:
    clock = OffsetClock()
    org = OrgClient.of(new_app(clock))
    assert org.client.post("/_emulator/clock", json={"advance_seconds": 3 * 86400}).is_success
    fresh = OffsetClock()
    reloaded(org, fresh)
    assert fresh.offset == clock.offset
    assert fresh.offset.total_seconds() == 3 * 86400


def test_sessions_do_not_survive_and_the_connector_signs_in_again() -> None:
    org = furnished_org(ManualClock(START))
    doc = json.loads(document_text(org_document(org.emulator)))
    config = org.emulator.config
    grant = PasswordGrant(config.client_id, config.client_secret, config.username, config.password)
    auth = SalesforceAuth(grant, f"http://testserver{TOKEN_PATH}", http=org.client)
    assert org.client.get(f"{V}/sobjects/Account", auth=auth).status_code == 200
    load_org_document(org.emulator, doc)  # what a restarted sandbox does
    assert org.call("GET", "sobjects/Account").status_code == 401  # the old session is gone
    assert org.client.get(f"{V}/sobjects/Account", auth=auth).status_code == 200
    assert auth.logins == 2
