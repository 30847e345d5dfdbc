"""Store statements per reconcile, pinned as behaviour: on a backfill they are most of what a
record costs the connector beside its API calls (on SQLite a link read is about 80 µs, a
statement inside a transaction about 40 µs).

An incoming referral that becomes an opportunity (two rounds: the create, then the write-back
of the opportunity's id) reads its link where the pair's locks may have let another reconcile
commit it (before the locks, after them); the create records its intent in one insert that
does nothing where a link exists already (read only then); the second round starts from the
link as the first committed it (the locks are held throughout); a commit naming its link, the
create's too, is one statement; the round's last writes share one transaction with no
savepoint each; the ledger row is read once to be written. The link the create made carries no
loop streak and no conflict yet, so the second round reads neither: the streak is written in
one statement.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from engine_world import World
from sqlalchemy import event
from test_engine import shared


def test_an_incoming_referral_costs_a_bounded_number_of_store_statements(world: World) -> None:
    world.sync(f"referral:{shared(world)['id']}")  # the engine's first: the mapping recorded
    rid = str(shared(world, name="Contoso lakehouse")["id"])
    statements: Counter[str] = Counter()

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        found = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement, re.IGNORECASE)
        table = found.group(1).lower() if found else ""
        statements[f"{statement.split()[0].upper()} {table}".strip()] += 1

    event.listen(world.store.engine, "before_cursor_execute", seen)
    event.listen(world.store.engine, "begin", lambda _conn: statements.update(["BEGIN"]))
    world.sync(f"referral:{rid}")

    assert statements["SELECT links"] == 2  # was 3, 5, and 8 before that
    assert statements["UPDATE links"] == 3  # each commit names its link: no read before it
    assert statements["SAVEPOINT"] == 0  # was one per call in the round's last transaction
    assert statements["SELECT ledger"] == 1  # was one per id
    assert (statements["SELECT cursors"], statements["INSERT cursors"]) == (0, 1)  # was (1, 1)
    assert statements["UPDATE cursors"] == 0  # was an update finding nothing, then the insert
    assert statements["SELECT conflicts"] == 0  # was 1
    assert sum(statements.values()) - statements["BEGIN"] == 11  # was 12, 14, 16, and 27
    assert statements["BEGIN"] == 6  # transactions; was 7, and 9 before that
    link = world.store.link_by_referral(world.tenant, rid)
    assert link is not None
    assert (link.state, link.intent, bool(link.opportunity_id)) == ("linked", None, True)
