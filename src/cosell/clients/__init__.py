"""HTTP clients for the remote APIs; each takes an injected ``httpx.Client``."""
