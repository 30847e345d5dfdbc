"""Dotted paths over JSON values: what a mapping's Partner Center paths read."""

from __future__ import annotations

from typing import Any

import pytest

from cosell.sync.core.paths import read

DOCUMENT: dict[str, Any] = {
    "details": {
        "requirements": {"solutions": [{"id": "S1"}, {"id": "S2"}, "stray", {"name": "no id"}]},
        "notes": None,
    },
    "name": "Deal",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name", "Deal"),
        ("details.requirements.solutions[].id", ["S1", "S2", None]),
        ("details.requirements.solutions[]", [{"id": "S1"}, {"id": "S2"}, {"name": "no id"}]),
        ("details.notes", None),
        ("details.notes.text", None),  # under a null
        ("name.first", None),  # under a text
        ("name[]", None),  # a text is no list
        ("missing.path", None),
    ],
)
def test_a_path_reads_its_value_and_nothing_where_the_document_has_none(
    path: str, expected: Any
) -> None:
    assert read(DOCUMENT, path) == expected
