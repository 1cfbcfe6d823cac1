"""The usage report opens in a real browser (Debian's Chromium), without a network, with every chart drawn."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from pipeline_fixtures import TEST_KEY, Pipeline
from playwright.sync_api import sync_playwright
from typer.testing import CliRunner

from consumers.usage.report import write_report
from lineage.cli import app
from producers.simulate import simulate

pytestmark = pytest.mark.integration
CHARTS = ("active-users", "component-usage", "adoption", "purposes", "dead-letters")
# Flags Chromium needs on a machine without a display, a sandbox or an open network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is not installed: `make test` installs Debian's chromium package"
    return path


def _render(page_path: Path, screenshot: Path) -> dict:
    """Open the page; return what a reader would see of each chart, the network requests and the script errors."""
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.resolve().as_uri())
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(CHARTS)}")
            charts = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('section.chart')].map(s => [
                s.dataset.chart, {
                    title: s.querySelector('.gtitle')?.textContent ?? '',
                    traces: s.querySelectorAll('g.trace').length,
                    // drawn points of a line, and bars with an area (an empty bar is drawn as M0,0Z)
                    marks: [...s.querySelectorAll('g.trace path.point, g.trace g.point path')]
                        .filter(p => p.getBBox().width > 0 || p.getBBox().height > 0).length,
                    empty: s.textContent.includes('no data in this period'),
                    width: s.querySelector('.main-svg').getBoundingClientRect().width,
                }]))""")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"charts": charts, "requests": requests, "errors": errors}


def test_the_report_renders_every_chart_with_data_and_needs_no_network(pipeline: Pipeline, tmp_path: Path) -> None:
    events = list(simulate(3000, seed=11, days=30, end=dt.datetime.now(dt.UTC), fault_rate=0.01))
    pipeline.produce(events)
    pipeline.consume()
    written = write_report(pipeline.store, tmp_path / "report.html", days=40)
    assert written.charts == len(CHARTS)

    seen = _render(written.path, tmp_path / "report.png")
    assert seen["errors"] == []
    assert [u for u in seen["requests"] if not u.startswith("file:")] == []
    assert list(seen["charts"]) == list(CHARTS)
    for name, chart in seen["charts"].items():
        assert chart["title"], name
        assert chart["traces"] >= 1 and chart["marks"] >= 1, (name, chart)
        assert not chart["empty"] and chart["width"] > 600, (name, chart)
    assert "Component usage per week" in seen["charts"]["component-usage"]["title"]


def test_lineage_report_writes_the_page_and_says_where(pipeline: Pipeline, tmp_path: Path) -> None:
    s = pipeline.settings
    env = {"LINEAGE_HOME": str(s.home), "CLICKHOUSE_URL": s.store_url, "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database,
           "LINEAGE_PSEUDONYM_KEY": TEST_KEY, "COLUMNS": "200"}  # fmt: skip
    out = tmp_path / "out" / "usage.html"
    result = CliRunner().invoke(app, ["report", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "5 charts" in result.output
    # An empty store still gives a page: each chart says it has no data rather than failing.
    assert out.read_text().count("no data in this period") == len(CHARTS)
