"""The reconciler: the work queue's handler for ``referral:<id>`` and ``opportunity:<id>`` keys.

One reconcile resolves the link from the store, reads both sides *now*, plans against the stored
base (pure), makes guarded writes and commits the link, the new base and the audit rows in one
transaction. The key carries no data, so lost, duplicated or reordered signals cannot corrupt
anything: the next run reads the truth again. A create first records its intent in the store,
looks the record up by its idempotency key, and only then creates; the link is committed right
after, and a second round writes back what the create produced (ids, links).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from cosell.clients.hubspot import HubSpotClient
from cosell.clients.partner_center import PartnerCenterClient
from cosell.clients.referral import same_change
from cosell.clients.salesforce import SalesforceClient
from cosell.clock import Clock
from cosell.errors import ConfigError, CosellError, StaleWrite
from cosell.queue.protocol import KeyKind, parse_key
from cosell.settings import Settings
from cosell.store.records import AuditEntry, Job, Link, LinkUpdate, SignalScope, TenantId
from cosell.store.sql import Store
from cosell.sync.core import name_marker, solutions, team
from cosell.sync.core.loops import LoopLimits
from cosell.sync.core.mapping import SyncMapping, default_mapping, load_mapping
from cosell.sync.core.pending import PENDING_KEY, has_pending
from cosell.sync.core.plan import PlanFacts, default_close_date, plan
from cosell.sync.core.translate import from_crm, from_partner_center, referral_kind
from cosell.sync.engine import rebase
from cosell.sync.engine.context import Context, Snapshot, link_keys
from cosell.sync.engine.loop_guard import is_parked
from cosell.sync.engine.pair_locks import Held, KeyLocks, key_locks_for
from cosell.sync.engine.reconcile import Reconcile
from cosell.sync.sides.crm import CrmSide
from cosell.sync.sides.hubspot.mapping import hubspot_mapping
from cosell.sync.sides.hubspot.side import HubSpotSide
from cosell.sync.sides.partner_center import PartnerCenterSide, PcRecord
from cosell.sync.sides.salesforce.accounts import ReadMatch, customer_of
from cosell.sync.sides.salesforce.schema import CrmSchema, describe_org
from cosell.sync.sides.salesforce.side import CrmRecord
from cosell.sync.sides.salesforce.side import CrmSide as SalesforceSide


class StillRefused(CosellError):
    """A dead-lettered key whose reconcile settled nothing: it stays a dead letter as it was."""


class EngineParts(Protocol):
    """What the engine takes from a running service (``cosell.service.parts.ServiceParts``)."""

    @property
    def store(self) -> Store: ...
    @property
    def tenant(self) -> TenantId: ...
    @property
    def partner_center(self) -> PartnerCenterClient: ...
    @property
    def salesforce(self) -> SalesforceClient | None: ...
    @property
    def hubspot(self) -> HubSpotClient | None: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...


UNSETTLED = frozenset({"refused", "waiting", "expired"})
"""Ledger states only a successful reconcile may leave."""
MAX_ROUNDS = 3
"""A create is followed by one more round (write back ids); more means something is wrong."""
MAX_STALE = 3
"""Re-reads after a 412 inside one reconcile (the queue adds its own on top)."""


@dataclass
class EngineStats:
    """Counts for tests and benchmarks (workers share one engine, hence the lock)."""

    reconciles: int = 0
    creates: int = 0
    rereads: int = 0
    pair_waits: int = 0
    parked_skips: int = 0
    signals_seen: int = 0
    """Keys one side signalled that stopped after reading that side (nothing new there)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, times: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + times)


