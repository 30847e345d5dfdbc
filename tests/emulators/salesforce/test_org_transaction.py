"""An all-or-none request's undo log: a rollback puts back exactly what the request wrote (rows,
recycle-bin entries, the indexes lookups use), and nested transactions share the outer log."""

from __future__ import annotations

import pytest

from cosell.clock import ManualClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.wire import SalesforceError


@pytest.fixture
def org(clock: ManualClock) -> Org:
    return Org(SalesforceEmulatorConfig(), clock)


def names(org: Org, *wanted: str) -> list[str]:
    account = org.object("Account")
    keys = [name.casefold() for name in wanted]
    return [str(r["Name"]) for r in org.matching(account, "Name", "string", keys, deleted=False)]


def test_a_rollback_puts_back_updates_creates_and_deletes_and_lookups_see_it(org: Org) -> None:
    account = org.object("Account")
    user = org.integration_user_id
    kept = [org.create(account, {"Name": f"Account {n}"}, user) for n in range(50)]
    assert names(org, "Account 3") == ["Account 3"]  # the Name index is built
    before = {r["Id"]: org.table(account)[r["Id"]] for r in kept}
    org.take_touched()

    with org.transaction() as rollback:
        org.update(account, kept[3]["Id"], {"Name": "Renamed"}, user)
        made = org.create(account, {"Name": "New one"}, user)
        org.delete(account, kept[4]["Id"], user)
        rollback()

    assert {i: org.table(account)[i] for i in before} == before
    assert made["Id"] not in org.table(account)
    assert kept[4]["Id"] not in org.deleted
    assert names(org, "Account 3", "Renamed", "New one") == ["Account 3"]
    # the state file's journal learns every row put back
    assert {kept[3]["Id"], kept[4]["Id"], made["Id"]} <= org.take_touched()


def test_writes_kept_by_a_transaction_stay_and_an_inner_rollback_undoes_only_its_own(
    org: Org,
) -> None:
    account = org.object("Account")
    user = org.integration_user_id
    first = org.create(account, {"Name": "First"}, user)

    with org.transaction():
        org.update(account, first["Id"], {"Name": "Outer"}, user)
        with org.transaction() as inner_rollback:
            org.update(account, first["Id"], {"Name": "Inner"}, user)
            inner_rollback()
        assert names(org, "Outer", "Inner") == ["Outer"]
        second = org.create(account, {"Name": "Second"}, user)
    assert names(org, "Outer", "Second") == ["Outer", "Second"]

    with org.transaction() as rollback:
        org.delete(account, second["Id"], user)
        with pytest.raises(SalesforceError):
            org.update(account, first["Id"], {"Name": ""}, user)  # required: refused
        rollback()
    assert names(org, "Outer", "Second") == ["Outer", "Second"]
