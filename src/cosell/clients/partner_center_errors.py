"""From a failed Partner Center HTTP exchange to an error of :mod:`cosell.errors`.

Partner Center wraps errors as ``{"error": {"code", "message", "target", "innerError"}}``; its
throttling front end answers ``{"statusCode", "message"}``; proxies answer HTML. Code, message and
request id go into the error; ``APIError`` itself redacts the URL and the body excerpt.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from cosell.clients.retry import parse_retry_after
from cosell.clock import Clock
from cosell.errors import APIError, RetryableError, TransportError, error_for_status


def error_for_response(response: httpx.Response, clock: Clock | None = None) -> APIError:
    """The error for a non-2xx response, carrying code, message, request id and Retry-After."""
    code, message = describe_body(response)
    cls = error_for_status(response.status_code)
    context: dict[str, Any] = {
        "method": response.request.method,
        "url": str(response.request.url),
        "status": response.status_code,
        "code": code,
        "body": response.text,
        "request_id": request_id_of(response),
    }
    if issubclass(cls, RetryableError):
        return cls(message, retry_after=parse_retry_after(response, clock), **context)
    return cls(message, **context)


def error_for_exception(exc: httpx.RequestError) -> APIError:
    """The error for a request that got no response (timeouts and connection failures retry)."""
    kind = type(exc).__name__
    method, url = _request_of(exc)
    if isinstance(exc, httpx.TransportError):
        return TransportError(f"{kind}: {exc}", method=method, url=url)
    return APIError(f"{kind}: {exc}", method=method, url=url)


def describe_body(response: httpx.Response) -> tuple[str | None, str]:
    """``(code, message)`` from an error body of any known shape; the reason phrase otherwise."""
    payload = _json_of(response)
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return _describe_envelope(error)
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return None, payload["message"]
    return None, response.reason_phrase or f"HTTP {response.status_code}"


def request_id_of(response: httpx.Response) -> str | None:
    for name in ("request-id", "ms-requestid", "x-ms-request-id", "client-request-id"):
        if value := response.headers.get(name):
            return str(value)
    return None


def _describe_envelope(error: dict[str, Any]) -> tuple[str | None, str]:
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = str(error.get("message") or "")
    if target := error.get("target"):
        message = f"{message} (target {target})"
    inner = error.get("innerError")
    if isinstance(inner, dict) and (inner.get("code") or inner.get("message")):
        message = f"{message} [inner {inner.get('code')}: {inner.get('message')}]"
    return code, message.strip() or "no message"


def _json_of(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _request_of(exc: httpx.RequestError) -> tuple[str | None, str | None]:
    try:
        request = exc.request
    except RuntimeError:
        return None, None
    return request.method, str(request.url)
