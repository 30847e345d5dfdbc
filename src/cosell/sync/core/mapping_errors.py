"""Mapping errors that name the file, line and key of each mistake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cosell.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    """One mistake in a mapping file."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where} {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class MappingError(ConfigError):
    """A mapping file is invalid; ``problems`` lists every mistake with its line and key."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.key or first.source, first.message)
        self.args = ("\n".join(str(p) for p in self.problems),)

    def __str__(self) -> str:
        return str(self.args[0])


def problems_from_pydantic(exc: ValidationError, document: Any, source: str) -> list[Problem]:
    """Turn pydantic's errors into problems located in the YAML document."""
    return [locate(document, source, err["loc"], _message(err)) for err in exc.errors()]


def locate(document: Any, source: str, loc: Sequence[str | int], message: str) -> Problem:
    """A problem at ``loc`` (keys/indexes) with the line of the deepest key present."""
    line, node = None, document
    for part in loc:
        position = _position(node, part)
        if position is None:
            break
        line, node = position[0] + 1, node[part]
    return Problem(source, line, ".".join(str(p) for p in loc), message)


def _position(node: Any, part: str | int) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    if isinstance(node, dict) and part in node:
        return tuple(lc.key(part))
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return tuple(lc.item(part))
    return None


def _message(err: ErrorDetails) -> str:
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    name = str(err["loc"][-1]) if err["loc"] else "value"
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"unknown {name} {given!r} (choose from: {choices})"
    if kind == "extra_forbidden":
        return f"unknown key {name!r}"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg']} (got {given!r})"
