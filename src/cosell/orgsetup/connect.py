"""Connecting to an org for its setup: log in, then a client and the setup for that org."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import TOKEN_PATH, Grant, SalesforceAuth
from cosell.orgsetup.salesforce import OrgSetup
from cosell.orgsetup.spec import OrgSpec

HttpFactory = Callable[[str], httpx.Client]


def default_http(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60.0)


def connect(
    factory: HttpFactory,
    grant: Grant,
    token_url: str,
    instance_url: str | None,
    api_version: str,
    spec: OrgSpec,
) -> OrgSetup:
    """Log in, then build the client and the setup for the org the token belongs to."""
    login_host = token_url[: -len(TOKEN_PATH)] if token_url.endswith(TOKEN_PATH) else token_url
    auth = SalesforceAuth(grant, token_url, http=factory(login_host))
    token = auth.login()
    http = factory(instance_url or token.instance_url)
    http.auth = auth
    client = SalesforceClient(http, api_version=api_version)
    return OrgSetup(client, spec, assignee_id=token.user_id)
