"""Translation round trips through what each side stores: a create written from canonical values
reads back as the same canonical values (the base committed with the create)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cosell.sync.core.contacts import NO_LAST_NAME, as_held, contact_key
from cosell.sync.core.mapping import default_mapping
from cosell.sync.core.plan import PlanFacts, plan
from cosell.sync.core.records import CreateContext, CrmRelated
from cosell.sync.core.translate import (
    from_crm,
    from_partner_center,
    to_crm_create,
    to_partner_center_create,
)

MAPPING = default_mapping()
FIELD = "customer_contacts"
CONTACT_LENGTHS = {"FirstName": 40, "LastName": 80, "Email": 80, "Phone": 40}
"""What a Salesforce Contact holds (longer values are refused with STRING_TOO_LONG)."""

names = st.one_of(
    st.none(),
    st.sampled_from(["Rui", " Ana ", "ana", "O'Neil", NO_LAST_NAME, ""]),
    st.text(alphabet="abcXYZ -", min_size=1, max_size=90),
)
emails = st.one_of(
    st.none(),
    st.sampled_from(["rui@f.example", "RUI@F.example", " ana@f.example", "bo@f.example"]),
)
phones = st.one_of(
    st.none(), st.sampled_from(["+49 30 1", "(555) 010-0000 "]), st.text("0", max_size=45)
)


@st.composite
def members(draw: st.DrawFn) -> dict[str, Any]:
    member = {
        "firstName": draw(names),
        "lastName": draw(names),
        "email": draw(emails),
        "phoneNumber": draw(phones),
    }
    return {k: v for k, v in member.items() if v is not None}


def crm_stores(desired: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Contact rows a CRM ends up with: one per person, a last name always, within lengths."""
    rows: dict[str, dict[str, Any]] = {}
    for member in desired:
        row = {k: member.get(k) or None for k in CONTACT_LENGTHS}
        row["LastName"] = row["LastName"] or NO_LAST_NAME
        for key, limit in CONTACT_LENGTHS.items():
            assert len(row[key] or "") <= limit, f"STRING_TOO_LONG {key}"
        rows[contact_key(row)] = row
    return list(rows.values())


@settings(max_examples=300, deadline=None)
@given(st.lists(members(), max_size=5))
def test_contacts_imported_from_partner_center_read_back_unchanged(team: list[Any]) -> None:
    referral = {"customerProfile": {"team": team}}
    canonical = from_partner_center(referral, MAPPING)
    write = to_crm_create(canonical, MAPPING)
    stored = crm_stores(write.contacts or [])
    read_back = from_crm({}, CrmRelated(contacts=stored), MAPPING)
    assert read_back[FIELD] == canonical[FIELD]


@settings(max_examples=300, deadline=None)
@given(st.lists(members(), max_size=5))
def test_contacts_sent_to_partner_center_read_back_unchanged(team: list[Any]) -> None:
    keys = {
        "FirstName": "firstName",
        "LastName": "lastName",
        "Email": "email",
        "Phone": "phoneNumber",
    }
    rows = [{crm: m.get(pc) for crm, pc in keys.items()} for m in team]
    canonical = from_crm({}, CrmRelated(contacts=rows), MAPPING)
    body = to_partner_center_create(canonical, CreateContext("006000000000001AAA"), MAPPING)
    assert from_partner_center(body, MAPPING)[FIELD] == canonical[FIELD]


@given(st.lists(members(), max_size=5))
def test_held_contacts_are_held_as_they_are(team: list[Any]) -> None:
    held = from_partner_center({"customerProfile": {"team": team}}, MAPPING)[FIELD]
    assert as_held(held) == held


def test_duplicates_are_one_contact_with_the_first_ones_values_first() -> None:
    value = [
        {"first_name": "Rui", "email": "rui@f.example"},
        {"first_name": "R.", "last_name": "Costa", "email": "rui@f.example", "phone": "1"},
    ]
    expected = {"first_name": "Rui", "last_name": "Costa", "email": "rui@f.example", "phone": "1"}
    assert as_held(value) == [expected]


def test_the_placeholder_last_name_reads_as_none_and_names_are_cut_to_the_field() -> None:
    value = [{"first_name": "A" * 50, "last_name": NO_LAST_NAME}, {"last_name": "B" * 81}]
    assert as_held(value) == [{"first_name": "A" * 40}, {"last_name": "B" * 80}]


TEXT = st.one_of(st.none(), st.text(alphabet="aZ 9-é", max_size=12))
CRM_LENGTHS = {"Name": 120, "BillingCity": 40, "BillingPostalCode": 20, "BillingState": 80}


