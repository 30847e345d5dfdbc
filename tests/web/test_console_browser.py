"""The console in real headless Chromium (Playwright for Python, Debian's chromium): sign in,
find a record by customer, open it and see the difference, retry a dead letter from the keyboard,
pick an account for a conflict, a viewer cannot act, a cross-site form post is refused, and the
basics of accessibility (labels, headings, landmarks, keyboard focus). Each page is saved as a
screenshot (``COSELL_SCREENSHOTS``, default ``build/screenshots``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_support import ARGS, CHROMIUM, SCREENSHOTS, axe_source, ensure_chromium
from console_seed import FakeSides, seed
from console_world import PASSWORDS, ConsoleWorld
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from cosell.clock import ManualClock
from cosell.operations.call_meter import (
    CRM_CALLS,
    PARTNER_CENTER_CALLS,
    PROPAGATION_MS,
    PROPAGATIONS,
)
from cosell.operations.checks import Check
from cosell.operations.connection_health import keep_allowance, keep_checks
from cosell.sandbox.servers import ServedApp, bind
from cosell.store.alerts import Alert
from cosell.store.records import TenantId
from cosell.store.sql import Store, sqlite_url
from cosell.sync.core.mapping import default_mapping
from cosell.web.site import ConsoleSetup

pytestmark = pytest.mark.timeout(900)  # the first test may install chromium
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)"""


class Served:
    def __init__(self, world: ConsoleWorld, console: ServedApp, evil: ServedApp) -> None:
        self.world, self.console, self.evil = world, console, evil


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = ensure_chromium()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    clock = ManualClock(START)
    store = Store.open(sqlite_url(tmp_path_factory.mktemp("browser")), clock=clock)
    setup = ConsoleSetup(default_mapping(), [("Tenant", "acme"), ("Console sign-in", "required")])
    world = ConsoleWorld(store, clock, FakeSides(), setup)
    seed(store, world.tenant)
    hour = clock.now().replace(minute=0, second=0, microsecond=0)
    calls = {(hour - timedelta(hours=h)).isoformat(): 40 + (h * 37) % 90 for h in range(24)}
    store.set_cursor(world.tenant, PARTNER_CENTER_CALLS, json.dumps(calls))
    crm = {(hour - timedelta(hours=h)).isoformat(): 100 + (h * 53) % 160 for h in range(24)}
    store.set_cursor(world.tenant, CRM_CALLS, json.dumps(crm))
    done = {(hour - timedelta(hours=h)).isoformat(): 10 for h in range(24)}
    spent = {
        (hour - timedelta(hours=h)).isoformat(): 10 * (4000 + (h * 2700) % 9000) for h in range(24)
    }
    store.set_cursor(world.tenant, PROPAGATIONS, json.dumps(done))
    store.set_cursor(world.tenant, PROPAGATION_MS, json.dumps(spent))
    _seed_health(store, world.tenant, clock)
    console = ServedApp("console", bind(0))
    console.start(world.app)
    evil = ServedApp("evil", bind(0))
    evil.start(_evil_site(console.url))
    yield Served(world, console, evil)
    evil.stop()
    console.stop()
    store.close()


def _seed_health(store: Store, tenant: TenantId, clock: ManualClock) -> None:
    """A day of Salesforce allowance checks climbing into the reserve, and the last round."""
    now = clock.now()
    for h in range(23, -1, -1):
        used = 600 + (23 - h) ** 2 * 155
        keep_allowance(store, tenant, now - timedelta(hours=h), used, 100_000)
    store.set_cursor(
        tenant,
        "signal:last_webhook",
        json.dumps(
            {
                "at": (now - timedelta(minutes=7)).isoformat(),
                "what": "Stage changed",
                "detail": "R-1",
            }
        ),
    )
    checks = [
        Check("Partner Center sign-in", "ok", "signed in; the webhook API answered"),
        Check(
            "webhook registration",
            "fail",
            "registration points at https://old.example.com/webhooks/partner-center — another "
            "tool took it over (Partner Center keeps one URL per tenant)",
            "run: cosell webhooks register --url https://cosell.example.com/webhooks/"
            "partner-center --overwrite",
        ),
        Check(
            "CRM sign-in",
            "warn",
            "signed in to Salesforce; API calls left today: 17,405 of 100,000 (inside the reserve)",
            "background sync pauses in the reserve; raise the org's limit or wait",
        ),
        Check("last webhook delivery", "ok", "Stage changed 7 minutes ago"),
    ]
    keep_checks(store, tenant, checks, now - timedelta(hours=2))
    keep_checks(store, tenant, checks, now - timedelta(minutes=3))  # unchanged: since stays
    for alert, failed in (
        (
            Alert(
                "referral:R-2",
                "refused@1",
                "refused",
                "Fabrikam: refused",
                "Close date",
                "/records/R-2",
            ),
            None,
        ),
        (
            Alert(
                "connection:webhook registration",
                "fail@1",
                "connection",
                "webhook registration: failing",
                "taken over",
            ),
            "ops-mail: SMTPServerDisconnected: Connection unexpectedly closed",
        ),
    ):
        store.add_alert(tenant, alert, ["sales-ops", "ops-mail"])
        (due,) = store.due_alerts(tenant)
        pending = ["ops-mail"] if failed else []
        store.settle_alert(due.id, pending, failed, now + timedelta(minutes=2) if failed else None)


