"""Each emulator has a minimal page per record, so record links work in a sandbox; the pages are
escaped, answer 404 for unknown ids, and are not counted as API calls."""

from __future__ import annotations

from starlette.testclient import TestClient

from cosell.emulators.partner_center import create_app as partner_center_app
from cosell.emulators.salesforce import SalesforceEmulatorConfig
from cosell.emulators.salesforce import create_app as salesforce_app

HOSTILE = "<script>alert(1)</script> deal"


def test_partner_center_portal_page_of_a_referral() -> None:
    app = partner_center_app()
    client = TestClient(app, base_url="http://pc.test")
    body = {"name": HOSTILE, "type": "Shared", "details": {"dealValue": 20000}}
    referral = client.post("/_emulator/referrals", json=body).json()
    calls_before = client.get("/_emulator/calls").json()
    page = client.get(f"/dashboard/v2/referrals/{referral['id']}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; deal" in page.text
    assert "<script>" not in page.text
    assert "20000" in page.text
    assert client.get("/_emulator/calls").json() == calls_before
    assert client.get("/dashboard/v2/referrals/nope").status_code == 404
    app.state.emulator.close()


def test_salesforce_record_page_by_id_and_lightning_path() -> None:
    app = salesforce_app(SalesforceEmulatorConfig())
    emulator = app.state.emulator
    with emulator.lock:
        obj = emulator.org.object("Account")
        record = emulator.org.create_seed(obj, Name=HOSTILE)
    client = TestClient(app, base_url="http://sf.test")
    for path in (f"/{record['Id']}", f"/lightning/r/Account/{record['Id']}/view"):
        page = client.get(path)
        assert page.status_code == 200
        assert "Account: &lt;script&gt;" in page.text
    assert client.get("/001000000000000AAA").status_code == 404
    assert client.get("/not-an-id").status_code == 404
