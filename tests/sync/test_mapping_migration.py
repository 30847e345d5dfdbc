"""A mapping change is a migration: links made before it are re-based for the moved field, so
nothing is written to either side until someone edits the field."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from engine_world import World

from cosell.cli.main import main
from cosell.sync.core.mapping import default_mapping_text, parse_mapping
from cosell.sync.core.mapping_changes import changes, fingerprint
from cosell.sync.engine import rebase
from cosell.sync.engine.engine import Engine

HELP = "Customer technical architecture"
MOVED = default_mapping_text().replace(
    "partner_center: details.notes\n    crm: Description",
    "partner_center: details.notes\n    crm: NextStep",
)


def engine_with(world: World, text: str) -> Engine:
    return Engine.build(
        store=world.store,
        tenant=world.tenant,
        partner_center=world.pc_client,
        salesforce=world.sf_client,
        mapping=parse_mapping(text),
        clock=world.clock,
    )


def linked_pair(world: World) -> tuple[str, str]:
    values = {
        "Sync_with_Partner_Center__c": True,
        "How_can_Microsoft_help__c": HELP,
        "Description": "Renewal with Azure migration",
    }
    opp_id = world.opportunity(solutions=("SOL-100",), **values)
    world.sync(f"opportunity:{opp_id}")
    rid = world.opp(opp_id)["Referral_Identifier__c"]
    assert world.referral(rid)["details"]["notes"] == "Renewal with Azure migration"
    return rid, opp_id


def test_moving_a_field_to_another_crm_field_writes_nothing_to_either_side(world: World) -> None:
    rid, opp_id = linked_pair(world)
    world.clock.advance(60)
    moved = engine_with(world, MOVED)
    before = world.writes()
    for key in (f"opportunity:{opp_id}", f"referral:{rid}", f"opportunity:{opp_id}"):
        world.emulator_clock.advance(1)
        moved.reconcile_key(key)
    assert world.writes() == before
    assert world.referral(rid)["details"]["notes"] == "Renewal with Azure migration"
    assert world.opp(opp_id)["NextStep"] is None
    rows = [r for r in world.store.audit_for(world.tenant, opp_id) if r.field == "notes"]
    assert [r.outcome for r in rows][:1] == ["skipped"]
    assert "re-based, nothing written" in rows[0].message
    assert "Description → NextStep" in rows[0].message

    # The next edit of the field flows as usual (to Partner Center, from the new CRM field).
    world.edit(opp_id, NextStep="Workshop booked")
    world.emulator_clock.advance(1)
    moved.reconcile_key(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"]["notes"] == "Workshop booked"
    link = world.link_for(opp_id)
    assert "notes" not in link.base[rebase.SIDES_KEY]


def test_without_the_re_base_the_moved_field_would_send_the_empty_crm_field(
    world: World,
) -> None:
    """The failure the re-base prevents: a link that was never re-based reads the empty new
    CRM field as a CRM change and empties Partner Center's notes."""
    rid, opp_id = linked_pair(world)
    world.clock.advance(60)
    moved = engine_with(world, MOVED)
    moved.apply_mapping()
    moved.context = type(moved.context)(**{**vars(moved.context), "moved": {}})
    world.emulator_clock.advance(1)
    moved.reconcile_key(f"opportunity:{opp_id}")
    assert world.referral(rid)["details"]["notes"] in (None, "")


def test_the_store_keeps_the_last_applied_mapping_and_its_moves(world: World) -> None:
    linked_pair(world)
    first = rebase.stored(world.store, world.tenant)
    assert first is not None
    assert first.moved == {}
    world.clock.advance(60)
    engine_with(world, MOVED).apply_mapping()
    after = rebase.stored(world.store, world.tenant)
    assert after is not None
    assert set(after.moved) == {"notes"}
    assert after.moved["notes"].what == "crm Description → NextStep"
    # Applying the same mapping again changes nothing.
    world.clock.advance(60)
    engine_with(world, MOVED).apply_mapping()
    assert rebase.stored(world.store, world.tenant) == after


def test_changes_name_each_moved_field_and_its_effect() -> None:
    old = fingerprint(parse_mapping(default_mapping_text()))
    new = fingerprint(parse_mapping(MOVED))
    [change] = changes(old, new)
    assert (change.field, change.kind, change.old, change.new) == (
        "notes",
        "crm",
        "Description",
        "NextStep",
    )
    assert change.moves
    assert "nothing is written" in change.effect


def test_mapping_diff_shows_the_move_between_two_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(default_mapping_text(), encoding="utf-8")
    new.write_text(MOVED, encoding="utf-8")
    result = CliRunner().invoke(main, ["mapping", "diff", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "notes" in result.output
    assert "Description" in result.output
    assert "NextStep" in result.output
    assert "re-based for notes" in result.output
    assert "nothing is written" in result.output


def test_mapping_diff_against_the_store_counts_its_links(world: World, tmp_path: Path) -> None:
    linked_pair(world)
    moved = tmp_path / "moved.yaml"
    moved.write_text(MOVED, encoding="utf-8")
    config = tmp_path / "cosell.toml"
    config.write_text(
        f'[tenant]\nname = "test"\n[service]\nstate_dir = "{tmp_path}"\n'
        f'[sync]\nmapping_file = "{moved}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["mapping", "diff", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "1 existing link(s) re-based for notes" in result.output
    # Once applied, the configured mapping is the store's: nothing left to show.
    world.clock.advance(60)
    engine_with(world, MOVED).apply_mapping()
    again = CliRunner().invoke(main, ["mapping", "diff", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "no field changes" in again.output
