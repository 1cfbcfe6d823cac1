"""The service's pages in a real browser (Debian's Chromium): the product team's live report and the
privacy officer's register, logged in with tokens, with the cookie and form protections they promise."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, sync_playwright
from scenario import STUDENT, USER1
from service_fixtures import RunningService, fed_service
from test_report import CHARTS, CHROMIUM_ARGS, _chromium


pytestmark = pytest.mark.integration
DRAWN = f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(CHARTS)}"


@pytest.fixture(scope="module")
def service(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with fed_service(tmp_path_factory.mktemp("pages") / "home", kafka_bootstrap, 3000, seed=12, days=30) as svc:
        yield svc


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def login(page: Page, service: RunningService, role: str) -> None:
    page.goto(f"{service.url}/")
    assert page.url.endswith("/login")
    page.fill("input[name=token]", service.token(role))
    page.click("form[action='/login'] button")
    page.wait_for_load_state()


def charts(page: Page) -> dict:
    page.wait_for_function(DRAWN)
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('section.chart')].map(s => [
        s.dataset.chart, {
            marks: [...s.querySelectorAll('g.trace path.point, g.trace g.point path')]
                .filter(p => p.getBBox().width > 0 || p.getBBox().height > 0).length,
            empty: s.textContent.includes('no data in this period'),
        }]))""")


def test_the_product_team_logs_in_and_sees_the_report_drawn_with_data_for_a_date_range(service, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, service, "product")
    assert page.url.endswith("/report")
    drawn = charts(page)
    assert list(drawn) == list(CHARTS)
    assert all(c["marks"] >= 1 and not c["empty"] for c in drawn.values()), drawn
    cookie = next(c for c in context.cookies() if c["name"] == "lineage_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # A range of one week, a month ago: the page says so and draws again.
    end = dt.date.today() - dt.timedelta(days=7)
    start = end - dt.timedelta(days=6)
    page.fill("#range input[name=from]", start.isoformat())
    page.fill("#range input[name=to]", end.isoformat())
    page.click("#range button")
    page.wait_for_load_state()
    assert f"{start:%d %B %Y} to {end:%d %B %Y}" in page.text_content("header p")
    assert charts(page)["active-users"]["marks"] == 7
    assert errors == []

    # The product role has no register.
    page.goto(f"{service.url}/register")
    assert "needs the privacy role" in page.content()
    context.close()


def _row(page: Page, request_id: str):
    return page.locator(f"tr[data-request='{request_id}']")


def test_the_privacy_officer_receives_a_request_exports_downloads_and_sees_it_answered(service, browser, tmp_path):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    login(page, service, "privacy")
    assert page.url.endswith("/register")

    page.fill("#receive input[name=email]", STUDENT)
    page.select_option("#receive select[name=right]", "access")
    page.click("#receive button")
    message = page.text_content("p.message")
    request_id = re.match(r"(DSR-\S+): access received", message).group(1)
    assert _row(page, request_id).locator("td.state-open").count() == 1

    _row(page, request_id).locator("input[name=email]").fill(STUDENT)
    _row(page, request_id).locator("button", has_text="Export").click()
    page.wait_for_load_state()
    assert re.search(r"\d+ events and \d+ identifiers exported", page.text_content("p.message"))
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "export.zip"
    download.value.save_as(saved)
    assert any(n.endswith("/manifest.json") for n in zipfile.ZipFile(saved).namelist())
    assert _row(page, request_id).locator("td.state-completed").count() == 1

    # The register's own API agrees, and the access log names the officer's token.
    listed = {r["request_id"]: r for r in service.call("/api/requests", "privacy").json()}
    assert listed[request_id]["status"] == "completed"
    log = service.call(f"/api/access-log?request_id={request_id}", "privacy").json()
    assert {"register_request", "export", "download_export"} <= {e["action"] for e in log}
    assert {e["operator"] for e in log} == {"privacy-tester"}
    context.close()


def test_erasure_asks_for_confirmation_and_forms_from_elsewhere_are_refused(service, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    login(page, service, "privacy")
    page.fill("#receive input[name=email]", USER1)
    page.select_option("#receive select[name=right]", "erasure")
    page.click("#receive button")
    request_id = re.match(r"(DSR-\S+): erasure", page.text_content("p.message")).group(1)

    _row(page, request_id).locator("input[name=email]").fill(USER1)
    _row(page, request_id).locator("button", has_text="Erase").click()
    page.wait_for_load_state()
    assert "Erase" in page.text_content("h1") and USER1 in page.text_content("h1")
    page.fill("#confirm-erase input[name=confirm]", "someone.else@example.nl")
    page.click("#confirm-erase button")
    assert "nothing was erased" in page.text_content("p.error")
    assert _row(page, request_id).locator("td.state-open, td.state-due").count() == 1

    _row(page, request_id).locator("input[name=email]").fill(USER1)
    _row(page, request_id).locator("button", has_text="Erase").click()
    page.fill("#confirm-erase input[name=confirm]", USER1)
    page.click("#confirm-erase button")
    assert re.search(r"\d+ events and \d+ identifiers deleted", page.text_content("p.message"))

    # The session's cookie goes with this post, but not the form's anti-forgery value: refused, nothing registered.
    before = len(service.call("/api/requests", "privacy").json())
    form = {"csrf": "forged", "email": STUDENT, "right": "access", "channel": "email"}
    forged = context.request.post(f"{service.url}/register/receive", form=form)
    assert forged.status == 403
    assert len(service.call("/api/requests", "privacy").json()) == before
    # And the API takes no cookie: a browser session alone cannot call it.
    assert context.request.get(f"{service.url}/api/requests").status == 401
    context.close()
