from pathlib import Path

from click.testing import CliRunner

from cosell.cli.main import main
from cosell.sync.core.mapping import default_mapping_text


def test_checking_the_shipped_mapping_prints_a_summary() -> None:
    result = CliRunner().invoke(main, ["mapping", "check"])
    assert result.exit_code == 0, result.output
    assert "deal_value" in result.output
    assert "22 fields OK" in result.output


def test_checking_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(default_mapping_text(), encoding="utf-8")
    result = CliRunner().invoke(main, ["mapping", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "mine.yaml" in result.output


def test_errors_are_printed_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = default_mapping_text().replace("transform: decimal", "transform: decimel", 1)
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["mapping", "check", str(path)])
    assert result.exit_code == 1
    assert "bad.yaml:" in result.output
    assert "fields.deal_value.transform: unknown transform 'decimel'" in result.output


def test_a_missing_file_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["mapping", "check", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "none.yaml: cannot read" in result.output
