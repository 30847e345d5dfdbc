"""The loop detector's streaks in the store: the parked pairs are found without parsing every
pair's streak (after a backfill nearly every pair holds one, and few if any are parked)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from cosell.store import Store, watch


def test_parked_pairs_are_found_parsing_only_streaks_that_may_be_parked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = store.ensure_tenant("contoso")
    written = {"external_reference_id \u2192 Partner Center": ["6b99e88b884c"]}
    for link_id in range(1, 201):
        watch.save(store, tenant, link_id, {"count": 1, "parked": None, "written": written})
    watch.save(store, tenant, 201, {"count": 20, "parked": "a loop on deal_value"})
    compact = {"count": 20, "parked": "written compactly"}
    store.set_cursor(tenant, "watch:202", json.dumps(compact, separators=(",", ":")))
    store.set_cursor(tenant, "watch:203", '{"count":1,"parked":null}')  # not as save writes
    store.set_cursor(tenant, "drift:204", json.dumps({"parked": "not a streak"}))
    parsed: list[str] = []

    def loads(text: str) -> Any:
        parsed.append(text)
        return json.loads(text)

    monkeypatch.setattr(watch, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    found = watch.parked(store, tenant)
    assert sorted(found) == [201, 202]
    assert found[202]["parked"] == "written compactly"
    assert len(parsed) == 3  # the two parked and the one written another way
