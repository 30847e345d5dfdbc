"""What every console page shares: the store and tenant, who may do what, the page renderer,
where records link, what the service hands in (mapping, settings, doctor, expiring referrals,
live sides, the accept/decline decision) and the redirect after an action.

The overview (``dashboard.py``) is a ``Site``; the records, queue, setup and API pages take it as
one, so they import this module and never the overview."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from cosell.operations.checks import Check
from cosell.operations.decisions import Decision
from cosell.operations.record_sides import SideReader
from cosell.operations.status import Expiring
from cosell.store.records import TenantId
from cosell.store.sql import Store
from cosell.sync.core.mapping import SyncMapping
from cosell.web.auth import Authenticator, safe_next
from cosell.web.pages import Pages

PORTAL_REFERRAL = "https://partner.microsoft.com/dashboard/v2/referrals/{id}"


@dataclass(frozen=True)
class RecordUrls:
    """Where the dashboard links a referral and an opportunity (``{id}`` is replaced)."""

    referral: str = PORTAL_REFERRAL
    opportunity: str | None = None

    def of(self, template: str | None, record_id: str | None) -> str | None:
        if not template or not record_id:
            return None
        return template.replace("{id}", quote(record_id, safe=""))


@dataclass(frozen=True)
class ConsoleSetup:
    """What the service hands the console besides the store: the mapping, the non-secret
    settings as label/value pairs, the doctor and the expiring referrals (``None`` where they
    cannot be had)."""

    mapping: SyncMapping | None = None
    facts: Sequence[tuple[str, str]] = field(default_factory=tuple)
    doctor: Callable[[], list[Check]] | None = None
    expiring: Callable[[], Expiring] | None = None
    """Incoming referrals close to their 14-day expiry (read from Partner Center, cached)."""


@dataclass(eq=False)
class Site:
    """The console's shared parts, handed to each group of pages (one object, so a part the
    service sets later, such as ``decide``, reaches every page)."""

    store: Store
    tenant_id: TenantId
    tenant: str
    auth: Authenticator
    pages: Pages
    urls: RecordUrls = RecordUrls()
    setup: ConsoleSetup = ConsoleSetup()
    sides: SideReader | None = None
    decide: Callable[[str, Decision], str] | None = None

    def back(self, notice: str, to: str = "/") -> Response:
        """Back to a page of this console (``to``: its path inside it) after an action, saying
        what happened."""
        target = self.pages.root + safe_next(to)
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{joiner}notice={quote(notice)}", status_code=303)
