"""Configuration: declared once, validated at start-up, failing with the offending key's name.

Sources, highest priority first:

1. the short secret variables (``COSELL_PC_CLIENT_SECRET`` … see ``SECRET_ENV``);
2. ``COSELL_<SECTION>__<KEY>`` environment variables (``__`` separates nesting levels);
3. the TOML file given to ``cosell run --config``;
4. the defaults declared here.

Secrets are ``SecretStr``: they print as ``**********`` and come only from the environment —
a secret written into the TOML file is refused at start-up, so config files can be shared.

Several tenants (partner organisations) in one deployment: each ``[tenants.<name>]`` table
holds that tenant's ``partner_center``, ``salesforce``/``hubspot`` and ``sync`` settings over the
top-level ones (which act as shared defaults), and its secrets come from
``COSELL_TENANT_<NAME>_<SHORT>`` variables (``COSELL_TENANT_CONTOSO_PC_CLIENT_SECRET``) or from
its ``secrets_file`` (a JSON object of those short names, readable by its owner only) — never from
the top-level secret variables, so one tenant cannot run on another's credentials.
``Settings.tenant_settings()`` gives one complete ``Settings`` per tenant. Without a
``[tenants]`` table the deployment serves the one ``[tenant]`` as before.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cosell.errors import ConfigError

LogFormat = Literal["console", "json"]
PartnerCenterAuthMode = Literal["app_user_refresh", "ropc", "device_code"]
SalesforceAuthMode = Literal["jwt", "client_credentials", "refresh_token", "password"]
HubSpotAuthMode = Literal["private_app", "oauth"]
CrmKind = Literal["salesforce", "hubspot"]

ENV_PREFIX = "COSELL_"

# Short, documented names for the secrets → their place in the settings tree.
SECRET_ENV: dict[str, tuple[str, str]] = {
    "COSELL_PC_CLIENT_SECRET": ("partner_center", "client_secret"),
    "COSELL_PC_PASSWORD": ("partner_center", "password"),
    "COSELL_SF_CLIENT_SECRET": ("salesforce", "client_secret"),
    "COSELL_SF_PASSWORD": ("salesforce", "password"),
    "COSELL_SF_REFRESH_TOKEN": ("salesforce", "refresh_token"),
    "COSELL_SF_JWT_KEY_FILE": ("salesforce", "jwt_key_file"),
    "COSELL_SESSION_KEY": ("service", "session_key"),
    "COSELL_TOKEN_KEY": ("partner_center", "token_key"),
    "COSELL_HS_TOKEN": ("hubspot", "access_token"),
    "COSELL_HS_CLIENT_SECRET": ("hubspot", "client_secret"),
    "COSELL_HS_REFRESH_TOKEN": ("hubspot", "refresh_token"),
    "COSELL_SSO_CLIENT_SECRET": ("sso", "client_secret"),
}
# What each sign-in flow needs besides its defaults: checked when a command needs that side.
PARTNER_CENTER_NEEDS: dict[str, tuple[str, ...]] = {
    "app_user_refresh": ("client_id",),
    "ropc": ("client_id", "username", "password"),
    "device_code": ("client_id",),
}
SALESFORCE_NEEDS: dict[str, tuple[str, ...]] = {
    "jwt": ("instance_url", "client_id", "username", "jwt_key_file"),
    "client_credentials": ("instance_url", "client_id", "client_secret"),
    "refresh_token": ("instance_url", "client_id", "refresh_token"),
    "password": ("instance_url", "client_id", "client_secret", "username", "password"),
}
HUBSPOT_NEEDS: dict[str, tuple[str, ...]] = {
    "private_app": ("access_token",),
    "oauth": ("client_id", "client_secret", "refresh_token"),
}
_FILE_FORBIDDEN = {(section, key) for section, key in SECRET_ENV.values() if key != "jwt_key_file"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSettings(_Section):
    """``[service]``: where the process listens and keeps its state."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    state_dir: Path = Path(".cosell")
    database_url: str | None = None
    secrets_file: Path | None = None
    """A JSON object of ``COSELL_…`` secret variables (mode 0600, e.g. the sandbox's
    ``secrets.json``) filling in the secrets the environment does not set."""
    workers: int = Field(default=4, ge=1, le=256)
    lease_seconds: float = Field(default=300.0, ge=10.0)
    queue: Literal["embedded", "procrastinate"] = "embedded"
    """``embedded``: the store's queue, worked by threads of this process (``cosell run``).
    ``procrastinate``: procrastinate tasks on the PostgreSQL store, worked by any number of
    ``cosell worker`` (or ``cosell run``) processes, with ``cosell web`` in front."""
    """How long a worker's claim on a key lasts without a heartbeat (renewed every third of it
    while the reconcile runs): after a crash, the keys it held wait this long for another run."""
    log_format: LogFormat = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    dashboard_sign_in: bool = True
    """The console asks users to sign in (``cosell users``); ``false`` is accepted only when
    ``host`` is a loopback address (the sandbox)."""
    session_key: SecretStr | None = None
    """Signs session cookies (environment only); without it a random key is kept in
    ``state_dir/session.key`` (mode 0600). Replicas behind one address must share it."""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    allowed_hosts: tuple[str, ...] = ()
    """Host names the console and webhook answer besides loopback, ``host`` and the webhook's
    public URL (any other ``Host`` header gets 400)."""