class Engine:
    """Reconciles one key at a time; thread-safe (all state is in the store and the remotes)."""

    def __init__(
        self,
        *,
        store: Store,
        tenant: TenantId,
        partner_center: PartnerCenterSide,
        crm: CrmSide,
        clock: Clock,
        loops: LoopLimits | None = None,
    ) -> None:
        self.store = store
        self.tenant = tenant
        self.pc = partner_center
        self.crm = crm
        self.clock = clock
        self.schema: CrmSchema = crm.schema
        self.mapping: SyncMapping = crm.schema.mapping
        self.stats = EngineStats()
        self.pairs: KeyLocks = key_locks_for(store, tenant)
        moved = rebase.pending(store, tenant, self.mapping, clock.now()).moved
        self.context = Context(
            store,
            tenant,
            partner_center,
            crm,
            clock,
            self.schema,
            self.mapping,
            moved,
            loops or LoopLimits(),
        )
        self._applied = False
        self._applying = threading.Lock()

    @classmethod
    def build(
        cls,
        *,
        store: Store,
        tenant: TenantId,
        partner_center: PartnerCenterClient,
        salesforce: SalesforceClient,
        mapping: SyncMapping,
        clock: Clock,
        loops: LoopLimits | None = None,
    ) -> Engine:
        """An engine over two clients: describes the org once and fits the mapping to it."""
        schema = describe_org(salesforce, mapping)
        crm = SalesforceSide(salesforce, schema, clock)
        pc = PartnerCenterSide(partner_center)
        return cls(store=store, tenant=tenant, partner_center=pc, crm=crm, clock=clock, loops=loops)

    @classmethod
    def on_hubspot(
        cls,
        *,
        store: Store,
        tenant: TenantId,
        partner_center: PartnerCenterClient,
        hubspot: HubSpotClient,
        mapping: SyncMapping,
        clock: Clock,
        pipeline: str = "default",
        loops: LoopLimits | None = None,
    ) -> Engine:
        """An engine whose CRM side is a HubSpot portal's deals."""
        crm = HubSpotSide(hubspot, mapping, clock.now, pipeline=pipeline)
        pc = PartnerCenterSide(partner_center)
        return cls(store=store, tenant=tenant, partner_center=pc, crm=crm, clock=clock, loops=loops)

    @classmethod
    def from_parts(cls, parts: EngineParts) -> Engine:
        """The engine of a running service (see ``cosell.service.runtime``), on the CRM that
        ``sync.crm`` names."""
        if parts.settings.sync.crm == "hubspot":
            if parts.hubspot is None:
                raise ConfigError(
                    "sync.crm", "hubspot is configured but no HubSpot client was built"
                )
            return cls.on_hubspot(
                store=parts.store,
                tenant=parts.tenant,
                partner_center=parts.partner_center,
                hubspot=parts.hubspot,
                mapping=mapping_from_settings(parts.settings),
                clock=parts.clock,
                pipeline=parts.settings.hubspot.pipeline,
                loops=loop_limits(parts.settings),
            )
        if parts.salesforce is None:
            raise ConfigError(
                "sync.crm", "salesforce is configured but no Salesforce client was built"
            )
        return cls.build(
            store=parts.store,
            tenant=parts.tenant,
            partner_center=parts.partner_center,
            salesforce=parts.salesforce,
            mapping=mapping_from_settings(parts.settings),
            clock=parts.clock,
            loops=loop_limits(parts.settings),
        )

    # --- the queue handler -----------------------------------------------------------------------

    def reconcile(self, job: Job) -> None:
        """The work queue's handler. A key one side's signal queued (and nothing else) looks at
        that side first, on its first run (a retry looks at both)."""
        if job.attempts > 1:
            self.reconcile_key(job.key, "both")
        else:
            self.reconcile_key(job.key, job.scope, job.change_time)

    def reconcile_key(
        self, key: str, scope: SignalScope = "both", change_time: str | None = None
    ) -> None:
        """Bring the pair behind ``key`` into agreement (re-reading after a 412, bounded).

        With a ``scope`` of one side, a settled pair (linked, last synced, nothing in flight,
        no mapping move to apply) whose signalled side has nothing new (see
        :meth:`_signalled_side`) stops after reading that side: the signal is cosell's own
        write coming back (Partner Center's webhook for cosell's PATCH, the poll's sight of an
        opportunity cosell wrote, its re-check once the second has settled), and the other side
        has signals of its own (webhooks and the sweep; the polls). Otherwise that read serves
        the reconcile. A Partner Center signal naming the change the pair last committed
        (``change_time``, its webhook's ``ResourceChangeUtcDate``) is that write coming back
        without a read at all: the webhook came before the commit, so the receiver could not
        tell; with the pair's locks held, the commit is done and it can be."""
        self.apply_mapping()
        kind, record_id = parse_key(key)
        link = self._link(kind, record_id)
        if is_parked(self.store, self.tenant, link):
            # Parked as a loop: no call for it until a person resumes it (cosell retry).
            self.stats.count("parked_skips")
            return
        with (
            self.pairs.hold(*_pair_keys(kind, record_id, link)) as held,
            self.pc.correlated() as correlation_id,
        ):
            looked = (
                None
                if scope == "both"
                else self._signalled_side(kind, record_id, scope, change_time)
            )
            if isinstance(looked, Seen):
                self.stats.count("signals_seen")
                return
            known = looked
            signal = None if scope == "both" else Signal(scope, change_time)
            for attempt in range(MAX_STALE):
                try:
                    self._rounds(kind, record_id, correlation_id, held, known, signal)
                    return
                except SeenAfterWait:
                    self.stats.count("signals_seen")
                    return
                except StaleWrite:
                    known = None
                    self.stats.count("rereads")
                    if attempt == MAX_STALE - 1:
                        raise

    def _signalled_side(
        self, kind: KeyKind, record_id: str, scope: SignalScope, change_time: str | None = None
    ) -> Unchanged | Seen | None:
        """The signalled side read, or :data:`SEEN` when it has nothing new for the settled
        pair: the referral's eTag is the one committed; the opportunity holds the base's values
        (its stamp may have moved: cosell's own writes do not return it)."""
        link = self._link(kind, record_id)
        if link is None or not self._settled(link, f"{kind}:{record_id}"):
            return None
        assert link.referral_id is not None
        assert link.opportunity_id is not None
        if scope == "partner_center":
            if same_change(change_time, link.pc_changed_at):
                return SEEN
            pc = self.pc.read(link.referral_id)
            if pc is not None and link.pc_etag is not None and pc.etag == link.pc_etag:
                return SEEN
            return Unchanged(pc=pc) if pc is not None else None
        crm = self.crm.read_fresh(link.opportunity_id, link.updated_at)
        crm = crm or self.crm.read(link.opportunity_id)
        if crm is None:
            return None
        if crm.modstamp is None or not self._holds_base(link, crm):
            return Unchanged(crm=crm)
        # Cosell's own write (where it was not read back) or an edit of no synced value: the
        # versions read are remembered, as a reconcile that plans nothing does, so the polls
        # tell this version from a later change.
        self._remember_versions(link, crm)
        return SEEN

    def remember_written(self, crm: CrmRecord) -> None:
        """The opportunity as a round's own update read it back (in the update's request):
        when it holds the base the round committed, its versions are remembered, so the polls
        know cosell's write by them and no reconcile reads it again. When it does not (CRM
        automation changed a synced value as it saved), the poll finds it as a change."""
        link = self.store.link_by_opportunity(self.tenant, crm.id)
        if link is None or PENDING_KEY in link.base or crm.modstamp is None:
            return
        if self._holds_base(link, crm):
            self._remember_versions(link, crm)

    def _remember_versions(self, link: Link, crm: CrmRecord) -> None:
        versions = (crm.modstamp, crm.versions, crm.fingerprint)
        if versions == (link.crm_modstamp, link.crm_rows, link.crm_fingerprint):
            return
        update = LinkUpdate(
            link_id=link.id,
            crm_modstamp=crm.modstamp,
            crm_rows=dict(crm.versions),
            crm_read_at=crm.read_at,
            crm_fingerprint=crm.fingerprint,
        )
        self.store.commit_sync(self.tenant, update, [])

    def _settled(self, link: Link, key: str) -> bool:
        """Linked, last synced, no write in flight, no create half-made, no dead letter, and no
        mapping move waiting to re-base it."""
        if link.state != "linked" or link.intent is not None or PENDING_KEY in link.base:
            return False
        if not (link.referral_id and link.opportunity_id) or self.context.moved:
            return False
        row = self.store.ledger_for(self.tenant, link.referral_id)
        if row is None or row.state != "synced":
            return False
        return self.store.dead_letter_for(self.tenant, key) is None

    def _holds_base(self, link: Link, crm: CrmRecord) -> bool:
        """The opportunity's values are the pair's base: planned against a Partner Center that
        holds the base, nothing is written, skipped or in conflict."""
        snapshot = self._translated(Snapshot(link, None, crm))
        assert snapshot.crm_values is not None
        base = dict(link.base)
        decided = plan(base, base, snapshot.crm_values, self.mapping, self.facts(snapshot))
        return not (decided.has_writes or decided.skipped or decided.conflicts)

    def apply_mapping(self) -> None:
        """Record the configured mapping as the store's last applied one (once per engine): a
        field it moved is re-based on each existing link at its next reconcile."""
        if self._applied:
            return
        with self._applying:
            if not self._applied:
                applied = rebase.apply(self.store, self.tenant, self.mapping, self.clock.now())
                self.context = replace(self.context, moved=dict(applied.moved))
                self._applied = True

    def _rounds(
        self,
        kind: KeyKind,
        record_id: str,
        correlation_id: str,
        held: Held,
        known: Unchanged | None = None,
        signal: Signal | None = None,
    ) -> None:
        self.stats.count("reconciles")
        pending: list[AuditEntry] = []
        recorded = False
        for _ in range(MAX_ROUNDS):
            snapshot = self._read_held(kind, record_id, held, known, signal)
            signal = None  # a later round reads what this one wrote
            step = Reconcile(
                self.context,
                snapshot,
                self.facts(snapshot),
                correlation_id,
                pending,
                claim=lambda key: held.claim([key]),
            )
            created = step.run()
            committed = step.committed
            if step.crm_after is not None:
                self.remember_written(step.crm_after)
                committed = None  # it may have written the link after the round's commit
            recorded = recorded or step.ledger.recorded
            if not created:
                break
            self.stats.count("creates")
            pending = step.carried
            known = Unchanged(step.crm_unchanged, step.pc_unchanged, step.made_link, committed)
        if not recorded:
            self._keep_dead_letter(f"{kind}:{record_id}")

    def _keep_dead_letter(self, key: str) -> None:
        """A pass that settled nothing (the record is gone, or not ours to sync) does not clear
        a dead letter: only a reconcile that succeeded does."""
        letter = self.store.dead_letter_for(self.tenant, key)
        reason = letter.reason if letter is not None else None
        if reason is None:
            # A retry takes the dead letter off before the run: the ledger still knows.
            row = self.store.ledger_for(self.tenant, parse_key(key)[1])
            if row is not None and row.state in UNSETTLED:
                reason = row.raw or row.reason
        if reason is not None:
            raise StillRefused(reason.removeprefix(f"{StillRefused.__name__}: "))

    # --- reading ---------------------------------------------------------------------------------

    def read(
        self,
        kind: KeyKind,
        record_id: str,
        link: Link | None = None,
        known: Unchanged | None = None,
    ) -> Snapshot:
        """Resolve the link (unless given, or ``known`` as the round before committed it) and
        read both sides now (a side is ``known`` when the round before read it and wrote
        nothing to it)."""
        link = link or _committed(known, kind, record_id) or self._link(kind, record_id)
        referral_id = _first(link.referral_id if link else None, _if(kind == "referral", record_id))
        opp_id = _first(
            link.opportunity_id if link else None, _if(kind == "opportunity", record_id)
        )
        if known is not None and known.crm is not None and known.crm.id == opp_id:
            crm: CrmRecord | None = known.crm
        else:
            crm = self._read_crm(opp_id, link) if opp_id else None
        if referral_id is None and crm is not None:
            referral_id = _text(crm.opportunity.get(self.schema.names.referral_id_field))
        if known is not None and known.pc is not None and known.pc.id == referral_id:
            pc: PcRecord | None = known.pc
        else:
            pc = self.pc.read(referral_id) if referral_id else None
        matched: ReadMatch | None = None
        deleted: str | None = None
        if crm is None and pc is not None and opp_id is None:
            crm, matched = self._opportunity_for(pc)
            if crm is None and _creating_in_crm(link):
                # An earlier attempt may have made the opportunity, and a person deleted it
                # before the link recorded it: the idempotency lookup looks in the bin too.
                deleted = self.crm.find_deleted_by_referral(pc.id)
        found = link or self._other_link(pc, crm, f"{kind}:{record_id}")
        late = link is None and found is not None
        made = known is not None and found is not None and found.id == known.made
        snapshot = Snapshot(
            found,
            pc,
            crm,
            link_found_late=late,
            account_match=matched,
            made_here=made,
            deleted_opportunity=deleted,
        )
        return self._translated(snapshot)

    def read_unlinked(self, pc: PcRecord) -> Snapshot | None:
        """The snapshot :meth:`read` makes of a referral the store has no link for, when no
        opportunity holds it and it was not created from one (None otherwise)."""
        crm, matched = self._opportunity_for(pc)
        if crm is not None:
            return None
        return self._translated(Snapshot(None, pc, None, account_match=matched))

    def _read_crm(self, opportunity_id: str, link: Link | None) -> CrmRecord | None:
        """The opportunity now: as the poll just read it, when it did so after the link's last
        commit (nothing cosell wrote since), else read."""
        read_after = link.updated_at if link is not None else datetime.min.replace(tzinfo=UTC)
        fresh = self.crm.read_fresh(opportunity_id, read_after)
        return fresh if fresh is not None else self.crm.read(opportunity_id)

    def pair_keys(self, kind: KeyKind, record_id: str) -> set[str]:
        """The record keys to lock before reading: the key and those its stored link names."""
        return _pair_keys(kind, record_id, self._link(kind, record_id))

    def _read_held(
        self,
        kind: KeyKind,
        record_id: str,
        held: Held,
        known: Unchanged | None = None,
        signal: Signal | None = None,
    ) -> Snapshot:
        """Read with every key of the pair locked: a key the read reveals (an opportunity's
        referral, a record just created) is locked too, and the read repeated when that meant
        waiting for another reconcile of the pair. A one-side ``signal`` is looked at again
        after such a wait, as if it had come then (see :meth:`_signalled_side`): the reconcile
        waited for may have been the one that wrote what it signals (Partner Center's webhook
        for a referral cosell was still creating, when it came before the create's claim)."""
        snapshot = self.read(kind, record_id, known=known) if known else self.read(kind, record_id)
        while True:
            if held.widen(snapshot.keys()):
                self.stats.count("pair_waits")
                looked = None
                if signal is not None:
                    looked = self._signalled_side(kind, record_id, signal.scope, signal.change_time)
                if isinstance(looked, Seen):
                    raise SeenAfterWait
                snapshot = self.read(kind, record_id, known=looked)
            elif snapshot.link_found_late and (link := self._refreshed(snapshot.link)):
                # Every key is held now: read the sides again after the link, as usual.
                snapshot = self.read(kind, record_id, link)
            else:
                return snapshot

    def _refreshed(self, link: Link | None) -> Link | None:
        if link is None:
            return None
        if link.referral_id:
            return self.store.link_by_referral(self.tenant, link.referral_id)
        return self.store.link_by_opportunity(self.tenant, link.opportunity_id or "")

    def _link(self, kind: KeyKind, record_id: str) -> Link | None:
        if kind == "referral":
            return self.store.link_by_referral(self.tenant, record_id)
        return self.store.link_by_opportunity(self.tenant, record_id)

    def _other_link(self, pc: PcRecord | None, crm: CrmRecord | None, looked: str) -> Link | None:
        """The link of a record the read found, by the side it was not looked up by
        (``looked``: the key whose link was just read, and is not there)."""
        if pc is not None and f"referral:{pc.id}" != looked:
            found = self.store.link_by_referral(self.tenant, pc.id)
            if found is not None:
                return found
        if crm is None or f"opportunity:{crm.id}" == looked:
            return None
        return self.store.link_by_opportunity(self.tenant, crm.id)

    def _opportunity_for(self, pc: PcRecord) -> tuple[CrmRecord | None, ReadMatch | None]:
        """The opportunity of a referral we have no link for: one holding its id (a CRM create
        whose commit was lost), or the one it was created from (``externalReferenceId``, a
        referral create whose commit was lost). On Salesforce the customer's account match is
        read in the same call, since a referral no opportunity holds is about to be created."""
        matched: ReadMatch | None = None
        if isinstance(self.crm, SalesforceSide) and not pc.is_microsofts:
            found, matched = self.crm.find_by_referral_matching(pc.id, customer_of(pc.raw))
        else:
            found = self.crm.find_by_referral(pc.id)
        if found is None and pc.external_reference_id:
            found = self._created_from(pc.external_reference_id)
        return (self.crm.read(found) if found else None), matched

    def _created_from(self, external_id: str) -> str | None:
        if self.store.link_by_opportunity(self.tenant, external_id) is not None:
            return external_id
        return external_id if self.crm.is_record_id(external_id) else None

    def _translated(self, snapshot: Snapshot) -> Snapshot:
        if snapshot.pc is not None:
            snapshot.pc_values = from_partner_center(snapshot.pc.wire, self.mapping)
        if snapshot.crm is not None:
            related = snapshot.crm.related(self.schema.names, self._rows_before(snapshot))
            if related.team is not None and snapshot.crm.team is not None:
                pc_team = (snapshot.pc.raw.get("team") if snapshot.pc else None) or []
                users = _users_if_needed(snapshot.crm, pc_team)
                related = replace(related, team=team.crm_view(snapshot.crm.team, pc_team, users))
            agreed = snapshot.link.base if snapshot.link is not None else None
            opportunity = name_marker.unmarked(snapshot.crm.opportunity, self.mapping, agreed)
            snapshot.crm_values = from_crm(opportunity, related, self.mapping)
        return snapshot

    def _rows_before(self, snapshot: Snapshot) -> list[str] | None:
        """The solution rows' ids at the last sync (see :mod:`cosell.sync.core.solutions`)."""
        if not snapshot.linked or snapshot.link is None:
            return None
        before = snapshot.link.base.get(solutions.ROWS_KEY)
        return [str(v) for v in before] if isinstance(before, list) else None

    def facts(self, snapshot: Snapshot) -> PlanFacts:
        """What the planner needs beyond field values (sync flag, direction, link)."""
        pc, crm = snapshot.pc, snapshot.crm
        flag = self.schema.names.sync_flag_field
        enabled = bool(crm.opportunity.get(flag)) if crm is not None else True
        direction: Literal["incoming", "outgoing"] | None = None
        if pc is not None:
            direction = "incoming" if pc.direction == "Incoming" else "outgoing"
        elif crm is not None:
            direction = "outgoing"
        return PlanFacts(
            sync_enabled=enabled,
            direction=direction,
            link_exists=snapshot.linked,
            referral_kind=referral_kind(pc.wire) if pc is not None else None,
            default_close_date=default_close_date(self.clock.now().date()),
        )


