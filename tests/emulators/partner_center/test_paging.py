from typing import Any

import pytest
from pc_helpers import REFERRALS, create
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.partner_center.book import ReferralBook
from cosell.emulators.partner_center.emulator import Emulator


@pytest.fixture
def many(
    client: TestClient, auth: dict[str, str], clock: ManualClock, emulator: Emulator
) -> list[dict[str, Any]]:
    made = []
    for index in range(260):
        country = "US" if index % 2 else "DE"
        made.append(
            create(
                client,
                auth,
                name=f"deal {index}",
                customerProfile={"name": "c", "address": {"country": country}, "team": []},
                team=[{"email": f"seller{index % 5}@partner.example"}],
            )
        )
        clock.advance(1)
    return made


@pytest.fixture
def sorted_by(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each referral timestamp a listing sorts by, as the book reads it (one sort: one each)."""
    seen: list[str] = []
    moment = ReferralBook._moment

    def counted(book: ReferralBook, text: str) -> Any:
        seen.append(text)
        return moment(book, text)

    monkeypatch.setattr(ReferralBook, "_moment", counted)
    return seen


def collect(client: TestClient, auth: dict[str, str], url: str) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        body = client.get(next_url, headers=auth).json()
        assert body["@odata.count"] >= len(body["value"])
        assert body["@odata.context"].endswith("$metadata#Referrals")
        ids += [r["id"] for r in body["value"]]
        next_url = body.get("@odata.nextLink")
        pages += 1
    return ids, pages


def test_pages_of_100_follow_next_link(
    client: TestClient, auth: dict[str, str], many: list[dict[str, Any]]
) -> None:
    ids, pages = collect(client, auth, REFERRALS)
    assert ids == [r["id"] for r in many]
    assert pages == 3
    last = client.get(REFERRALS, params={"$skip": "200"}, headers=auth).json()
    assert "@odata.nextLink" not in last
    assert last["@odata.count"] == 260
    assert len(last["value"]) == 60


def test_top_and_skip(client: TestClient, auth: dict[str, str], many: list[dict[str, Any]]) -> None:
    ids, pages = collect(client, auth, f"{REFERRALS}?$top=40&$skip=10")
    assert ids == [r["id"] for r in many[10:]]
    assert pages == 7
    capped = client.get(REFERRALS, params={"$top": "500"}, headers=auth).json()
    assert len(capped["value"]) == 100


def test_orderby_desc_and_filters(
    client: TestClient, auth: dict[str, str], many: list[dict[str, Any]]
) -> None:
    url = (
        f"{REFERRALS}?$orderby=createdDateTime desc&$filter=customerProfile/address/country eq 'US'"
    )
    ids, _ = collect(client, auth, url)
    assert ids == [
        r["id"] for r in reversed(many) if r["customerProfile"]["address"]["country"] == "US"
    ]
    since = many[250]["updatedDateTime"]
    ids, _ = collect(
        client, auth, f"{REFERRALS}?$filter=updatedDateTime ge {since}&$orderby=updatedDateTime asc"
    )
    assert ids == [r["id"] for r in many[250:]]
    expression = (
        "(customerProfile/address/country eq 'DE' or name eq 'deal 1') and "
        "team/any(t:t/email eq 'seller0@partner.example')"
    )
    ids, _ = collect(client, auth, f"{REFERRALS}?$filter={expression}")
    expected = [r["id"] for i, r in enumerate(many) if (i % 2 == 0 or i == 1) and i % 5 == 0]
    assert ids == expected


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"$filter": "status eq"}, "$filter"),
        ({"$orderby": "name asc"}, "$orderby"),
        ({"$top": "0"}, "$top"),
        ({"$skip": "x"}, "$skip"),
    ],
)
def test_bad_query_is_invalid_request(
    client: TestClient, auth: dict[str, str], params: dict[str, str], target: str
) -> None:
    response = client.get(REFERRALS, params=params, headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["target"] == target


def test_pages_of_one_listing_are_sorted_once_until_a_write(
    client: TestClient,
    auth: dict[str, str],
    many: list[dict[str, Any]],
    sorted_by: list[str],
) -> None:
    """Paging through a listing sorts the referrals once, not once a page; a write between two
    pages is seen by the next one (its order and its count)."""
    url = f"{REFERRALS}?$orderby=updatedDateTime desc"
    first = client.get(url, headers=auth).json()
    second = client.get(first["@odata.nextLink"], headers=auth).json()
    assert len(sorted_by) == len(many)  # one sort for both pages (was one a page)

    touched = many[-1]["id"]
    patched = client.patch(
        f"{REFERRALS}/{touched}",
        json=[{"op": "replace", "path": "/details/notes", "value": "edited"}],
        headers={**auth, "If-Match": "*"},
    )
    assert patched.status_code == 204, patched.text
    third = client.get(url, headers=auth).json()
    assert len(sorted_by) == 2 * len(many)  # the write made the sorted listing stale
    assert third["value"][0]["id"] == touched  # most recently updated first
    assert [r["id"] for r in second["value"]][:1] == [many[-101]["id"]]


def test_a_listing_by_creation_is_not_sorted_again_after_writes_and_shows_them(
    client: TestClient,
    auth: dict[str, str],
    many: list[dict[str, Any]],
    sorted_by: list[str],
) -> None:
    """A first sync lists by creation and writes each referral of a page before it asks for the
    next: a listing that filters and sorts by fields no write changes is not sorted again after
    those writes (it was, once a page), each page shows the referrals as written, and nothing
    is skipped or listed twice. A new referral makes it stale."""
    since = many[10]["createdDateTime"]
    params = {"$filter": f"createdDateTime ge {since}", "$orderby": "createdDateTime asc"}
    seen: list[str] = []
    page = client.get(REFERRALS, params=params, headers=auth).json()
    while True:
        for referral in page["value"]:
            assert referral["details"].get("notes") != "written"
            written = client.patch(
                f"{REFERRALS}/{referral['id']}",
                json=[{"op": "replace", "path": "/details/notes", "value": "written"}],
                headers={**auth, "If-Match": "*"},
            )
            assert written.status_code == 204, written.text
        seen += [r["id"] for r in page["value"]]
        if "@odata.nextLink" not in page:
            break
        page = client.get(page["@odata.nextLink"], headers=auth).json()
        assert all(r["details"]["notes"] != "written" for r in page["value"])

    assert seen == [r["id"] for r in many[10:]]
    assert len(sorted_by) == len(seen)  # one sort for the three pages and 250 writes

    again = client.get(REFERRALS, params=params, headers=auth).json()
    assert again["value"][0]["details"]["notes"] == "written"  # as it is now
    assert len(sorted_by) == len(seen)
    create(client, auth, name="new one")
    assert client.get(REFERRALS, params=params, headers=auth).json()["@odata.count"] == 251
    assert len(sorted_by) == 2 * len(seen) + 1  # the new referral made the listing stale
