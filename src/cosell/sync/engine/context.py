"""What the engine's helpers work with: a frozen :class:`Context` and the :class:`Snapshot` read.

The helpers (reconcile, record status, related rows, account review) take the context rather
than the engine, so they need not import it and the engine imports them alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosell.clock import Clock
from cosell.store.records import Link, TenantId
from cosell.store.sql import Store
from cosell.sync.core.loops import LoopLimits
from cosell.sync.core.mapping import SyncMapping
from cosell.sync.core.records import Value
from cosell.sync.sides.crm import CrmSide
from cosell.sync.sides.crm_record import CrmRecord
from cosell.sync.sides.partner_center import PartnerCenterSide, PcRecord
from cosell.sync.sides.salesforce.accounts import ReadMatch, customer_of, normalise
from cosell.sync.sides.salesforce.schema import CrmSchema

if TYPE_CHECKING:
    from cosell.sync.engine.rebase import Move


@dataclass(frozen=True)
class Context:
    """The store, tenant, both sides and clock one engine reconciles with."""

    store: Store
    tenant: TenantId
    pc: PartnerCenterSide
    crm: CrmSide
    clock: Clock
    schema: CrmSchema
    mapping: SyncMapping
    moved: dict[str, Move] = field(default_factory=dict)
    """Fields the mapping moved since links were made (see :mod:`cosell.sync.engine.rebase`)."""
    loops: LoopLimits = field(default_factory=LoopLimits)
    """When a pair that keeps writing is parked (see :mod:`cosell.sync.core.loops`)."""


@dataclass
class Snapshot:
    """Both sides as read now, with the link that ties them (if any)."""

    link: Link | None
    pc: PcRecord | None
    crm: CrmRecord | None
    pc_values: dict[str, Value] | None = None
    crm_values: dict[str, Value] | None = None
    link_found_late: bool = False
    """The link turned up only after the sides were read (through the other record): a
    reconcile may have committed it meanwhile, so the sides may predate its base."""
    account_match: ReadMatch | None = None
    """The customer's account match, read with the lookup of a referral no opportunity holds
    (Salesforce); the create of this snapshot's round uses it while it still serves."""
    made_here: bool = False
    """The link was made by this reconcile's previous round (the pair had none before): no loop
    streak and no conflict can be stored for it yet (the pair's locks are held throughout)."""
    deleted_opportunity: str | None = None
    """The opportunity an earlier attempt of this referral's create made, found in the CRM's
    recycle bin: a person deleted it before the link recorded it, and it is not made again."""

    @property
    def linked(self) -> bool:
        return bool(self.link and self.link.referral_id and self.link.opportunity_id)

    def keys(self) -> set[str]:
        """The record keys of the pair as read (see :mod:`cosell.sync.engine.pair_locks`), and
        while the referral has no opportunity yet its customer's (``customer_key``)."""
        keys = link_keys(self.link)
        if self.pc is not None:
            keys.add(f"referral:{self.pc.id}")
        if self.crm is not None:
            keys.add(f"opportunity:{self.crm.id}")
        elif self.pc is not None and not (self.link and self.link.opportunity_id):
            customer = customer_key(self.pc.raw)
            if customer is not None:
                keys.add(customer)
        return keys


def customer_key(referral: Mapping[str, Any]) -> str | None:
    """The lock name of a referral's customer: two reconciles about to create an opportunity
    (and perhaps its account) for one customer run one after the other, so the second matches
    the account the first created instead of creating another."""
    name = normalise(customer_of(referral).name)
    return f"customer:{name}" if name else None


def link_keys(link: Link | None) -> set[str]:
    """The record keys a stored link (or create intent) names."""
    if link is None:
        return set()
    ids = (("referral", link.referral_id), ("opportunity", link.opportunity_id))
    return {f"{kind}:{record_id}" for kind, record_id in ids if record_id}
