"""The referral model: typed access without losing or rewriting a single field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cosell.clients.referral import Referral

FIXTURES = Path(__file__).resolve().parents[2] / "../shared/reference/fixtures/partner-center"

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# keys the model does not know; snake_case twins of typed fields are not wire keys
extra_keys = st.text(min_size=1, max_size=10).filter(lambda k: "_" not in k)
timestamps = st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
)
amounts = (
    st.integers(-(10**9), 10**9)
    | st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
)
strings = st.none() | st.text(max_size=12)


def with_extras(fixed: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.fixed_dictionaries({}, optional=fixed)
    extras = st.dictionaries(extra_keys.filter(lambda k: k not in fixed), json_values, max_size=3)
    return st.builds(lambda a, b: {**b, **a}, known, extras)


members = st.lists(
    with_extras({"email": strings, "firstName": strings, "title": strings}), max_size=2
)
details = with_extras(
    {
        "dealValue": st.none() | amounts,
        "currency": strings,
        "closingDateTime": st.none() | timestamps,
        "notes": strings,
        "requirements": with_extras(
            {"solutions": st.lists(with_extras({"id": strings, "name": strings}), max_size=2)}
        ),
    }
)
referrals = with_extras(
    {
        "id": strings,
        "engagementId": strings,
        "status": strings,
        "substatus": strings,
        "eTag": strings,
        "createdDateTime": timestamps,
        "team": members,
        "details": details,
        "customerProfile": with_extras(
            {"name": strings, "team": members, "address": with_extras({"country": strings})}
        ),
        "consent": with_extras({"consentToShareReferralWithMicrosoftSellers": st.booleans()}),
        "inviteContext": with_extras({"assistanceRequestCode": strings, "notes": strings}),
        "links": with_extras({"self": with_extras({"uri": strings, "method": strings})}),
        "trackingInfo": with_extras({"microsoftMsxId": strings}),
    }
)


@settings(max_examples=150, deadline=None)
@given(referrals)
def test_any_referral_survives_a_round_trip_unchanged(doc: dict[str, Any]) -> None:
    referral = Referral.model_validate(doc)
    assert referral.model_dump(by_alias=True, exclude_unset=True) == doc
    assert json.loads(json.dumps(referral.to_wire())) == json.loads(json.dumps(doc))


def test_typed_access_to_what_the_sync_reads() -> None:
    doc = {
        "id": "r1",
        "eTag": '"00006d10-0000"',
        "details": {
            "dealValue": "10000.50",
            "closingDateTime": "2020-12-01T00:00:00.1234567Z",
            "requirements": {"solutions": [{"id": "SOL-1"}, {"name": "no id"}]},
        },
        "customerProfile": {"address": {"country": "US"}},
        "links": {"self": {"uri": "https://x/r1", "method": "GET"}},
        "inviteContext": {"assistanceRequestCode": "ProofOfConceptOrDemo"},
        "trackingInfo": {"microsoftMsxId": "7-ABC"},
    }
    referral = Referral.model_validate(doc)
    assert referral.details is not None
    assert referral.details.deal_value == Decimal("10000.50")
    assert referral.details.closing_date_time == datetime(2020, 12, 1, 0, 0, 0, 123456, UTC)
    assert referral.country == "US"
    assert referral.solution_ids == ["SOL-1"]
    assert referral.e_tag == '"00006d10-0000"'
    assert referral.links is not None
    assert referral.links.self_ is not None
    assert referral.links.self_.uri == "https://x/r1"
    assert referral.invite_context is not None
    assert referral.invite_context.assistance_request_code == "ProofOfConceptOrDemo"
    assert referral.tracking_info is not None
    assert referral.tracking_info.microsoft_msx_id == "7-ABC"


def test_values_set_in_python_serialise_canonically() -> None:
    referral = Referral.model_validate({"details": {"dealValue": "5"}})
    assert referral.details is not None
    referral.details = referral.details.model_copy(
        update={
            "deal_value": Decimal("12.50"),
            "closing_date_time": datetime(2027, 1, 2, tzinfo=UTC),
        }
    )
    wire = referral.to_wire()
    assert wire["details"] == {"dealValue": 12.5, "closingDateTime": "2027-01-02T00:00:00Z"}


@pytest.mark.parametrize("bad", ["ten", True, [1], "NaN"])
def test_deal_value_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match=r"dealValue|number"):
        Referral.model_validate({"details": {"dealValue": bad}})


def test_for_put_drops_links_only() -> None:
    referral = Referral.model_validate({"id": "r", "links": {"self": {}}, "x": 1})
    assert referral.for_put() == {"id": "r", "x": 1}


def test_recorded_referrals_round_trip() -> None:
    if not FIXTURES.is_dir():
        pytest.skip("reference fixtures are not available")
    for path in sorted(FIXTURES.glob("referral-*.json")):
        body = json.loads(path.read_text())
        docs = body.get("value", [body])
        for doc in docs:
            assert Referral.model_validate(doc).to_wire() == doc, path.name


def test_a_read_referral_gives_back_what_it_was_read_from_until_a_field_is_set() -> None:
    """What an answer held is what the model would build again (every key kept, each value in
    its wire form), so a referral just read gives that back instead of building it; once a field
    is set here it builds the body anew."""
    doc: dict[str, Any] = {
        "id": "r1",
        "details": {"dealValue": "10000.50", "closingDateTime": "2020-12-01T00:00:00.1234567Z"},
        "unknownKey": {"kept": True},
    }
    referral = Referral.read(doc)
    assert referral.as_read() is doc
    assert referral.as_read() == referral.to_wire()

    referral.external_reference_id = "006000000000001"
    assert referral.as_read()["externalReferenceId"] == "006000000000001"
    assert Referral.model_validate(doc).as_read() == doc  # made here: built, equal


def test_an_object_inside_a_referral_is_replaced_not_edited_so_the_referral_knows_it_changed() -> (
    None
):
    """Were a nested object edited in place, the referral would give back the body it was read
    from without the edit; it is frozen instead, and a replacement is seen."""
    doc: dict[str, Any] = {"id": "r1", "details": {"notes": "first"}}
    referral = Referral.read(doc)
    assert referral.details is not None
    with pytest.raises(ValidationError, match="frozen"):
        referral.details.notes = "second"
    referral.details = referral.details.model_copy(update={"notes": "second"})
    assert referral.as_read()["details"] == {"notes": "second"}
    assert doc["details"] == {"notes": "first"}
