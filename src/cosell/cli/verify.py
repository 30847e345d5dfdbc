"""``cosell verify``: compare every linked pair on both sides, repair what the rules allow.

Exit status: 0 when every pair agrees (or differs only where the mapping's rules hold a value
back, each listed with its reason), 1 while any pair disagrees or could not be read, 2 when the
configuration is invalid.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cosell.cli.common import command_deps, config_option, fail, reported
from cosell.errors import CosellError
from cosell.operations.verify import Verifier, VerifyReport, reconcile_now
from cosell.settings import load_settings
from cosell.sync.engine.full_sync import build_engine


@click.command("verify")
@config_option
@click.option("--no-repair", is_flag=True, help="Only report: reconcile nothing, mark nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")
@click.option("--all", "show_all", is_flag=True, help="List agreeing pairs too.")
def verify_command(
    config_path: Path | None, no_repair: bool, as_json: bool, show_all: bool
) -> None:
    """Compare every linked pair field by field on both sides; exit 1 while any disagrees."""
    deps = command_deps()
    with reported():
        settings = load_settings(config_path)
        wiring = build_engine(settings, clock=deps.clock, http=deps.http)
    try:
        verifier = Verifier(wiring.engine, deps.clock)
        repair = None if no_repair else reconcile_now(wiring.engine)
        report = verifier.run(
            verifier.pairs(), repair=repair, record=not no_repair, every_pair=as_json or show_all
        )
    except CosellError as exc:
        fail(str(exc), 1)
    finally:
        wiring.close()
    print_report(report, as_json=as_json, show_all=show_all)
    raise SystemExit(0 if report.ok else 1)


def print_report(report: VerifyReport, *, as_json: bool = False, show_all: bool = False) -> None:
    """The pairs that need a look (all with ``show_all``), then the counts."""
    if as_json:
        data = {"ok": report.ok, "pairs": [p.to_json() for p in report.pairs]}
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    for pair in report.pairs:
        if show_all or pair.state != "agrees" or pair.repaired:
            for line in pair.lines():
                click.echo(line)
    click.echo(report.summary())
