"""Removing secrets from anything that may reach a log, an error message or the audit."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "assertion",
        "id_token",
        "code",
        "sig",
        "signature",
        "token",
        "authorization",
        "api_key",
        "apikey",
        "secret",
    }
)
MASK = "***"

_KEY_ALT = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
_JSON_PAIR = re.compile(rf'("(?:{_KEY_ALT})"\s*:\s*)"[^"]*"', re.IGNORECASE)
_FORM_PAIR = re.compile(rf"\b((?:{_KEY_ALT})=)[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"\b(Bearer|Signature)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_text(text: str) -> str:
    """Mask secret-looking values in free text: JSON pairs, form pairs, bearer tokens, JWTs."""
    text = _JSON_PAIR.sub(rf'\1"{MASK}"', text)
    text = _FORM_PAIR.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1 {MASK}", text)
    return _JWT.sub(MASK, text)


def redact_url(url: str) -> str:
    """Mask user-info and secret query parameters in a URL."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in parse_qsl(parts.query, True)],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_mapping(data: dict[str, object]) -> dict[str, object]:
    """A copy of a flat or nested mapping with secret keys masked."""
    out: dict[str, object] = {}
    for key, value in data.items():
        if key.lower() in SECRET_KEYS:
            out[key] = MASK
        elif isinstance(value, dict):
            out[key] = redact_mapping(value)
        else:
            out[key] = value
    return out