@dataclass(frozen=True)
class Unchanged:
    """The sides as the round before read them, where it wrote nothing to them: the next round
    plans on them instead of reading them again. Every write stays guarded by what was read
    (Partner Center's eTag, the opportunity's ``LastModifiedDate``), so an edit made meanwhile
    answers 412 and the pair is read again."""

    crm: CrmRecord | None = None
    pc: PcRecord | None = None
    made: int | None = None
    """The link the round before made (the pair had none): it carries no loop streak and no
    conflict yet, so the next round asks the store for neither."""
    link: Link | None = None
    """The link as the round before committed it, its last write to the link: the next round
    starts from it instead of reading it again (the pair's locks are held throughout, so what
    a read would give is this)."""


class Seen:
    """A signal about the version already reconciled (see :meth:`Engine.reconcile_key`)."""


SEEN = Seen()


@dataclass(frozen=True)
class Signal:
    """The side a reconcile's signal came from, and the change it named."""

    scope: SignalScope
    change_time: str | None = None


class SeenAfterWait(Exception):
    """The signal was about what the reconcile it waited for wrote (see ``_read_held``)."""


def _creating_in_crm(link: Link | None) -> bool:
    """The link holds an opportunity create that an earlier attempt began (and may have made):
    its intent, with the base the create was about to commit (a referral parked for a person's
    choice of account records the intent alone, and made nothing)."""
    if link is None or link.intent is None or link.intent.side != "crm":
        return False
    return has_pending(link.base)


