"""The two sides as a backfill page sees them: what one listing call already read is not read
again record by record.

A Partner Center page of 100 referrals is whole referrals, so the first read of each referral
in a reconcile is served from the page (later reads, after a write, go to the API as usual).
The opportunity lookups by referral id of a batch and its customers' account candidates are a
few SOQL queries, made together in one ``composite`` call on Salesforce, instead of queries per
referral. Everything else passes through to the wrapped side unchanged.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cosell.clients.coalesce import Coalescer, Room
from cosell.clients.partner_center import LIST_PAGE
from cosell.clients.referral import ReferralExternal
from cosell.sync.core.records import CrmWrite
from cosell.sync.sides.crm import CrmSide
from cosell.sync.sides.crm_record import CrmRecord, Made, Written
from cosell.sync.sides.partner_center import PartnerCenterSide, PcRecord
from cosell.sync.sides.salesforce.accounts import (
    AccountMatcher,
    CreatedAccounts,
    Customer,
    Match,
)
from cosell.sync.sides.salesforce.planned import run_together
from cosell.sync.sides.salesforce.schema import CrmSchema
from cosell.sync.sides.salesforce.side import READ_BATCH, Create
from cosell.sync.sides.salesforce.side import CrmSide as SalesforceSide

Lookup = Callable[[Sequence[str]], dict[str, str]]
"""Referral ids → the ids of the opportunities holding them (absent: none holds it)."""
Reader = Callable[[Sequence[str]], dict[str, CrmRecord]]
"""Record ids → the records with their related rows (absent: gone)."""
Matcher = Callable[[Sequence[Customer]], dict[Customer, Match]]
"""Customers → their account matches (absent: match it on its own)."""
Primer = Callable[[Sequence[str], Sequence[Customer]], tuple[dict[str, str], dict[Customer, Match]]]
"""A lookup and a match made together: referral ids and customers → both answers."""


class PagedPartnerCenter(PartnerCenterSide):
    """Serves each primed referral's first read from the listing page it came in, and the
    idempotency lookup of a create (the referral made from an opportunity) from one listing of
    every referral's ``externalReferenceId`` when that costs fewer calls than a lookup each."""

    def __init__(self, side: PartnerCenterSide) -> None:
        super().__init__(side.client)
        self._lock = threading.Lock()
        self._page: dict[str, PcRecord] = {}
        self._external: dict[str, str] | None = None
        """Opportunity id -> the referral holding it, for every referral (None: not listed)."""
        self._unsure: set[str] = set()
        """Opportunity ids whose create failed: it may have been made; look it up."""

    def prime_external_ids(self, creates: int) -> None:
        """List every referral's ``externalReferenceId`` (100 a call) when there are fewer
        pages than ``creates`` to look up; the first page's ``@odata.count`` says how many."""
        pages = self.client.list_pages(select=ReferralExternal)
        first = next(pages, None)
        if first is None or first.count is None or math.ceil(first.count / LIST_PAGE) >= creates:
            return
        found: dict[str, str] = {}
        for page in itertools.chain([first], pages):
            for referral in page.referrals:
                if referral.external_reference_id and referral.id:
                    found.setdefault(referral.external_reference_id, referral.id)
        with self._lock:
            self._external, self._unsure = found, set()

    def find_by_external_id(self, opportunity_id: str) -> PcRecord | None:
        with self._lock:
            known = None if opportunity_id in self._unsure else self._external
            referral_id = known.get(opportunity_id) if known is not None else None
        if known is None:
            return super().find_by_external_id(opportunity_id)
        return self.read(referral_id) if referral_id else None

    def find_created(self, opportunity_id: str, *, attempted: bool) -> PcRecord | None:
        """Looked up whether attempted or not: a backfill fills a store that may be new beside a
        Partner Center holding referrals an earlier store recorded, and its listing answers
        for every create of the run at once."""
        return self.find_by_external_id(opportunity_id)

    def create(self, body: Mapping[str, Any]) -> PcRecord:
        external = str(body.get("externalReferenceId") or "")
        try:
            made = super().create(body)
        except Exception:
            with self._lock:  # it may have reached Partner Center: the retry looks it up
                self._unsure.add(external)
            raise
        with self._lock:
            if self._external is not None and external:
                self._external[external] = made.id
        return made

    def prime(self, records: Iterable[PcRecord]) -> None:
        with self._lock:
            self._page = {r.id: r for r in records}

    def read(self, referral_id: str) -> PcRecord | None:
        with self._lock:
            listed = self._page.pop(referral_id, None)
        return listed if listed is not None else super().read(referral_id)


