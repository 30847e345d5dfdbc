from datetime import timedelta

import pytest
from sf_api import START, Api

from cosell.clock import ManualClock
from cosell.emulators.salesforce.wire import format_datetime


def seed_accounts(api: Api, count: int) -> list[str]:
    created: list[str] = []
    while len(created) < count:
        size = min(200, count - len(created))
        records = [
            {"attributes": {"type": "Account"}, "Name": f"Account {len(created) + i:05d}"}
            for i in range(size)
        ]
        response = api.post("composite/sobjects", json={"allOrNone": True, "records": records})
        assert response.status_code == 200
        created += [r["id"] for r in response.json()]
    return created


def follow(
    api: Api, first: dict[str, object], headers: dict[str, str] | None = None
) -> list[dict[str, object]]:
    pages = [first]
    while not pages[-1]["done"]:
        url = pages[-1]["nextRecordsUrl"]
        assert isinstance(url, str)
        response = api.get(url, headers=headers or {})
        assert response.status_code == 200
        pages.append(response.json())
    assert "nextRecordsUrl" not in pages[-1]
    return pages


SOQL = "SELECT Id, Name FROM Account ORDER BY Name"


def test_paging_past_2000_rows_with_default_batch(api: Api) -> None:
    created = seed_accounts(api, 2500)
    first = api.get("query", params={"q": SOQL}).json()
    assert first["totalSize"] == 2500
    assert first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    pages = follow(api, first)
    assert [len(p["records"]) for p in pages] == [2000, 500]  # type: ignore[arg-type]
    ids = [r["Id"] for p in pages for r in p["records"]]  # type: ignore[attr-defined]
    assert sorted(ids) == sorted(created)
    assert all(p["totalSize"] == 2500 for p in pages)


@pytest.mark.parametrize(
    ("header", "sizes"), [("batchSize=500", [500] * 5), ("batchSize=50", [200] * 12 + [100])]
)
def test_batch_size_header_is_clamped(api: Api, header: str, sizes: list[int]) -> None:
    seed_accounts(api, 2500)
    options = {"Sforce-Query-Options": header}
    first = api.get("query", params={"q": SOQL}, headers=options).json()
    pages = follow(api, first, options)
    assert [len(p["records"]) for p in pages] == sizes  # type: ignore[arg-type]


def test_emulator_wide_small_batch(api: Api) -> None:
    api.emulator.config.query_batch_size = 7
    seed_accounts(api, 20)
    pages = follow(api, api.get("query", params={"q": SOQL}).json())
    assert [len(p["records"]) for p in pages] == [7, 7, 6]  # type: ignore[arg-type]


def test_expired_or_unknown_locator(api: Api, clock: ManualClock) -> None:
    api.emulator.config.query_batch_size = 5
    seed_accounts(api, 12)
    first = api.get("query", params={"q": SOQL}).json()
    clock.advance(2 * 24 * 3600 + 1)
    api.relogin()
    expired = api.get(first["nextRecordsUrl"])
    assert expired.status_code == 400
    assert expired.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_errors(api: Api) -> None:
    bad = api.get("query", params={"q": "SELEC Id FROM Account"})
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "MALFORMED_QUERY"
    column = api.get("query", params={"q": "SELECT Id, Shoe FROM Account"})
    assert column.status_code == 400
    assert column.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "Shoe" in column.json()[0]["message"]
    table = api.get("query", params={"q": "SELECT Id FROM Widget__c"})
    assert table.status_code == 400
    assert table.json()[0]["errorCode"] == "INVALID_TYPE"


def test_recycle_bin_query_vs_query_all_and_deleted_endpoint(api: Api, clock: ManualClock) -> None:
    keep = api.create("Account", Name="Keep")
    gone = api.create("Account", Name="Gone")
    clock.advance(300)
    assert api.delete(f"sobjects/Account/{gone}").status_code == 204
    soql = "SELECT Id, IsDeleted FROM Account ORDER BY Name"
    live = api.get("query", params={"q": soql}).json()["records"]
    everything = api.get("queryAll", params={"q": soql}).json()["records"]
    assert [r["Id"] for r in live] == [keep]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(gone, True), (keep, False)]

    clock.advance(120)
    window = {"start": format_datetime(START), "end": format_datetime(clock.now())}
    deleted = api.get("sobjects/Account/deleted/", params=window).json()
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]
    assert deleted["deletedRecords"][0]["deletedDate"] == format_datetime(
        START + timedelta(seconds=300)
    )
    assert deleted["latestDateCovered"] == format_datetime(clock.now().replace(second=0))
    assert deleted["earliestDateAvailable"] <= window["start"]

    clock.advance(16 * 24 * 3600)
    api.relogin()
    after_purge = api.get("queryAll", params={"q": soql}).json()["records"]
    assert [r["Id"] for r in after_purge] == [keep]


def test_updated_endpoint_and_replication_date_rules(api: Api, clock: ManualClock) -> None:
    before = api.create("Account", Name="Before")
    clock.advance(3600)
    start = clock.now()
    changed = api.create("Account", Name="During")
    clock.advance(600)
    api.patch(f"sobjects/Account/{before}", json={"Name": "Before, edited"})
    clock.advance(600)
    window = {"start": format_datetime(start), "end": format_datetime(clock.now())}
    body = api.get("sobjects/Account/updated/", params=window).json()
    assert sorted(body["ids"]) == sorted([before, changed])
    assert body["latestDateCovered"] == format_datetime(clock.now().replace(second=0))
    reversed_window = {"start": window["end"], "end": window["start"]}
    refused = api.get("sobjects/Account/updated/", params=reversed_window)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    too_old = {"start": format_datetime(start - timedelta(days=31)), "end": window["end"]}
    assert api.get("sobjects/Account/updated/", params=too_old).status_code == 400


def test_touch_moves_system_modstamp_only(api: Api, clock: ManualClock) -> None:
    record = api.create("Account", Name="Touched")
    clock.advance(90)
    assert api.client.post(f"/_emulator/touch/{record}").status_code == 200
    got = api.get(f"sobjects/Account/{record}").json()
    assert got["SystemModstamp"] > got["LastModifiedDate"]
    since = got["LastModifiedDate"][:19]
    soql = f"SELECT Id FROM Account WHERE SystemModstamp > {since}Z"  # noqa: S608
    assert [r["Id"] for r in api.get("query", params={"q": soql}).json()["records"]] == [record]


def test_emptied_recycle_bin_moves_earliest_date_available(api: Api, clock: ManualClock) -> None:
    gone = api.create("Account", Name="Gone")
    api.delete(f"sobjects/Account/{gone}")
    clock.advance(600)
    assert api.client.post("/_emulator/recycle-bin/empty").json() == {"purged": 1}
    clock.advance(600)
    everything = api.get("queryAll", params={"q": "SELECT Id FROM Account"}).json()
    assert everything["totalSize"] == 0
    old = {"start": format_datetime(START), "end": format_datetime(clock.now())}
    refused = api.get("sobjects/Account/deleted/", params=old)
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    recent = {
        "start": format_datetime(START + timedelta(seconds=600)),
        "end": format_datetime(clock.now()),
    }
    body = api.get("sobjects/Account/deleted/", params=recent).json()
    assert body["deletedRecords"] == []
    assert body["earliestDateAvailable"] == format_datetime(START + timedelta(seconds=600))
