"""The ledger state one reconcile leaves a record in, written to the store and logged.

Each outcome of a reconcile names the state the record is now in (see
:mod:`cosell.store.ledger`): synced, held (edits wait for accept), waiting for data (the
missing field), skipped by a rule (which rule, the setting that changes it), refused by a side,
conflict, closed, expired before sync. A change of state is logged once (info when the record
is fine, warning when it needs someone); an unchanged state writes and logs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cosell.redaction import redact_text
from cosell.store.records import LedgerState, LedgerUpdate
from cosell.sync.core.plan import ON_HOLD, Plan

if TYPE_CHECKING:
    from cosell.sync.engine.context import Context

log = logging.getLogger("cosell.sync.ledger")

FINE: frozenset[LedgerState] = frozenset({"synced", "held", "closed"})
"""States that need nobody (logged at info)."""
KINDS_SETTING = "partner_center.incoming_kinds"
HOLD_REASON = "on hold: edits wait for the referral to be accepted in Partner Center"


class Recorder:
    """Writes the states of one reconcile's pair; ``recorded`` says whether it wrote any."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.recorded = False

    def put(self, update: LedgerUpdate) -> None:
        self.recorded = True
        if self.ctx.store.record_state(self.ctx.tenant, update):
            log_state(update)

    def known(self, record_id: str) -> LedgerState | None:
        row = self.ctx.store.ledger_for(self.ctx.tenant, record_id)
        return None if row is None else row.state


def skipped(referral_id: str, decided: Plan) -> LedgerUpdate:
    """A referral a rule leaves out: the rule's words, and the setting that imports it."""
    message = "; ".join(s.reason for s in decided.skipped)
    what, _, fix = message.partition("; add ")
    setting = KINDS_SETTING if KINDS_SETTING in fix else None
    return LedgerUpdate("skipped", referral_id, reason=what, setting=setting)


def waiting(
    fields: Iterable[str], reason: str, referral_id: str | None, opportunity_id: str | None
) -> LedgerUpdate:
    """Partner Center needs data the record lacks: the missing fields are the setting."""
    names = ", ".join(sorted(set(fields))) or None
    return LedgerUpdate("waiting", referral_id, opportunity_id, reason=reason, setting=names)


def settled(
    decided: Plan,
    referral_id: str,
    opportunity_id: str,
    *,
    conflicts: int,
    closed: str | None,
    notice: str | None,
) -> LedgerUpdate:
    """After a successful merge: conflict, held, closed or synced."""
    ids = (referral_id, opportunity_id)
    if conflicts:
        reason = f"{conflicts} field(s) changed differently on both sides: a person decides"
        return LedgerUpdate("conflict", *ids, reason=reason, setting="cosell conflicts")
    held = sorted({s.field for s in decided.skipped if s.reason == ON_HOLD})
    if held:
        reason = notice if notice and notice.startswith("Held") else HOLD_REASON
        return LedgerUpdate("held", *ids, reason=reason, setting=", ".join(held))
    if closed is not None:
        return LedgerUpdate("closed", *ids, reason=closed)
    return LedgerUpdate("synced", *ids)


def log_state(update: LedgerUpdate) -> None:
    """One line per state change, with ids and the reason (never a secret)."""
    level = logging.INFO if update.state in FINE else logging.WARNING
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "record state=%s referral=%s opportunity=%s reason=%s setting=%s",
        update.state,
        update.referral_id or "-",
        update.opportunity_id or "-",
        redact_text(update.reason) or "-",
        update.setting or "-",
    )
