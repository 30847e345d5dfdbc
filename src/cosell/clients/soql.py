"""SOQL text: string literals quoted the way Salesforce reads them."""

from __future__ import annotations


def soql_literal(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