def _committed(known: Unchanged | None, kind: KeyKind, record_id: str) -> Link | None:
    """The link the round before committed, when it is the one of ``kind:record_id``."""
    link = known.link if known is not None else None
    if link is None:
        return None
    named = link.referral_id if kind == "referral" else link.opportunity_id
    return link if named == record_id else None


def _users_if_needed(crm: CrmRecord, pc_team: list[dict[str, object]]) -> frozenset[str]:
    """The active users' emails, read only when a Partner Center member is not on the team
    (only those are matched against users, see :func:`cosell.sync.core.team.crm_view`)."""
    on_team = {team.email_of(row) for row in crm.team or []}
    emails = {team.email_of(member, "email") for member in pc_team} - {""}
    return frozenset(crm.users) if emails - on_team else frozenset()


def _pair_keys(kind: KeyKind, record_id: str, link: Link | None) -> set[str]:
    return {f"{kind}:{record_id}", *link_keys(link)}


def _if(condition: bool, value: str) -> str | None:
    return value if condition else None


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _text(value: object) -> str | None:
    return str(value) if value else None


# --- wiring ------------------------------------------------------------------------------------


def mapping_from_settings(settings: Settings) -> SyncMapping:
    """The configured mapping file, or the shipped default for the configured CRM."""
    path = settings.sync.mapping_file
    if path is not None:
        return load_mapping(path)
    return hubspot_mapping() if settings.sync.crm == "hubspot" else default_mapping()


def loop_limits(settings: Settings) -> LoopLimits:
    """When a pair that keeps writing is parked (``sync.loop_writes``, ``loop_gap_seconds``)."""
    return LoopLimits(writes=settings.sync.loop_writes, gap_seconds=settings.sync.loop_gap_seconds)


def queue_handler(parts: EngineParts) -> Callable[[Job], None]:
    """The handler ``cosell run`` gives its work queue (see ``cosell.cli.run``)."""
    return Engine.from_parts(parts).reconcile
