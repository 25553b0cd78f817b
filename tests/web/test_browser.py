"""End to end in a real browser: Playwright driving Debian's Chromium against a live server.

Flow: open an incident, upload a log, watch the scan finish, see the detections, tick a
playbook task, download the report; then a user agent of ``<script>…</script>`` must show as
text and never run. A screenshot of each page goes to ``artifacts/screenshots/``; with
``WORMSIGN_UPDATE_DOCS_IMG=1`` the incident page is also written to
``docs/img/dashboard-incident.png`` for the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from web.helpers import XSS, LiveServer, alert, mixed_alerts, write_alerts
from wormsign.incidents import Store, ingest_paths
from wormsign.logs.synth import write_sample
from wormsign.web import Settings, create_app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
DOCS_IMG = ROOT / "docs" / "img" / "dashboard-incident.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium"),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Store]]:
    d = tmp_path_factory.mktemp("browser")
    with Store.open(f"sqlite:///{d / 'b.db'}") as store:
        app = create_app(Settings(upload_dir=str(d / "uploads"),
                                  max_upload_bytes=64 * 1024 * 1024), store=store)
        with LiveServer(app) as srv:
            yield srv, store


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    pg = context.new_page()
    pg.dialogs = []
    pg.console_errors = []

    def on_dialog(d: Any) -> None:
        pg.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    context.close()


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_incident_flow(live: tuple[LiveServer, Store], page: Any,
                       tmp_path: Path) -> None:
    from playwright.sync_api import expect

    srv, store = live
    logs = write_sample(tmp_path / "logs", background=4000, seed=11)
    page.goto(srv.url + "/")
    expect(page.locator("h1")).to_have_text("Open incidents")
    page.fill("#new-incident input[name=name]", "Code Red outbreak, web farm")
    page.click("#new-incident button[type=submit]")
    expect(page.locator("#incident-name")).to_contain_text("Code Red outbreak, web farm")
    iid = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    expect(page.locator("#total-alerts")).to_have_text("0")

    # Upload a log: scanned in the background, progress shown until done.
    page.click("text=Upload logs")
    expect(page.locator("select[name=incident_id]")).to_have_value(str(iid))
    shot(page, "upload")
    page.set_input_files("input[type=file]", str(logs[0]))
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#job-done")).to_be_visible(timeout=90_000)
    expect(page.locator("#job-phase")).to_have_text("done")
    expect(page.locator("#job-percent")).to_have_text("100")
    added = int(page.locator("#job-added").inner_text().replace(",", ""))
    assert added > 0
    shot(page, "upload-job")

    # The detections appear on the incident page.
    page.click("#job-incident-link")
    expect(page.locator("#total-alerts")).to_have_text(f"{added:,}")

    # A second upload: scan --alerts JSON Lines with infected internal hosts.
    page.click("text=Upload logs")
    page.set_input_files("input[type=file]",
                         str(write_alerts(tmp_path / "alerts.jsonl", mixed_alerts(400))))
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#job-done")).to_be_visible(timeout=90_000)
    expect(page.locator("#job-added")).to_have_text("400")
    page.click("#job-incident-link")
    added += 400
    expect(page.locator("#total-alerts")).to_have_text(f"{added:,}")
    assert page.locator("#victims tbody tr td.mono").count() >= 1
    assert page.locator("#timeline-chart rect").count() > 0
    assert page.locator("#families tbody tr").count() >= 1
    assert page.locator("#top-sources tbody tr").count() >= 1
    expect(page.locator("#servers tbody tr").first).not_to_have_text(re.compile("Loading"))

    # Tick the first playbook task; it stays done after a reload.
    box = page.locator("input.task-done").first
    tid = int(box.get_attribute("data-task"))
    box.check()
    expect(page.locator(f"#task-{tid} .task-status")).to_have_text("done")
    page.reload()
    expect(page.locator(f"#task-{tid} input.task-done")).to_be_checked()
    assert store.find_task(iid, tid).status == "done"
    shot(page, "incident")
    if os.environ.get("WORMSIGN_UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1280, "height": 1700})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOCS_IMG), full_page=False)
        page.set_viewport_size({"width": 1280, "height": 900})

    # Annotate a task through its form.
    page.locator(f"#task-{tid} summary").click()
    page.fill(f"#task-{tid} textarea[name=note]", "edge ACL deployed")
    page.click(f"#task-{tid} form button[type=submit]")
    expect(page.locator(f"#task-{tid} pre.notes")).to_contain_text("edge ACL deployed")

    # Download the HTML report.
    with page.expect_download() as info:
        page.click("#download-report-html")
    download = info.value
    target = SHOTS.parent / "report.html"
    download.save_as(str(target))
    text = target.read_text(encoding="utf-8")
    assert "Code Red outbreak, web farm" in text and "<html" in text.lower()
    assert download.suggested_filename == f"incident-{iid}-report.html"

    page.click("text=Browse detections")
    expect(page.locator("#alert-count")).to_contain_text(f"{added:,} alerts")
    shot(page, "alerts")
    page.goto(srv.url + "/")
    expect(page.locator("#incidents")).to_contain_text("Code Red outbreak, web farm")
    shot(page, "overview")
    assert page.dialogs == []
    assert page.console_errors == []


def test_script_user_agent_shows_as_text(live: tuple[LiveServer, Store], page: Any,
                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect

    srv, store = live
    iid = store.create_incident(f"xss {XSS}")
    path = write_alerts(tmp_path / "xss.jsonl",
                        [alert(0, "203.0.113.9", "nimda", user_agent=XSS, host=XSS)])
    ingest_paths(store, iid, [path])
    page.goto(f"{srv.url}/incidents/{iid}/alerts")
    expect(page.locator("#alerts td.ua").first).to_have_text(XSS)
    expect(page.get_by_text(XSS).first).to_be_visible()
    page.goto(f"{srv.url}/incidents/{iid}")
    expect(page.locator("#incident-name")).to_contain_text(XSS)
    expect(page.locator("#servers tbody")).to_contain_text(XSS)
    shot(page, "xss-incident")
    page.goto(f"{srv.url}/")
    expect(page.locator("#incidents")).to_contain_text(XSS)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == []
    assert not [e for e in page.console_errors if "__pwned" in e]


def test_forecast_chart_draws_and_stays_text(live: tuple[LiveServer, Store], page: Any,
                                             tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from fakeforecast import fake_forecast
    from wormsign.incidents import forecasts

    srv, store = live
    iid = store.create_incident("forecast")
    alerts = [alert(i, f"198.51.100.{i + 1}", "code-red", seconds=60 * i * i)
              for i in range(60)]
    ingest_paths(store, iid, [write_alerts(tmp_path / "fc.jsonl", alerts)])
    doc = fake_forecast(forecasts.observations_for(store, iid)).to_json()
    doc["family"] = XSS[:60]
    forecasts.attach(store, iid, doc)
    page.goto(f"{srv.url}/incidents/{iid}")
    expect(page.locator("#forecast-headline")).to_contain_text(XSS[:60])
    assert page.locator("#forecast-chart polyline").count() >= 4
    assert page.locator("#forecast-chart polygon").count() == 2
    box = page.locator("#forecast-chart").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    expect(page.locator("#forecast-estimates tbody tr").first).to_contain_text("infected now")
    shot(page, "forecast-incident")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == []
