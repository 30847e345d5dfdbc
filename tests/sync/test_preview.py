"""``cosell mapping preview``: what a sync would write, read from both emulators; writes none."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner
from engine_world import PC_BASE, SF_BASE, START, World
from starlette.testclient import TestClient
from test_full_sync import ENV, config_file

from cosell.cli.common import CommandDeps
from cosell.cli.main import main
from cosell.clock import ManualClock
from cosell.sync.engine.preview import preview

HELP = "Customer technical architecture"


def served(world: World, tmp_path: Path, *args: str) -> tuple[int, str]:
    apps = {PC_BASE: world.pc_app, SF_BASE: world.sf_app}

    def http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
        client = TestClient(apps[base_url.rstrip("/")], base_url=base_url)
        if auth is not None:
            client.auth = auth
        return client

    deps = CommandDeps(clock=ManualClock(START), http=http)
    config = config_file(tmp_path)  # the world's store lives in tmp_path itself
    text = config.read_text(encoding="utf-8").replace(str(tmp_path / "state"), str(tmp_path))
    config.write_text(text + '\n[tenant]\nname = "test"\n', encoding="utf-8")
    argv = ["mapping", "preview", *args, "--config", str(config)]
    result = CliRunner().invoke(main, argv, obj=deps, env=ENV, catch_exceptions=False)
    return result.exit_code, result.output


def test_an_update_preview_lists_each_change_and_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    opp_id = world.opportunity(
        solutions=("SOL-1",), Sync_with_Partner_Center__c=True, How_can_Microsoft_help__c=HELP
    )
    world.sync(f"opportunity:{opp_id}")
    world.edit(opp_id, Amount=777, Description="bigger scope")
    before = world.writes()

    result = preview(world.engine, "opportunity", opp_id)
    assert result.action == "update"
    changes = {c.where: (c.current, c.new) for c in result.changes}
    assert changes["/details/dealValue"] == (125000, 777.0)
    assert changes["/details/notes"] == ("Renewal with Azure migration", "bigger scope")

    code, output = served(world, tmp_path, "--opportunity", opp_id)
    assert code == 0, output
    assert "Partner Center /details/dealValue: 125000.0 → 777.0" in output
    assert "nothing was written" in output
    assert world.writes() == before
    assert world.referrals()[0]["details"]["dealValue"] == 125000


def test_a_create_preview_shows_the_body(world: World, tmp_path: Path) -> None:
    referral = world.share_referral(
        name="Adatum rollout",
        details={"dealValue": 5, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Adatum", "address": {"country": "FR"}},
    )
    before = world.writes()
    code, output = served(world, tmp_path, "--referral", str(referral["id"]))
    assert code == 0, output
    assert "create opportunity" in output
    assert '"Name": "Adatum rollout"' in output
    assert world.writes() == before
    assert world.query("SELECT Id FROM Opportunity") == []


def test_exactly_one_record_is_required(world: World, tmp_path: Path) -> None:
    code, output = served(world, tmp_path)
    assert code == 2
    assert "exactly one" in output
