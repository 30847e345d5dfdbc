"""Several tenants in one deployment: two tenants, each with its own Partner Center and
Salesforce emulator pair, served by one ``cosell run`` runtime over one store and one queue."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cosell.clients.connect import partner_center_client, salesforce_client
from cosell.clock import SystemClock
from cosell.operations.users import UserDirectory
from cosell.queue.embedded import EmbeddedQueue
from cosell.sandbox import connector
from cosell.sandbox.emulators import Emulators, start_emulators
from cosell.service.runtime import Runtime, build_runtime
from cosell.settings import Settings, tenant_env_prefix
from cosell.store.records import TenantId
from cosell.store.schema import queue as queue_table
from cosell.store.sql import Store
from cosell.store.users import UserTable
from cosell.sync.engine.engine import queue_handler
from cosell.webhooks.events import EVENTS, webhook_path
from support.wait import wait_until

NAMES = ("alpha", "beta")
QUICK = {"poll_min_interval": 0.5, "poll_max_interval": 1.0, "sweep_interval": 60.0}


@dataclass
class Deployment:
    settings: Settings
    runtime: Runtime
    emulators: dict[str, Emulators]
    store: Store
    ids: dict[str, TenantId]
    config: dict[str, Any]
    """The deployment's configuration, as a cosell.toml would hold it."""

    def pc(self, name: str) -> str:
        return self.emulators[name].partner_center.url

    def share(self, name: str, title: str) -> str:
        body = {"name": title, "type": "Shared", "customerProfile": {"name": f"{title} Ltd"}}
        made = httpx.post(f"{self.pc(name)}/_emulator/referrals", json=body, timeout=10)
        made.raise_for_status()
        return str(made.json()["id"])

    def linked(self, name: str, referral_id: str) -> bool:
        link = self.store.link_by_referral(self.ids[name], referral_id)
        return link is not None and link.opportunity_id is not None

    @property
    def address(self) -> str:
        assert self.runtime.server is not None
        return self.runtime.server.address

    def users(self, tenant: str) -> UserDirectory:
        """The users of one tenant's console (what ``cosell --tenant NAME users`` works on)."""
        table = UserTable(self.store.engine, tenant)
        return UserDirectory(table, SystemClock(), timedelta(hours=1))

    def opportunities(self, name: str) -> list[dict[str, Any]]:
        tenant = self.settings.for_tenant(name)
        with connector.opened_clients() as http:
            crm = salesforce_client(tenant, SystemClock(), http)
            return list(crm.query_all("SELECT Id, Name, Referral_Identifier__c FROM Opportunity"))


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    emulators: dict[str, Emulators] = {}
    runtime: Runtime | None = None
    try:
        tenants: dict[str, Any] = {}
        for name in NAMES:
            state = tmp_path / name
            state.mkdir()
            emulators[name] = found = start_emulators(state, 0, 0)
            data = connector.config_data(found, state, 0)
            data["partner_center"]["emulated_clock"] = False
            tenants[name] = {
                "partner_center": data["partner_center"],
                "salesforce": data["salesforce"],
            }
            for variable, value in connector.secret_env(found).items():
                monkeypatch.setenv(
                    tenant_env_prefix(name) + variable.removeprefix("COSELL_"), value
                )
        data = connector.config_data(emulators[NAMES[0]], tmp_path, 0)
        data["sync"] = {**data["sync"], **QUICK}
        data["service"]["workers"] = 2
        data["service"]["dashboard_sign_in"] = True
        config = {"service": data["service"], "sync": data["sync"], "tenants": tenants}
        settings = Settings(**config)
        for name in NAMES:
            connector.set_up_salesforce(settings.for_tenant(name))
        runtime = build_runtime(settings, queue_handler, clock=SystemClock())
        runtime.start()
        assert runtime.server is not None
        for name in NAMES:
            with connector.opened_clients() as http:
                client = partner_center_client(settings.for_tenant(name), SystemClock(), http)
                url = f"{runtime.server.address}{webhook_path(name)}"
                client.register_or_overwrite(url, list(EVENTS), overwrite=True)
        store = Store.open(settings.database_url)
        ids = {name: store.ensure_tenant(name) for name in NAMES}
        yield Deployment(settings, runtime, emulators, store, ids, config)
        store.close()
    finally:
        if runtime is not None:
            runtime.stop(timeout=30)
        for found in emulators.values():
            found.stop()
            found.pc_app.state.emulator.close()


