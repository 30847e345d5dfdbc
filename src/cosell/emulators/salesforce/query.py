"""``query`` and ``queryAll``: SOQL over the org's records, paged through query locators."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any

from cosell.emulators.salesforce.catalog import SchemaCatalog
from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.schema import Schema
from cosell.emulators.salesforce.soql import SoqlError, execute, parse
from cosell.emulators.salesforce.soql_subquery import LEVELS_BEFORE_V58, LEVELS_FROM_V58
from cosell.emulators.salesforce.wire import SalesforceError

V = "/services/data/v{version}"
DEFAULT_BATCH = 2000
MIN_BATCH = 200
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def batch_size(headers: Mapping[str, str], emulator_max: int | None) -> int:
    """From ``Sforce-Query-Options: batchSize=N`` clamped to 200..2000, capped emulator-wide."""
    found = _BATCH.search(headers.get("sforce-query-options", ""))
    size = DEFAULT_BATCH if found is None else int(found.group(1))
    size = min(max(size, MIN_BATCH), DEFAULT_BATCH)
    return size if emulator_max is None else min(size, emulator_max)


def run_soql(
    text: str,
    schema: Schema,
    org: Org,
    version: str,
    include_deleted: bool,
    tables: Mapping[str, list[dict[str, Any]]] | None = None,
) -> tuple[list[Any], int]:
    """Rows and total size for ``text``; ``tables`` replaces the org's records (tooling)."""
    try:
        query = parse(text)
        catalog = SchemaCatalog(
            schema,
            lambda o, i: _lookup(org, tables, o.name, i),
            version,
            org.readable if tables is None else lambda o, f: True,
            lambda o: _rows(org, schema, o.name, include_deleted, tables),
            None if tables is not None else partial(org.matching, deleted=include_deleted),
        )
        obj_name = catalog.canonical_object(query.sobject)
        if obj_name is None or (tables is None and not org.visible(org.object_def(obj_name))):
            raise SalesforceError(
                400,
                "INVALID_TYPE",
                f"sObject type '{query.sobject}' is not supported.",
                None,
            )
        levels = LEVELS_BEFORE_V58 if float(version) < 58 else LEVELS_FROM_V58
        result = execute(query, catalog, None, org.clock.now(), levels)
    except SoqlError as error:
        raise SalesforceError(400, error.error_code, str(error.message), None) from None
    return list(result.rows), result.total_size


def _rows(
    org: Org,
    schema: Schema,
    name: str,
    include_deleted: bool,
    tables: Mapping[str, list[dict[str, Any]]] | None,
) -> list[dict[str, Any]]:
    if tables is not None:
        return tables.get(name, [])
    obj = org.object(name)
    return org.every(obj) if include_deleted else org.live(obj)


def _lookup(
    org: Org, tables: Mapping[str, list[dict[str, Any]]] | None, name: str, record_id: str
) -> dict[str, Any] | None:
    if tables is not None:
        return next((r for r in tables.get(name, []) if r["Id"] == record_id), None)
    found = org.find(record_id)
    return None if found is None else found[1]


def _query(call: Call, include_deleted: bool) -> Reply:
    text = call.query.get("q")
    if not text:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string is required", None)
    org = call.emulator.org
    rows, total = run_soql(text, org.schema, org, call.version, include_deleted)
    config = call.emulator.config
    batch = batch_size(call.headers, config.query_batch_size)
    cursors = call.emulator.cursors
    return Reply(200, cursors.first_page(rows, total, batch, call.version, config.child_batch_size))


def query(call: Call) -> Reply:
    return _query(call, include_deleted=False)


def query_all(call: Call) -> Reply:
    return _query(call, include_deleted=True)


def more(call: Call) -> Reply:
    return Reply(200, call.emulator.cursors.next_page(call.params["locator"]))


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(f"{V}/query", ("GET",), query),
        ApiRoute(f"{V}/query/", ("GET",), query),
        ApiRoute(f"{V}/queryAll", ("GET",), query_all),
        ApiRoute(f"{V}/queryAll/", ("GET",), query_all),
        ApiRoute(f"{V}/query/{{locator}}", ("GET",), more),
        ApiRoute(f"{V}/queryAll/{{locator}}", ("GET",), more),
    ]