class PartnerCenterSettings(_Section):
    """``[partner_center]``: the Referrals and webhook APIs and how cosell signs in."""

    api_url: str = "https://api.partner.microsoft.com"
    portal_url: str = "https://partner.microsoft.com"
    """Where the console links a referral (``<portal_url>/dashboard/v2/referrals/<id>``)."""
    webhook_api_url: str = "https://api.partnercenter.microsoft.com"
    authority: str = "https://login.microsoftonline.com"
    tenant: str = "organizations"
    client_id: str | None = None
    auth_mode: PartnerCenterAuthMode = "app_user_refresh"
    username: str | None = None
    refresh_token_path: Path | None = None
    webhook_public_url: str | None = None
    webhook_trust_ca: str | None = None
    webhook_certificate_hosts: tuple[str, ...] = ("3psostorageacct.blob.core.windows.net",)
    client_secret: SecretStr | None = None
    password: SecretStr | None = None
    token_key: SecretStr | None = None
    """Fernet key(s) encrypting the stored refresh token (``COSELL_TOKEN_KEY``, comma-separated:
    the first encrypts, the others still decrypt while a rotation finishes)."""
    emulated_clock: bool = False
    """Follow the Partner Center emulator's clock (``GET /_emulator/clock``), as the sandbox's
    configuration does, so "expires in N days" counts in emulated time."""


class SalesforceSettings(_Section):
    """``[salesforce]``: the org, the API version and the OAuth flow cosell uses."""

    instance_url: str | None = None
    login_url: str = "https://login.salesforce.com"
    token_url: str | None = None
    client_id: str | None = None
    auth_mode: SalesforceAuthMode = "jwt"
    username: str | None = None
    api_version: str = Field(default="62.0", pattern=r"^\d{2,3}\.0$")
    limit_reserve_percent: float = Field(default=20.0, ge=0.0, lt=100.0)
    jwt_key_file: Path | None = None
    client_secret: SecretStr | None = None
    password: SecretStr | None = None
    refresh_token: SecretStr | None = None


class HubSpotSettings(_Section):
    """The HubSpot portal (when ``sync.crm = "hubspot"``): a private app's token, or OAuth."""

    api_url: str = "https://api.hubapi.com"
    auth_mode: HubSpotAuthMode = "private_app"
    client_id: str | None = None
    pipeline: str = "default"
    """The deal pipeline whose stages the mapping's stage table names (by label)."""
    access_token: SecretStr | None = None
    client_secret: SecretStr | None = None
    """The app's client secret: OAuth refresh, and the key of webhook signatures."""
    refresh_token: SecretStr | None = None
    webhooks: bool = False
    """Serve ``POST /webhooks/hubspot`` (the app's webhook subscriptions): a verified deal event
    marks its deal dirty at once instead of at the next poll. Needs ``client_secret``."""
    app_id: int | None = None
    """The app whose own write-backs come back as webhook events (skipped)."""
    webhook_url: str | None = None
    """The target URL as set in the app (it is signed); default: the URL a delivery arrived at."""


