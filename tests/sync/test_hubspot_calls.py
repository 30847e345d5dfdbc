"""API calls per reconcile on HubSpot, pinned as behaviour (``test_engine_calls`` does the same
for Salesforce). HubSpot counts every request against the app's ten-second burst (100 on the
common tiers), so each call a record costs is a tenth of a second of the portal's capacity.

- **Partner Center -> HubSpot create**: the referral read; the look-up of a deal holding the
  referral id, the customer's company match and contact match (searches); the deal upserted by
  the referral id; the company and the contact each made already linked to the deal, and the
  notes note likewise when the referral has notes (the associations ride in the creates); then
  the referral's write-back. No read of the deal after: the answers are the deal as it now is.
- **HubSpot -> Partner Center create**: the deal read (the deal with its associations, its
  company, its contacts), the referral created, the stamp looked at again just before the
  write-back (HubSpot has no conditional update) and the write-back itself.
- **An edit either way**: the same read of each side, the guard and one write.
- **cosell's own writes coming back**: known by their values (see
  ``tests/signals/test_hubspot_own_writes.py``), no reconcile at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_worlds import CrmWorld, build_crm_world

PC_GET = "GET /v1.0/engagements/referrals/{id}"
PC_PATCH = "PATCH /v1.0/engagements/referrals/{id}"
PC_POST = "POST /v1.0/engagements/referrals"
GET = "GET /crm/v3/objects/{object_type}/{object_id}"
PATCH = "PATCH /crm/v3/objects/{object_type}/{object_id}"
CREATE = "POST /crm/v3/objects/{object_type}"
UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"
BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"
SEARCH = "POST /crm/v3/objects/{object_type}/search"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[CrmWorld]:
    built = build_crm_world(tmp_path, "hubspot")
    warm = share(built, "Warm-up", "warm@up.example")  # the portal is described once
    built.sync(f"referral:{warm}")
    calls(built)
    yield built
    built.store.close()


def share(world: CrmWorld, customer: str, email: str, notes: str | None = "Wants a pilot") -> str:
    details: dict[str, Any] = {"dealValue": 48000, "closingDateTime": "2026-12-31T00:00:00Z"}
    if notes is not None:
        details["notes"] = notes
    body: dict[str, Any] = {
        "name": f"{customer} data platform",
        "details": details,
        "customerProfile": {
            "name": customer,
            "address": {"country": "DE"},
            "team": [{"firstName": "Rui", "lastName": "Costa", "email": email}],
        },
    }
    return str(world.share_referral(**body)["id"])


def calls(world: CrmWorld) -> tuple[dict[str, int], dict[str, int]]:
    """Partner Center and HubSpot calls by route since the last call, then reset."""
    counted = []
    for app in (world.pc_app, world.seller.app):
        log = app.state.emulator.calls
        counted.append({r: n for r, n in log.snapshot()["calls"].items() if "token" not in r})
        log.reset()
    return counted[0], counted[1]


def test_a_shared_referral_becomes_a_deal_with_its_company_contact_and_note_in_seven_calls(
    world: CrmWorld,
) -> None:
    rid = share(world, "Fabrikam", "rui@fabrikam.example")
    world.sync(f"referral:{rid}")
    pc, hubspot = calls(world)
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert hubspot == {GET: 1, SEARCH: 2, UPSERT: 1, CREATE: 3}
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id
    assert world.value(link.opportunity_id, "deal_value") == "48000.00"


def test_a_referral_without_notes_makes_no_note_and_looks_for_none(world: CrmWorld) -> None:
    rid = share(world, "Fabrikam", "rui@fabrikam.example", notes=None)
    world.sync(f"referral:{rid}")
    pc, hubspot = calls(world)
    assert pc == {PC_GET: 1, PC_PATCH: 1}
    assert hubspot == {GET: 1, SEARCH: 2, UPSERT: 1, CREATE: 2}


def test_the_deal_made_is_what_a_read_gives(world: CrmWorld) -> None:
    """The record the create's answers make is the one a read of the deal gives: the round
    after the create plans on it, and its version is what the poll compares."""
    rid = share(world, "Fabrikam", "rui@fabrikam.example")
    side = world.engine.crm
    made: list[Any] = []
    create = side.create

    def keep(*args: Any, **kwargs: Any) -> Any:
        answer = create(*args, **kwargs)
        made.append(answer)
        return answer

    side.create = keep  # type: ignore[method-assign]
    world.sync(f"referral:{rid}")
    [answer] = made
    assert answer.read is not None
    read = side.read(answer.id)
    assert read is not None
    assert answer.read.opportunity == read.opportunity
    assert answer.read.account == read.account
    assert answer.read.contacts == read.contacts
    assert answer.read.fingerprint == read.fingerprint


def test_a_flagged_deal_becomes_a_referral_in_five_hubspot_calls_and_one_post(
    world: CrmWorld,
) -> None:
    deal = world.seller.flagged_record()
    calls(world)
    world.sync(f"opportunity:{deal}")
    pc, hubspot = calls(world)
    assert pc == {PC_POST: 1}
    assert hubspot == {GET: 3, BATCH_READ: 1, PATCH: 1}


def test_a_partner_center_edit_reaches_the_deal_with_one_read_each_and_one_write(
    world: CrmWorld,
) -> None:
    rid = share(world, "Fabrikam", "rui@fabrikam.example")
    world.sync(f"referral:{rid}")
    world.microsoft_update(rid, details={"dealValue": 50000})
    calls(world)
    world.sync(f"referral:{rid}")
    pc, hubspot = calls(world)
    assert pc == {PC_GET: 1}
    assert hubspot == {GET: 3, BATCH_READ: 1, PATCH: 1}
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert link.opportunity_id
    assert world.value(link.opportunity_id, "deal_value") == "50000.00"
