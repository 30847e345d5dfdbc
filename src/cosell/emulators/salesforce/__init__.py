"""A faithful local emulator of the Salesforce REST, OAuth and Tooling APIs (see
``docs/emulators/salesforce.md``)."""

from cosell.emulators.salesforce.app import create_app
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.emulators.salesforce.emulator import SalesforceEmulator

__all__ = ["SalesforceEmulator", "SalesforceEmulatorConfig", "create_app"]
