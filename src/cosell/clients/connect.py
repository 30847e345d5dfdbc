"""The remote connections built from settings: Partner Center and Salesforce clients, and the
webhook certificate trust. Each ``httpx.Client`` comes from one factory, so tests (and the
sandbox) can route every call to in-process emulators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from cosell.clients.entra_auth import (
    REFERRALS_RESOURCE,
    WEBHOOKS_RESOURCE,
    AppCredentials,
    Audience,
    Authority,
    BearerAuth,
    Grant,
    PasswordGrant,
    RefreshTokenGrant,
)
from cosell.clients.hubspot import HubSpotClient
from cosell.clients.hubspot_auth import TOKEN_PATH as HUBSPOT_TOKEN_PATH
from cosell.clients.hubspot_auth import HubSpotOAuth, PrivateAppAuth
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.retry import RetryPolicy
from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import (
    TOKEN_PATH,
    ClientCredentialsGrant,
    JwtBearerGrant,
    SalesforceAuth,
)
from cosell.clients.salesforce_auth import Grant as SalesforceGrant
from cosell.clients.salesforce_auth import PasswordGrant as SalesforcePasswordGrant
from cosell.clients.salesforce_auth import RefreshTokenGrant as SalesforceRefreshGrant
from cosell.clients.salesforce_limits import ApiBudget, Reserve
from cosell.clients.token_store import (
    GENERATE_HINT,
    KEY_SETTING,
    KEY_VARIABLE,
    FileTokenStore,
    MemoryTokenStore,
    TokenCipher,
)
from cosell.clients.turns import CONNECTIONS, BoundedTransport
from cosell.clock import Clock, FollowingClock
from cosell.errors import ConfigError
from cosell.settings import Settings
from cosell.webhooks.certificates import CertificateCache, TrustPolicy

HttpFactory = Callable[[str, httpx.Auth | None], httpx.Client]
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


KEEPALIVE = 4.0
"""Seconds an idle connection is kept: less than common servers' 5 s keep-alive timeout, so a
request is never sent on a connection the server is closing at that moment."""


def followed_clock(settings: Settings, clock: Clock, http: HttpFactory) -> Clock:
    """``clock``, or with ``partner_center.emulated_clock`` one following the emulator's clock."""
    if not settings.partner_center.emulated_clock:
        return clock

    def read() -> datetime | None:
        try:
            with http(settings.partner_center.api_url, None) as client:
                response = client.get("/_emulator/clock")
                response.raise_for_status()
                text = str(response.json()["now"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return FollowingClock(clock, read)


def default_http(base_url: str, auth: httpx.Auth | None) -> httpx.Client:
    """A plain client for one host (no redirects: credentials never follow one elsewhere), at
    most ``CONNECTIONS`` requests in flight, the others waiting outside its connection pool."""
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        timeout=TIMEOUT,
        follow_redirects=False,
        transport=BoundedTransport(CONNECTIONS, keepalive_expiry=KEEPALIVE),
    )


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


# --- Partner Center ----------------------------------------------------------------------------


def partner_center_grant(settings: Settings, resource: str) -> Grant:
    """The Entra ID grant for one resource; the device-code mode uses the stored refresh token
    its interactive sign-in left behind."""
    pc = settings.partner_center
    settings.require_partner_center()
    app = AppCredentials(str(pc.client_id), pc.client_secret)
    authority = Authority(tenant=pc.tenant, url=pc.authority)
    if pc.auth_mode == "ropc":
        audience = Audience(resource=resource, version="v1")
        password = pc.password or SecretStr("")
        return PasswordGrant(app, str(pc.username), password, authority, audience)
    store = FileTokenStore(settings.refresh_token_path, token_cipher(settings))
    return RefreshTokenGrant(app, store, authority, Audience(resource=resource))


def token_cipher(settings: Settings) -> TokenCipher:
    """The cipher for the stored refresh token; a clear error when ``COSELL_TOKEN_KEY`` is unset."""
    key = settings.partner_center.token_key
    if key is None:
        raise ConfigError(
            KEY_SETTING,
            f"required to keep the refresh token encrypted at rest (set {KEY_VARIABLE}; "
            f"{GENERATE_HINT})",
        )
    return TokenCipher(key.get_secret_value())


def partner_center_client(
    settings: Settings,
    clock: Clock,
    http: HttpFactory = default_http,
    retry: RetryPolicy | None = None,
) -> PartnerCenterClient:
    """Referrals on ``api_url`` and webhook registration on ``webhook_api_url``."""
    pc = settings.partner_center
    referrals = BearerAuth(partner_center_grant(settings, REFERRALS_RESOURCE), clock=clock)
    hooks = BearerAuth(partner_center_grant(settings, WEBHOOKS_RESOURCE), clock=clock)
    return PartnerCenterClient(
        http(pc.api_url, referrals), webhooks=http(pc.webhook_api_url, hooks), retry=retry
    )


# --- Salesforce --------------------------------------------------------------------------------


def salesforce_grant(settings: Settings, clock: Clock) -> SalesforceGrant:
    """The OAuth grant for ``salesforce.auth_mode``."""
    sf = settings.salesforce
    settings.require_salesforce()
    client_id = str(sf.client_id)
    if sf.auth_mode == "jwt":
        key = _read_key(sf.jwt_key_file)
        return JwtBearerGrant(client_id, str(sf.username), key, sf.login_url, clock)
    if sf.auth_mode == "client_credentials":
        return ClientCredentialsGrant(client_id, _secret(sf.client_secret))
    if sf.auth_mode == "refresh_token":
        secret = _secret(sf.client_secret) or None
        return SalesforceRefreshGrant(client_id, _secret(sf.refresh_token), secret)
    return SalesforcePasswordGrant(
        client_id, _secret(sf.client_secret), str(sf.username), _secret(sf.password)
    )


def salesforce_token_url(settings: Settings) -> str:
    """Where tokens come from: the configured URL, the org's My Domain for client credentials
    (Salesforce requires it there), the login host otherwise."""
    sf = settings.salesforce
    if sf.token_url:
        return sf.token_url
    host = sf.instance_url if sf.auth_mode == "client_credentials" else sf.login_url
    return f"{str(host).rstrip('/')}{TOKEN_PATH}"


def salesforce_client(
    settings: Settings,
    clock: Clock,
    http: HttpFactory = default_http,
    retry: RetryPolicy | None = None,
) -> SalesforceClient:
    """The org's REST client, keeping ``limit_reserve_percent`` of the allowance for urgent work."""
    sf = settings.salesforce
    token_url = salesforce_token_url(settings)
    login = http(_origin(token_url), None)
    auth = SalesforceAuth(salesforce_grant(settings, clock), token_url, http=login)
    reserve = Reserve(fraction=sf.limit_reserve_percent / 100)
    return SalesforceClient(
        http(str(sf.instance_url), auth),
        api_version=sf.api_version,
        budget=ApiBudget(reserve, clock=clock),
        retry=retry,
    )


# --- HubSpot ---------------------------------------------------------------------------------


def hubspot_client(
    settings: Settings, clock: Clock, http: HttpFactory = default_http
) -> HubSpotClient:
    """The portal's CRM client: a private app's token, or OAuth refreshed before expiry."""
    hs = settings.hubspot
    settings.require_hubspot()
    auth: httpx.Auth
    if hs.auth_mode == "private_app":
        auth = PrivateAppAuth(_secret(hs.access_token))
    else:
        token_http = http(hs.api_url, None)
        store = MemoryTokenStore(_secret(hs.refresh_token))
        auth = HubSpotOAuth(
            str(hs.client_id),
            _secret(hs.client_secret),
            store,
            token_url=HUBSPOT_TOKEN_PATH,
            http=token_http,
            clock=clock,
        )
    return HubSpotClient(http(hs.api_url, auth), retry=RetryPolicy(clock=clock))


def _read_key(path: Path | None) -> str:
    try:
        return Path(str(path)).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("salesforce.jwt_key_file", f"cannot read the key: {exc}") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- webhook trust -----------------------------------------------------------------------------


def webhook_certificates(
    settings: Settings, clock: Clock, http: HttpFactory = default_http
) -> CertificateCache:
    """Signing-certificate trust: the configured CA (sandbox, e.g. the emulator's, from a path or
    URL) or the system's roots with Microsoft's issuer check (production)."""
    pc = settings.partner_center
    fetcher = http("", None)
    hosts = list(pc.webhook_certificate_hosts)
    if pc.webhook_trust_ca:
        ca = _load_ca(pc.webhook_trust_ca, fetcher)
        if "://" in pc.webhook_trust_ca:
            hosts.append(_host_and_port(pc.webhook_trust_ca))
        policy = TrustPolicy.sandbox_mode(ca, hosts)
    else:
        policy = TrustPolicy.production(_system_roots(), hosts)
    return CertificateCache(fetcher, policy, clock)


def _host_and_port(url: str) -> str:
    """``host:port`` of ``url``: certificates are then fetched from that port alone."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def _load_ca(where: str, http: httpx.Client) -> bytes:
    key = "partner_center.webhook_trust_ca"
    try:
        if "://" not in where:
            return Path(where).read_bytes()
        response = http.get(where)
        response.raise_for_status()
    except (OSError, httpx.HTTPError) as exc:
        raise ConfigError(key, f"cannot load the CA from {where}: {type(exc).__name__}") from None
    return response.content


def _system_roots() -> bytes:
    import certifi

    return Path(certifi.where()).read_bytes()