class SyncSettings(_Section):
    """``[sync]``: mapping and the timing of the change signals."""

    crm: CrmKind = "salesforce"
    """Which CRM the opportunities live in."""
    mapping_file: Path | None = None
    poll_min_interval: float = Field(default=2.0, gt=0)
    poll_max_interval: float = Field(default=60.0, gt=0)
    poll_overlap_seconds: float = Field(default=300.0, ge=0)
    poll_filter: str = "Sync_with_Partner_Center__c = true OR Referral_Identifier__c != null"
    related_poll_interval: float = Field(default=300.0, gt=0)
    """Idle ceiling of the related-row poll (accounts, contacts, solutions, team)."""
    sweep_interval: float = Field(default=300.0, gt=0)
    sweep_overlap_seconds: float = Field(default=300.0, ge=0)
    expiry_watch_interval: float = Field(default=3600.0, gt=0)
    """Seconds between the expiry watch's listings of unanswered incoming referrals (one
    listing each): a linked one's record shows its expiry warning within this of it being
    due, and its day count moves as it runs down (see :mod:`cosell.signals.expiry`)."""
    settle_seconds: float = Field(default=10.0, ge=2.0, le=300.0)
    """How long a change stamp must be old before a feed trusts that no later edit shares its
    second (stamps have one-second precision; a remote commit may land late)."""
    max_attempts: int = Field(default=8, ge=1)
    backfill_workers: int = Field(default=450, ge=1, le=450)
    """Records of a batch (200 flagged opportunities, 450 referrals) that ``cosell sync`` works
    on at once on Salesforce. Their creates, reads and writes go in shared requests (as many as
    one request holds), so more at once means fewer calls a record (docs/performance.md). On
    HubSpot the backfill uses ``service.workers``."""
    backfill_processes: int = Field(default=2, ge=1, le=64)
    """Processes ``cosell sync`` runs its pass in on Salesforce, each a shard of the referrals
    (by customer) and flagged opportunities: Python runs one thread at a time in a process, so
    one process uses one core (docs/performance.md). 1: this process alone. On HubSpot, whose
    limits count one app's requests, always 1."""
    verify_interval: float = Field(default=300.0, gt=0)
    """Seconds between the service's drift checks (``cosell verify``, a few pairs at a time)."""
    verify_pairs: int = Field(default=20, ge=0)
    """Linked pairs compared per drift check, rotating through all of them (0: off)."""
    loop_writes: int = Field(default=20, ge=2)
    """Reconciles of one pair in a row that wrote without converging before the next one parks
    it as a loop (see docs/reliability.md, "Loops are parked")."""
    loop_gap_seconds: float = Field(default=900.0, gt=0)
    """A longer pause between two writing reconciles of a pair starts its count again."""

    @model_validator(mode="after")
    def _interval_order(self) -> SyncSettings:
        if self.poll_max_interval < self.poll_min_interval:
            raise ValueError("poll_max_interval: must not be below poll_min_interval")
        if self.related_poll_interval < self.poll_min_interval:
            raise ValueError("related_poll_interval: must not be below poll_min_interval")
        return self


class TenantSettings(_Section):
    """``[tenant]``: the name this deployment's state, logs and metrics are filed under."""

    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")


TENANT_SECTIONS = ("partner_center", "salesforce", "hubspot", "sync")
"""The sections a ``[tenants.<name>]`` table may set for its tenant."""
_TENANT_SECRETS = {name: place for name, place in SECRET_ENV.items() if place[0] in TENANT_SECTIONS}


class TenantEntry(_Section):
    """``[tenants.<name>]``: one tenant's connections, mapping and stage names."""

    partner_center: dict[str, Any] = {}
    salesforce: dict[str, Any] = {}
    hubspot: dict[str, Any] = {}
    sync: dict[str, Any] = {}
    secrets_file: Path | None = None
    """A JSON object of this tenant's ``COSELL_PC_CLIENT_SECRET``-style variables (as
    ``service.secrets_file``); refused unless only its owner may read it."""


def tenant_env_prefix(name: str) -> str:
    """``COSELL_TENANT_<NAME>_``: where a tenant's secret variables start."""
    return f"{ENV_PREFIX}TENANT_{re.sub(r'[^A-Z0-9]', '_', name.upper())}_"