def test_a_webhook_for_one_tenant_never_touches_the_other(deployment: Deployment) -> None:
    referral = deployment.share("alpha", "Alpha deal")
    wait_until(lambda: deployment.linked("alpha", referral), 30, 0.1, "alpha's link")
    alpha = deployment.opportunities("alpha")
    assert [o["Referral_Identifier__c"] for o in alpha] == [referral]
    assert deployment.opportunities("beta") == []
    beta = deployment.ids["beta"]
    assert deployment.store.recent_audit(beta) == []
    assert deployment.store.ledger(beta) == []
    assert deployment.store.link_by_referral(beta, referral) is None
    assert deployment.store.stats(beta).links_by_state == {}
    # beta's Partner Center was never asked about alpha's referral
    calls = deployment.emulators["beta"].pc_app.state.emulator.calls.snapshot()["calls"]
    assert not [c for c in calls if "referrals/{id}" in c]
    assert [
        c
        for c in deployment.emulators["alpha"].pc_app.state.emulator.calls.snapshot()["calls"]
        if "referrals/{id}" in c
    ]


def test_a_webhook_for_an_unknown_tenant_is_refused(deployment: Deployment) -> None:
    assert deployment.runtime.server is not None
    url = f"{deployment.runtime.server.address}{webhook_path('gamma')}"
    assert httpx.post(url, json={"EventName": "referral-created"}).status_code == 404
    home = httpx.get(f"{deployment.runtime.server.address}/")
    assert home.status_code == 200
    assert not [name for name in NAMES if name in home.text]


def test_one_tenants_throttled_partner_center_does_not_delay_the_other(
    deployment: Deployment,
) -> None:
    throttle = {
        "kind": "throttle",
        "params": {"retry_after": 4},
        "rate": 1.0,
        "path": "/v1.0/engagements",
    }
    httpx.post(f"{deployment.pc('alpha')}/_emulator/faults", json=throttle).raise_for_status()
    throttled = [deployment.share("alpha", f"Alpha {n}") for n in range(4)]
    alpha = deployment.ids["alpha"]
    queue = deployment.runtime.queue
    assert isinstance(queue, EmbeddedQueue)
    queue.enqueue_many(alpha, [f"referral:{r}" for r in throttled])
    # alpha's keys take what workers they may: each reconcile now sleeps through the client's
    # 4-second Retry-Afters before it gives up
    wait_until(lambda: deployment.store.stats(alpha).leased, 10, 0.05, "alpha holding a worker")
    started = time.monotonic()
    referral = deployment.share("beta", "Beta deal")
    wait_until(lambda: deployment.linked("beta", referral), 30, 0.1, "beta's link")
    took = time.monotonic() - started
    print(f"beta synced in {took:.1f}s while alpha's Partner Center throttled every call")
    # beta did not wait for an alpha reconcile to give up: none has failed yet
    assert not any(deployment.linked("alpha", r) for r in throttled)
    with deployment.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(queue_table.c.last_error).where(queue_table.c.tenant_id == alpha)
        )
        assert [row.last_error for row in rows] == [None] * len(throttled)
    # alpha's in-flight reconciles end soon once its API answers again
    httpx.delete(f"{deployment.pc('alpha')}/_emulator/faults").raise_for_status()


