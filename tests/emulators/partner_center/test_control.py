import json
import time
from pathlib import Path

import httpx
import pytest
from pc_helpers import (
    REFERRALS,
    TOKEN_PATH,
    Receiver,
    create,
    deliveries,
    password_token,
    register,
)
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig, book, create_app
from cosell.emulators.partner_center.emulator import Emulator
from support.wait import wait_until

EVENTS = ["referral-created", "referral-updated"]


def bearer(client: TestClient) -> dict[str, str]:
    return {"Authorization": "Bearer " + password_token(client)["access_token"]}


def test_shared_referral_expires_after_14_days(
    client: TestClient, auth: dict[str, str], receiver: Receiver, emulator: Emulator
) -> None:
    register(client, auth, EVENTS)
    shared = client.post("/_emulator/referrals", json={"name": "From Microsoft"}).json()
    assert (shared["direction"], shared["status"], shared["substatus"]) == (
        "Incoming",
        "New",
        "Pending",
    )
    client.post("/_emulator/clock", json={"advance_seconds": 13 * 86400})
    assert client.get(f"{REFERRALS}/{shared['id']}", headers=auth).status_code == 401
    fresh = bearer(client)
    assert client.get(f"{REFERRALS}/{shared['id']}", headers=fresh).json()["status"] == "New"
    client.post("/_emulator/clock", json={"advance_seconds": 86400})
    expired = client.get(f"{REFERRALS}/{shared['id']}", headers=bearer(client)).json()
    assert (expired["status"], expired["substatus"]) == ("Closed", "Expired")
    wait_until(lambda: receiver.events() == ["referral-created", "referral-updated"])