def tenant_console_root(name: str) -> str:
    """``/t/<name>``: where a tenant's console is served in a deployment of several."""
    return f"/t/{name}"


class SsoSettings(_Section):
    """``[sso]``: optional console sign-in with Microsoft Entra ID (OpenID Connect)."""

    issuer: str | None = None
    """e.g. ``https://login.microsoftonline.com/<tenant id>/v2.0`` (discovery is read from it)."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_url: str | None = None
    """The callback's public URL (``…/sign-in/sso/callback``); else derived from the request.
    With several tenants each console's callback is under its root: ``https://h/t/<tenant>/
    sign-in/sso/callback`` (register each with the issuer)."""
    username_claim: str = "preferred_username"

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)


_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class _AlertTarget(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Names the target in the store's delivery state and in logs."""


class TeamsTarget(_AlertTarget):
    """A Microsoft Teams incoming webhook (or a Workflows "post to a channel" URL)."""

    kind: Literal["teams"]
    url_env: str = Field(pattern=_ENV_NAME)
    """The environment variable holding the webhook URL (the URL is a secret)."""


class SlackTarget(_AlertTarget):
    """A Slack incoming webhook."""

    kind: Literal["slack"]
    url_env: str = Field(pattern=_ENV_NAME)


class EmailTarget(_AlertTarget):
    """E-mail through an SMTP server."""

    kind: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    """The environment variable holding the SMTP password."""


