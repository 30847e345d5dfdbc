"""JSON through orjson keeps what the standard library refused refused."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cosell import json_codec


@dataclasses.dataclass
class _Row:
    name: str


@pytest.mark.parametrize("value", [datetime(2026, 1, 1, tzinfo=UTC), _Row("x"), {("a",): 1}])
def test_a_value_json_cannot_hold_is_refused_as_the_standard_library_refuses_it(
    value: Any,
) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        json_codec.dumps(value)
    with pytest.raises(TypeError):
        json_codec.dumps_text(value)


def test_what_is_written_reads_back_as_the_standard_library_reads_it() -> None:
    value = {"name": "Contoso ü", "deal": 1000.5, "ids": [1, 2], "on": True, "none": None}
    assert json.loads(json_codec.dumps(value)) == value
    assert json_codec.dumps({1: "a"}) == json.dumps({1: "a"}, separators=(",", ":")).encode()
    assert json_codec.loads(json.dumps(value)) == value
    assert json_codec.loads(json_codec.dumps_text(value)) == value


def test_text_that_is_not_json_is_a_decode_error_and_a_number_a_type_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        json_codec.loads(b"{not json")
    with pytest.raises(json.JSONDecodeError):
        json_codec.loads("NaN")
    with pytest.raises(TypeError):  # SQLite hands a JSON column's number back as a number
        json_codec.loads(5)  # type: ignore[arg-type]
