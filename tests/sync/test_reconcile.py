"""One reconcile round over a snapshot: a snapshot whose CRM read is older than the pair's last
commit is re-read instead of planned (it would send the older values back as edits)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_world import World

from cosell.errors import StaleWrite
from cosell.sync.engine.reconcile import Reconcile


def test_a_crm_read_older_than_the_last_commit_is_not_planned(world: World) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",),
        Sync_with_Partner_Center__c=True,
        How_can_Microsoft_help__c="Quotes or licensing",
    )
    world.sync(f"opportunity:{opp_id}")
    rid = world.link_for(opp_id).referral_id
    older = world.engine.read("opportunity", opp_id)
    world.edit(opp_id, Amount=90000)
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"]["dealValue"] == 90000

    # Sides read before that commit, paired with the link as it is now (another worker's
    # commit landed between the reads).
    stale = replace(older, link=world.link_for(opp_id))
    before = world.writes()
    with pytest.raises(StaleWrite):
        Reconcile(world.engine, stale, world.engine.facts(stale), "c-1").run()
    assert world.writes() == before
    assert world.referral(rid)["details"]["dealValue"] == 90000

    world.sync(f"opportunity:{opp_id}")  # a fresh read plans nothing
    assert world.writes() == before
