"""The quality report opens from the Airflow UI, in a real browser (Debian's headless Chromium).

A person logs in through the UI's login form, opens an orders_pipeline run, clicks its "Quality report"
tab and sees the report render with its pictures; the report task's "Quality report" extra link opens
the same report. The reports app answers only authenticated users. Screenshots are saved under the
test's tmp dir (their paths are printed).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from include.scripts.local_airflow import LocalAirflow
from tests.conftest import require_service
from tests.e2e.browser import Browser, chromium_binary

pytestmark = pytest.mark.timeout(1200)

PROJECT = Path(__file__).resolve().parents[2]
DAG_ID = "orders_pipeline"
BLOCKED_DAY = "2026-10-10"  # its file gets 3 quantities of 50: the suite allows 1 to 10
DAYS = ("2026-10-08", "2026-10-09")  # the first is the second's drift reference
PICTURES = {"accounting", "distributions", "outliers_0", "drift", "tsne"}
IMAGES = "[...document.images].map(i => [i.dataset.picture, i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0])"


@pytest.fixture(scope="module")
def runs(airflow: LocalAirflow) -> list[dict]:
    airflow.wait_for_dag(DAG_ID)
    done = []
    for day in DAYS:
        run_id = airflow.trigger(DAG_ID, f"{day}T00:00:00Z")
        airflow.unpause(DAG_ID)
        done.append(airflow.wait_for_run(DAG_ID, run_id, timeout=900))
    return done


@pytest.fixture(scope="module")
def blocked_run(airflow: LocalAirflow, runs: list[dict]) -> dict:
    """A run whose validation fails: the day's file with three quantities outside the suite's range,
    landed under the project (the landing root) and read through the orders_landing_uri Variable."""
    folder = PROJECT / "data" / "landing" / f"orders_blocked_{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    source = PROJECT / "include" / "data" / "orders" / f"orders_{BLOCKED_DAY}.csv"
    with source.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, changed = rows[0], 0
    for row in rows[1:]:
        if len(row) == len(header) and changed < 3:
            row[header.index("quantity")] = "50"
            changed += 1
    with (folder / source.name).open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    variable = "/variables/orders_landing_uri"
    before = airflow.api("GET", variable)
    try:
        airflow.api("PATCH", variable, {"key": "orders_landing_uri", "value": str(folder.relative_to(PROJECT))})
        run_id = airflow.trigger(DAG_ID, f"{BLOCKED_DAY}T00:00:00Z")
        return airflow.wait_for_run(DAG_ID, run_id, timeout=900)
    finally:
        airflow.api("PATCH", variable, {"key": "orders_landing_uri", "value": before["value"]})
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    binary = chromium_binary()
    require_service(binary is not None, "chromium is not installed (apt-get install -y chromium)")
    b = Browser(binary)
    yield b
    b.close()


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _report_url(af: LocalAirflow, run_id: str) -> str:
    return f"{af.base_url}/quality-reports/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"


def test_every_run_writes_its_report(airflow: LocalAirflow, runs: list[dict]) -> None:
    reports = []
    for run in runs:
        assert run["state"] == "success", run
        result = airflow.xcom(DAG_ID, run["dag_run_id"], "report")
        assert result["verdict"] == "published", result
        html_path = Path(result["html_uri"].removeprefix("file://"))
        assert html_path.is_file() and html_path.parent.name == "report"
        reports.append((result, json.loads(Path(result["report_uri"].removeprefix("file://")).read_text())))
    (first, first_report), (second, second_report) = reports
    # the first day is compared with the latest partition published before it, when there is one (other
    # e2e tests may have published earlier days in this Airflow); with none, the page says so
    reference = first_report["sections"]["drift"].get("reference")
    if reference is None or reference["partition"] is None:  # the table holds only this day (run alone)
        assert set(first["pictures"]) >= PICTURES - {"drift"} and "drift" not in first["pictures"]
        assert "first run" in first_report["sections"]["drift"]["note"]
    else:
        assert reference["partition"]["date"] < DAYS[0] and set(first["pictures"]) >= PICTURES
    assert set(second["pictures"]) >= PICTURES
    assert second_report["sections"]["drift"]["reference"]["partition"] == {"date": DAYS[0]}


def test_the_reports_app_refuses_requests_without_a_valid_token(airflow: LocalAirflow, runs: list[dict]) -> None:
    url = _report_url(airflow, runs[1]["dag_run_id"])
    assert _get(url)[0] == 401  # Airflow itself adds no authentication to plugin apps: the app does
    assert _get(url, token="not-a-jwt")[0] == 403
    status, page = _get(url, token=airflow.token())
    assert status == 200 and "Quality report: orders_pipeline" in page
    missing = _report_url(airflow, "no_such_run")
    assert _get(missing, token=airflow.token())[0] == 404


def _login(b: Browser, af: LocalAirflow) -> None:
    b.send("Network.clearBrowserCookies")  # a stranger, whatever the test before did
    b.goto(af.base_url + "/")
    b.wait_for("location.pathname.startsWith('/auth/login')", 60)  # the UI sends a stranger to its login form
    b.type_into("input[name=username]", af.username)
    b.type_into("input[name=password]", af.password)
    b.evaluate("document.querySelector('button[type=submit]').click()")
    b.wait_for("!location.pathname.startsWith('/auth')", 60)
    assert "_token" in {c["name"] for c in b.cookies()}


def test_a_person_logs_in_opens_the_run_and_sees_the_report(
    airflow: LocalAirflow, runs: list[dict], browser: Browser, tmp_path: Path
) -> None:
    run_id = runs[1]["dag_run_id"]
    _login(browser, airflow)
    browser.goto(f"{airflow.base_url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}")
    tab = "[...document.querySelectorAll('a')].find(e => e.textContent.trim() === 'Quality report')"
    browser.wait_for(f"!!{tab}", 90)
    browser.evaluate(f"{tab}.click()")
    src = browser.wait_for("(document.querySelector('iframe[title=\"Quality report\"]') || {}).src", 60)
    assert src == _report_url(airflow, run_id)
    frames = _wait_frames(browser)
    assert [f["url"] for f in frames] == [src]
    context = browser.frame_context(frames[0]["id"])
    images = dict(browser.wait_for(f"document.readyState === 'complete' && {IMAGES}", 60, context))
    assert set(images) >= PICTURES, images
    assert all(width > 0 for width in images.values()), images  # every picture decoded and rendered
    assert browser.evaluate("document.querySelector('#verdict').textContent", context) == "published"
    assert "Drift against the previous published version" in browser.evaluate("document.body.innerText", context)
    shot = browser.screenshot(tmp_path / "quality_report_tab.png")
    print(f"screenshot of the run's Quality report tab: {shot}")
    assert shot.stat().st_size > 50_000


def _wait_frames(b: Browser, timeout: float = 30) -> list[dict]:
    """The frames showing a quality report, once the iframe has loaded one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = [f for f in b.frames() if "/quality-reports/" in f.get("url", "")]
        if frames:
            return frames
        time.sleep(0.5)
    return []