def test_metrics_show_each_tenant_under_its_own_label(deployment: Deployment) -> None:
    referral = deployment.share("alpha", "Alpha metered deal")
    wait_until(lambda: deployment.linked("alpha", referral), 30, 0.1, "alpha's link")
    assert deployment.runtime.server is not None
    url = f"{deployment.runtime.server.address}/metrics"

    def propagated() -> list[str] | None:
        # the link commits inside the reconcile; its propagation is observed as it returns
        text = httpx.get(url).text
        lines = [line for line in text.splitlines() if not line.startswith("#")]
        count = 'cosell_propagation_seconds_count{path="partner_center_to_crm",tenant="alpha"}'
        return lines if any(line.startswith(count) for line in lines) else None

    samples = wait_until(propagated, 30, 0.1, "alpha's propagation observed")

    def sample(prefix: str, tenant: str) -> list[str]:
        return [s for s in samples if s.startswith(prefix) and f'tenant="{tenant}"' in s]

    alpha_records = sample("cosell_records{", "alpha")
    assert sum(float(s.rsplit(" ", 1)[1]) for s in alpha_records) == 1.0  # its one record
    assert sample("cosell_records", "beta") == []  # beta has no record at all
    assert sample("cosell_queue_depth", "alpha")
    assert sample("cosell_queue_depth", "beta") == ['cosell_queue_depth{tenant="beta"} 0.0']
    alpha_webhooks = sample('cosell_webhooks_received_total{event="referral-created"', "alpha")
    assert alpha_webhooks == [
        'cosell_webhooks_received_total{event="referral-created",tenant="alpha"} 1.0'
    ]
    assert sample("cosell_webhooks_received_total", "beta") == []
    assert sample('cosell_api_calls_total{route="GET /v1.0/engagements/referrals/{id}"', "alpha")
    assert (
        sample('cosell_api_calls_total{route="GET /v1.0/engagements/referrals/{id}"', "beta") == []
    )


PASSWORD = "a long enough password"


