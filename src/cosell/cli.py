"""The ``cosell`` command.

Each command group lives beside the code it drives and is registered here, one line each.
"""

from __future__ import annotations

import click

from cosell import __version__
from cosell.emulators.partner_center.command import partner_center_command
from cosell.emulators.salesforce.command import salesforce_command
from cosell.operations.command import (
    audit_command,
    conflicts_command,
    doctor_command,
    retry_command,
    status_command,
)
from cosell.orgsetup.command import salesforce_command as setup_salesforce_command
from cosell.sandbox.command import sandbox_command
from cosell.service.command import run_command, webhooks_command
from cosell.sync.command import mapping_command
from cosell.sync.sync_command import sync_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cosell")
def main() -> None:
    """Keep Microsoft co-sell referrals and CRM opportunities in sync, both ways."""


@main.group()
def emulate() -> None:
    """Serve a local emulator of Partner Center or Salesforce."""


@main.group()
def setup() -> None:
    """Create or check what cosell needs on the remote side."""


# --- command registrations (one line each; keep sorted) ---------------------------------------
emulate.add_command(partner_center_command)
emulate.add_command(salesforce_command)
main.add_command(audit_command)
main.add_command(conflicts_command)
main.add_command(doctor_command)
main.add_command(mapping_command)
main.add_command(retry_command)
main.add_command(run_command)
main.add_command(sandbox_command)
main.add_command(status_command)
main.add_command(sync_command)
main.add_command(webhooks_command)
setup.add_command(setup_salesforce_command)
