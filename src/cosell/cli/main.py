"""The ``cosell`` command.

Each command lives beside the code it drives and is listed here, one entry each, by where it lives
and the summary its group's help shows. Its module is imported only when the command runs or its
own help is shown, so one command does not pay for every other command's imports (emulators,
engine, store, web stack): click's lazily loaded subcommands, by table.
"""

from __future__ import annotations

import click

from cosell import __version__
from cosell.cli.lazy import CommandLine, LazyCommand, LazyGroup

__all__ = ["COMMANDS", "EMULATE_COMMANDS", "SETUP_COMMANDS", "LazyCommand", "LazyGroup", "main"]


# --- command registrations (one entry each; keep sorted) --------------------------------------
COMMANDS = {
    "audit": LazyCommand(
        "cosell.cli.operations:audit_command",
        "The history of one referral or opportunity (either id), newest first.",
    ),
    "conflicts": LazyCommand(
        "cosell.cli.operations:conflicts_command",
        "List open conflicts: fields both sides changed differently.",
    ),
    "doctor": LazyCommand(
        "cosell.cli.operations:doctor_command",
        "Check both connections, tokens, the org setup, the webhook registration and the store.",
    ),
    "mapping": LazyCommand(
        "cosell.cli.mapping:mapping_command",
        "Inspect and validate field mappings.",
    ),
    "retry": LazyCommand(
        "cosell.cli.operations:retry_command",
        "Put a dead letter (by referral/opportunity id or queue key) back on the queue.",
    ),
    "run": LazyCommand(
        "cosell.cli.run:run_command",
        "Run the service: webhook receiver, Salesforce poller, Partner Center sweeper, workers.",
    ),
    "web": LazyCommand(
        "cosell.cli.run:web_command",
        "Serve webhooks, console, health and metrics; workers run the reconciles (procrastinate).",
    ),
    "worker": LazyCommand(
        "cosell.cli.run:worker_command",
        "Run reconciles and the periodic polls and sweeps from the shared queue (procrastinate).",
    ),
    "sandbox": LazyCommand(
        "cosell.cli.sandbox:sandbox_command",
        "Run Partner Center and Salesforce emulators and the connector between them.",
    ),
    "status": LazyCommand(
        "cosell.cli.operations:status_command",
        "Links by state, the queue, dead letters, conflicts, expiring referrals, API budgets.",
    ),
    "store": LazyCommand(
        "cosell.cli.store:store_command",
        "Migrate the store's schema, or move it to another database.",
    ),
    "sync": LazyCommand(
        "cosell.cli.sync:sync_command",
        "Reconcile every flagged or linked opportunity and every referral once.",
    ),
    "users": LazyCommand(
        "cosell.cli.users:users_command",
        "Console users: add, remove, list, set a role or password, issue an API token.",
    ),
    "verify": LazyCommand(
        "cosell.cli.verify:verify_command",
        "Compare every linked pair field by field on both sides; exit 1 while any disagrees.",
    ),
    "webhooks": LazyCommand(
        "cosell.cli.run:webhooks_command",
        "Register and check the Partner Center webhook that calls this service.",
    ),
}
EMULATE_COMMANDS = {
    "hubspot": LazyCommand(
        "cosell.emulators.hubspot.command:hubspot_command",
        "Serve a local HubSpot portal (CRM objects, search, OAuth, webhooks, /_emulator controls).",
    ),
    "partner-center": LazyCommand(
        "cosell.emulators.partner_center.command:partner_center_command",
        "Serve a local Partner Center (tokens, referrals, webhooks, /_emulator controls).",
    ),
    "salesforce": LazyCommand(
        "cosell.emulators.salesforce.command:salesforce_command",
        "Serve a local Salesforce org (OAuth, REST, query, Tooling, /_emulator controls).",
    ),
}
SETUP_COMMANDS = {
    "hubspot": LazyCommand(
        "cosell.cli.setup_hubspot:hubspot_command",
        "Create (or with --check, verify) the property group, properties and stages cosell needs.",
    ),
    "salesforce": LazyCommand(
        "cosell.cli.setup:salesforce_command",
        "Create (or with --check, verify) the fields, object, stages and access cosell needs.",
    ),
}


@click.group(
    cls=CommandLine, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="cosell")
@click.option(
    "--tenant",
    envvar="COSELL_TENANT",
    help="With several [tenants] configured: the tenant a command works on (env: COSELL_TENANT).",
)
@click.pass_context
def main(context: click.Context, tenant: str | None) -> None:
    """Keep Microsoft co-sell referrals and CRM opportunities in sync, both ways."""
    context.meta["cosell.tenant"] = tenant


@main.group(cls=LazyGroup, lazy=EMULATE_COMMANDS)
def emulate() -> None:
    """Serve a local emulator of Partner Center, Salesforce or HubSpot."""


@main.group(cls=LazyGroup, lazy=SETUP_COMMANDS)
def setup() -> None:
    """Create or check what cosell needs on the remote side."""