def test_expiry_looks_only_at_the_referrals_due(
    client: TestClient, auth: dict[str, str], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request first closes the referrals whose 14 days have passed; it reads the
    referrals that are due, not every referral of the tenant."""
    shared = [client.post("/_emulator/referrals", json={"name": f"R{n}"}).json() for n in range(60)]
    accept = [
        {"op": "replace", "path": "/status", "value": "Active"},
        {"op": "replace", "path": "/substatus", "value": "Accepted"},
    ]
    accepted = client.patch(f"{REFERRALS}/{shared[0]['id']}", json=accept, headers=auth)
    assert accepted.is_success, accepted.text
    client.post("/_emulator/clock", json={"advance_seconds": 13 * 86400})
    fresh = bearer(client)
    later = client.post("/_emulator/referrals", json={"name": "Later"}).json()
    looked: list[str] = []
    real = book.parse_time
    monkeypatch.setattr(book, "parse_time", lambda text: looked.append(text) or real(text))

    for _ in range(5):
        assert client.get(f"{REFERRALS}/{later['id']}", headers=fresh).status_code == 200
    assert looked == []  # nothing due: five requests read no referral's expiry

    client.post("/_emulator/clock", json={"advance_seconds": 86400})
    states = {r["id"]: r for r in emulator.data.referrals.values()}
    assert states[shared[0]["id"]]["status"] == "Active"  # accepted in time: never expires
    assert all(states[r["id"]]["substatus"] == "Expired" for r in shared[1:])
    assert states[later["id"]]["status"] == "New"  # its 14 days run a day later
    assert len(looked) <= 2 * 60  # the due ones, each looked at once or twice


def test_microsoft_patch_can_close(client: TestClient, auth: dict[str, str]) -> None:
    shared = client.post("/_emulator/referrals", json={}).json()
    closed = client.patch(
        f"/_emulator/referrals/{shared['id']}", json={"status": "Closed", "substatus": "Declined"}
    ).json()
    assert closed["eTag"] != shared["eTag"]
    accept = [{"op": "replace", "path": "/status", "value": "Active"}]
    response = client.patch(f"{REFERRALS}/{shared['id']}", json=accept, headers=auth)
    assert response.status_code == 400


def test_throttle_and_server_error_faults(client: TestClient, auth: dict[str, str]) -> None:
    client.post(
        "/_emulator/faults",
        json={"kind": "throttle", "params": {"retry_after": 7}, "path": REFERRALS},
    )
    throttled = client.get(REFERRALS, headers=auth)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json() == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 7 seconds.",
    }
    client.post(
        "/_emulator/faults",
        json={"kind": "server_error", "params": {"status": 503, "retry_after": 2}},
    )
    unavailable = client.get(REFERRALS, headers=auth)
    assert unavailable.status_code == 503
    assert unavailable.headers["Retry-After"] == "2"
    assert client.get(REFERRALS, headers=auth).status_code == 200
    assert client.post("/_emulator/faults", json={"kind": "bogus"}).status_code == 400
    client.post("/_emulator/faults", json={"kind": "latency", "params": {"seconds": 0.2}})
    started = time.monotonic()
    assert client.get(REFERRALS, headers=auth).status_code == 200
    assert time.monotonic() - started >= 0.2
    client.post("/_emulator/faults", json={"kind": "latency", "params": {"seconds": 0}, "count": 5})
    assert len(client.get("/_emulator/faults").json()["faults"]) == 1
    client.delete("/_emulator/faults")
    assert client.get("/_emulator/faults").json()["faults"] == []


def test_every_answer_carries_the_tracing_headers_and_only_api_calls_are_counted(
    client: TestClient, auth: dict[str, str], emulator: Emulator
) -> None:
    traced = {**auth, "client-request-id": "c-1", "MS-CorrelationId": "corr-1"}
    emulator.calls.reset()
    client.post("/_emulator/faults", json={"kind": "throttle", "path": REFERRALS, "count": 1})
    answers = [client.get(REFERRALS, headers=traced) for _ in range(2)]
    assert [a.status_code for a in answers] == [429, 200]
    for answer in answers:
        assert answer.headers["client-request-id"] == "c-1"
        assert answer.headers["MS-CorrelationId"] == "corr-1"
    assert answers[0].headers["request-id"] != answers[1].headers["request-id"]
    untraced = client.get(f"{REFERRALS}/nope", headers=auth)
    assert untraced.status_code == 404
    assert untraced.headers["client-request-id"]
    assert "MS-CorrelationId" not in untraced.headers
    assert client.get("/_emulator/faults").headers["request-id"]
    calls = emulator.calls.snapshot()["calls"]
    assert calls == {
        "GET /v1.0/engagements/referrals": 2,
        "GET /v1.0/engagements/referrals/{id}": 1,
    }


def test_webhook_drop_duplicate_reorder(
    client: TestClient, auth: dict[str, str], receiver: Receiver, emulator: Emulator
) -> None:
    register(client, auth, EVENTS)
    client.post("/_emulator/faults", json={"kind": "webhook_drop"})
    first = create(client, auth)
    client.post("/_emulator/faults", json={"kind": "webhook_duplicate"})
    second = create(client, auth)
    wait_until(lambda: len(receiver.requests) == 2)
    assert next(d["state"] for d in deliveries(emulator)) == "dropped"
    assert {d["referral_id"] for d in deliveries(emulator)[1:]} == {second["id"]}
    client.post("/_emulator/faults", json={"kind": "webhook_reorder"})
    third = create(client, auth)
    fourth = create(client, auth)
    wait_until(lambda: len(receiver.requests) == 4)
    order = [json.loads(r.content)["ResourceUri"].rsplit("/", 1)[1] for r in receiver.requests[2:]]
    assert order == [fourth["id"], third["id"]]
    assert first["id"] not in {d["referral_id"] for d in deliveries(emulator)[1:]}


def test_calls_are_counted_by_route(client: TestClient, auth: dict[str, str]) -> None:
    client.delete("/_emulator/calls")
    referral = create(client, auth)
    client.get(f"{REFERRALS}/{referral['id']}", headers=auth)
    calls = client.get("/_emulator/calls").json()["calls"]
    assert calls["GET /v1.0/engagements/referrals/{id}"] == 1
    assert calls["POST /v1.0/engagements/referrals"] == 1


def test_a_created_referral_has_its_moment_on_the_hosts_monotonic_clock(
    client: TestClient, auth: dict[str, str]
) -> None:
    before = time.monotonic()
    referral = create(client, auth)
    after = time.monotonic()
    moment = client.get(f"/_emulator/created/{referral['id']}").json()
    assert moment["id"] == referral["id"]
    assert before <= moment["monotonic"] <= after
    assert client.get("/_emulator/created/no-such-referral").status_code == 404
    assert client.post("/_emulator/reset").status_code == 204
    assert client.get(f"/_emulator/created/{referral['id']}").status_code == 404


def test_reset_empties_state_but_keeps_keys(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth)
    cert = client.get("/_emulator/certificate.cer").content
    assert client.post("/_emulator/reset").status_code == 204
    assert client.get(REFERRALS, headers=auth).status_code == 401
    fresh = bearer(client)
    assert client.get(REFERRALS, headers=fresh).json()["value"] == []
    assert client.get("/_emulator/certificate.cer").content == cert


def test_state_file_round_trip(tmp_path: Path, clock: ManualClock) -> None:
    config = PartnerCenterEmulatorConfig(state_file=tmp_path / "pc.json")
    transport = httpx.Client(transport=httpx.MockTransport(Receiver()))
    with TestClient(create_app(config, clock=clock, delivery_client=transport)) as first:
        token = password_token(first)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        referral = create(first, auth)
        register(first, auth, EVENTS)
        cert = first.get("/_emulator/certificate.cer").content
    with TestClient(create_app(config, clock=clock, delivery_client=transport)) as second:
        assert second.get(f"{REFERRALS}/{referral['id']}", headers=auth).json() == referral
        assert second.get("/webhooks/v1/registration", headers=auth).status_code == 200
        assert second.get("/_emulator/certificate.cer").content == cert
    transport.close()


def test_a_write_to_a_large_state_file_appends_its_referral_only(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A save costs about the referral written, not every referral written again."""
    path = tmp_path / "pc.json"
    config = PartnerCenterEmulatorConfig(state_file=path)
    journal = tmp_path / "pc.json.journal"
    transport = httpx.Client(transport=httpx.MockTransport(Receiver()))
    with TestClient(create_app(config, clock=clock, delivery_client=transport)) as first:
        auth = bearer(first)
        made = [create(first, auth, name=f"Deal {n}") for n in range(100)]
        snapshot, before = path.read_bytes(), journal.stat().st_size
        kept = len(snapshot) + before
        rename = [{"op": "replace", "path": "/name", "value": "Renamed"}]
        changed = first.patch(f"{REFERRALS}/{made[7]['id']}", json=rename, headers=auth)
        assert changed.status_code == 204
        written = journal.stat().st_size - before
        assert path.read_bytes() == snapshot
        assert 0 < written < 2 * len(json.dumps(made[7])) < kept // 20
        assert first.post("/_emulator/reset").status_code == 204
    with TestClient(create_app(config, clock=clock, delivery_client=transport)) as second:
        assert second.get(REFERRALS, headers=bearer(second)).json()["value"] == []
    transport.close()


def test_the_next_emulator_serves_what_the_journal_holds(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = PartnerCenterEmulatorConfig(state_file=tmp_path / "pc.json")
    transport = httpx.Client(transport=httpx.MockTransport(Receiver()))
    with TestClient(create_app(config, clock=clock, delivery_client=transport)) as first:
        auth = bearer(first)
        made = [create(first, auth, name=f"Deal {n}") for n in range(3)]
        rename = [{"op": "replace", "path": "/name", "value": "Renamed"}]
        fuller = {**auth, "Prefer": "return=representation"}
        renamed = first.patch(f"{REFERRALS}/{made[1]['id']}", json=rename, headers=fuller).json()
        assert renamed["name"] == "Renamed"
        first.post("/_emulator/clock", json={"advance_seconds": 60})
    with TestClient(create_app(config, clock=clock, delivery_client=transport)) as second:
        auth = bearer(second)
        assert second.get(f"{REFERRALS}/{made[1]['id']}", headers=auth).json() == renamed
        assert second.get(f"{REFERRALS}/{made[2]['id']}", headers=auth).json() == made[2]
        assert second.app.state.emulator.data.clock_offset_seconds == 60  # type: ignore[attr-defined]
    transport.close()


def test_revoking_tokens_ends_every_session_until_the_client_signs_in_again(
    client: TestClient,
) -> None:
    issued = password_token(client)
    auth = {"Authorization": "Bearer " + issued["access_token"]}
    assert client.get(REFERRALS, headers=auth).status_code == 200

    revoked = client.post("/_emulator/tokens/revoke", json={})
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] >= 1
    assert client.get(REFERRALS, headers=auth).status_code == 401
    assert client.get(REFERRALS, headers=bearer(client)).status_code == 200

    kept = password_token(client)
    assert client.post("/_emulator/tokens/revoke", json={"refresh": "yes"}).status_code == 400
    assert client.post("/_emulator/tokens/revoke", json={}).status_code == 200
    assert redeem(client, kept["refresh_token"]).status_code == 200  # refresh tokens survive
    gone = password_token(client)
    assert client.post("/_emulator/tokens/revoke", json={"refresh": True}).status_code == 200
    assert redeem(client, gone["refresh_token"]).status_code == 400


def redeem(client: TestClient, refresh_token: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": "cosell-sandbox",
        "refresh_token": refresh_token,
        "resource": "https://api.partner.microsoft.com",
    }
    return client.post(TOKEN_PATH, data=form)


def test_a_microsoft_update_with_if_match_is_refused_after_a_write_since(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A read-modify-write of the customer's team by Microsoft's side must not drop a partner's
    write made between the read and the write."""
    shared = client.post("/_emulator/referrals", json={"name": "From Microsoft"}).json()
    path = f"/_emulator/referrals/{shared['id']}"
    seen = client.get(f"{REFERRALS}/{shared['id']}", headers=auth).json()["eTag"]
    team = {"customerProfile": {"team": [{"firstName": "Mia", "email": "mia@f.example"}]}}
    accept = [{"op": "replace", "path": "/status", "value": "Active"}]
    accept.append({"op": "replace", "path": "/substatus", "value": "Accepted"})
    assert client.patch(f"{REFERRALS}/{shared['id']}", json=accept, headers=auth).status_code < 300

    refused = client.patch(path, json=team, headers={"If-Match": seen})
    assert refused.status_code == 412
    now = client.get(f"{REFERRALS}/{shared['id']}", headers=auth).json()
    assert "mia@f.example" not in str(now["customerProfile"].get("team"))
    taken = client.patch(path, json=team, headers={"If-Match": now["eTag"]})
    assert taken.status_code == 200
    assert [m["email"] for m in taken.json()["customerProfile"]["team"]] == ["mia@f.example"]
