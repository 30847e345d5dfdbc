"""Faithful local emulators of the Partner Center and Salesforce APIs (shipped, not test-only)."""
