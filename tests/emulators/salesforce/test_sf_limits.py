from email.utils import format_datetime, parsedate_to_datetime

from sf_api import Api, TestClient, login
from starlette.applications import Starlette

from cosell.clock import ManualClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app


def test_every_response_carries_usage_and_limits_counts(api: Api) -> None:
    first = api.get("limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert first.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99999}
    error = api.get("sobjects/Opportunity/006000000000000AAA")
    assert error.status_code == 404
    assert error.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    versions = api.client.get("/services/data/")
    assert "Sforce-Limit-Info" not in versions.headers


def test_403_past_daily_max_and_rolling_window(clock: ManualClock) -> None:
    config = SalesforceEmulatorConfig(daily_api_limit=5)
    with TestClient(create_app(config, clock=clock)) as client:
        api = Api(client, client.app, login(client, config))  # type: ignore[arg-type]
        for _ in range(5):
            clock.advance(60)
            assert api.get("limits").status_code == 200
        refused = api.get("limits")
        assert refused.status_code == 403
        assert refused.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=5/5"
        clock.advance(24 * 3600 - 5 * 60 + 61)  # the first call leaves the 24-hour window
        api.relogin()
        assert api.get("limits").status_code == 200


def test_limit_exhausted_fault(api: Api, app: Starlette) -> None:
    api.client.post("/_emulator/faults", json={"kind": "limit_exhausted", "count": 1})
    refused = api.get("limits")
    assert refused.status_code == 403
    assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert api.get("limits").status_code == 200


def test_every_api_response_carries_the_orgs_time_to_the_second(
    api: Api, clock: ManualClock
) -> None:
    clock.advance(0.75)  # seconds are whole on the wire
    first = api.get("limits")
    assert first.headers["Date"] == format_datetime(clock.now().replace(microsecond=0), usegmt=True)
    clock.advance(61)
    error = api.get("sobjects/Opportunity/006000000000000AAA")
    assert parsedate_to_datetime(error.headers["Date"]) == clock.now().replace(microsecond=0)