class PagedCrm:
    """A CRM side whose ``find_by_referral`` answers from one lookup per page, whose first
    ``read`` of a record answers from one read of the whole batch, and whose account match
    answers from the batch's candidates read together, when the CRM can batch them.

    A primed match is used only while no account this batch created could be one of the
    customer's candidates: two referrals of one new customer run one after the other (the
    customer is part of the pair's lock), and the second is matched by its own query, so it
    finds the account the first created."""

    def __init__(
        self,
        side: CrmSide,
        lookup: Lookup | None,
        reader: Reader | None,
        matcher: Matcher | None = None,
        *,
        primer: Primer | None = None,
        room: Room | None = None,
        linger: float = 0.05,
    ) -> None:
        self.side = side
        self.lookup = lookup
        self.reader = reader
        self.matcher = matcher
        self.primer = primer
        self._reads: Coalescer[str, CrmRecord | None] | None = None
        if reader is not None and room is not None and room.callers > 1:
            # five queries of READ_BATCH ids go in one composite call
            most = 5 * READ_BATCH
            self._reads = Coalescer(
                self._read_now, callers=room.callers, linger=linger, most=most, room=room
            )
        self._lock = threading.Lock()
        self._looked_up: dict[str, str | None] = {}
        self._read: dict[str, CrmRecord] = {}
        self._matches: dict[Customer, Match] = {}
        self._made = CreatedAccounts()
        """The accounts this batch created so far."""

    def prime_page(self, customers: Mapping[str, Customer]) -> None:
        """Look up the opportunities of a page's unlinked referrals (by referral id) and match
        the customers of those none holds: together in one request when the side can, else
        the lookup first and the match of the new ones after."""
        if self.primer is None:
            self.prime(list(customers))
            self.prime_accounts([c for i, c in customers.items() if self.found(i) is None])
            return
        found, matches = self.primer(list(customers), list(customers.values()))
        with self._lock:
            self._looked_up = {i: found.get(i) for i in customers}
            self._matches, self._made = matches, CreatedAccounts()

    def prime_accounts(self, customers: Sequence[Customer]) -> None:
        """Match the batch's customers at once (no call when the side cannot batch it)."""
        if self.matcher is None:
            return
        found = self.matcher(customers) if customers else {}
        with self._lock:
            self._matches, self._made = dict(found), CreatedAccounts()

    def prime_reads(self, record_ids: Sequence[str]) -> None:
        """Read the batch's records at once (no call when the side cannot batch it)."""
        if self.reader is None:
            return
        found = self.reader(record_ids) if record_ids else {}
        with self._lock:
            self._read = dict(found)

    def prime(self, referral_ids: Sequence[str]) -> None:
        """Look the page's referral ids up at once (no call when the side cannot batch it)."""
        if self.lookup is None:
            return
        found = self.lookup(referral_ids) if referral_ids else {}
        with self._lock:
            self._looked_up = {i: found.get(i) for i in referral_ids}

    def found(self, referral_id: str) -> str | None:
        """The opportunity the page's lookup found for a referral (None: none, or not looked
        up), without using the answer up."""
        with self._lock:
            return self._looked_up.get(referral_id)

    @property
    def schema(self) -> CrmSchema:
        return self.side.schema

    def find_by_referral(self, referral_id: str) -> str | None:
        with self._lock:
            if referral_id in self._looked_up:
                return self._looked_up.pop(referral_id)
        return self.side.find_by_referral(referral_id)

    def find_deleted_by_referral(self, referral_id: str) -> str | None:
        return self.side.find_deleted_by_referral(referral_id)

    def read_fresh(self, record_id: str, read_after: datetime) -> CrmRecord | None:
        """A backfill runs no poll: its batches are read together."""
        return None

    def read(self, record_id: str) -> CrmRecord | None:
        """The batch's read when primed; else read now, with the reads other workers make
        meanwhile (one query for them all) when the side can batch them."""
        with self._lock:
            primed = self._read.pop(record_id, None)
        if primed is not None:
            return primed
        if self._reads is not None:
            return self._reads.submit(record_id)
        return self.side.read(record_id)

    def _read_now(self, record_ids: Sequence[str]) -> list[CrmRecord | Exception | None]:
        assert self.reader is not None
        found = self.reader(record_ids)
        return [found.get(record_id) for record_id in record_ids]

    def flagged_or_linked(self) -> list[str]:
        return self.side.flagged_or_linked()

    def update(self, record: CrmRecord, write: CrmWrite, extra: Mapping[str, Any]) -> Written:
        return self.side.update(record, write, extra)

    def create(
        self,
        write: CrmWrite,
        referral_id: str,
        extra: Mapping[str, Any],
        account_id: str | None = None,
    ) -> Made:
        made = self.side.create(write, referral_id, extra, account_id)
        if account_id is None and write.account:
            with self._lock:
                self._made.add(write.account)
        return made

    @property
    def creates_at_once(self) -> bool:
        """Whether :meth:`create_many` sends many creates in one request from one thread (on
        Salesforce: composite graphs); elsewhere each create goes on its own."""
        return isinstance(self.side, SalesforceSide)

    def create_many(self, creates: Sequence[Create]) -> list[Made | Exception]:
        """Many records' creates at once (see :meth:`CrmSide.create_many`): what each made,
        or what refused it, in order. Only where :attr:`creates_at_once`."""
        assert isinstance(self.side, SalesforceSide)
        answers = self.side.create_many(creates)
        made = [
            c.write.account
            for c, a in zip(creates, answers, strict=True)
            if c.account_id is None and c.write.account and isinstance(a, Made)
        ]
        with self._lock:
            for account in made:
                self._made.add(account)
        return answers

    def mirror_note(self, record_id: str, body: str | None) -> bool:
        return self.side.mirror_note(record_id, body)

    def active_users(self) -> dict[str, str]:
        return self.side.active_users()

    def match_account(self, customer: Customer) -> Match:
        """The batch's match of the customer, unless an account the batch created since
        could be picked for it (matched again then: the same customer, twice in one batch,
        gets one account). The batch's creates go while later records are planned, so an
        account that merely shares a word with the customer asks no query."""
        with self._lock:
            primed = self._matches.pop(customer, None)
            made = self._made.could_pick(customer)
        if primed is not None and not made:
            return primed
        return self.side.match_account(customer)

    def is_record_id(self, text: str) -> bool:
        return self.side.is_record_id(text)

    def import_lead(self, referral_id: str, fields: Mapping[str, Any]) -> str:
        return self.side.import_lead(referral_id, fields)


