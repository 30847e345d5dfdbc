"""Ambiguous accounts wait for a person, in the conflict queue, instead of becoming duplicates.

When :class:`~cosell.sync.sides.salesforce.accounts.AccountMatcher` finds several accounts for an
incoming referral's customer, the referral's create intent is recorded (a link without an
opportunity) and a conflict is opened on it with ``field = "account"``: ``pc`` holds the customer
(name, country, postal code), ``crm`` the candidate accounts (id, name, country, postal code). No
opportunity is created, and later runs leave the parked referral alone.

An admin settles it with ``cosell conflicts resolve ID --take value=<account id>`` (or
``--take value=new`` for a new account from the referral's customer, ``--take crm`` for the
oldest candidate; ``partner_center`` is refused, since it would add one more account named like
those that match). The next reconcile of the referral creates the opportunity on that account
and marks the conflict applied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cosell.store.records import AuditEntry, FieldConflict, Link
from cosell.sync.engine.resolutions import ACCOUNT_FIELD, decode
from cosell.sync.sides.partner_center import PcRecord
from cosell.sync.sides.salesforce.accounts import Match, ReadMatch, customer_of

if TYPE_CHECKING:
    from cosell.sync.engine.context import Context

NEW_ACCOUNT = "new"
"""``--take value=new``: a new account from the referral's customer, chosen on purpose."""
PARKED_MESSAGE = "several accounts match the customer; waiting for an admin to pick one"


@dataclass(frozen=True)
class AccountChoice:
    """The account to create the opportunity on (``None``: a new one), and the review settled by
    it (to mark applied after the create)."""

    account_id: str | None
    rule: str
    settled: int | None = None


class AccountReview:
    """Chooses the account for an incoming referral, parking ambiguous ones."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def choose(
        self, pc: PcRecord, link: Link | None, entry: AuditEntry, read: ReadMatch | None = None
    ) -> AccountChoice | None:
        """The account to use, or ``None`` when the referral waits for a person. ``read`` is
        the match read with the referral's lookup, used while it still serves."""
        review = self._review(link)
        if review is not None:
            return self._settled(review)
        customer = customer_of(pc.raw)
        if read is not None and read.serves(customer):
            match = read.match
        else:
            match = self.ctx.crm.match_account(customer)
        if not match.ambiguous:
            return AccountChoice(match.account_id, match.rule)
        self._park(pc, match, entry)
        return None

    def _review(self, link: Link | None) -> FieldConflict | None:
        if link is None:
            return None
        store, tenant = self.ctx.store, self.ctx.tenant
        reviews = [
            c
            for c in store.conflicts(tenant, None, link.id)
            if c.field == ACCOUNT_FIELD and c.state in ("open", "resolved")
        ]
        return reviews[-1] if reviews else None

    def _settled(self, review: FieldConflict) -> AccountChoice | None:
        decoded = decode(review.resolution) if review.state == "resolved" else None
        if decoded is None:
            return None
        take, value = decoded
        if take == "value" and str(value) == NEW_ACCOUNT:
            return AccountChoice(None, "new account chosen by an admin", review.id)
        if take == "value":
            return AccountChoice(str(value), "picked by an admin", review.id)
        if take == "crm":
            return AccountChoice(_first_candidate(review.crm), "picked by an admin", review.id)
        return AccountChoice(None, "new account chosen by an admin", review.id)

    def _park(self, pc: PcRecord, match: Match, entry: AuditEntry) -> None:
        store, tenant = self.ctx.store, self.ctx.tenant
        link = store.record_create_intent(tenant, "crm", pc.id, f"referral:{pc.id}")
        customer = customer_of(pc.raw).summary()
        store.open_conflict(tenant, link.id, ACCOUNT_FIELD, None, customer, match.candidates)
        parked = replace(
            entry,
            outcome="conflict",
            field=ACCOUNT_FIELD,
            new=[c.get("Id") for c in match.candidates],
            message=PARKED_MESSAGE,
            referral_id=pc.id,
        )
        store.record_audit(tenant, [parked])


def _first_candidate(candidates: Any) -> str | None:
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        found = candidates[0].get("Id")
        return str(found) if found else None
    return None
