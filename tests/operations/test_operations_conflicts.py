"""``cosell conflicts`` lists open conflicts; ``resolve`` records the choice, enqueues the key."""

import json

import pytest
from ops_world import OpsWorld

from cosell.operations.conflicts import Resolution
from cosell.store.records import LinkUpdate


def seed_conflict(world: OpsWorld) -> int:
    store, tenant = world.store()
    link = store.commit_sync(tenant, LinkUpdate(referral_id="R-1", opportunity_id="006A"), [])
    return store.open_conflict(tenant, link.id, "Amount", 100, 200, 300)


def test_list_shows_base_and_both_values(world: OpsWorld) -> None:
    conflict_id = seed_conflict(world)
    code, out, _ = world.cosell("conflicts", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert row["id"] == conflict_id
    assert (row["referral_id"], row["opportunity_id"], row["field"]) == ("R-1", "006A", "Amount")
    assert (row["base"], row["partner_center"], row["crm"]) == (100, 200, 300)
    table = world.cosell("conflicts")[1]
    assert "Amount" in table
    assert "R-1" in table
    assert "300" in table


@pytest.mark.parametrize(
    ("take", "value"),
    [("partner_center", 200), ("crm", 300), ("value=275", 275), ("value=about 275", "about 275")],
)
def test_resolve_records_the_choice_and_enqueues_the_key(
    world: OpsWorld, take: str, value: object
) -> None:
    conflict_id = seed_conflict(world)
    store, tenant = world.store()

    code, out, err = world.cosell("conflicts", "resolve", str(conflict_id), "--take", take)

    assert (code, err) == (0, "")
    assert "enqueued referral:R-1" in out
    assert store.conflicts(tenant, "open") == []
    [resolved] = store.conflicts(tenant, "resolved")
    assert resolved.resolution is not None
    assert Resolution.decode(resolved.resolution).value_for(resolved) == value
    assert store.stats(tenant).queue_depth == 1
    assert world.cosell("conflicts")[1].strip() == "no open conflicts"


def test_resolve_refuses_unknown_ids_and_choices(world: OpsWorld) -> None:
    conflict_id = seed_conflict(world)
    code, _, err = world.cosell("conflicts", "resolve", "999", "--take", "crm")
    assert code == 1
    assert "no open conflict has id 999" in err
    code, _, err = world.cosell("conflicts", "resolve", str(conflict_id), "--take", "mine")
    assert code == 2
    assert "--take" in err


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("partner_center", Resolution("partner_center")),
        ("crm", Resolution("crm")),
        ('value={"a": 1}', Resolution("value", {"a": 1})),
        ('value=""', Resolution("value", "")),
        ("value=null", Resolution("value", None)),
    ],
)
def test_parse_and_round_trip(option: str, expected: Resolution) -> None:
    parsed = Resolution.parse(option)
    assert parsed == expected
    assert Resolution.decode(parsed.encode()) == expected


@pytest.mark.parametrize("option", ["", "value=", "value", "theirs", "crm=1"])
def test_parse_refuses(option: str) -> None:
    with pytest.raises(ValueError, match=r"--take must be|needs a value"):
        Resolution.parse(option)


@pytest.mark.parametrize("text", ["", "{}", '{"take": "mine"}', "[1]", "crm"])
def test_decode_refuses_what_is_not_a_resolution(text: str) -> None:
    with pytest.raises(ValueError, match="not a conflict resolution"):
        Resolution.decode(text)
