"""Dotted Partner Center paths (``details.dealValue``, ``a.items[].id``) over plain JSON values."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any


def read(document: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``; a ``[]`` segment collects that key of every list item."""
    node: Any = document
    for part, listed, rest in _steps(path):
        if not _is_mapping(node):
            return None
        node = node.get(part)
        if listed:
            if not isinstance(node, list):
                return None
            return [read(i, rest) if rest else i for i in node if _is_mapping(i)]
    return node


@cache
def _steps(path: str) -> tuple[tuple[str, bool, str], ...]:
    """``path``'s segments, each with whether it collects a list and the path after it (a
    mapping reads each of its fields' paths for every record: split once)."""
    parts = path.split(".")
    return tuple(
        (part.removesuffix("[]"), part.endswith("[]"), ".".join(parts[index + 1 :]))
        for index, part in enumerate(parts)
    )


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # a JSON object is a dict: no ABC


def copied(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists and scalars): what ``copy.deepcopy`` gives for
    these, three times as fast (no memo, no dispatch per type; 14 µs a referral against 44),
    and every referral read is copied."""
    if type(value) is dict:
        return {k: copied(v) if type(v) in _NESTED else v for k, v in value.items()}
    if type(value) is list:
        return [copied(v) if type(v) in _NESTED else v for v in value]
    return value


_NESTED = (dict, list)


def nest(path: str, value: Any) -> dict[str, Any]:
    """``{"a": {"b": value}}`` for ``a.b``."""
    head, _, rest = path.partition(".")
    return {head: nest(rest, value) if rest else value}


def merge_into(target: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in a nested dict, creating parents."""
    head, _, rest = path.partition(".")
    if not rest:
        target[head] = value
        return
    child = target.setdefault(head, {})
    merge_into(child, rest, value)


def set_op(document: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A JSON Patch op setting ``path``: ``replace`` if it exists, else ``add`` at the first
    missing parent with the rest nested (JSON Patch needs existing parents)."""
    parts = path.split(".")
    node: Any = document
    for index, part in enumerate(parts):
        if not isinstance(node, Mapping) or node.get(part) is None:
            pointer = "/" + "/".join(parts[: index + 1])
            rest = ".".join(parts[index + 1 :])
            return {"op": "add", "path": pointer, "value": nest(rest, value) if rest else value}
        node = node[part]
    return {"op": "replace", "path": "/" + "/".join(parts), "value": value}
