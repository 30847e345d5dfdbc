"""Subrequests of ``composite`` and ``composite/graph``: ``@{ref.path}`` references and running
one subrequest through the same route handler a top-level request of its URL reaches.

A reference names an earlier result by its ``referenceId`` and walks into its body with ``.key``
and ``[n]`` steps (``@{acct.id}``, ``@{q.records[0].Id}``); names are case-sensitive. A
subrequest skips the gateway (the outer request was counted once) but not the handlers, so
field-level security, validation rules, duplicate checks and system fields apply exactly as on
a single-record call. An ``unable_to_lock_row`` fault rule whose method and path match the
subrequest's own URL fails that subrequest alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cosell.emulators.salesforce.gateway import WRITE_METHODS, ApiRoute, Call, Reply
from cosell.emulators.salesforce.wire import SalesforceError

REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)
LOCKED = "unable to obtain exclusive access to this record or 1 records"
Refuse = Callable[[ApiRoute], bool]


def _nothing(_route: ApiRoute) -> bool:
    return False


class UnresolvedReference(Exception):
    """A ``@{...}`` reference names no result, or a path its result does not have."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(f"{name}{path}")
        self.name = name
        self.expression = f"{name}{path}"

    def reply(self) -> Reply:
        return halted(
            f"Invalid reference specified. No value for {self.expression} found in {self.name}"
        )


def resolve(text: str, results: Mapping[str, Any]) -> str:
    """`text` with every reference replaced by the value it names."""

    def value(match: re.Match[str]) -> str:
        name, path = match.group(1), match.group(2)
        if name not in results:
            raise UnresolvedReference(name, path)
        current = results[name]
        for key, index in _STEP.findall(path):
            try:
                current = current[int(index)] if index else current[key]
            except (KeyError, IndexError, TypeError):
                raise UnresolvedReference(name, path) from None
        if current is None or isinstance(current, dict | list):
            raise UnresolvedReference(name, path)
        return str(current).lower() if isinstance(current, bool) else str(current)

    return REFERENCE.sub(value, text)


def substitute(body: Any, results: Mapping[str, Any]) -> Any:
    """A JSON body with every reference in its strings resolved."""
    if isinstance(body, str):
        return resolve(body, results)
    if isinstance(body, dict):
        return {k: substitute(v, results) for k, v in body.items()}
    if isinstance(body, list):
        return [substitute(v, results) for v in body]
    return body


def references(value: Any) -> list[UnresolvedReference]:
    """Every reference in a URL or body, as the error it would raise if left unresolved."""
    if isinstance(value, str):
        return [UnresolvedReference(m.group(1), m.group(2)) for m in REFERENCE.finditer(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [ref for v in value for ref in references(v)]
    return []


def referenced(value: Any) -> set[str]:
    """The ``referenceId``s a URL or body refers to."""
    return {ref.name for ref in references(value)}


def halted(message: str) -> Reply:
    return Reply(400, [{"errorCode": "PROCESSING_HALTED", "message": message}])


def run(
    call: Call,
    sub: Mapping[str, Any],
    results: Mapping[str, Any],
    refuse: Refuse = _nothing,
) -> Reply:
    """Resolve a subrequest's references and run it; routes `refuse` names count as unknown."""
    try:
        url = resolve(str(sub.get("url", "")), results)
        body = substitute(sub.get("body"), results)
    except UnresolvedReference as ref:
        return ref.reply()
    method = str(sub.get("method", "GET")).upper()
    extra = sub.get("httpHeaders")
    headers = {k.lower(): v for k, v in call.headers.items()}
    headers.update({str(k).lower(): str(v) for k, v in (extra or {}).items()})
    return dispatch(call, method, url, body, headers, refuse)


def dispatch(
    call: Call,
    method: str,
    url: str,
    body: Any,
    headers: Mapping[str, str],
    refuse: Refuse = _nothing,
) -> Reply:
    """Run `method url` through the route table as the outer request's user."""
    parts = urlsplit(url)
    for route in call.routes:
        params = route.match(method, parts.path)
        if params is None or refuse(route):
            continue
        if params.get("version", call.version) not in call.emulator.config.api_versions:
            break
        inner = Call(
            call.emulator,
            method,
            parts.path,
            params,
            dict(parse_qsl(parts.query)),
            headers,
            body,
            call.user_id,
            call.routes,
        )
        locked = _lock_fault(call, method, parts.path)
        if locked is not None:
            return locked
        try:
            return route.handler(inner)
        except SalesforceError as error:
            return Reply(error.status, error.body())
    return Reply(404, [{"errorCode": "NOT_FOUND", "message": f"Unknown resource: {url}"}])


def _lock_fault(call: Call, method: str, path: str) -> Reply | None:
    if method not in WRITE_METHODS:
        return None
    if call.emulator.faults.take(method, path, frozenset({"unable_to_lock_row"})) is None:
        return None
    return Reply(400, [{"message": LOCKED, "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []}])


def entry(reference_id: Any, reply: Reply) -> dict[str, Any]:
    """One element of a ``compositeResponse`` array."""
    return {
        "body": reply.body,
        "httpHeaders": dict(reply.headers),
        "httpStatusCode": reply.status,
        "referenceId": reference_id,
    }
