"""Country names and codes → ISO 3166-1 alpha-2, where the answer is unambiguous."""

from __future__ import annotations

import difflib
from functools import cache

import pycountry

_ALIASES = {
    "UK": "GB",
    "U.K.": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "U.S.": "US",
    "U.S.A.": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
}
"""Common names pycountry does not know (the UK is not an ISO code)."""


@cache
def to_iso2(text: str) -> str | None:
    """The alpha-2 code for a code, name or official name; ``None`` if unknown or ambiguous."""
    key = text.strip()
    if key.upper() in _ALIASES:
        return _ALIASES[key.upper()]
    if len(key) == 2:
        found = pycountry.countries.get(alpha_2=key.upper())
        return found.alpha_2 if found else None
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        return None


def suggest_iso2(text: str) -> str | None:
    """A likely alpha-2 code for a misspelt name, to put in an error message."""
    names = _names()
    close = difflib.get_close_matches(text.strip().casefold(), names, n=1, cutoff=0.75)
    return names[close[0]] if close else None


@cache
def _names() -> dict[str, str]:
    """Every country name, folded, → its alpha-2 code."""
    names = {k.casefold(): v for k, v in _ALIASES.items()}
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                names[str(value).casefold()] = str(country.alpha_2)
    return names
