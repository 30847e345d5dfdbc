import time

import pytest
from sf_api import Api


def test_call_log_counts_by_method_and_route(api: Api) -> None:
    api.client.delete("/_emulator/calls")
    api.opportunity()
    api.get("query", params={"q": "SELECT Id FROM Opportunity"})
    calls = api.client.get("/_emulator/calls").json()
    assert calls["total"] == 2
    assert calls["calls"] == {
        "GET /services/data/v{version}/query": 1,
        "POST /services/data/v{version}/sobjects/{sobject}": 1,
    }


def test_a_created_record_has_its_moment_on_the_hosts_monotonic_clock(api: Api) -> None:
    before = time.monotonic()
    opp = api.opportunity()
    after = time.monotonic()
    moment = api.client.get(f"/_emulator/created/{opp}").json()
    assert moment["id"] == opp
    assert before <= moment["monotonic"] <= after
    api.patch(f"sobjects/Opportunity/{opp}", json={"Amount": 1})  # an update is no create
    assert api.client.get(f"/_emulator/created/{opp}").json() == moment
    missing = api.client.get("/_emulator/created/0068d00100NoSuchAAA")
    assert missing.status_code == 404
    assert "no record" in missing.json()["error"]


def test_call_options_client_tag_is_recorded_for_writes(api: Api) -> None:
    headers = {"Sforce-Call-Options": "client=cosell/0.1, defaultNamespace=cs"}
    opp = api.post(
        "sobjects/Opportunity",
        json={"Name": "n", "StageName": "Prospecting", "CloseDate": "2026-01-01"},
        headers=headers,
    ).json()["id"]
    api.get(f"sobjects/Opportunity/{opp}", headers=headers)
    api.patch(f"sobjects/Opportunity/{opp}", json={"Amount": 1})
    recorded = api.client.get("/_emulator/call-options").json()["calls"]
    assert [(c["method"], c["client"]) for c in recorded] == [
        ("POST", "cosell/0.1"),
        ("PATCH", None),
    ]


def test_unable_to_lock_row_hits_next_writes_only(api: Api) -> None:
    opp = api.opportunity()
    api.client.post("/_emulator/faults", json={"kind": "unable_to_lock_row", "count": 2})
    assert api.get(f"sobjects/Opportunity/{opp}").status_code == 200
    for _ in range(2):
        locked = api.patch(f"sobjects/Opportunity/{opp}", json={"Amount": 3})
        assert locked.status_code == 400
        assert locked.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
        assert locked.json()[0]["fields"] == []
    assert api.patch(f"sobjects/Opportunity/{opp}", json={"Amount": 3}).status_code == 204


@pytest.mark.parametrize(
    ("kind", "params", "status"),
    [
        ("server_error", {}, 500),
        ("server_error", {"status": 503}, 503),
        ("rate_limited", {}, 420),
    ],
)
def test_edge_errors_have_html_bodies(
    api: Api, kind: str, params: dict[str, int], status: int
) -> None:
    api.client.post(
        "/_emulator/faults", json={"kind": kind, "params": params, "path": "/services/data"}
    )
    response = api.get("limits")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")
    assert api.get("limits").status_code == 200


def test_revoke_tokens_fault_ends_sessions(api: Api) -> None:
    api.client.post("/_emulator/faults", json={"kind": "revoke_tokens"})
    assert api.get("limits").status_code == 401
    api.relogin()
    assert api.get("limits").status_code == 200


def test_drop_connection_breaks_the_response(api: Api) -> None:
    api.client.post("/_emulator/faults", json={"kind": "drop_connection"})
    with pytest.raises(ConnectionAbortedError):
        api.get("limits")
    assert api.get("limits").status_code == 200


def test_latency_fault_delays_but_answers(api: Api) -> None:
    api.client.post("/_emulator/faults", json={"kind": "latency", "params": {"seconds": 0.01}})
    assert api.get("limits").status_code == 200
    assert api.client.get("/_emulator/faults").json() == {"faults": []}


def test_bad_fault_spec_is_refused(api: Api) -> None:
    response = api.client.post("/_emulator/faults", json={"kind": "meteor"})
    assert response.status_code == 400
    assert "kind" in response.json()["error"]
    refused = api.client.post("/_emulator/faults", json={"kind": "server_error", "after": -1})
    assert refused.status_code == 400
    assert "after" in refused.json()["error"]


def test_a_fault_lets_the_first_matching_calls_through_after_which_it_fires(api: Api) -> None:
    rule = {"kind": "server_error", "path": "/services/data/v62.0/limits", "after": 2}
    api.client.post("/_emulator/faults", json=rule)
    assert api.get("sobjects").status_code == 200  # another path: not counted
    assert [api.get("limits").status_code for _ in range(4)] == [200, 200, 500, 200]


def test_clock_and_reset(api: Api) -> None:
    before = api.client.get("/_emulator/clock").json()["now"]
    after = api.client.post("/_emulator/clock", json={"advance_seconds": 3600}).json()["now"]
    assert after > before
    api.relogin()
    api.opportunity()
    assert api.client.post("/_emulator/reset").json() == {"reset": True}
    assert api.get("limits").status_code == 401
    api.relogin()
    count = api.get("query", params={"q": "SELECT COUNT() FROM Opportunity"}).json()
    assert count["totalSize"] == 0