class WebhookTarget(_AlertTarget):
    """Any HTTPS endpoint: a JSON body signed with HMAC-SHA256 (see docs/operations.md)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_env: str = Field(pattern=_ENV_NAME)
    """The environment variable holding the signing secret."""


AlertTarget = Annotated[
    TeamsTarget | SlackTarget | EmailTarget | WebhookTarget, Field(discriminator="kind")
]
AlertEvent = Literal["refused", "conflict", "parked", "expired", "expiring", "connection"]
ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "refused",
    "conflict",
    "parked",
    "expired",
    "expiring",
    "connection",
)


class AlertsSettings(_Section):
    """``[alerts]``: who hears about records and connections that need a person."""

    targets: tuple[AlertTarget, ...] = ()
    events: tuple[AlertEvent, ...] = ALERT_EVENTS
    """Which events alert: a record refused or dead-lettered, a conflict opened, a pair parked,
    a referral expired before it reached the CRM, an incoming referral still not accepted
    ``expiring_days`` before it expires, token or webhook-registration trouble."""
    expiring_days: float = Field(default=3.0, gt=0, le=14)
    interval: float = Field(default=60.0, ge=1.0)
    """Seconds between the alert rounds (look for new alerts, send, retry failed sends)."""
    health_interval: float = Field(default=300.0, ge=10.0)
    """Seconds between the connection checks (tokens, webhook registration, API allowance)."""
    console_url: str | None = None
    """The console's public URL: alerts link each record's page under it (under
    ``/t/<tenant>`` in a deployment of several tenants)."""

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsSettings:
        names = [t.name for t in self.targets]
        if len(names) != len(set(names)):
            raise ValueError("targets: each target needs its own name")
        return self


class Settings(BaseSettings):
    """The whole configuration. Build it with ``load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    service: ServiceSettings = ServiceSettings()
    partner_center: PartnerCenterSettings = PartnerCenterSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    hubspot: HubSpotSettings = HubSpotSettings()
    sync: SyncSettings = SyncSettings()
    tenant: TenantSettings = TenantSettings()
    tenants: dict[str, TenantEntry] = {}
    """Several tenants in one deployment (see the module docstring); empty: just ``tenant``."""
    sso: SsoSettings = SsoSettings()
    alerts: AlertsSettings = AlertsSettings()

    @model_validator(mode="after")
    def _tenant_names(self) -> Settings:
        for name in self.tenants:
            if not _TENANT_NAME.fullmatch(name):
                raise ValueError(f"tenants: {name!r} is not a tenant name (letters, digits, _.-)")
        return self

    @property
    def multi_tenant(self) -> bool:
        return bool(self.tenants)

    def tenant_settings(self) -> list[Settings]:
        """One complete ``Settings`` per tenant this deployment serves, in declared order."""
        if not self.tenants:
            return [self]
        return [self._for(name, entry) for name, entry in self.tenants.items()]

    def for_tenant(self, name: str | None) -> Settings:
        """The settings of tenant ``name`` (``None``: the only one); ``ConfigError`` if unknown."""
        if not self.tenants:
            if name not in (None, self.tenant.name):
                raise ConfigError(
                    "--tenant", f"no tenant {name!r}: this deployment serves {self.tenant.name!r}"
                )
            return self
        if name is None:
            if len(self.tenants) == 1:
                return self.tenant_settings()[0]
            names = ", ".join(self.tenants)
            raise ConfigError(
                "--tenant", f"this deployment serves several tenants: name one ({names})"
            )
        entry = self.tenants.get(name)
        if entry is None:
            raise ConfigError(
                "--tenant", f"no tenant {name!r} in [tenants] ({', '.join(self.tenants)})"
            )
        return self._for(name, entry)

    def _for(self, name: str, entry: TenantEntry) -> Settings:
        secrets = _tenant_secrets(name, entry)
        update: dict[str, Any] = {"tenant": TenantSettings(name=name), "tenants": {}}
        sections: dict[str, type[_Section]] = {
            "partner_center": PartnerCenterSettings,
            "salesforce": SalesforceSettings,
            "hubspot": HubSpotSettings,
            "sync": SyncSettings,
        }
        for section, model in sections.items():
            given: dict[str, Any] = dict(getattr(entry, section))
            for key in given:
                if (section, key) in _FILE_FORBIDDEN:
                    variable = _short_name(section, key)
                    raise ConfigError(
                        f"tenants.{name}.{section}.{key}",
                        f"secrets are read from the environment: set "
                        f"{tenant_env_prefix(name)}{variable.removeprefix(ENV_PREFIX)} or its "
                        "secrets_file",
                    )
            base = getattr(self, section).model_dump()
            for place, key in _TENANT_SECRETS.values():
                if place == section and key not in ("jwt_key_file", "token_key"):
                    base[key] = None  # the top-level secrets are not this tenant's
            merged = {**base, **given, **secrets.get(section, {})}
            if section == "partner_center" and not merged.get("refresh_token_path"):
                tenant_dir = self.service.state_dir / "tenants" / name
                merged["refresh_token_path"] = tenant_dir / "partner-center-token.json"
            try:
                update[section] = model.model_validate(merged)
            except ValidationError as exc:
                error = _config_error(exc)
                message = str(error).removeprefix(f"{error.key}: ")
                raise ConfigError(f"tenants.{name}.{section}.{error.key}", message) from None
        return self.model_copy(update=update)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init arguments and rank below the environment.
        return (_SecretEnvSource(settings_cls), env_settings, init_settings)

    def require_partner_center(self) -> None:
        """Raise ``ConfigError`` naming the first setting the Partner Center sign-in lacks."""
        pc = self.partner_center
        _require("partner_center", pc, PARTNER_CENTER_NEEDS[pc.auth_mode], pc.auth_mode)

    def require_salesforce(self) -> None:
        """Raise ``ConfigError`` naming the first setting the Salesforce sign-in lacks."""
        sf = self.salesforce
        _require("salesforce", sf, SALESFORCE_NEEDS[sf.auth_mode], sf.auth_mode)

    def require_hubspot(self) -> None:
        hs = self.hubspot
        _require("hubspot", hs, HUBSPOT_NEEDS[hs.auth_mode], hs.auth_mode)
        if hs.webhooks and hs.client_secret is None:
            raise ConfigError(
                "hubspot.client_secret",
                "required when hubspot.webhooks is on: it verifies the deliveries' signatures "
                "(set COSELL_HS_CLIENT_SECRET)",
            )

    def require_crm(self) -> None:
        """The configured CRM's credentials (``sync.crm``)."""
        if self.sync.crm == "hubspot":
            self.require_hubspot()
        else:
            self.require_salesforce()

    @property
    def database_url(self) -> str:
        """The configured URL, or a SQLite file in the state directory."""
        if self.service.database_url:
            return self.service.database_url
        return f"sqlite:///{self.service.state_dir / 'cosell.db'}"

    @property
    def refresh_token_path(self) -> Path:
        """Where the Partner Center refresh token is kept between runs."""
        default = self.service.state_dir / "partner-center-token.json"
        return self.partner_center.refresh_token_path or default


