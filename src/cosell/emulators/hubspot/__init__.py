"""A faithful local emulator of HubSpot's CRM API (objects, batch, search, associations v4,
properties, pipelines, OAuth, rate limits and signed webhooks); see
``docs/emulators/hubspot.md``."""

from cosell.emulators.hubspot.app import create_app
from cosell.emulators.hubspot.config import HubSpotEmulatorConfig
from cosell.emulators.hubspot.emulator import HubSpotEmulator

__all__ = ["HubSpotEmulator", "HubSpotEmulatorConfig", "create_app"]
