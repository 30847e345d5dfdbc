"""YAML reading for mappings: ruamel.yaml keeps line numbers for error messages."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from cosell.sync.core.mapping_errors import MappingError, Problem


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text into ruamel's line-aware maps; syntax errors name the line."""
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MappingError([Problem(source, line, "", f"invalid YAML: {exc.problem}")]) from None
    except YAMLError as exc:
        raise MappingError([Problem(source, None, "", f"invalid YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise MappingError([Problem(source, 1, "", "a mapping file is a YAML mapping")])
    return document