def _evil_site(target: str) -> Starlette:
    """Another origin whose page posts a form to the console (no token: it cannot read one)."""
    form = f"""<!doctype html><title>win a prize</title><form method="post"
      action="{target}/dead-letters/retry"><input type="hidden" name="key" value="*all*">
      <button id="go">Claim</button></form>"""

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse(form)

    return Starlette(routes=[Route("/", page)])


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(
        base_url=served.console.url, viewport={"width": 1280, "height": 900}
    )
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Any, user: str) -> None:
    page.goto("/")
    assert page.url.endswith("/sign-in?next=%2F")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible_basics(page: Any) -> None:
    assert page.evaluate(UNLABELLED) == []
    assert page.locator("h1").count() == 1
    assert page.locator("h2").count() >= 1
    assert page.locator("main").count() == 1
    assert page.locator("header").count() == 1


def test_sign_in_with_a_wrong_then_the_right_password(page: Any) -> None:
    page.goto("/")
    shot(page, "sign-in")
    accessible_basics(page)
    page.get_by_label("User name").fill("otto")
    page.get_by_label("Password").fill("not-my-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "User name or password is wrong."
    page.get_by_label("Password").fill(PASSWORDS["otto"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    assert "otto (operator)" in page.locator("header").inner_text()
    shot(page, "overview")
    accessible_basics(page)


def test_the_overview_shows_connection_health_and_api_use_over_time(page: Any) -> None:
    sign_in(page, "vera")
    health = page.locator("#health + table")
    registration = health.get_by_role("row", name="webhook registration")
    assert "Failing" in registration.inner_text()
    assert "cosell webhooks register" in registration.inner_text()
    assert "Needs a look" in health.get_by_role("row", name="CRM sign-in").inner_text()
    assert "OK" in health.get_by_role("row", name="Partner Center sign-in").inner_text()
    assert "Stage changed" in health.get_by_role("row", name="last webhook delivery").inner_text()
    signals = page.get_by_role("table").filter(has_text="Last related-records poll")
    assert signals.get_by_role("row", name="Last Salesforce poll").count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    signals.screenshot(path=str(SCREENSHOTS / "console-signals.png"))
    charts = page.locator(".charts svg[role=img]")
    labels = [charts.nth(i).get_attribute("aria-label") or "" for i in range(charts.count())]
    assert labels[0].startswith("Salesforce API allowance used: 1–83 % over 24 h")
    assert "the reserve starts at 80 % used; now 82,595 of 100,000 calls" in labels[0]
    assert any(label.startswith("Partner Center calls") for label in labels)
    assert any(label.startswith("CRM calls") for label in labels)
    assert any(label.startswith("Propagation, hourly average") for label in labels)
    assert page.locator(".charts svg line.limit").count() == 1
    assert page.locator(".charts svg").first.locator("rect").count() == 24
    top = page.locator("#health").bounding_box()
    bottom = page.locator(".charts").bounding_box()
    clip = {
        "x": 0,
        "y": top["y"] - 16,
        "width": 1280,
        "height": bottom["y"] + bottom["height"] - top["y"] + 32,
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-health.png"), full_page=True, clip=clip)


def test_find_a_record_by_customer_and_see_the_difference(page: Any) -> None:
    sign_in(page, "vera")
    page.get_by_role("link", name="Records").click()
    page.get_by_label("Search (deal, customer, owner, id)").fill("Contoso Ltd")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/records?q=Contoso+Ltd**")
    rows = page.locator("tbody tr")
    assert rows.count() == 1
    assert "Contoso Ltd" in rows.first.inner_text()
    shot(page, "records")
    accessible_basics(page)
    page.get_by_role("link", name="Contoso AI pilot").click()
    page.wait_for_url("**/records/R-1")
    assert "1 difference between the sides" in page.inner_text("main")
    differing = page.locator("tr.differs-row")
    assert differing.count() == 1
    assert "deal_value" in differing.inner_text()
    assert "25000" in differing.inner_text()
    shot(page, "record")
    accessible_basics(page)


def test_search_as_you_type_updates_the_table(page: Any) -> None:
    sign_in(page, "vera")
    page.goto("/records")
    page.get_by_label("Search (deal, customer, owner, id)").press_sequentially("fabrik", delay=30)
    from playwright.sync_api import expect

    expect(page.locator("#records-table tbody tr")).to_have_count(1)
    assert "Fabrikam rollout" in page.locator("#records-table").inner_text()


def test_retry_a_dead_letter_from_the_keyboard(page: Any, served: Served) -> None:
    sign_in(page, "otto")
    page.goto("/records/R-2")
    assert "Salesforce refused this record" in page.inner_text("main")
    shot(page, "refused-record")
    retry = page.get_by_role("button", name="Retry")
    for _ in range(40):
        page.keyboard.press("Tab")
        if retry.evaluate("b => b === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Retry button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/records/R-2?notice=**")
    assert "Requeued opportunity:006B" in page.get_by_role("status").first.inner_text()
    assert served.world.store.dead_letters(served.world.tenant) == []


def test_resolve_an_account_conflict_by_picking_an_account(page: Any, served: Served) -> None:
    sign_in(page, "otto")
    page.goto("/conflicts")
    shot(page, "conflicts")
    accessible_basics(page)
    page.get_by_role("link", name="pick one on the record").click()
    page.wait_for_url("**/records/R-4")
    assert page.get_by_role("button", name="Take Partner Center").count() == 0
    shot(page, "account-choice")
    page.get_by_label("Tailspin Toys Ltd").check()
    page.get_by_role("button", name="Use this account").click()
    page.wait_for_url("**/records/R-4?notice=**")
    assert '"001BBB"' in page.get_by_role("status").first.inner_text()
    [resolved] = served.world.store.conflicts(served.world.tenant, "resolved")
    assert resolved.field == "account"


def test_a_viewer_cannot_act(page: Any) -> None:
    sign_in(page, "vera")
    page.goto("/records/R-3")
    assert page.get_by_role("button", name="Sync now").count() == 0
    assert page.get_by_role("button", name="Take CRM").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forced = page.request.post("/records/R-3/sync", form={"csrf": csrf})
    assert forced.status == 403
    assert "viewer" in forced.text()


def test_a_cross_site_form_post_is_refused(page: Any, served: Served) -> None:
    sign_in(page, "otto")
    world = served.world
    world.store.enqueue(world.tenant, "opportunity:006X")
    for job in world.store.claim("test", world.clock.now(), 60, limit=10):
        world.store.dead_letter(job, "RejectedError: bad")
    before = [d.key for d in world.store.dead_letters(world.tenant)]
    assert "opportunity:006X" in before
    page.goto(served.evil.url)
    with page.expect_response(lambda r: "/dead-letters/retry" in r.url) as answer:
        page.click("#go")
    assert answer.value.status == 403
    assert [d.key for d in world.store.dead_letters(world.tenant)] == before
    shot(page, "cross-site-refused")


def test_the_console_refuses_to_be_framed_and_runs_no_inline_script(page: Any) -> None:
    response = page.goto("/sign-in")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, "vera")
    page.goto("/records")
    assert errors == []  # no CSP violation from the console's own pages


@pytest.mark.parametrize(
    ("link", "name"),
    [("Dead letters", "dead-letters"), ("Mapping", "mapping"), ("Settings", "settings")],
)
def test_every_page_has_labels_headings_and_landmarks(page: Any, link: str, name: str) -> None:
    sign_in(page, "ada")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=link).click()
    page.wait_for_load_state()
    assert page.locator("nav a[aria-current=page]").inner_text() == link
    accessible_basics(page)
    shot(page, name)


AXE_RUN = """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}))
  .violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"""


def test_axe_finds_no_serious_violations(browser: Any, served: Served) -> None:
    source, reason = axe_source()
    if source is None:
        pytest.skip(reason)
    # axe is injected as a script of the test's own: the console's CSP would refuse it
    context = browser.new_context(base_url=served.console.url, bypass_csp=True)
    page = context.new_page()
    found: dict[str, list[Any]] = {}

    def audit(path: str) -> None:
        page.goto(path)
        page.add_script_tag(content=source)
        bad = [v for v in page.evaluate(AXE_RUN) if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad

    try:
        audit("/sign-in")
        sign_in(page, "ada")
        for path in ("/", "/records", "/records/R-1", "/records/R-4", "/conflicts"):
            audit(path)
        for path in ("/dead-letters", "/mapping", "/settings"):
            audit(path)
    finally:
        context.close()
    assert found == {}, json.dumps(found, indent=1)
