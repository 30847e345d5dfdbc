"""A minimal HTML page for one emulated record, so links into Partner Center's portal and a
Salesforce org (which the console and the CRM's referral link use) lead somewhere in a sandbox.
Every value is escaped; nested values are shown as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from starlette.responses import HTMLResponse

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · {system} (emulated)</title></head>
<body><main><h1>{title}</h1><p>{system} emulator · <code>{record_id}</code></p>
<table>{rows}</table></main></body></html>
"""


def record_page(system: str, record_id: str, title: str, fields: Mapping[str, Any]) -> HTMLResponse:
    rows = "".join(
        f'<tr><th scope="row">{escape(str(name))}</th><td>{escape(_text(value))}</td></tr>'
        for name, value in fields.items()
        if name != "attributes"
    )
    html = _PAGE.format(
        title=escape(title), system=escape(system), record_id=escape(record_id), rows=rows
    )
    return HTMLResponse(html)


def missing_page(system: str, record_id: str) -> HTMLResponse:
    said = f"{escape(system)} has no record {escape(record_id)}."
    body = f"<!doctype html><title>Not found</title><p>{said}</p>"
    return HTMLResponse(body, status_code=404)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
