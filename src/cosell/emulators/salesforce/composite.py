"""``composite``: up to 25 subrequests in one call, later ones citing earlier results.

``@{ref.field}`` (with ``.`` and ``[n]`` steps) is replaced by a value from an earlier
subrequest's body. With ``allOrNone`` the first failure rolls the whole request back and every
other subrequest reports ``PROCESSING_HALTED``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cosell.emulators.salesforce.gateway import ApiRoute, Call, Reply
from cosell.emulators.salesforce.wire import SalesforceError

V = "/services/data/v{version}"
MAX_SUBREQUESTS = 25
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same transaction failed."
)


class UnresolvedReference(Exception):
    """A ``@{...}`` reference names no earlier result."""


def _resolve(text: str, results: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in results:
            raise UnresolvedReference(match.group(0))
        current = results[match.group(1)]
        for key, index in _STEP.findall(match.group(2)):
            try:
                current = current[int(index)] if index else current[key]
            except (KeyError, IndexError, TypeError):
                raise UnresolvedReference(match.group(0)) from None
        return str(current)

    return _REFERENCE.sub(value, text)


def _substitute(body: Any, results: dict[str, Any]) -> Any:
    if isinstance(body, str):
        return _resolve(body, results)
    if isinstance(body, dict):
        return {k: _substitute(v, results) for k, v in body.items()}
    if isinstance(body, list):
        return [_substitute(v, results) for v in body]
    return body


def _halted(message: str) -> Reply:
    return Reply(400, [{"errorCode": "PROCESSING_HALTED", "message": message}])


def _dispatch(call: Call, sub: dict[str, Any], results: dict[str, Any]) -> Reply:
    try:
        url = _resolve(str(sub.get("url", "")), results)
        body = _substitute(sub.get("body"), results)
    except UnresolvedReference as ref:
        return _halted(f"Invalid reference specified. No value for {ref} found.")
    method = str(sub.get("method", "GET")).upper()
    parts = urlsplit(url)
    for route in call.emulator.routes:
        params = route.match(method, parts.path)
        if params is None or route.handler is composite:
            continue
        if params.get("version", call.version) not in call.emulator.config.api_versions:
            break
        headers = {k.lower(): v for k, v in call.headers.items()}
        extra = sub.get("httpHeaders")
        headers.update({str(k).lower(): str(v) for k, v in (extra or {}).items()})
        inner = Call(
            call.emulator,
            method,
            parts.path,
            params,
            dict(parse_qsl(parts.query)),
            headers,
            body,
            call.user_id,
        )
        try:
            return route.handler(inner)
        except SalesforceError as error:
            return Reply(error.status, error.body())
    return Reply(404, [{"errorCode": "NOT_FOUND", "message": f"Unknown resource: {url}"}])


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
    all_or_none = bool(body.get("allOrNone", False))
    state = call.emulator.org.snapshot()
    replies = _run(call, subs, all_or_none)
    if all_or_none and any(r.status >= 400 for r in replies):
        call.emulator.org.restore(state)
        failed = len(replies) - 1
        replies = [r if i == failed else _halted(ROLLED_BACK) for i, r in enumerate(replies)]
        replies += [_halted(ROLLED_BACK) for _ in subs[len(replies) :]]
    return Reply(
        200,
        {
            "compositeResponse": [
                _entry(sub, reply) for sub, reply in zip(subs, replies, strict=True)
            ]
        },
    )


def _run(call: Call, subs: list[Any], all_or_none: bool) -> list[Reply]:
    results: dict[str, Any] = {}
    replies: list[Reply] = []
    for sub in subs:
        reply = _dispatch(call, sub if isinstance(sub, dict) else {}, results)
        replies.append(reply)
        if reply.status < 400 and isinstance(sub, dict) and sub.get("referenceId"):
            results[str(sub["referenceId"])] = json.loads(json.dumps(reply.body))
        if reply.status >= 400 and all_or_none:
            break
    return replies


def _entry(sub: Any, reply: Reply) -> dict[str, Any]:
    reference = sub.get("referenceId") if isinstance(sub, dict) else None
    return {
        "body": reply.body,
        "httpHeaders": dict(reply.headers),
        "httpStatusCode": reply.status,
        "referenceId": reference,
    }


def routes() -> list[ApiRoute]:
    return [
        ApiRoute(f"{V}/composite", ("POST",), composite),
        ApiRoute(f"{V}/composite/", ("POST",), composite),
    ]