class _SecretEnvSource(PydanticBaseSettingsSource):
    """Reads the short secret variable names into their nested places."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, dict[str, str]] = {}
        for name, (section, key) in SECRET_ENV.items():
            value = os.environ.get(name)
            if value:
                found.setdefault(section, {})[key] = value
        return found


_TENANT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _short_name(section: str, key: str) -> str:
    return next(n for n, place in SECRET_ENV.items() if place == (section, key))


def _tenant_secrets(name: str, entry: TenantEntry) -> dict[str, dict[str, str]]:
    """The tenant's secrets: its ``secrets_file``, then its ``COSELL_TENANT_<NAME>_…`` variables."""
    values: dict[str, str] = {}
    if entry.secrets_file is not None:
        where = f"tenants.{name}.secrets_file"
        values.update(_read_secrets_file(entry.secrets_file, where))
        foreign = sorted(set(values) - set(_TENANT_SECRETS))
        if foreign:
            raise ConfigError(where, f"not a tenant's secrets: {', '.join(foreign)}")
    prefix = tenant_env_prefix(name)
    for variable in _TENANT_SECRETS:
        found = os.environ.get(prefix + variable.removeprefix(ENV_PREFIX))
        if found:
            values[variable] = found
    placed: dict[str, dict[str, str]] = {}
    for variable, value in values.items():
        section, key = _TENANT_SECRETS[variable]
        placed.setdefault(section, {})[key] = value
    return placed


def _require(section: str, values: BaseModel, keys: tuple[str, ...], mode: str) -> None:
    for key in keys:
        if getattr(values, key) in (None, ""):
            variable = next((n for n, p in SECRET_ENV.items() if p == (section, key)), None)
            hint = f" (set {variable})" if variable else ""
            raise ConfigError(f"{section}.{key}", f"required when auth_mode is {mode!r}{hint}")


def load_settings(path: Path | None = None) -> Settings:
    """Read the TOML file (if any) and the environment; raise ``ConfigError`` naming the key."""
    data = _read_toml(path) if path is not None else {}
    _refuse_file_secrets(data)
    _fill_from_secrets_file(data)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise _config_error(exc) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("--config", f"no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def _refuse_file_secrets(data: Mapping[str, Any]) -> None:
    for section, key in sorted(_FILE_FORBIDDEN):
        block = data.get(section)
        if isinstance(block, Mapping) and key in block:
            variable = next(n for n, place in SECRET_ENV.items() if place == (section, key))
            raise ConfigError(
                f"{section}.{key}", f"secrets are read from the environment: set {variable}"
            )


def _fill_from_secrets_file(data: dict[str, Any]) -> None:
    """Secrets from ``service.secrets_file`` where the environment has none (it still wins)."""
    service = data.get("service")
    named = service.get("secrets_file") if isinstance(service, Mapping) else None
    if not named:
        return
    for name, value in _read_secrets_file(Path(str(named))).items():
        if os.environ.get(name):
            continue
        section, key = SECRET_ENV[name]
        block = data.setdefault(section, {})
        if isinstance(block, dict):
            block.setdefault(key, value)


def _read_secrets_file(path: Path, where: str = "service.secrets_file") -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(where, f"{path} is readable by other users: chmod 600 {path}")
    try:
        values = json.loads(text)
    except ValueError:
        raise ConfigError(where, f"{path} is not a JSON object of COSELL_ variables") from None
    if not isinstance(values, dict):
        raise ConfigError(where, f"{path} is not a JSON object of COSELL_ variables")
    unknown = sorted(set(values) - set(SECRET_ENV))
    if unknown:
        raise ConfigError(where, f"{path} names unknown secrets: {', '.join(unknown)}")
    return {str(k): str(v) for k, v in values.items() if v}


def _config_error(exc: ValidationError) -> ConfigError:
    first = exc.errors(include_url=False, include_input=False)[0]
    location = [str(part) for part in first["loc"]]
    message = str(first["msg"]).removeprefix("Value error, ")
    # Cross-field checks name their key as "key: message" (see the model validators).
    head, sep, rest = message.partition(": ")
    if sep and head.isidentifier():
        location, message = [*location, head], rest
    return ConfigError(".".join(location) or "config", message)
