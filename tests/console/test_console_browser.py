"""The console in a real browser (headless Chromium driven by Playwright) against the real app on uvicorn,
a real link run against the XPM simulator, and the real in-process executor: sign in, start a run and watch
it finish, approve and reject reviews, unlink and link again by searching XPM, merge a duplicate, settle
conflicts in bulk, sign out; a request without a session or with a bad CSRF token is refused. A screenshot
of each page is written under test-output/console/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.sample import generate_practice
from syncworker.services.connect import connect_with_refresh_token
from syncworker.services.context import ServiceContext
from syncworker.services.demo import settings_for_simulator
from syncworker.services.importer import import_clients, import_contacts
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database
from syncworker.store.models import Client, Connection, Link, RemoteRecord, SyncConflict
from tests.http import seed as http_seed
from tests.http.conftest import serving

pytestmark = pytest.mark.e2e
TENANT = "Harbour Accounting"
TOKEN = "browser-test-operator-token"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@dataclass
class Console:
    url: str
    db: Database


@pytest.fixture
def console(sqlite_db: Database, tmp_path: Path) -> Iterator[Console]:
    practice = generate_practice(120, seed=11)
    with XpmSimulator(practice=practice, seed=11) as sim:
        settings = settings_for_simulator(Settings(database_url=sqlite_db.url, operator_token=TOKEN), sim)
        ctx = ServiceContext(sqlite_db, settings)  # first: its key seals the tax numbers imported
        add_tenant(sqlite_db, TENANT)
        import_clients(sqlite_db, TENANT, practice.write_local_csv(tmp_path / "clients.csv"))
        import_contacts(sqlite_db, TENANT, practice.write_local_contacts_csv(tmp_path / "contacts.csv"))
        connect_with_refresh_token(ctx, TENANT, "xpm", sim.issue_refresh_token())
        executor = InProcessExecutor(ctx)
        try:
            with serving(create_app(ctx, executor)) as url:
                yield Console(url, sqlite_db)
        finally:
            executor.shutdown(wait=True)


def test_an_operators_day_in_the_console(console: Console, chromium: str, screenshots: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside: list[str] = []  # every asset is served by us: anything else is refused and remembered

        def only_ours(route: Any) -> None:
            if route.request.url.startswith(console.url) or route.request.url.startswith("data:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_ours)
        page.set_default_timeout(30_000)  # generous: the suite shares two cores with a link run and a server
        expect.set_options(timeout=30_000)

        def shot(name: str) -> None:
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

        # sign in
        page.goto(f"{console.url}/console")
        shot("01-sign-in")
        page.fill("input[name=operator]", "Robin Ops")
        page.fill("input[name=token]", TOKEN)
        page.click("button:has-text('Sign in')")
        expect(page).to_have_url(f"{console.url}/console/runs")

        # start a link run and watch it finish (the page refreshes itself while it runs)
        page.select_option("form.start select[name=kind]", "link_run")
        page.select_option("form.start select[name=system]", "xpm")
        page.click("form.start button:has-text('Start')")
        expect(page).to_have_url(re.compile(r"/console/runs/\d+$"))
        shot("02a-run-started")  # queued or running: the page refreshes itself until the run ends
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=90_000)
        expect(page.locator("#budget-left")).to_have_text(re.compile(r"^\d[\d,]*$"))  # XPM's day budget left
        shot("02-run-finished")
        page.goto(f"{console.url}/console/runs")
        latest = page.locator("table.runs tbody tr").first
        expect(latest).to_contain_text("linked new")  # what it did, the telling counts first
        expect(latest.locator("td.num").nth(1)).to_have_text(re.compile(r"^\d[\d,]* today$"))  # budget left
        shot("03-runs")

        # the review queue: approve one, reject another
        page.goto(f"{console.url}/console/reviews?tenant={TENANT}")
        shot("04-reviews")
        cards = page.locator("article.review")
        assert cards.count() >= 2, "the link run should leave pairs to review"
        first, second = (cards.nth(i).get_attribute("id").removeprefix("review-") for i in (0, 1))
        page.locator(f"#review-{first} button:has-text('Approve')").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"Suggestion {first} approved")
        page.locator(f"#review-{second} button:has-text('Reject')").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"Suggestion {second} rejected")
        with console.db.session() as s:
            assert [s.get(Link, int(i)).status for i in (first, second)] == ["linked", "rejected"]

        # a client's page: unlink, then Connect now by searching XPM by name
        with console.db.session() as s:
            link = s.get(Link, int(first))
            local_id, remote_id = s.get(Client, link.client_id).external_id, link.remote_id
            remote_name = s.scalar(select(RemoteRecord.payload).where(RemoteRecord.remote_id == remote_id))["name"]
        page.goto(f"{console.url}/console/clients?tenant={TENANT}")
        shot("05-clients")
        page.goto(f"{console.url}/console/clients/{local_id}?tenant={TENANT}")
        page.click("table.links button:has-text('Unlink')")
        expect(page.locator(".flash.ok")).to_contain_text("Unlinked from xpm")
        page.click("a:has-text('Link to XPM')")
        page.fill("form.search input[name=q]", remote_name)  # the two records spell the name differently
        page.click("form.search button")
        expect(page.locator("p.hint")).to_contain_text("Searched xpm")  # the live system, not the cache
        shot("06-connect-now")
        page.locator("tr", has=page.locator(f"code:text-is('{remote_id}')")).locator("button").click()
        expect(page.locator(".flash.ok")).to_contain_text("Connected")
        shot("07-client")
        with console.db.session() as s:
            assert s.scalar(select(Link.status).where(Link.remote_id == remote_id, Link.status == "linked"))

        # connections, both sides: each record shows the other with its own description
        with console.db.session() as s:
            conn = s.scalars(select(Connection).where(Connection.description.is_not(None),
                                                      Connection.related_description.is_not(None))).first()
            assert conn is not None, "the link run should pull XPM's relationships"
            one, other = s.get(Client, conn.client_id), s.get(Client, conn.related_client_id)
            sides = [(one.external_id, other.display_name, conn.description),
                     (other.external_id, one.display_name, conn.related_description)]
        for i, (client_id, name, description) in enumerate(sides):
            page.goto(f"{console.url}/console/clients/{client_id}?tenant={TENANT}")
            expect(page.locator("section.card", has_text="Connections").locator("li", has_text=name)) \
                .to_contain_text(description)
            if i == 0:
                shot("07b-client-connections")

        # duplicates: merge into the chosen record
        with console.db.session() as s:
            tenant_id = s.get(Link, int(first)).tenant_id
        cluster = http_seed.duplicate_pair(console.db, tenant_id)
        page.goto(f"{console.url}/console/duplicates?tenant={TENANT}")
        shot("08-duplicates")
        page.locator(f"#cluster-{cluster} button:has-text('Merge')").click()
        expect(page.locator(".flash.ok")).to_contain_text("Merged into")

        # conflicts: one item per client, settled in bulk
        with console.db.session() as s:
            links = list(s.scalars(select(Link).where(Link.status == "linked").limit(3)))
            for lk in links:
                s.add_all([SyncConflict(tenant_id=tenant_id, link_id=lk.id, field="email",
                                        local_value='"office@one.example"', remote_value='"admin@two.example"'),
                           SyncConflict(tenant_id=tenant_id, link_id=lk.id, field="website",
                                        local_value='"one.example"', remote_value='"two.example"')])
        page.goto(f"{console.url}/console/conflicts?tenant={TENANT}")
        expect(page.locator("article.conflict-client")).to_have_count(3)
        shot("09-conflicts")
        page.click("section.bulk button:has-text(\"Keep the practice's values\")")
        expect(page.locator(".flash.ok")).to_contain_text("6 conflicts settled")
        expect(page.locator("article.conflict-client")).to_have_count(0)

        # refusals: a bad CSRF token (with a session), and no session at all
        bad = page.request.post(f"{console.url}/console/conflicts/resolve",
                                form={"tenant": TENANT, "csrf": "not-the-token", "take": "local", "scope": "all"})
        assert bad.status == 403
        stranger = browser.new_context().request.post(f"{console.url}/console/runs",
                                                      form={"tenant": TENANT, "kind": "sync", "system": "xpm"})
        assert stranger.status == 401

        # /docs: Swagger UI from our own files, rendered with the internet out of reach
        page.goto(f"{console.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("syncworker")
        expect(page.locator(".opblock").first).to_be_visible()
        shot("10-docs")
        page.goto(f"{console.url}/console/runs")
        assert outside == [], f"pages fetched from outside the app: {outside}"

        # sign out: the pages are closed again
        page.click("form.signout button")
        expect(page.locator("input[name=token]")).to_be_visible()
        page.goto(f"{console.url}/console/reviews")
        expect(page).to_have_url(f"{console.url}/console")
        browser.close()