def test_the_report_task_extra_link_opens_the_report(
    airflow: LocalAirflow, runs: list[dict], browser: Browser, tmp_path: Path
) -> None:
    run_id = runs[1]["dag_run_id"]
    quoted = urllib.parse.quote(run_id, safe="")
    links = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/report/links")
    link = links["extra_links"]["Quality report"]
    assert link == _report_url(airflow, run_id), links
    browser.goto(link)  # what the button opens (a new tab, top level, with the session cookie)
    images = dict(browser.wait_for(f"document.readyState === 'complete' && document.images.length && {IMAGES}", 60))
    assert set(images) >= PICTURES and all(w > 0 for w in images.values()), images
    shot = browser.screenshot(tmp_path / "quality_report_link.png", full_page=True)
    print(f"screenshot of the report opened from the task's extra link: {shot}")


def test_a_logged_out_browser_gets_no_report(airflow: LocalAirflow, runs: list[dict], browser: Browser) -> None:
    browser.send("Network.clearBrowserCookies")
    browser.goto(_report_url(airflow, runs[1]["dag_run_id"]))
    text = browser.wait_for("document.readyState === 'complete' && document.body && document.body.innerText", 30)
    assert "401" in text and "Log in to Airflow" in text and "Row accounting" not in text


def test_a_run_blocked_by_validation_gets_a_report_saying_why(
    airflow: LocalAirflow, blocked_run: dict, browser: Browser, tmp_path: Path
) -> None:
    run_id = blocked_run["dag_run_id"]
    states = {ti["task_id"]: ti for ti in airflow.task_instances(DAG_ID, run_id)}
    assert blocked_run["state"] == "failed"  # the report does not turn a blocked run into a success
    assert {t: states[t]["state"] for t in ("validate", "store", "report")} == {
        "validate": "failed",
        "store": "upstream_failed",
        "report": "failed",
    }
    result = airflow.xcom(DAG_ID, run_id, "report", key="quality_report")
    assert result["verdict"].startswith("blocked: validation failed"), result
    status, body = _get(_report_url(airflow, run_id) + "?format=json", token=airflow.token())
    assert status == 200
    validation = json.loads(body)["sections"]["validation"]
    assert validation["success"] is False
    failed = [e for e in validation["expectations"] if e["column"] == "quantity" and e["success"] is False]
    assert failed and failed[0]["unexpected_count"] == 3, validation["expectations"]
    # one failure, one alert: validate alerted; the report task, failing only because of it, did not
    report_log = airflow.task_log(DAG_ID, run_id, "report", states["report"]["try_number"])
    validate_log = airflow.task_log(DAG_ID, run_id, "validate", states["validate"]["try_number"])
    assert "UpstreamStepFailedError" in report_log
    assert "ALERT [dataframe-pipeline] task failed" in validate_log
    assert "ALERT" not in report_log
    _login(browser, airflow)
    browser.goto(_report_url(airflow, run_id))
    verdict = browser.wait_for("document.querySelector('#verdict') && document.querySelector('#verdict').textContent")
    assert verdict.startswith("blocked: validation failed")
    shot = browser.screenshot(tmp_path / "quality_report_blocked.png", full_page=True)
    print(f"screenshot of the report of a run blocked by validation: {shot}")
