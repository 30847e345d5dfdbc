"""``cosell mapping check --config``: the configured mapping, checked against the emulated org's
describe and Partner Center's referral schema, fails naming line and key of each misspelling."""

from pathlib import Path

from ops_world import OpsWorld

from cosell.sync.core.mapping import default_mapping_text


def configured(world: OpsWorld, tmp_path: Path, mapping_text: str) -> Path:
    mapping = tmp_path / "custom-mapping.yaml"
    mapping.write_text(mapping_text)
    text = world.config.read_text()
    world.config.write_text(f'{text}\n[sync]\nmapping_file = "{mapping}"\n')
    return mapping


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_misspelled_field_path_and_stage_fail_with_line_and_key(
    world: OpsWorld, tmp_path: Path
) -> None:
    text = (
        default_mapping_text()
        .replace("crm: Description", "crm: Descriptoin")
        .replace("partner_center: details.notes", "partner_center: details.notez")
        .replace("won: Closed Won", "won: Closed Wonn")
    )
    configured(world, tmp_path, text)

    code, out, err = world.cosell("mapping", "check")

    assert code == 1, out
    crm_line = line_of(text, "crm: Descriptoin")
    assert f"custom-mapping.yaml:{crm_line} fields.notes.crm: 'Descriptoin'" in err
    path_line = line_of(text, "details.notez")
    assert f"custom-mapping.yaml:{path_line} fields.notes.partner_center: 'details.notez'" in err
    stage_line = line_of(text, "Closed Wonn")
    assert f"custom-mapping.yaml:{stage_line} stages.won: 'Closed Wonn'" in err
    assert "Amount" not in err  # correctly spelled fields pass


def test_the_configured_mapping_is_checked_not_the_shipped_one(
    world: OpsWorld, tmp_path: Path
) -> None:
    text = default_mapping_text().replace("crm: Description", "crm: Descriptoin")
    configured(world, tmp_path, text)
    code, _, err = world.cosell("mapping", "check")
    assert code == 1
    assert "Descriptoin" in err
    assert "Closed Won" not in err
