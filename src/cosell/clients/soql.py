"""SOQL text: string literals quoted the way Salesforce reads them."""

from __future__ import annotations

WHERE_LIMIT = 4000
"""Characters a SOQL ``WHERE`` clause may hold."""


def soql_literal(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
