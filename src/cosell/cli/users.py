"""``cosell users``: the console's local users, their roles and API tokens.

Users live in the store (so every replica sees them); passwords are read from a prompt or, with
``--password-stdin``, from standard input, never from the command line. In a deployment of
several tenants each user belongs to one: ``cosell --tenant NAME users …`` works on that
tenant's users, who sign in to its console (``/t/NAME/``) only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from cosell.cli.common import command_deps, config_option, fail, reported, settings_for
from cosell.operations.users import ROLES, UserDirectory
from cosell.private_files import private_dir
from cosell.service.console import user_directory
from cosell.settings import load_settings
from cosell.store.sql import Store

role_choice = click.Choice(ROLES)


@contextmanager
def _directory(config_path: Path | None) -> Iterator[UserDirectory]:
    clock = command_deps().clock
    with reported():
        deployment = load_settings(config_path)
    settings = settings_for(config_path)
    scope = settings.tenant.name if deployment.multi_tenant else None
    private_dir(settings.service.state_dir)
    store = Store.open(settings.database_url, clock=clock)
    try:
        yield user_directory(settings, store, clock, scope)
    except (ValueError, LookupError) as exc:
        fail(str(exc.args[0]), 1)
    finally:
        store.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    entered: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@click.group("users")
def users_command() -> None:
    """Console users: add, remove, list, set a role or password, issue an API token."""


@users_command.command("add")
@config_option
@click.argument("name")
@click.option("--role", type=role_choice, default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--sso", is_flag=True, help="No password: the user signs in with single sign-on.")
def add_command(
    config_path: Path | None, name: str, role: str, password_stdin: bool, sso: bool
) -> None:
    """Add a user."""
    password = None if sso else _password(password_stdin)
    with _directory(config_path) as users:
        users.add(name, role, password)
        where = f" to tenant {users.table.tenant}" if users.table.tenant else ""
    click.echo(f"added {name} ({role}){where}")


@users_command.command("remove")
@config_option
@click.argument("name")
def remove_command(config_path: Path | None, name: str) -> None:
    """Remove a user, their sessions and API tokens."""
    with _directory(config_path) as users:
        users.remove(name)
    click.echo(f"removed {name}")


@users_command.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")
def list_command(config_path: Path | None, as_json: bool) -> None:
    """List users and their roles."""
    with _directory(config_path) as users:
        found = users.listed()
    if as_json:
        rows = [
            {"name": u.name, "role": u.role, "sign_in": "password" if u.password_hash else "sso"}
            for u in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for user in found:
        kind = "password" if user.password_hash else "sso"
        click.echo(f"{user.name}\t{user.role}\t{kind}")


@users_command.command("set-role")
@config_option
@click.argument("name")
@click.argument("role", type=role_choice)
def set_role_command(config_path: Path | None, name: str, role: str) -> None:
    """Change a user's role."""
    with _directory(config_path) as users:
        users.set_role(name, role)
    click.echo(f"{name} is now {role}")


@users_command.command("set-password")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password_command(config_path: Path | None, name: str, password_stdin: bool) -> None:
    """Set a user's password."""
    password = _password(password_stdin)
    with _directory(config_path) as users:
        users.set_password(name, password)
    click.echo(f"password of {name} changed")


@users_command.command("token")
@config_option
@click.argument("name")
@click.argument("token_name")
def token_command(config_path: Path | None, name: str, token_name: str) -> None:
    """Issue an API token for a user (printed once; scripts send it as a Bearer token)."""
    with _directory(config_path) as users:
        token = users.issue_token(name, token_name)
    click.echo(token)