def coalescing(side: CrmSide, room: Room, linger: float = 0.05) -> CrmSide:
    """The side for the workers of ``room``: on Salesforce its creates (composite
    graphs) and single guarded writes made at about the same time go in one request each (see
    :mod:`cosell.clients.coalesce`); any other CRM as it is."""
    if not isinstance(side, SalesforceSide) or room.callers < 2:
        return side
    return side.with_client(side.client.coalescing(room.callers, linger, room))


def salesforce_reader(side: CrmSide) -> Reader | None:
    """Opportunities with their related rows, many a query, on Salesforce; None elsewhere."""
    return side.read_many if isinstance(side, SalesforceSide) else None


def salesforce_matcher(side: CrmSide) -> Matcher | None:
    """The account matches of many customers from a few queries on Salesforce; None
    elsewhere."""
    if not isinstance(side, SalesforceSide):
        return None
    matcher = AccountMatcher(side.client, side.schema)

    def match(customers: Sequence[Customer]) -> dict[Customer, Match]:
        found = matcher.candidates_of_many(customers)
        return {customer: matcher.match(customer, rows) for customer, rows in found.items()}

    return match


def salesforce_lookup(side: CrmSide) -> Lookup | None:
    """One ``IN`` query per ``WHERE``-full of referral ids on Salesforce; None for a CRM
    without one."""
    if not isinstance(side, SalesforceSide):
        return None
    return lambda referral_ids: side.lookup_plan(referral_ids).run(side.client)


def salesforce_primer(side: CrmSide) -> Primer | None:
    """On Salesforce, a page's opportunity lookup and its customers' account candidates in one
    request (the queries as subrequests of one ``composite``); None elsewhere."""
    if not isinstance(side, SalesforceSide):
        return None
    matcher = AccountMatcher(side.client, side.schema)

    def prime(
        referral_ids: Sequence[str], customers: Sequence[Customer]
    ) -> tuple[dict[str, str], dict[Customer, Match]]:
        plans = (side.lookup_plan(referral_ids), matcher.plan_many(customers))
        found, candidates = run_together(side.client, *plans)
        return found, {c: matcher.match(c, rows) for c, rows in candidates.items()}

    return prime
