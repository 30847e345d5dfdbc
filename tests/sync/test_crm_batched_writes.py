"""The opportunity's writes travel together: a create is one composite graph and an update one
composite request, each all or nothing, and a failing node is classified as the write alone
would be (a refusal naming the field, a lost race re-read)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from engine_world import SF_BASE, World
from starlette.testclient import TestClient
from test_engine_calls import QUERY, calls

from cosell.clients.coalesce import Room
from cosell.clients.salesforce_errors import RecordRejected
from cosell.errors import StaleWrite
from cosell.sync.core.records import CrmWrite
from cosell.sync.sides.crm_record import CrmRecord, Written

CONTACTS = [
    {"firstName": "Rui", "lastName": "Costa", "email": "rui@fabrikam.example"},
    {"firstName": "Ines", "lastName": "Moreau", "email": "ines@fabrikam.example"},
]
GRAPH = "POST /services/data/v{version}/composite/graph"
COMPOSITE = "POST /services/data/v{version}/composite"


def share(world: World) -> str:
    body = {
        "name": "Fabrikam platform",
        "details": {
            "dealValue": 1000,
            "closingDateTime": "2026-12-31T00:00:00Z",
            "notes": "Migrate the warehouse",
            "requirements": {"solutions": [{"id": "SOL-1", "name": "One"}]},
        },
        "customerProfile": {"name": "Fabrikam", "address": {"country": "DE"}, "team": CONTACTS},
    }
    return str(world.share_referral(**body)["id"])


def refuse_contact(world: World, email: str) -> None:
    rule = {
        "sobject": "Contact",
        "field": "Email",
        "operator": "equals",
        "value": email,
        "message": "This address is on the do-not-contact list",
        "error_field": "Email",
    }
    control = TestClient(world.sf_app, base_url=SF_BASE)
    assert control.post("/_emulator/validation-rules", json=rule).status_code == 201


def count(world: World, sobject: str) -> int:
    return len(world.query(f"SELECT Id FROM {sobject}"))  # noqa: S608


def synced_record(world: World) -> CrmRecord:
    """A shared referral synced to its opportunity, read back."""
    rid = share(world)
    world.sync(f"referral:{rid}")
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    record = world.engine.crm.read(opp_id)
    assert record is not None
    return record


def test_a_create_is_one_request_holding_account_contacts_opportunity_roles_rows_and_note(
    world: World,
) -> None:
    """One record's create: account, contacts, opportunity, roles, solution row and Note, and a
    read of what it made, in one all-or-none composite (after the one looking it up)."""
    rid = share(world)
    calls(world)
    world.sync(f"referral:{rid}")
    _, sf = calls(world)
    assert sf == {COMPOSITE: 2}  # no write or read of its own: the second round reads none
    assert count(world, "OpportunityContactRole") == len(CONTACTS)
    assert count(world, "Microsoft_Solution__c") == 1
    [note] = world.query("SELECT Body FROM Note")
    assert note["Body"] == "Migrate the warehouse"


def test_a_refused_contact_rolls_the_whole_create_back_and_is_a_refusal_naming_the_field(
    world: World,
) -> None:
    rid = share(world)
    refuse_contact(world, "ines@fabrikam.example")
    assert world.full_pass().dead_lettered == 1
    for sobject in ("Opportunity", "Account", "Contact", "Note", "Microsoft_Solution__c"):
        assert count(world, sobject) == 0, sobject
    letter = world.store.dead_letter_for(world.tenant, f"referral:{rid}")
    assert letter is not None
    assert "do-not-contact" in letter.reason
    [row] = world.store.audit_for(world.tenant, rid)
    assert row.outcome == "rejected"

    # The same refusal raised by the side is the class a single write raises, field named.
    engine = world.engine
    with pytest.raises(RecordRejected) as refused:
        engine.crm.create(
            CrmWrite(
                opportunity={"StageName": "Prospecting"},
                account={"Name": "Fabrikam"},
                contacts=[{"LastName": "Moreau", "Email": "ines@fabrikam.example"}],
            ),
            "REF-1",
            {},
        )
    assert refused.value.fields == ("Email",)
    assert count(world, "Opportunity") == 0


def test_an_update_of_fields_and_rows_is_one_call_and_a_lost_race_writes_nothing(
    world: World,
) -> None:
    crm = world.engine.crm
    record = synced_record(world)
    opp_id = record.id
    members = [
        {"FirstName": "Rui", "LastName": "Costa", "Email": "rui@fabrikam.example"},
        {"FirstName": "Ana", "LastName": "Lima", "Email": "ana@fabrikam.example"},
    ]
    write = CrmWrite(opportunity={"Amount": 2000}, contacts=members, solutions=["SOL-2"])

    world.emulator_clock.advance(2)
    world.edit(opp_id, Description="edited by a seller meanwhile")
    calls(world)
    with pytest.raises(StaleWrite):
        crm.update(record, write, {})
    _, sf = calls(world)
    # One query for the account's contacts with the new member's email, one write.
    assert sf == {QUERY: 1, COMPOSITE: 1}
    emails = {
        r["Contact"]["Email"]
        for r in world.query("SELECT Contact.Email FROM OpportunityContactRole")
    }
    assert emails == {c["email"] for c in CONTACTS}
    assert world.opp(opp_id)["Amount"] == 1000

    world.emulator_clock.advance(1)  # read once the second of the seller's edit is over
    fresh = crm.read(opp_id)
    assert fresh is not None
    calls(world)
    assert crm.update(fresh, write, {})
    _, sf = calls(world)
    assert sf == {QUERY: 1, COMPOSITE: 1}
    rows = world.query("SELECT Contact.Email FROM OpportunityContactRole")
    assert {r["Contact"]["Email"] for r in rows} == {m["Email"] for m in members}
    [solution] = world.query("SELECT Solution_Id__c FROM Microsoft_Solution__c")
    assert solution["Solution_Id__c"] == "SOL-2"
    assert world.opp(opp_id)["Amount"] == 2000


def test_many_opportunities_are_read_with_their_rows_in_one_query_and_written_back_in_one_call(
    world: World,
) -> None:
    referrals = [share(world) for _ in range(3)]
    for rid in referrals:
        world.sync(f"referral:{rid}")
    crm = world.engine.crm
    ids = [crm.find_by_referral(rid) for rid in referrals]
    assert None not in ids
    one_by_one = {i: crm.read(i) for i in ids if i}

    calls(world)
    together = crm.read_many([*[i for i in ids if i], "006000000000000AAA"])
    _, sf = calls(world)
    assert sf == {QUERY: 1}
    assert together == one_by_one
    assert all(len(r.contacts) == len(CONTACTS) and r.solutions for r in together.values())

    status = world.engine.schema.names.status_field
    assert status is not None
    wanted = {i: {status: "Synced"} for i in together}
    wanted["006000000000000AAA"] = {status: "Synced"}
    calls(world)
    errors = crm.write_back_many(wanted)
    _, sf = calls(world)
    assert sf == {"PATCH /services/data/v{version}/composite/sobjects": 1}
    assert [i for i, e in errors.items() if e is not None] == ["006000000000000AAA"]
    assert all(world.opp(i)[status] == "Synced" for i in together)


def test_a_write_of_cosells_own_fields_alone_is_unguarded_and_a_mapped_field_keeps_its_guard(
    world: World,
) -> None:
    """Sync status and audit are written by cosell only: a write of them alone cannot overwrite
    anybody's edit, so a seller's edit made since the read does not refuse it (and it can share
    a collections call); a mapped field written with them is still refused (412)."""
    crm = world.engine.crm
    record = synced_record(world)
    opp_id = record.id
    names = world.engine.schema.names
    assert names.status_field is not None
    assert names.audit_field is not None
    own = {names.status_field: "Synced again", names.audit_field: "a line of cosell's"}
    world.emulator_clock.advance(2)
    world.edit(opp_id, Description="edited by a seller meanwhile")

    with pytest.raises(StaleWrite):
        crm.update(record, CrmWrite(opportunity={"Amount": 2000}), own)
    assert world.opp(opp_id)[names.status_field] != "Synced again"

    assert crm.update(record, CrmWrite(), own)
    opportunity = world.opp(opp_id)
    assert (opportunity[names.status_field], opportunity[names.audit_field]) == (
        "Synced again",
        "a line of cosell's",
    )
    assert opportunity["Description"] == "edited by a seller meanwhile"
    assert opportunity["Amount"] == 1000


def test_gathered_updates_go_guarded_first_and_their_new_rows_together_after(
    world: World,
) -> None:
    """Many workers at once (a backfill): the guarded opportunity updates share a request, and
    the solution rows of the ones that landed share one collections call after them; the
    update that lost its race writes nothing, its row included."""
    referrals = [share(world) for _ in range(3)]
    for rid in referrals:
        world.sync(f"referral:{rid}")
        world.sync(f"referral:{rid}")
    crm = world.engine.crm
    ids = [crm.find_by_referral(rid) for rid in referrals]
    records = [crm.read(i) for i in ids if i]
    assert len(records) == 3
    world.emulator_clock.advance(2)
    world.edit(records[1].id, Description="edited by a seller meanwhile")  # type: ignore[union-attr]
    room = Room(3)
    room.expect(3)
    gathered = crm.with_client(crm.client.coalescing(3, 30.0, room))  # type: ignore[attr-defined]
    write = CrmWrite(opportunity={"Amount": 2000}, solutions=["SOL-1", "SOL-2"])
    calls(world)

    def update(n: int) -> object:
        try:
            return gathered.update(records[n], write, {})
        except StaleWrite as exc:
            return exc
        finally:
            room.done()  # the record is over: the others need not wait for it

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(update, range(3)))

    assert answers[0] == Written(True)  # gathered: no read rides along
    assert answers[2] == Written(True)
    assert isinstance(answers[1], StaleWrite)
    _, sf = calls(world)
    assert sf == {COMPOSITE: 1, "POST /services/data/v{version}/composite/sobjects": 1}
    for n, record in enumerate(records):
        assert record is not None
        rows = world.query(
            f"SELECT Solution_Id__c FROM Microsoft_Solution__c WHERE Opportunity__c = '{record.id}'"  # noqa: S608
        )
        wanted = {"SOL-1"} if n == 1 else {"SOL-1", "SOL-2"}
        assert {r["Solution_Id__c"] for r in rows} == wanted
        assert world.opp(record.id)["Amount"] == (1000 if n == 1 else 2000)


def test_gathered_write_backs_of_partner_centers_values_go_unguarded_two_hundred_a_call(
    world: World,
) -> None:
    """The write-back after a create carries what Partner Center decided: the link (a copy of
    its value, never read from the CRM) and the visibility checkbox turned on (its only other
    value). No edit since the read can be overwritten by them, so they carry no guard: gathered,
    the updates share one collections call and their new rows another, and a seller's edit of
    another field made meanwhile neither refuses the write nor is overwritten by it."""
    visible = "Microsoft_Referral_Visibility__c"
    assert visible in world.engine.schema.checkboxes
    referrals = [share(world) for _ in range(3)]
    for rid in referrals:
        world.sync(f"referral:{rid}")
        world.sync(f"referral:{rid}")
    crm = world.engine.crm
    records = [crm.read(i) for i in (crm.find_by_referral(rid) for rid in referrals) if i]
    assert len(records) == 3
    world.edit(records[1].id, Description="edited by a seller meanwhile")  # type: ignore[union-attr]
    room = Room(3)
    room.expect(3)
    gathered = crm.with_client(crm.client.coalescing(3, 30.0, room))  # type: ignore[attr-defined]
    calls(world)

    def update(n: int) -> object:
        record = records[n]
        assert record is not None
        flipped = not record.opportunity[visible]
        link = {"Referral_Link__c": f"https://example.test/{n}", visible: flipped}
        write = CrmWrite(opportunity=link, solutions=["SOL-1", "SOL-9"])
        try:
            return gathered.update(record, write, {})
        finally:
            room.done()

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(update, range(3)))

    assert answers == [Written(True)] * 3
    _, sf = calls(world)
    collections = "/services/data/v{version}/composite/sobjects"
    assert sf == {f"PATCH {collections}": 1, f"POST {collections}": 1}
    for n, record in enumerate(records):
        assert record is not None
        opportunity = world.opp(record.id)
        assert opportunity["Referral_Link__c"] == f"https://example.test/{n}"
        assert opportunity[visible] is not record.opportunity[visible]
        rows = world.query(
            f"SELECT Solution_Id__c FROM Microsoft_Solution__c WHERE Opportunity__c = '{record.id}'"  # noqa: S608
        )
        assert "SOL-9" in {r["Solution_Id__c"] for r in rows}
    assert world.opp(records[1].id)["Description"] == "edited by a seller meanwhile"  # type: ignore[union-attr]
