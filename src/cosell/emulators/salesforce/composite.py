"""``composite``: up to 25 subrequests in one call, later ones citing earlier results.

``@{ref.field}`` (with ``.`` and ``[n]`` steps) is replaced by a value from an earlier
subrequest's body. With ``allOrNone`` the first failure rolls the whole request back and every
other subrequest reports ``PROCESSING_HALTED``.

Request limits (reference salesforce-composite.md §1): 25 subrequests, of which at most 5 are
query or collections operations (``query``, ``queryAll`` and their locator pages,
``composite/sobjects``); a subrequest setting ``Accept``, ``Authorization`` or
``Content-Type`` in its ``httpHeaders`` fails the whole call with HTTP 400. The error bodies of
the last two are not documented: ``LIMIT_EXCEEDED`` and ``INVALID_HEADER`` here.
A subrequest's other ``httpHeaders`` (``If-Unmodified-Since``) apply as on a single call.
"""

from __future__ import annotations

import re
from typing import Any

from cosell import json_codec
from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.subrequest import ROLLED_BACK, entry, halted, run
from cosell.emulators.salesforce.wire import SalesforceError

V = "/services/data/v{version}"
MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
INHERITED_HEADERS = frozenset({"accept", "authorization", "content-type"})
_QUERY_OR_COLLECTION = re.compile(r"/services/data/v[\d.]+/(query|queryAll|composite/sobjects)\b")


def composite(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    subs = body.get("compositeRequest")
    if not isinstance(subs, list) or not subs:
        raise SalesforceError(400, "JSON_PARSER_ERROR", "compositeRequest: expected an array", None)
    if len(subs) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400,
            "INVALID_FIELD",
            f"Too many subrequests: {len(subs)}. Maximum allowed is {MAX_SUBREQUESTS}.",
            None,
        )
    _check_reference_ids(subs)
    _check_headers(subs)
    _check_queries(subs)
    all_or_none = bool(body.get("allOrNone", False))
    with call.emulator.org.transaction() as rollback:
        replies = _run(call, subs, all_or_none)
        failed_any = all_or_none and any(r.status >= 400 for r in replies)
        if failed_any:
            rollback()
    if failed_any:
        failed = len(replies) - 1
        replies = [r if i == failed else halted(ROLLED_BACK) for i, r in enumerate(replies)]
        replies += [halted(ROLLED_BACK) for _ in subs[len(replies) :]]
    return Reply(
        200,
        {
            "compositeResponse": [
                entry(sub["referenceId"], reply) for sub, reply in zip(subs, replies, strict=True)
            ]
        },
    )


def _run(call: Call, subs: list[Any], all_or_none: bool) -> list[Reply]:
    results: dict[str, Any] = {}
    replies: list[Reply] = []
    for sub in subs:
        reply = run(call, sub, results, _not_in_composite)
        replies.append(reply)
        if reply.status < 400:
            results[str(sub["referenceId"])] = json_codec.loads(json_codec.dumps(reply.body))
        if reply.status >= 400 and all_or_none:
            break
    return replies


def _not_in_composite(route: ApiRoute) -> bool:
    """Composite, graph and tree requests can't be subrequests; collections can."""
    return "/composite" in route.path and "/composite/sobjects" not in route.path


def _check_reference_ids(subs: list[Any]) -> None:
    for sub in subs:
        if not isinstance(sub, dict) or not sub.get("referenceId"):
            raise SalesforceError(
                400, "JSON_PARSER_ERROR", "'referenceId' is a required field.", None
            )


def _check_headers(subs: list[Any]) -> None:
    for sub in subs:
        headers = sub.get("httpHeaders") or {}
        named = sorted(k for k in headers if str(k).lower() in INHERITED_HEADERS)
        if named:
            message = f"{named[0]}: a subrequest inherits this header; it cannot be set"
            raise SalesforceError(400, "INVALID_HEADER", message, None)


def _check_queries(subs: list[Any]) -> None:
    queries = sum(1 for sub in subs if _QUERY_OR_COLLECTION.match(str(sub.get("url", ""))))
    if queries > MAX_QUERIES:
        message = (
            f"Too many query and collections subrequests: {queries}. "
            f"Maximum allowed is {MAX_QUERIES}."
        )
        raise SalesforceError(400, "LIMIT_EXCEEDED", message, None)


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(f"{V}/composite", ("POST",), composite),
        ApiRoute(f"{V}/composite/", ("POST",), composite),
    ]
