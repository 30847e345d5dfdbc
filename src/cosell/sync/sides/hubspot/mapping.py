"""The HubSpot mapping shipped with cosell (``default_mapping.yaml`` beside this module)."""

from __future__ import annotations

from importlib import resources

from cosell.sync.core.mapping import SyncMapping, parse_mapping


def hubspot_mapping_text() -> str:
    """The YAML text of the shipped HubSpot mapping (a starting point for users' own files)."""
    package = resources.files("cosell.sync.sides.hubspot")
    return (package / "default_mapping.yaml").read_text(encoding="utf-8")


def hubspot_mapping() -> SyncMapping:
    """The shipped HubSpot mapping: deal properties named as HubSpot names them."""
    return parse_mapping(hubspot_mapping_text(), "hubspot_mapping.yaml")