@st.composite
def referrals(draw: st.DrawFn) -> dict[str, Any]:
    amount = draw(st.one_of(st.none(), st.decimals("0", "1e9", places=3), st.integers(0, 10**9)))
    moment = draw(st.sampled_from(["2026-12-31T00:00:00Z", "2026-12-31T23:30:00-05:00", None]))
    return {
        "name": draw(TEXT),
        "status": "New",
        "substatus": draw(st.sampled_from(["Pending", "Received"])),
        "details": {
            "dealValue": None if amount is None else float(amount),
            "currency": draw(st.sampled_from(["eur", "USD", " gbp ", None])),
            "closingDateTime": moment,
            "notes": draw(TEXT),
            "requirements": {"solutions": [{"id": i} for i in draw(st.lists(TEXT))]},
        },
        "customerProfile": {
            "name": draw(TEXT),
            "address": {"city": draw(TEXT), "country": draw(st.sampled_from(["DE", "Germany"]))},
            "team": draw(st.lists(members(), max_size=3)),
        },
        "inviteContext": {"assistanceRequestCode": draw(st.sampled_from(["QuotesOrLicensing"]))},
    }


def crm_holds(write: Any) -> tuple[dict[str, Any], CrmRelated]:
    """What the CRM reads back after a create: the opportunity and account fields as written
    (within their lengths), the contacts as stored, one solution row per id."""
    for key, value in {**write.opportunity, **write.account}.items():
        assert len(str(value or "")) <= CRM_LENGTHS.get(key, 255), f"STRING_TOO_LONG {key}"
    rows = [{"Solution_Id__c": i} for i in write.solutions or []]
    contacts = crm_stores(write.contacts or [])
    return write.opportunity, CrmRelated(write.account, contacts, None, rows)


@settings(max_examples=200, deadline=None)
@given(referrals())
def test_an_imported_referral_reads_back_as_its_base(referral: dict[str, Any]) -> None:
    base = from_partner_center(referral, MAPPING)
    opportunity, related = crm_holds(to_crm_create(base, MAPPING))
    read_back = from_crm(opportunity, related, MAPPING)
    facts = PlanFacts(direction="incoming", link_exists=True, referral_kind="co_sell")
    again = plan(base, base, read_back, MAPPING, facts)
    assert (again.decisions, again.skipped, again.conflicts) == ([], [], [])
    assert (again.to_crm, again.to_partner_center) == ({}, {})


@st.composite
def opportunities(draw: st.DrawFn) -> tuple[dict[str, Any], CrmRelated]:
    amount = draw(st.one_of(st.none(), st.decimals("0", "1e9", places=2)))
    opportunity = {
        "Id": "006A",
        "Name": draw(TEXT),
        "Amount": None if amount is None else float(amount),
        "CurrencyIsoCode": draw(st.sampled_from(["EUR", "USD"])),
        "CloseDate": "2026-09-30",
        "StageName": draw(st.sampled_from(["Prospecting", "Qualification"])),
        "Description": draw(TEXT),
        "Products__c": draw(st.sampled_from([None, "SOL-1", "SOL-2; SOL-1", " , SOL-3"])),
        "How_can_Microsoft_help__c": draw(st.sampled_from([None, "quotes or licensing"])),
        "Microsoft_Referral_Visibility__c": draw(st.sampled_from([None, False, True])),
    }
    account = {"Name": draw(TEXT), "BillingCountry": draw(st.sampled_from(["US", "Germany"]))}
    keys = {
        "FirstName": "firstName",
        "LastName": "lastName",
        "Email": "email",
        "Phone": "phoneNumber",
    }
    rows = [{crm: m.get(pc) for crm, pc in keys.items()} for m in draw(st.lists(members()))]
    solutions = [{"Solution_Id__c": i} for i in draw(st.lists(st.sampled_from(["SOL-1", "SOL-4"])))]
    return opportunity, CrmRelated(account, rows, None, solutions)


@settings(max_examples=200, deadline=None)
@given(opportunities())
def test_a_referral_created_from_an_opportunity_reads_back_as_its_base(
    opportunity: tuple[dict[str, Any], CrmRelated],
) -> None:
    crm = from_crm(*opportunity, MAPPING)
    created = plan(None, None, crm, MAPPING, PlanFacts(direction="outgoing"))
    assert created.create == "referral"
    body = to_partner_center_create(created.to_partner_center, CreateContext("006A"), MAPPING)
    referral = {**body, "status": "Active", "substatus": "Accepted"}  # Partner Center's answer
    facts = PlanFacts(direction="outgoing", link_exists=True, referral_kind="co_sell")
    again = plan(created.new_base, from_partner_center(referral, MAPPING), crm, MAPPING, facts)
    # What the create produced flows back to the CRM (its stage, and sharing for a help code);
    # nothing goes to Partner Center and nothing is skipped.
    assert again.to_partner_center == {}
    assert (again.skipped, again.conflicts) == ([], [])
    assert set(again.to_crm) <= {"stage", "visibility"}
