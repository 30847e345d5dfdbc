"""Wiring the operator console from settings: who signs in, with which key, on which hosts."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import structlog

from cosell.clients.partner_center import PartnerCenterClient
from cosell.clock import Clock
from cosell.errors import ConfigError
from cosell.operations.checks import Check
from cosell.operations.deployment import Deployment
from cosell.operations.doctor import Doctor
from cosell.operations.status import Expiring, expiring_referrals
from cosell.operations.users import UserDirectory
from cosell.private_files import private_dir
from cosell.settings import Settings
from cosell.store.sql import Store
from cosell.store.users import UserTable
from cosell.web.auth import Authenticator
from cosell.web.security import LOOPBACK_HOSTS, allowed_hosts
from cosell.web.site import ConsoleSetup
from cosell.web.sso import CALLBACK, EntraSignIn, SsoConfig

log = structlog.get_logger(__name__)
SESSION_KEY_FILE = "session.key"


def user_directory(
    settings: Settings, store: Store, clock: Clock, tenant: str | None = None
) -> UserDirectory:
    """The console's users; ``tenant`` (a deployment of several): that tenant's only."""
    lifetime = timedelta(hours=settings.service.session_hours)
    return UserDirectory(UserTable(store.engine, tenant), clock, lifetime)


def console_auth(
    settings: Settings, store: Store, clock: Clock, *, tenant: str | None = None, root: str = ""
) -> Authenticator:
    """Sign-in with the store's users, or open access when configured off on loopback.
    ``tenant`` and ``root`` (a deployment of several): the tenant whose users sign in to the
    console served under ``root``."""
    service = settings.service
    if not service.dashboard_sign_in and service.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            "service.dashboard_sign_in",
            f"may be false only when service.host is a loopback address, not {service.host!r}",
        )
    key = session_key(settings)
    if not service.dashboard_sign_in:
        return Authenticator(None, key, open_access=True, root=root)
    return Authenticator(user_directory(settings, store, clock, tenant), key, root=root)


def session_key(settings: Settings) -> str:
    """``COSELL_SESSION_KEY``, else a random key kept in the state directory (0600)."""
    if settings.service.session_key is not None:
        return settings.service.session_key.get_secret_value()
    path = settings.service.state_dir / SESSION_KEY_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def console_hosts(settings: Settings) -> list[str]:
    """The ``Host`` names the app answers; a warning when only loopback names would pass on a
    service listening on every address (webhooks through a proxy would get 400)."""
    service = settings.service
    publics = [one.partner_center.webhook_public_url for one in settings.tenant_settings()]
    hosts = allowed_hosts(service.host, service.allowed_hosts, publics)
    if set(hosts) <= set(LOOPBACK_HOSTS) and service.host not in LOOPBACK_HOSTS:
        log.warning(
            "service.hosts_loopback_only",
            hint="set partner_center.webhook_public_url or service.allowed_hosts: "
            "requests naming any other host are refused with 400",
        )
    return hosts


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` (0600) holding ``text`` unless it exists. Processes starting together on
    one state directory (a web and a worker, replicas) race here: the file is written whole
    under a private name and linked into place, so the first link wins and every other
    process reads the winner's complete key."""
    private_dir(path.parent)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key is in place
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


EXPIRING_DAYS = 3.0
EXPIRING_CACHE_SECONDS = 300.0


def cached_expiring(
    client: PartnerCenterClient, clock: Clock, days: float = EXPIRING_DAYS
) -> Callable[[], Expiring]:
    """Incoming New referrals expiring within ``days``, read at most every five minutes
    (the overview must not cost a Partner Center call per page view)."""
    lock = threading.Lock()
    kept: list[tuple[float, Expiring]] = []

    def read() -> Expiring:
        with lock:
            if kept and clock.monotonic() - kept[0][0] < EXPIRING_CACHE_SECONDS:
                return kept[0][1]
            found = expiring_referrals(client, clock.now(), days)
            kept[:] = [(clock.monotonic(), found)]
            return found

    return read


def console_setup(
    settings: Settings, clock: Clock, partner_center: PartnerCenterClient | None = None
) -> ConsoleSetup:
    """The mapping page's mapping, the settings page's facts (nothing secret) and its doctor."""
    from cosell.sync.engine.engine import mapping_from_settings

    service, pc, sf = settings.service, settings.partner_center, settings.salesforce
    facts = [
        ("Tenant", settings.tenant.name),
        ("Listening on", f"{service.host}:{service.port}"),
        ("Console sign-in", "required" if service.dashboard_sign_in else "off (loopback only)"),
        ("Session lifetime", f"{service.session_hours:g} h"),
        ("Allowed hosts", ", ".join(console_hosts(settings))),
        (
            "Database",
            "SQLite in the state directory" if not service.database_url else "configured URL",
        ),
        ("Partner Center API", pc.api_url),
        ("Partner Center sign-in", pc.auth_mode),
        ("Webhook public URL", pc.webhook_public_url or "not set"),
        ("Salesforce instance", sf.instance_url or "not set"),
        ("Salesforce sign-in", sf.auth_mode),
        ("Mapping", str(settings.sync.mapping_file or "the shipped default")),
        ("Alert targets", _alert_targets(settings)),
    ]

    def doctor() -> list[Check]:
        with Deployment(settings, clock) as deployment:
            return Doctor(deployment).run()

    expiring = None if partner_center is None else cached_expiring(partner_center, clock)
    return ConsoleSetup(mapping_from_settings(settings), facts, doctor, expiring)


def _alert_targets(settings: Settings) -> str:
    """The targets by name and kind (their URLs and secrets are credentials: never shown)."""
    targets = settings.alerts.targets
    return ", ".join(f"{t.name} ({t.kind})" for t in targets) or "none"


def console_sso(settings: Settings, auth: Authenticator) -> EntraSignIn | None:
    """Entra ID sign-in when ``[sso]`` names an issuer and a client (and sign-in is on)."""
    sso = settings.sso
    if not sso.enabled or auth.open_access:
        return None
    assert sso.issuer is not None
    assert sso.client_id is not None
    secret = sso.client_secret.get_secret_value() if sso.client_secret else None
    redirect = sso.redirect_url
    if redirect and auth.root:  # each tenant's console has its own callback under its root
        redirect = redirect.removesuffix(CALLBACK) + auth.url(CALLBACK)
    config = SsoConfig(sso.issuer, sso.client_id, secret, redirect, sso.username_claim)
    return EntraSignIn(config, auth, session_key(settings))
