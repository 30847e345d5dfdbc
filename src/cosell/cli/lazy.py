"""Click commands loaded on first use: a group lists its subcommands from a table of
``"module:attribute"`` targets and summaries, and imports a subcommand's module only when it runs
or its own help is shown (click's documented lazily loaded subcommands)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from cosell.cli.terminal import one_line_errors, plain_output


@dataclass(frozen=True)
class LazyCommand:
    """A command known by ``"module:attribute"`` and the summary its group lists it with.

    The summary is the first sentence of the command's docstring, so the group's help reads the
    same whether or not the command has been imported (tests hold the two together).
    """

    target: str
    summary: str

    def load(self) -> click.Command:
        """Import the command's module and return the command."""
        module_name, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command

    def listing(self, name: str) -> click.Command:
        """A stand-in carrying only what the group's list of commands shows."""
        return click.Command(name, help=self.summary)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, by name from a table."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand], **attrs: Any) -> None:
        super().__init__(*args, **attrs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands as click does, without importing the ones not loaded yet."""
        listed = [self._listed(name) for name in self.list_commands(ctx)]
        click.Group(commands=listed).format_commands(ctx, formatter)

    def _listed(self, name: str) -> click.Command:
        loaded = self.commands.get(name)
        return loaded if loaded is not None else self.lazy[name].listing(name)


class CommandLine(LazyGroup):
    """The root group: every command's output is sanitised (``cosell.cli.terminal``) and an error of
    cosell's that a command did not handle ends it with one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        with plain_output(), one_line_errors():
            return super().invoke(ctx)