class _Links(HTMLParser):
    """Every address a page points at: links, form actions, scripts, htmx requests."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "action", "src", "hx-get", "hx-post") and value:
                self.found.append(value)


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.found


def sign_in(client: httpx.Client, root: str, name: str) -> httpx.Response:
    form = client.get(f"{root}/sign-in")
    found = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert found is not None, form.text
    data = {"username": name, "password": PASSWORD, "csrf": found.group(1), "next": "/records"}
    return client.post(f"{root}/sign-in", data=data)


def test_each_tenants_console_shows_its_own_records_to_its_own_users_only(
    deployment: Deployment,
) -> None:
    shared = {n: deployment.share(n, f"{n.title()} console deal") for n in NAMES}
    for name, referral in shared.items():
        linked = partial(deployment.linked, name, referral)
        wait_until(linked, 30, 0.1, f"{name}'s link")
    deployment.users("alpha").add("alice", "admin", PASSWORD)
    deployment.users("beta").add("bob", "operator", PASSWORD)
    with pytest.raises(ValueError, match="exists already"):
        deployment.users("beta").add("alice", "viewer", PASSWORD)
    assert [u.name for u in deployment.users("beta").listed()] == ["bob"]
    token = deployment.users("alpha").issue_token("alice", "script")
    with pytest.raises(LookupError):
        deployment.users("beta").issue_token("alice", "script")

    with httpx.Client(base_url=deployment.address, timeout=10) as alice:
        signed = sign_in(alice, "/t/alpha", "alice")
        assert (signed.status_code, signed.headers["location"]) == (303, "/t/alpha/records")
        records = alice.get("/t/alpha/records")
        assert records.status_code == 200
        assert "Alpha console deal" in records.text
        assert "Beta console deal" not in records.text
        # every page of alpha's console points inside it (or at the shared static files,
        # health and metrics), so an operator never lands on another console or a 404
        pages = ["/", "/records", f"/records/{shared['alpha']}", "/conflicts", "/dead-letters"]
        pages += ["/mapping", "/settings"]
        for page in pages:
            answer = alice.get(f"/t/alpha{page}")
            assert answer.status_code == 200, (page, answer.text[:300])
            for link in links_of(answer.text):
                if link.startswith(("http", "#", "data:")):
                    continue
                shared_paths = ("/static/", "/metrics", "/healthz")
                assert link.startswith(("/t/alpha/", *shared_paths)), (page, link)
        session = alice.cookies.get("cosell_session")
        assert session is not None
        assert alice.cookies.jar is not None
        assert {c.path for c in alice.cookies.jar if c.name == "cosell_session"} == {"/t/alpha/"}

        # alice's session and name mean nothing to beta's console
        home = httpx.get(
            f"{deployment.address}/t/beta/records", cookies={"cosell_session": session}
        )
        assert home.status_code == 303
        assert home.headers["location"] == "/t/beta/sign-in?next=%2Frecords"
        with httpx.Client(base_url=deployment.address, timeout=10) as stranger:
            refused = sign_in(stranger, "/t/beta", "alice")
            assert refused.status_code == 401
            assert "Beta console deal" not in refused.text

    bearer = {"Authorization": f"Bearer {token}"}
    mine = httpx.get(f"{deployment.address}/t/alpha/api/v1/records", headers=bearer)
    assert mine.status_code == 200
    assert "Alpha console deal" in mine.text
    assert "Beta console deal" not in mine.text
    theirs = httpx.get(f"{deployment.address}/t/beta/api/v1/records", headers=bearer)
    assert theirs.status_code == 401
    document = httpx.get(f"{deployment.address}/t/alpha/api/v1/openapi.json").json()
    assert document["servers"] == [{"url": "/t/alpha"}]

    with httpx.Client(base_url=deployment.address, timeout=10) as bob:
        assert sign_in(bob, "/t/beta", "bob").status_code == 303
        records = bob.get("/t/beta/records")
        assert "Beta console deal" in records.text
        assert "Alpha console deal" not in records.text
        # a record of alpha's is not found through beta's console
        assert bob.get(f"/t/beta/records/{shared['alpha']}").status_code == 404

    assert httpx.get(f"{deployment.address}/t/gamma/").status_code == 404


def toml(data: dict[str, Any], prefix: str = "") -> str:
    """A cosell.toml of nested tables (what this test's configuration holds: strings, numbers,
    booleans and lists of strings)."""
    lines = [f"[{prefix}]"] if prefix else []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = {json.dumps(str(value) if isinstance(value, Path) else value)}")
    text = "\n".join(lines) + "\n"
    for key, value in tables:
        text += "\n" + toml(value, f"{prefix}.{key}" if prefix else key)
    return text


def test_a_tenants_commands_show_nothing_of_another(deployment: Deployment, tmp_path: Path) -> None:
    referral = deployment.share("alpha", "Alpha audited deal")
    wait_until(lambda: deployment.linked("alpha", referral), 30, 0.1, "alpha's link")
    path = tmp_path / "cosell.toml"
    path.write_text(toml(deployment.config))

    def cosell(tenant: str, *args: str) -> tuple[int, str]:
        # a process of its own: the runtime's log lines never mix into its output
        command = [sys.executable, "-m", "cosell", "--tenant", tenant, *args]
        done = subprocess.run(
            [*command, "--config", str(path)], capture_output=True, text=True, timeout=120
        )
        return done.returncode, done.stdout + done.stderr

    code, alpha = cosell("alpha", "audit", referral, "--json")
    assert code == 0
    assert referral in alpha
    code, beta = cosell("beta", "audit", referral)
    assert code == 1
    assert f"no audit rows for {referral}" in beta
    code, alpha_status = cosell("alpha", "status", "--offline", "--json")
    assert code == 0, alpha_status
    code, beta_status = cosell("beta", "status", "--offline", "--json")
    assert code == 0, beta_status
    assert "Alpha audited deal" in alpha_status or referral in alpha_status
    assert "Alpha audited deal" not in beta_status
    assert referral not in beta_status
    code, missing = cosell("gamma", "status", "--offline")
    assert code == 2
    assert "no tenant 'gamma' in [tenants] (alpha, beta)" in missing
