"""``POST /crm/v3/objects/{type}/search``: the index's view of records, filtered and paged."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from cosell.emulators.hubspot import search
from cosell.emulators.hubspot.gateway import Call, Reply, api
from cosell.emulators.hubspot.objects_api import kind_of
from cosell.emulators.hubspot.records import Record
from cosell.emulators.hubspot.types import object_type


def run_search(call: Call) -> Reply:
    kind, emulator = kind_of(call), call.emulator
    store, config = emulator.store, emulator.config
    limits = search.SearchLimits(
        config.max_filter_groups,
        config.max_filters_per_group,
        config.max_filters_total,
        config.search_page_max,
        config.search_result_cap,
    )
    query = search.parse(call.body, limits)
    props = store.catalog.of(kind)
    now = emulator.clock.now()
    rows: list[tuple[str, dict[str, str]]] = []
    for record in store.records[kind.name].values():
        shown = record.searchable(now)
        if shown is None or shown.archived:
            continue

        def linked(name: str, record: Record = record) -> set[str]:
            other = object_type(name)
            return {i for i, _ in store.associations.of(kind.name, record.id, other.name)}

        if search.matches(query, shown.properties, props, linked, kind.searchable):
            rows.append((record.id, shown.properties))
    ordered = search.order(rows, query.sort, props)
    page = ordered[query.after : query.after + query.limit]
    names = None if query.properties is None else store.known(kind, query.properties)
    results = [store.records[kind.name][rid].view(names, properties=values) for rid, values in page]
    body: dict[str, Any] = {"total": len(ordered), "results": results}
    following = query.after + query.limit
    if following < len(ordered):
        body["paging"] = {"next": {"after": str(following)}}
    return Reply(200, body)


def routes() -> list[Route]:
    return [api("/crm/v3/objects/{object_type}/search", ["POST"], run_search, search=True)]
