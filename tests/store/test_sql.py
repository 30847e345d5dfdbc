from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from cosell.clock import ManualClock
from cosell.store import AuditEntry, LinkUpdate, Store
from cosell.store.database import READ_ONLY
from cosell.store.records import LedgerUpdate, Link
from cosell.store.sql import BlockRolledBack


class InjectedFailure(Exception):
    pass


def test_ensure_tenant_returns_one_id_per_name(store: Store) -> None:
    acme = store.ensure_tenant("acme")
    assert store.ensure_tenant("acme") == acme
    assert store.ensure_tenant("globex") != acme


def test_commit_sync_writes_link_base_cursor_and_audit(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    entry = AuditEntry("to_crm", "synced", field="name", old="Old", new="New")
    link = store.commit_sync(
        tenant,
        LinkUpdate(referral_id="R1", opportunity_id="006A", base={"name": "New"}, pc_etag="e1"),
        [entry],
        {"pc": "2026-01-01T00:00:00Z"},
    )
    assert store.link_by_referral(tenant, "R1") == link
    assert store.link_by_opportunity(tenant, "006A") == link
    assert (link.base, link.pc_etag, link.state) == ({"name": "New"}, "e1", "linked")
    assert store.get_cursor(tenant, "pc") == "2026-01-01T00:00:00Z"
    [row] = store.audit_for(tenant, "R1")
    assert (row.referral_id, row.opportunity_id, row.old, row.new) == ("R1", "006A", "Old", "New")


def test_commit_sync_updates_only_the_given_columns(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    first = store.commit_sync(tenant, LinkUpdate(referral_id="R1", base={"a": 1}, pc_etag="e1"), [])
    clock.advance(5)
    second = store.commit_sync(tenant, LinkUpdate(referral_id="R1", crm_modstamp="m2"), [])
    assert second.id == first.id
    assert (second.base, second.pc_etag, second.crm_modstamp) == ({"a": 1}, "e1", "m2")
    assert second.updated_at > first.updated_at == second.created_at


def test_a_link_is_written_and_read_back_in_one_statement(store: Store) -> None:
    """Writing a link returns it as stored (``RETURNING``): found, then written, never read
    again after (a backfill writes a link a record several times)."""
    tenant = store.ensure_tenant("acme")
    store.commit_sync(tenant, LinkUpdate(referral_id="R1", base={"a": 1}), [])
    links_sql: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if " links" in statement.lower():
            links_sql.append(statement.split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", seen)
    link = store.commit_sync(tenant, LinkUpdate(referral_id="R1", opportunity_id="006A"), [])

    assert links_sql == ["SELECT", "UPDATE"]
    assert (link.referral_id, link.opportunity_id, link.base) == ("R1", "006A", {"a": 1})
    assert store.link_by_opportunity(tenant, "006A") == link


def test_a_batch_of_links_is_read_in_one_statement_by_either_id(store: Store) -> None:
    """A backfill looks up the links of a whole batch at once: those that exist, by the id
    asked for, none of another tenant's."""
    tenant, other = store.ensure_tenant("acme"), store.ensure_tenant("globex")
    store.commit_sync(tenant, LinkUpdate(referral_id="R1", opportunity_id="006A"), [])
    store.commit_sync(tenant, LinkUpdate(referral_id="R2"), [])
    store.commit_sync(other, LinkUpdate(referral_id="R3", opportunity_id="006C"), [])
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    by_referral = store.links_by_referral(tenant, ["R1", "R2", "R3", "R9"])
    by_opportunity = store.links_by_opportunity(tenant, ["006A", "006C"])

    assert [s.split()[0] for s in statements if " links" in s] == ["SELECT", "SELECT"]
    assert sorted(by_referral) == ["R1", "R2"]
    assert by_referral["R1"] == store.link_by_referral(tenant, "R1")
    assert by_referral["R2"].opportunity_id is None
    assert list(by_opportunity) == ["006A"]
    assert by_opportunity["006A"] == by_referral["R1"]


def test_links_of_more_keys_than_an_in_list_holds_are_all_found(store: Store) -> None:
    """More ids than one statement takes (PostgreSQL allows 65,535 parameters, SQLite 32,766
    unless built with more) are read a thousand at a time, none lost."""
    tenant = store.ensure_tenant("acme")
    ids = [f"R{n}" for n in range(2_500)]
    for referral_id in ids[::2]:
        store.commit_sync(tenant, LinkUpdate(referral_id=referral_id), [])

    found = store.links_by_referral(tenant, ids + [f"X{n}" for n in range(70_000)])

    assert sorted(found) == sorted(ids[::2])


def _fail_on_audit_insert(store: Store) -> None:
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT"):
            raise InjectedFailure("disk full")

    event.listen(store.engine, "before_cursor_execute", before)


def test_commit_sync_is_atomic(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.set_cursor(tenant, "pc", "old")
    _fail_on_audit_insert(store)
    with pytest.raises(InjectedFailure):
        store.commit_sync(
            tenant,
            LinkUpdate(referral_id="R1", opportunity_id="006A", base={"name": "x"}),
            [AuditEntry("to_crm", "synced", field="name", new="x")],
            {"pc": "new"},
        )
    assert store.link_by_referral(tenant, "R1") is None
    assert store.get_cursor(tenant, "pc") == "old"
    assert store.recent_audit(tenant) == []


def test_record_create_intent_is_idempotent(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    first = store.record_create_intent(tenant, "partner_center", "006A", "key-1")
    again = store.record_create_intent(tenant, "partner_center", "006A", "key-2")
    assert again == first
    assert first.intent is not None
    assert (first.intent.side, first.intent.key) == ("partner_center", "key-1")
    assert (first.opportunity_id, first.referral_id) == ("006A", None)
    assert first.state == "pending_create"


def test_an_intent_is_one_insert_holding_the_base_the_record_will_be_created_with(
    store: Store,
) -> None:
    tenant = store.ensure_tenant("acme")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip().split()[0].upper())

    sa.event.listen(sa.Engine, "before_cursor_execute", seen)
    try:
        link = store.record_create_intent(tenant, "crm", "R1", "referral:R1", {"name": "x"})
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", seen)
    assert statements == ["INSERT"]  # no read first: the insert does nothing if a link exists
    assert (link.base, link.state, link.referral_id) == ({"name": "x"}, "pending_create", "R1")
    assert link.intent is not None
    assert link.intent.key == "referral:R1"

    again = store.record_create_intent(tenant, "crm", "R1", "referral:R1-again", {"name": "y"})
    assert again.intent is not None
    assert again.intent.key == "referral:R1"
    assert again.base == {"name": "y"}
    assert store.link_by_referral(tenant, "R1") == again


def test_a_batchs_intents_are_one_insert_and_each_is_as_its_own_intent_would_be(
    store: Store,
) -> None:
    """A batch's new intents go in one multi-row insert; one whose record has a link already
    is kept or written onto it exactly as a single intent would be, and the links come back in
    the order asked."""
    tenant = store.ensure_tenant("acme")
    earlier = store.record_create_intent(tenant, "crm", "R2", "referral:R2", {"name": "first"})
    held = store.commit_sync(tenant, LinkUpdate(referral_id="R3", base={"name": "old"}), [])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip().split()[0].upper())

    asked = [
        ("R1", "referral:R1", {"name": "one"}),
        ("R2", "referral:R2-again", {"name": "second"}),
        ("R3", "referral:R3", {"name": "new"}),
        ("R4", "referral:R4", None),
    ]
    sa.event.listen(sa.Engine, "before_cursor_execute", seen)
    try:
        made = store.record_create_intents(tenant, "crm", asked)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", seen)

    assert [link.referral_id for link in made] == ["R1", "R2", "R3", "R4"]
    assert statements[0] == "INSERT"  # R1 and R4 (and the attempts at R2, R3) in one
    assert statements.count("INSERT") == 1
    one, two, three, four = made
    assert one.intent is not None
    assert (one.intent.key, one.base, one.state) == (
        "referral:R1",
        {"name": "one"},
        "pending_create",
    )
    assert two.id == earlier.id
    assert two.intent is not None
    assert (two.intent.key, two.base) == ("referral:R2", {"name": "second"})  # the first key
    assert three.id == held.id
    assert three.intent is not None
    assert (three.intent.key, three.base) == ("referral:R3", {"name": "new"})
    assert four.intent is not None
    assert four.base == {}
    for link in made:
        assert store.link_by_referral(tenant, str(link.referral_id)) == link


def test_an_intent_for_a_record_whose_link_holds_none_is_written_onto_that_link(
    store: Store,
) -> None:
    tenant = store.ensure_tenant("acme")
    held = store.commit_sync(tenant, LinkUpdate(referral_id="R5", base={"name": "old"}), [])
    link = store.record_create_intent(tenant, "crm", "R5", "referral:R5", {"name": "new"})
    assert link.id == held.id
    assert link.intent is not None
    assert (link.intent.key, link.base, link.state) == (
        "referral:R5",
        {"name": "new"},
        "pending_create",
    )


def test_completed_create_clears_the_intent_and_links(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.record_create_intent(tenant, "crm", "R9", "key-9")
    done = store.commit_sync(tenant, LinkUpdate(referral_id="R9", opportunity_id="006Z"), [])
    assert (done.intent, done.state) == (None, "linked")
    assert store.record_create_intent(tenant, "crm", "R9", "key-10") == done


def test_audit_is_newest_first_by_either_id(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    for value in ("one", "two", "three"):
        clock.advance(1)
        store.commit_sync(
            tenant,
            LinkUpdate(referral_id="R1", opportunity_id="006A"),
            [AuditEntry("to_crm", "synced", field="name", new=value)],
        )
    store.record_audit(tenant, [AuditEntry("none", "rejected", referral_id="R2", message="x")])
    by_referral = [row.new for row in store.audit_for(tenant, "R1")]
    by_opportunity = [row.new for row in store.audit_for(tenant, "006A")]
    assert by_referral == by_opportunity == ["three", "two", "one"]
    assert [row.referral_id for row in store.recent_audit(tenant, limit=2)] == ["R2", "R1"]


def test_audit_messages_are_redacted_and_request_ids_kept(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    entry = AuditEntry(
        "to_partner_center",
        "error",
        referral_id="R1",
        message="POST failed: Authorization: Bearer abc.def.ghi refresh_token=xyz",
        request_ids=("req-1", "req-2"),
    )
    store.record_audit(tenant, [entry])
    [row] = store.audit_for(tenant, "R1")
    assert "abc.def.ghi" not in row.message
    assert "xyz" not in row.message
    assert row.request_ids == ("req-1", "req-2")


def test_tenants_do_not_see_each_other(store: Store) -> None:
    acme, globex = store.ensure_tenant("acme"), store.ensure_tenant("globex")
    store.commit_sync(acme, LinkUpdate(referral_id="R1"), [AuditEntry("none", "skipped")])
    store.set_cursor(acme, "pc", "a")
    store.enqueue(acme, "referral:R1")
    assert store.link_by_referral(globex, "R1") is None
    assert store.get_cursor(globex, "pc") is None
    assert store.audit_for(globex, "R1") == []
    assert store.stats(globex).queue_depth == 0
    store.commit_sync(globex, LinkUpdate(referral_id="R1"), [])
    assert store.link_by_referral(globex, "R1") != store.link_by_referral(acme, "R1")


def test_conflicts_open_refresh_and_resolve(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    link = store.commit_sync(tenant, LinkUpdate(referral_id="R1", opportunity_id="006A"), [])
    first = store.open_conflict(tenant, link.id, "details.dealValue", 100, 150, 200)
    again = store.open_conflict(tenant, link.id, "details.dealValue", 100, 160, 200)
    assert again == first
    [conflict] = store.conflicts(tenant)
    assert (conflict.base, conflict.pc, conflict.crm) == (100, 160, 200)
    assert store.resolve_conflict(tenant, first, "take crm")
    assert not store.resolve_conflict(tenant, first, "again")
    assert store.conflicts(tenant) == []
    [resolved] = store.conflicts(tenant, state="resolved")
    assert resolved.resolution == "take crm"
    assert resolved.resolved_at is not None
    assert store.mark_conflicts_applied(tenant, [first]) == 1
    assert store.mark_conflicts_applied(tenant, [first]) == 0  # only resolved ones move
    assert store.conflicts(tenant, state="resolved") == []
    assert [c.id for c in store.conflicts(tenant, state="applied")] == [first]


def test_stats_counts_what_status_shows(store: Store, clock: ManualClock) -> None:
    tenant = store.ensure_tenant("acme")
    link = store.commit_sync(tenant, LinkUpdate(referral_id="R1", opportunity_id="006A"), [])
    store.commit_sync(tenant, LinkUpdate(referral_id="R2", state="closed"), [])
    store.record_create_intent(tenant, "partner_center", "006C", "k")
    store.open_conflict(tenant, link.id, "name", "a", "b", "c")
    store.enqueue(tenant, "referral:R1")
    clock.advance(10)
    store.enqueue(tenant, "referral:R2")
    [job] = store.claim("w", clock.now(), 60)
    store.dead_letter(job, "rejected")
    stats = store.stats(tenant)
    assert stats.links_by_state == {"linked": 1, "closed": 1, "pending_create": 1}
    assert (stats.queue_depth, stats.leased, stats.dead_letters, stats.open_conflicts) == (
        1,
        0,
        1,
        1,
    )
    assert stats.oldest_due == clock.now()


def test_queued_work_survives_closing_the_store(store_url: str, clock: ManualClock) -> None:
    first = Store.open(store_url, clock=clock)
    tenant = first.ensure_tenant("durable")
    first.enqueue(tenant, "opportunity:006D")
    first.close()
    again = Store.open(store_url, clock=clock)
    jobs = again.claim("w", clock.now(), 60, limit=100)
    again.close()
    assert [(j.tenant_id, j.key) for j in jobs if j.tenant_id == tenant] == [
        (tenant, "opportunity:006D")
    ]


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    link = store.commit_sync(tenant, LinkUpdate(referral_id="R1"), [])
    assert link.created_at == store.clock.now()
    assert link.created_at.utcoffset() is not None
    with store.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM links")).scalar_one()
    assert count == 1


def test_calls_made_together_share_one_transaction(store: Store) -> None:
    """Inside ``together`` the store's calls are one transaction: its reads see its writes,
    others (here another process' store on the same database) see none of them until the
    block ends, and then all of them."""
    tenant = store.ensure_tenant("acme")
    elsewhere = Store(store.engine, store.clock)
    with store.together():
        store.set_cursor(tenant, "a", "1")
        link = store.commit_sync(tenant, LinkUpdate(referral_id="r-1", base={"x": 1}), [])
        assert store.get_cursor(tenant, "a") == "1"  # read inside: the block's own write
        assert elsewhere.get_cursor(tenant, "a") is None  # committed only at the block's end
    assert elsewhere.get_cursor(tenant, "a") == "1"
    assert store.link_by_referral(tenant, "r-1") == link


def test_a_block_s_cursors_go_in_one_statement_the_last_value_each_and_in_order_with_the_rest(
    store: Store,
) -> None:
    """A batch's records set a cursor each (the loop guard's streak): inside a together block
    they are written in one statement at its end, each with the last value set; a read inside
    the block, a delete or a swap of a cursor sees them first; a block that fails leaves
    none."""
    tenant = store.ensure_tenant("acme")
    with _inserts_into(store, "cursors") as puts:
        with store.together():
            for n in range(5):
                store.set_cursor(tenant, f"watch:{n}", "1")
            store.set_cursor(tenant, "watch:0", "2")
            assert puts == []
        assert puts == [5]
        assert store.get_cursor(tenant, "watch:0") == "2"
        assert store.get_cursor(tenant, "watch:4") == "1"

        with store.together():
            store.set_cursor(tenant, "watch:1", "3")
            assert store.get_cursor(tenant, "watch:1") == "3"  # the read writes it first
            store.set_cursor(tenant, "watch:2", "3")
            assert store.delete_cursor(tenant, "watch:2")  # after the set, not before it
            store.set_cursor(tenant, "watch:3", "3")
            assert store.swap_cursor(tenant, "watch:3", "3", "4")
        assert store.get_cursor(tenant, "watch:1") == "3"
        assert store.get_cursor(tenant, "watch:2") is None
        assert store.get_cursor(tenant, "watch:3") == "4"

        def failing() -> None:
            with store.together():
                store.set_cursor(tenant, "watch:4", "5")
                raise RuntimeError("a batch step failed")

        with pytest.raises(RuntimeError, match="a batch step failed"):
            failing()
        assert store.get_cursor(tenant, "watch:4") == "1"


def test_a_block_s_audit_rows_go_in_one_statement_and_a_read_inside_it_sees_them(
    store: Store,
) -> None:
    """A batch's records each append a row or two to the audit: inside a together block they
    are inserted in one statement at its end, in the order they came; a read of the audit
    inside the block inserts those so far first; a block that fails leaves none."""
    tenant = store.ensure_tenant("acme")
    with _inserts_into(store, "audit") as inserts, store.together():
        for n in range(4):
            entry = AuditEntry("to_crm", "synced", message=f"m{n}")
            store.commit_sync(tenant, LinkUpdate(referral_id=f"r-{n}"), [entry])
        assert [r.message for r in store.audit_for(tenant, "r-2")] == ["m2"]
        for n in range(4, 7):
            entry = AuditEntry("to_crm", "synced", message=f"m{n}")
            store.commit_sync(tenant, LinkUpdate(referral_id=f"r-{n}"), [entry])
        store.record_audit(tenant, [AuditEntry("incoming", "rejected", message="m7")])

    assert len(inserts) == 2  # the rows before the read, and the rest at the block's end
    assert [r.message for r in reversed(store.recent_audit(tenant))] == [f"m{n}" for n in range(8)]

    def failing() -> None:
        with store.together():
            entry = AuditEntry("to_crm", "synced")
            store.commit_sync(tenant, LinkUpdate(referral_id="r-9"), [entry])
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        failing()
    assert len(store.recent_audit(tenant)) == 8


def test_a_block_begins_its_transaction_at_its_first_write(store: Store) -> None:
    """A block that only reads takes no write transaction (on SQLite, no writer's turn); one
    that writes takes one, from its first write to its end."""
    tenant = store.ensure_tenant("acme")
    store.set_cursor(tenant, "a", "1")
    began: list[bool] = []

    def on_begin(conn: sa.Connection) -> None:
        began.append(not conn.get_execution_options().get(READ_ONLY))

    event.listen(store.engine, "begin", on_begin)
    try:
        with store.together():
            assert store.get_cursor(tenant, "a") == "1"
            assert store.link_by_referral(tenant, "r-1") is None
        assert True not in began  # reads only: no write transaction
        with store.together():
            assert store.get_cursor(tenant, "a") == "1"
            store.set_cursor(tenant, "b", "2")
            store.set_cursor(tenant, "c", "3")
            assert store.get_cursor(tenant, "b") == "2"
    finally:
        event.remove(store.engine, "begin", on_begin)
    assert began.count(True) == 1


def test_on_sqlite_a_read_waits_for_the_transaction_in_flight_in_this_process(
    store: Store,
) -> None:
    """SQLite: this process' reads take turns with its writes (threads queueing on the
    connection pool instead cost several times the CPU of the statement): a thread reading
    while another's transaction is open gets what it committed. PostgreSQL: reads do not
    wait; they see the last commit."""
    tenant = store.ensure_tenant("acme")
    sqlite = store.engine.dialect.name == "sqlite"
    seen: list[Link | None] = []
    reader = threading.Thread(target=lambda: seen.append(store.link_by_referral(tenant, "r-1")))
    with store.together():
        written = store.commit_sync(tenant, LinkUpdate(referral_id="r-1", base={}), [])
        reader.start()
        if sqlite:  # it cannot finish before the block ends
            reader.join(timeout=0.5)
            assert reader.is_alive()
        else:
            reader.join()
    reader.join()
    assert seen == ([written] if sqlite else [None])


def test_a_block_that_raises_writes_nothing_and_a_failed_call_inside_undoes_the_whole_block(
    store: Store,
) -> None:
    tenant = store.ensure_tenant("acme")

    def stopped() -> None:
        with store.together():
            store.set_cursor(tenant, "a", "1")
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        stopped()
    assert store.get_cursor(tenant, "a") is None

    def went_on() -> None:
        with store.together():
            store.set_cursor(tenant, "b", "1")
            with pytest.raises(sa.exc.IntegrityError):  # no link 999: the conflict is refused
                store.open_conflict(tenant, 999, "deal_value", 1, 2, 3)
            store.set_cursor(tenant, "c", "1")  # refused: the block is undone whole

    with pytest.raises(BlockRolledBack):
        went_on()
    assert (store.get_cursor(tenant, "b"), store.get_cursor(tenant, "c")) == (None, None)
    assert store.conflicts(tenant, "open") == []
    store.set_cursor(tenant, "d", "1")  # the store goes on after the block
    assert store.get_cursor(tenant, "d") == "1"


def test_a_block_makes_no_savepoints_and_the_store_checks_out_no_connection_a_call(
    store: Store,
) -> None:
    """A block's calls share its transaction (no savepoint each); on SQLite, calls run on the
    store's kept connections instead of checking one out of the pool each time."""
    tenant = store.ensure_tenant("acme")
    statements: list[str] = []
    checkouts: list[object] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    event.listen(store.engine.pool, "checkout", lambda *_args: checkouts.append(1))
    with store.together():
        store.set_cursor(tenant, "a", "1")
        store.set_cursor(tenant, "b", "2")
        store.record_state(tenant, LedgerUpdate("synced", "r-1"))
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    for n in range(20):
        store.set_cursor(tenant, f"c{n}", "1")
        assert store.get_cursor(tenant, f"c{n}") == "1"
    sqlite = store.engine.dialect.name == "sqlite"
    assert len(checkouts) <= (2 if sqlite else 41)
    assert len(checkouts) >= (0 if sqlite else 41)


def test_a_batch_reads_its_ledger_rows_once_and_inserts_its_new_ones_in_one_statement(
    store: Store,
) -> None:
    """A batch's records settle in one together block: their ledger rows are read in one
    statement ahead, each put decides from them as from its own read (an existing row updated
    and its other id learnt, a new one kept), the new rows are inserted in one statement at the
    block's end, and a second put for a record, or a read, in the block sees the kept rows."""
    tenant = store.ensure_tenant("acme")
    store.record_state(tenant, LedgerUpdate("refused", "R2", reason="no country"))
    store.record_state(tenant, LedgerUpdate("waiting", None, "006C", reason="no value"))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()[:3]).upper())

    records = [("R1", "006A"), ("R2", "006B"), ("R3", "006C"), ("R4", "006D")]
    changed: list[bool] = []
    with _inserts_into(store, "ledger") as inserts:
        sa.event.listen(sa.Engine, "before_cursor_execute", seen)
        try:
            with store.together():
                store.read_ledger_ahead(tenant, records)
                for referral, opportunity in records:
                    update = LedgerUpdate("synced", referral, opportunity)
                    changed.append(store.record_state(tenant, update))
                assert inserts == []  # kept to the block's end
                again = LedgerUpdate("held", "R4", "006D", reason="on hold", setting="x")
                assert store.record_state(tenant, again)  # a second put reads the kept rows
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", seen)
    assert changed == [True, True, True, True]
    ledger_reads = [s for s in statements if s.startswith("SELECT") and "LEDGER" in s]
    assert len(ledger_reads) <= 3  # two ahead (by referral ids, by opportunity ids), R4's again
    assert inserts[0] == 2  # R1 and R4 in one statement
    assert len(inserts) == 1
    rows = {row.referral_id: row for row in store.ledger(tenant)}
    assert sorted(rows) == ["R1", "R2", "R3", "R4"]  # no row twice
    assert (rows["R2"].state, rows["R2"].opportunity_id) == ("synced", "006B")
    assert (rows["R3"].state, rows["R3"].opportunity_id) == ("synced", "006C")
    assert (rows["R4"].state, rows["R4"].setting) == ("held", "x")

    with store.together():  # a read in the block sees what its puts kept
        store.read_ledger_ahead(tenant, [("R5", "006E")])
        store.record_state(tenant, LedgerUpdate("synced", "R5", "006E"))
        found = store.ledger_for(tenant, "R5")
        assert found is not None
        assert found.state == "synced"

    def failing() -> None:
        with store.together():
            store.read_ledger_ahead(tenant, [("R6", "006F")])
            store.record_state(tenant, LedgerUpdate("synced", "R6", "006F"))
            raise RuntimeError("a batch step failed")

    with pytest.raises(RuntimeError, match="a batch step failed"):
        failing()
    assert store.ledger_for(tenant, "R6") is None
    store.read_ledger_ahead(tenant, [("R7", None)])  # outside a block: nothing kept
    assert store.record_state(tenant, LedgerUpdate("synced", "R7"))
    assert store.ledger_for(tenant, "R7") is not None


def test_a_cursor_write_is_one_statement_new_or_not_and_a_ledger_lookup_one_read(
    store: Store,
) -> None:
    tenant = store.ensure_tenant("acme")
    store.record_state(tenant, LedgerUpdate("synced", "R1", "006A"))
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    store.set_cursor(tenant, "a", "1")
    store.set_cursor(tenant, "a", "2")
    store.record_state(tenant, LedgerUpdate("conflict", "R1", "006A", reason="two accounts"))
    store.record_state(tenant, LedgerUpdate("synced", "R2"))

    words = [s.split()[0].upper() for s in statements if not s.upper().startswith("BEGIN")]
    assert words == ["INSERT", "INSERT", "SELECT", "UPDATE", "SELECT", "INSERT"]
    assert store.get_cursor(tenant, "a") == "2"
    row = store.ledger_for(tenant, "006A")
    assert row is not None
    assert (row.referral_id, row.state, row.reason) == ("R1", "conflict", "two accounts")


def test_a_cursor_swaps_only_from_the_value_the_swapper_read(store: Store) -> None:
    """Processes sharing the store take turns by it (a signal's pace, cosell.signals.pace)."""
    tenant = store.ensure_tenant("acme")
    assert store.swap_cursor(tenant, "turn", None, "first")
    assert not store.swap_cursor(tenant, "turn", None, "second")  # it is there now
    assert not store.swap_cursor(tenant, "turn", "stale", "second")
    assert store.get_cursor(tenant, "turn") == "first"
    assert store.swap_cursor(tenant, "turn", "first", "second")
    assert not store.swap_cursor(tenant, "turn", "first", "third")  # the other swapper lost
    assert store.get_cursor(tenant, "turn") == "second"
    other = store.ensure_tenant("globex")
    assert store.swap_cursor(other, "turn", None, "theirs")
    assert store.get_cursor(tenant, "turn") == "second"


def test_an_update_naming_its_link_is_one_statement_that_settles_the_intent(
    store: Store,
) -> None:
    """The engine names the link it commits: no read before the update. Both ids known ends
    the create intent (``pending_create`` becomes ``linked``), as the read-first path does."""
    tenant = store.ensure_tenant("acme")
    pending = store.record_create_intent(tenant, "crm", "R1", "referral:R1", {"a": 1})
    links_sql: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if " links" in statement.lower():
            links_sql.append(statement.split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", seen)
    still = store.commit_sync(tenant, LinkUpdate(link_id=pending.id, base={"a": 3}), [])
    made = LinkUpdate(link_id=pending.id, referral_id="R1", opportunity_id="006A", base={"a": 2})
    linked = store.commit_sync(tenant, made, [])
    based = store.commit_sync(tenant, LinkUpdate(link_id=pending.id, pc_etag="e2"), [])

    assert links_sql == ["UPDATE", "UPDATE", "UPDATE"]
    assert (still.state, still.intent, still.base) == ("pending_create", pending.intent, {"a": 3})
    assert (linked.state, linked.intent, linked.opportunity_id) == ("linked", None, "006A")
    assert (based.base, based.pc_etag, based.state) == ({"a": 2}, "e2", "linked")
    assert store.link_by_referral(tenant, "R1") == based

    other = store.ensure_tenant("globex")
    moved = store.commit_sync(other, LinkUpdate(link_id=pending.id, referral_id="R1"), [])
    assert moved.id != pending.id  # not another tenant's link: a link of its own
    assert store.link_by_referral(tenant, "R1") == based


def test_a_read_inside_a_read_has_a_connection_of_its_own(store: Store) -> None:
    tenant = store.ensure_tenant("acme")
    store.set_cursor(tenant, "a", "1")
    with store.reading() as outer:
        assert store.get_cursor(tenant, "a") == "1"
        found = outer.execute(sa.text("SELECT value FROM cursors WHERE name = 'a'")).scalar()
    assert found == "1"
    assert store.get_cursor(tenant, "a") == "1"


def test_a_block_s_updates_of_known_links_go_in_one_statement_as_the_database_would_store_them(
    store: Store, clock: ManualClock
) -> None:
    """A batch commits each of its records' links: inside a together block an update of a link
    the caller holds (``current``) is kept and written at the block's end, one statement for
    the run of them, and what it answers is what a read gives afterwards, to the last field:
    the intent settled once both ids are known, a state given kept, times as UTC, the base as
    stored."""
    tenant = store.ensure_tenant("acme")
    intents = [
        store.record_create_intent(tenant, "crm", f"R{n}", f"referral:R{n}", {"n": n})
        for n in range(4)
    ]
    plain = store.commit_sync(tenant, LinkUpdate(referral_id="R9", opportunity_id="0069"), [])
    clock.advance(5)
    read_at = datetime(2026, 12, 7, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    updates = [
        LinkUpdate(link_id=intents[0].id, referral_id="R0", opportunity_id="0060", base={"a": [1]}),
        LinkUpdate(link_id=intents[1].id, base={"b": {"c": (1, 2)}}),  # no ids: intent kept
        LinkUpdate(link_id=intents[2].id, opportunity_id="0062", state="parked", pc_etag="e"),
        LinkUpdate(
            link_id=intents[3].id,
            opportunity_id="0063",
            crm_read_at=read_at,
            crm_rows={"contact:1": "v"},
            crm_fingerprint="f",
        ),
        LinkUpdate(link_id=plain.id, engagement_id="E9", pc_changed_at="2026-12-07T00:00:00Z"),
    ]
    statements: list[tuple[str, int]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("UPDATE links"):
            statements.append(("UPDATE", len(parameters) if isinstance(parameters, list) else 1))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.together():
            answered = [
                store.commit_sync(tenant, update, [AuditEntry("to_crm", "synced")], current=link)
                for update, link in zip(updates, [*intents, plain], strict=True)
            ]
            assert statements == []  # kept until the block ends
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)

    assert statements == [("UPDATE", 1)] * 5  # five shapes of update, a statement each
    stored = store.links_by_referral(tenant, ["R0", "R1", "R2", "R3", "R9"])
    assert answered == [stored[f"R{n}"] for n in (0, 1, 2, 3, 9)]
    assert (answered[0].state, answered[0].intent) == ("linked", None)
    assert (answered[1].state, answered[1].intent) == ("pending_create", intents[1].intent)
    assert answered[1].base == {"b": {"c": [1, 2]}}  # as JSON stores it
    assert (answered[2].state, answered[2].intent) == ("parked", None)
    assert answered[3].crm_read_at == read_at
    assert answered[3].crm_read_at.tzinfo == UTC
    assert len(store.audit_for(tenant, "R0")) == 1

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        statements.clear()
        with store.together():
            for link in stored.values():
                update = LinkUpdate(link_id=link.id, base={"again": link.id}, pc_etag="e2")
                store.commit_sync(tenant, update, [], current=link)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert statements == [("UPDATE", 5)]  # a run setting the same columns: one statement


def test_a_block_s_kept_link_updates_are_seen_by_its_reads_and_its_intents_and_undone_with_it(
    store: Store,
) -> None:
    tenant = store.ensure_tenant("acme")
    link = store.record_create_intent(tenant, "crm", "R1", "referral:R1", {"n": 1})
    with store.together():
        kept = LinkUpdate(link_id=link.id, referral_id="R1", opportunity_id="006A", base={"n": 2})
        store.commit_sync(tenant, kept, [], current=link)
        read = store.link_by_referral(tenant, "R1")
        assert read is not None
        assert read.base == {"n": 2}
        # an intent for the opportunity the kept update named meets that link, not a new one
        again = store.record_create_intent(tenant, "partner_center", "006A", "opportunity:006A")
        assert again.id == link.id

    def failing() -> None:
        with store.together():
            update = LinkUpdate(link_id=link.id, base={"n": 3})
            store.commit_sync(tenant, update, [], current=read)
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        failing()
    after = store.link_by_referral(tenant, "R1")
    assert after is not None
    assert after.base == {"n": 2}


@contextmanager
def _inserts_into(store: Store, table: str) -> Iterator[list[int]]:
    """The rows of each ``INSERT INTO table`` the store's engine runs in the block."""
    rows: list[int] = []

    def on_execute(*args: Any) -> None:
        statement, parameters = args[2], args[3]
        if statement.startswith(f"INSERT INTO {table}"):
            rows.append(len(parameters) if isinstance(parameters, list) else 1)

    event.listen(store.engine, "before_cursor_execute", on_execute)
    try:
        yield rows
    finally:
        event.remove(store.engine, "before_cursor_execute", on_execute)
