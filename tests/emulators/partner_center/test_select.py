"""``$select`` and ``$expand`` on the referral list (and on GET by id)."""

from collections.abc import Iterator
from typing import Any

import pytest
from pc_helpers import REFERRALS, create
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.partner_center.selection import SelectionError, parse_select


def listing(client: TestClient, auth: dict[str, str], **params: str) -> Any:
    response = client.get(REFERRALS, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def rich(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    return create(
        client,
        auth,
        team=[
            {"firstName": "Sam", "email": "sam@partner.example"},
            {"firstName": "Kim", "email": "kim@partner.example"},
        ],
    )


def test_select_keeps_only_the_named_properties_and_the_id(
    client: TestClient, auth: dict[str, str]
) -> None:
    made = create(client, auth)
    body = listing(client, auth, **{"$select": "updatedDateTime, eTag"})
    assert body["value"] == [
        {"id": made["id"], "updatedDateTime": made["updatedDateTime"], "eTag": made["eTag"]}
    ]
    assert body["@odata.count"] == 1
    assert body["@odata.context"].endswith("$metadata#Referrals(updatedDateTime,eTag)")


def test_nested_paths_narrow_objects_and_each_member_of_a_collection(
    client: TestClient, auth: dict[str, str]
) -> None:
    made = rich(client, auth)
    select = "customerProfile/name,customerProfile/address/country,team/email,details/currency"
    [row] = listing(client, auth, **{"$select": select})["value"]
    assert row == {
        "id": made["id"],
        "customerProfile": {"name": "Fabrikam", "address": {"country": "FR"}},
        "details": {"currency": "EUR"},
        "team": [{"email": "sam@partner.example"}, {"email": "kim@partner.example"}],
    }


def test_a_whole_property_wins_over_its_nested_paths(
    client: TestClient, auth: dict[str, str]
) -> None:
    made = rich(client, auth)
    [row] = listing(client, auth, **{"$select": "customerProfile/name,customerProfile"})["value"]
    assert row == {"id": made["id"], "customerProfile": made["customerProfile"]}


@pytest.mark.parametrize("select", ["*", "id,*", ""])
def test_star_or_nothing_selects_everything(
    client: TestClient, auth: dict[str, str], select: str
) -> None:
    made = create(client, auth)
    body = listing(client, auth, **{"$select": select})
    assert body["value"] == [made]
    assert body["@odata.context"].endswith("$metadata#Referrals")


@pytest.mark.parametrize(
    ("select", "named"),
    [
        ("owner", "'owner'"),
        ("id,customerProfile/nickname", "'customerProfile/nickname'"),
        ("name/first", "'name' has no property 'first'"),
        ("team/email/domain", "'team/email' has no property 'domain'"),
        ("id,,eTag", "syntax error at position 4"),
        ("customerProfile/", "syntax error"),
        ("@odata.context", "syntax error at position 1"),
    ],
)
def test_an_unknown_property_is_a_400_in_the_error_envelope(
    client: TestClient, auth: dict[str, str], select: str, named: str
) -> None:
    create(client, auth)
    response = client.get(REFERRALS, params={"$select": select}, headers=auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalidRequest"
    assert error["target"] == "$select"
    assert named in error["message"]
    assert error["innerError"]["code"] == "invalidRequest"


def test_free_form_objects_accept_any_nested_path(client: TestClient, auth: dict[str, str]) -> None:
    made = create(client, auth)
    select = "details/requirements/additionalRequirements/iot,registrations/contract/value"
    [row] = listing(client, auth, **{"$select": select})["value"]
    assert row == {"id": made["id"], "details": {"requirements": {}}, "registrations": []}


@pytest.mark.parametrize("expand", ["*", " "])
def test_expand_of_everything_is_accepted_and_changes_nothing(
    client: TestClient, auth: dict[str, str], expand: str
) -> None:
    made = create(client, auth)
    assert listing(client, auth, **{"$expand": expand})["value"] == [made]


@pytest.mark.parametrize("expand", ["customerProfile", "relatedReferrals", "team,*"])
def test_expand_naming_a_property_is_a_400(
    client: TestClient, auth: dict[str, str], expand: str
) -> None:
    response = client.get(REFERRALS, params={"$expand": expand}, headers=auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("invalidRequest", "$expand")
    assert "not a navigation property" in error["message"]


def test_paging_carries_select_to_every_page(
    client: TestClient, auth: dict[str, str], clock: ManualClock
) -> None:
    made = []
    for index in range(5):
        made.append(create(client, auth, name=f"deal {index}"))
        clock.advance(1)
    rows = list(pages(client, auth, {"$select": "eTag", "$top": "2", "$expand": "*"}))
    assert rows == [{"id": r["id"], "eTag": r["eTag"]} for r in made]


def pages(client: TestClient, auth: dict[str, str], params: dict[str, str]) -> Iterator[Any]:
    body = listing(client, auth, **params)
    yield from body["value"]
    while link := body.get("@odata.nextLink"):
        assert "%24select=eTag" in link
        response = client.get(link, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        yield from body["value"]


def test_get_by_id_honours_select_and_keeps_the_etag_header(
    client: TestClient, auth: dict[str, str]
) -> None:
    made = create(client, auth)
    url = f"{REFERRALS}/{made['id']}"
    response = client.get(url, params={"$select": "status,substatus"}, headers=auth)
    assert response.json() == {"id": made["id"], "status": "Active", "substatus": "Accepted"}
    assert response.headers["ETag"] == made["eTag"]
    assert client.get(url, params={"$select": "nope"}, headers=auth).status_code == 400


def test_every_property_the_emulator_returns_can_be_selected(
    client: TestClient, auth: dict[str, str]
) -> None:
    shared = client.post("/_emulator/referrals", json={}).json()
    full = rich(client, auth)
    paths = sorted({p for referral in (shared, full) for p in property_paths(referral)})
    assert "customerProfile/team/contactPreference/locale" in paths
    assert parse_select(",".join(paths)).paths == tuple(paths)


def property_paths(value: Any, prefix: str = "") -> Iterator[str]:
    members = value if isinstance(value, list) else [value]
    for member in members:
        if not isinstance(member, dict):
            continue
        for key, inner in member.items():
            path = f"{prefix}{key}"
            yield path
            yield from property_paths(inner, f"{path}/")


def test_a_selection_error_names_the_option() -> None:
    with pytest.raises(SelectionError, match=r"^\$select: Referral has no property 'x'"):
        parse_select("x")
