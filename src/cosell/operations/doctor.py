"""``cosell doctor``: check each part a deployment depends on; every problem comes with its fix.

Order matters: the refresh token's age is read before anything signs in (a sign-in rotates the
token and renews the file), and checks that need a side are skipped when signing in to it failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.salesforce_auth import SalesforceAuth
from cosell.errors import AuthError, ConfigError, CosellError
from cosell.operations.checks import Check
from cosell.operations.connection_health import registration_check
from cosell.operations.deployment import Deployment
from cosell.operations.mapping_schema import schema_problems
from cosell.operations.store_health import store_checks
from cosell.orgsetup.salesforce import ACCESS_KINDS, Finding, OrgSetup, Report
from cosell.orgsetup.spec import connector_spec_for
from cosell.settings import PARTNER_CENTER_NEEDS, SALESFORCE_NEEDS, SECRET_ENV
from cosell.sync.core.mapping import default_mapping_text
from cosell.sync.engine.engine import mapping_from_settings

REFRESH_TOKEN_LIFETIME = timedelta(days=90)
REFRESH_TOKEN_WARN = timedelta(days=60)
SHOWN_MISSING = 5
ORG_SETUP, ACCESS = "Salesforce org setup", "Salesforce access"
MAPPING = "Mapping"


class Doctor:
    """Runs the checks against one deployment."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.settings = deployment.settings

    def run(self) -> list[Check]:
        checks = list(self._partner_center())
        checks += list(self._salesforce())
        checks += store_checks(self.settings, self.deployment.clock)
        return checks

    # --- Partner Center ------------------------------------------------------------------------

    def _partner_center(self) -> Iterator[Check]:
        yield self._multi_factor()
        if self.settings.partner_center.auth_mode != "ropc":
            yield self._refresh_token_age()
        signed_in = self._attempt("Partner Center sign-in", self._pc_sign_in, self._pc_fix)
        yield signed_in
        if signed_in.level == "fail":
            yield Check("webhook registration", "skip", "not checked: no Partner Center sign-in")
            return
        yield self._attempt("webhook registration", self._registration, lambda _: "")

    def _multi_factor(self) -> Check:
        """Partner Center requires multi-factor sign-in for App+User calls (since April 2026).
        A password grant (ROPC) can never present it; a refresh token that an interactive or
        device-code sign-in obtained carries the MFA claim of that sign-in."""
        pc = self.settings.partner_center
        name = "Partner Center MFA"
        if pc.auth_mode != "ropc":
            how = "device-code" if pc.auth_mode == "device_code" else "interactive"
            return Check(
                name,
                "ok",
                f"{pc.auth_mode}: the refresh token comes from an {how} sign-in, which can "
                "satisfy the multi-factor requirement (sign in with MFA when you renew it)",
            )
        real = _is_microsoft_authority(pc.authority)
        detail = (
            "ropc: a password grant cannot satisfy the multi-factor sign-in Partner Center "
            "requires for App+User calls since April 2026"
        )
        if not real:
            detail += " (not enforced by this authority: an emulator)"
        fix = (
            'set partner_center.auth_mode = "device_code" (or "app_user_refresh" with a refresh '
            "token from an interactive sign-in), sign in once with MFA, set COSELL_TOKEN_KEY, "
            "and remove COSELL_PC_PASSWORD"
        )
        return Check(name, "fail" if real else "warn", detail, fix)

    def _refresh_token_age(self) -> Check:
        name, path = "Partner Center refresh token", self.settings.refresh_token_path
        try:
            modified = Path(path).stat().st_mtime
        except FileNotFoundError:
            return Check(name, "fail", f"no refresh token at {path}", self._sign_in_again())
        age = self.deployment.clock.now().timestamp() - modified
        days = age / 86400
        detail = f"last renewed {days:.0f} days ago ({path})"
        if age >= REFRESH_TOKEN_LIFETIME.total_seconds():
            return Check(name, "fail", f"{detail}: expired after 90 days", self._sign_in_again())
        if age >= REFRESH_TOKEN_WARN.total_seconds():
            detail += "; Partner Center refresh tokens expire after 90 days without use"
            return Check(name, "warn", detail, "start cosell (any sign-in renews it)")
        return Check(name, "ok", detail)

    def _sign_in_again(self) -> str:
        path = self.settings.refresh_token_path
        return f"sign in again as the Partner Center user and save the new refresh token to {path}"

    def _pc_sign_in(self) -> Check:
        page = next(self.deployment.partner_center.list_pages(top=1))
        seen = "a referral" if page.referrals else "no referrals yet"
        mode = self.settings.partner_center.auth_mode
        return Check(
            "Partner Center sign-in", "ok", f"signed in ({mode}); the API answered, {seen}"
        )

    def _pc_fix(self, error: CosellError) -> str:
        if isinstance(error, ConfigError):
            return f"set {error.key}"
        mode = self.settings.partner_center.auth_mode
        if mode != "ropc":
            return self._sign_in_again()
        needs = _needs("partner_center", PARTNER_CENTER_NEEDS[mode])
        return f"check {needs} (ROPC cannot pass multi-factor sign-in)"

    def _registration(self) -> Check:
        ours = self.settings.partner_center.webhook_public_url
        return registration_check(ours, self.deployment.partner_center.get_registration())

    # --- Salesforce ----------------------------------------------------------------------------

    def _salesforce(self) -> Iterator[Check]:
        signed_in = self._attempt("Salesforce sign-in", self._sf_sign_in, self._sf_fix)
        yield signed_in
        if signed_in.level == "fail":
            yield Check(ORG_SETUP, "skip", "not checked: no Salesforce sign-in")
            yield Check(ACCESS, "skip", "not checked: no Salesforce sign-in")
            return
        try:
            mapping_from_settings(self.settings)
        except ConfigError as exc:
            yield Check(MAPPING, "fail", str(exc), "fix the mapping file (sync.mapping_file)")
            return
        try:
            report = self._inspect_org()
        except CosellError as exc:
            yield self._failed(ORG_SETUP, exc, lambda _: "")
            yield Check(ACCESS, "skip", "not checked: the org could not be inspected")
            return
        yield self._org_setup(report)
        yield self._access(report)
        yield self._attempt(MAPPING, self._mapping, lambda _: "run: cosell mapping check --config")

    def _sf_sign_in(self) -> Check:
        name = "Salesforce sign-in"
        daily = self.deployment.salesforce.limits().get("DailyApiRequests") or {}
        maximum, remaining = daily.get("Max"), daily.get("Remaining")
        mode = self.settings.salesforce.auth_mode
        if not isinstance(maximum, int) or not isinstance(remaining, int):
            return Check(name, "ok", f"signed in ({mode}); no API allowance figures")
        detail = f"signed in ({mode}); API calls left today: {remaining:,} of {maximum:,}"
        reserve = maximum * self.settings.salesforce.limit_reserve_percent / 100
        if remaining <= reserve:
            fix = "background sync pauses in the reserve; raise the org's limit or wait"
            return Check(name, "warn", detail + " (inside the reserve)", fix)
        return Check(name, "ok", detail)

    def _sf_fix(self, error: CosellError) -> str:
        if isinstance(error, ConfigError):
            return f"set {error.key}"
        mode = self.settings.salesforce.auth_mode
        return f"check {_needs('salesforce', SALESFORCE_NEEDS[mode])} (auth_mode {mode})"

    def _inspect_org(self) -> Report:
        client = self.deployment.salesforce
        spec = connector_spec_for(mapping_from_settings(self.settings))
        return OrgSetup(client, spec, assignee_id=_signed_in_user(client)).inspect()

    def _mapping(self) -> Check:
        """The configured mapping against the org's fields and stages and the referral schema."""
        mapping = mapping_from_settings(self.settings)
        path = self.settings.sync.mapping_file
        text = path.read_text(encoding="utf-8") if path else default_mapping_text()
        source = path.name if path else "shipped default mapping"
        client = self.deployment.salesforce
        problems = schema_problems(mapping, text, source, lambda o: dict(client.describe(o)))
        if not problems:
            return Check(MAPPING, "ok", f"{len(mapping.fields)} fields match the org ({source})")
        detail = "; ".join(str(p) for p in problems)
        return Check(MAPPING, "fail", detail, "correct the mapping, then: cosell mapping check")

    def _org_setup(self, report: Report) -> Check:
        schema = [f for f in report.findings if f.kind not in ACCESS_KINDS]
        problems = _problems(schema)
        if not problems:
            return Check(ORG_SETUP, "ok", f"{len(schema)} fields, objects and stages in place")
        return Check(ORG_SETUP, "fail", _listed(problems), "run: cosell setup salesforce")

    def _access(self, report: Report) -> Check:
        """The integration user's permission set, its object and field grants, its assignment."""
        found = [f for f in report.findings if f.kind in ACCESS_KINDS]
        problems = _problems(found)
        grants = len([f for f in found if f.kind in ("access", "object access")])
        if not problems:
            return Check(ACCESS, "ok", f"permission set assigned; {grants} objects and fields")
        pset = next((f.name for f in found if f.kind == "permission set"), "cosell")
        detail = "the integration user cannot use: " + _listed(problems)
        fix = (
            f"run: cosell setup salesforce (it creates the {pset} permission set with the "
            "object and field permissions cosell needs and assigns it to the integration user)"
        )
        return Check(ACCESS, "fail", detail, fix)

    # --- running one check ---------------------------------------------------------------------

    @staticmethod
    def _attempt(name: str, check: Callable[[], Check], fix: Callable[[CosellError], str]) -> Check:
        try:
            return check()
        except CosellError as exc:
            return Doctor._failed(name, exc, fix)

    @staticmethod
    def _failed(name: str, exc: CosellError, fix: Callable[[CosellError], str]) -> Check:
        if isinstance(exc, AuthError):
            return Check(name, "fail", f"sign-in refused: {exc}", fix(exc))
        return Check(name, "fail", str(exc), fix(exc) or "see the error; retry later")


def _signed_in_user(client: SalesforceClient) -> str | None:
    """The Salesforce user cosell signs in as (from its token), if known."""
    auth = client.http.auth
    token = auth.token if isinstance(auth, SalesforceAuth) else None
    return token.user_id if token else None


def _problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status in ("missing", "differs", "failed")]


def _listed(problems: list[Finding]) -> str:
    shown = ", ".join(f"{f.name} ({f.kind}: {f.status})" for f in problems[:SHOWN_MISSING])
    extra = len(problems) - SHOWN_MISSING
    return f"{shown} and {extra} more" if extra > 0 else shown


def _needs(section: str, keys: tuple[str, ...]) -> str:
    named = []
    for key in keys:
        variable = next((n for n, place in SECRET_ENV.items() if place == (section, key)), None)
        named.append(variable or f"{section}.{key}")
    return ", ".join(named)


def _is_microsoft_authority(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in MICROSOFT_AUTHORITIES or host.endswith(".microsoftonline.com")


MICROSOFT_AUTHORITIES = frozenset(
    {"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}
)
