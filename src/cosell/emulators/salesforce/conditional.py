"""Conditional requests: ``If-Modified-Since`` / ``If-Unmodified-Since`` on every object, and
``ETag`` / ``If-Match`` / ``If-None-Match`` on Account only (elsewhere Salesforce ignores them)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cosell.emulators.salesforce.schema import ObjectDef
from cosell.emulators.salesforce.wire import SalesforceError, parse_datetime, parse_http_date

ETAG_OBJECTS = frozenset({"Account"})


def etag(obj: ObjectDef, record: Mapping[str, Any]) -> str | None:
    """The record's entity tag (Account only), changing whenever any field does."""
    if obj.name not in ETAG_OBJECTS:
        return None
    content = json.dumps(record, sort_keys=True, default=str).encode()
    digest = hashlib.sha1(content, usedforsecurity=False).digest()
    return f'"{base64.b64encode(digest).decode()}-gzip"'


def _tags(header: str | None) -> set[str]:
    return {t.strip() for t in (header or "").split(",") if t.strip()}


def _failed(message: str) -> SalesforceError:
    return SalesforceError(412, "PRECONDITION_FAILED", message, None)


def not_modified(obj: ObjectDef, record: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """A GET that may answer 304."""
    tag = etag(obj, record)
    if tag is not None and "if-none-match" in headers:
        return bool(_tags(headers["if-none-match"]) & {tag, "*"})
    since = parse_http_date(headers.get("if-modified-since", ""))
    return since is not None and parse_datetime(record["LastModifiedDate"]) <= since


def check_write(obj: ObjectDef, record: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Refuse a PATCH whose preconditions fail (412) or cannot be read (400)."""
    tag = etag(obj, record)
    if tag is not None and "if-match" in headers and not _tags(headers["if-match"]) & {tag, "*"}:
        raise _failed("The entity tag does not match the current version of the record")
    if tag is not None and _tags(headers.get("if-none-match")) & {tag, "*"}:
        raise _failed("The entity tag matches the current version of the record")
    raw = headers.get("if-unmodified-since")
    if raw is None:
        return
    since = parse_http_date(raw)
    if since is None:
        raise SalesforceError(
            400, "MALFORMED_HEADER", f"If-Unmodified-Since: cannot parse date '{raw}'", None
        )
    if parse_datetime(record["LastModifiedDate"]) > since:
        raise _failed("The requested resource has been modified since the If-Unmodified-Since date")
