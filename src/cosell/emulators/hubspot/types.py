"""The CRM object types the emulator serves and every name a path may give them."""

from __future__ import annotations

from dataclasses import dataclass

from cosell.emulators.hubspot.wire import HubSpotError


@dataclass(frozen=True)
class ObjectType:
    """One object type: its plural path name, singular name, type id and default properties."""

    name: str
    singular: str
    type_id: str
    defaults: tuple[str, ...]
    searchable: tuple[str, ...]
    group: str

    @property
    def upper(self) -> str:
        """The name in HubSpot's messages (``DEAL``, ``LINE_ITEM``)."""
        return self.singular.upper()


ALWAYS = ("createdate", "hs_lastmodifieddate", "hs_object_id")

TYPES = (
    ObjectType(
        "deals",
        "deal",
        "0-3",
        ("dealname", "amount", "closedate", "pipeline", "dealstage", *ALWAYS),
        ("dealname", "pipeline", "dealstage", "description", "dealtype"),
        "dealinformation",
    ),
    ObjectType(
        "companies",
        "company",
        "0-2",
        ("name", "domain", *ALWAYS),
        ("name", "domain", "website", "phone"),
        "companyinformation",
    ),
    ObjectType(
        "contacts",
        "contact",
        "0-1",
        ("firstname", "lastname", "email", *ALWAYS),
        ("firstname", "lastname", "email", "phone", "company"),
        "contactinformation",
    ),
    ObjectType(
        "line_items",
        "line_item",
        "0-8",
        ("name", "quantity", "price", "amount", *ALWAYS),
        ("name", "description", "hs_sku"),
        "lineiteminformation",
    ),
    ObjectType(
        "notes",
        "note",
        "0-46",
        ("hs_timestamp", "hs_note_body", *ALWAYS),
        ("hs_note_body",),
        "engagement",
    ),
)

_BY_NAME = {
    alias: t for t in TYPES for alias in (t.name, t.singular, t.type_id, t.name.replace("_", ""))
}


def object_type(name: str) -> ObjectType:
    """The type a path names by plural, singular or type id; 400 for anything else."""
    found = _BY_NAME.get(name.lower())
    if found is None:
        raise HubSpotError(
            400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}", context={}
        )
    return found
