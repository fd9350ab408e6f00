"""A real Airflow of its own (the deadline is read when the DAG files are parsed, so it needs its own
environment): a 15-second run deadline and the alert connection pointing at a webhook receiver of this
test. One run stays running (its first task waits for a pool with no slots), one is marked failed at
once: exactly one alert arrives, for the running run, naming its DAG and run; the failed run's deadline
is marked missed by the scheduler too, and the callback skips it. Clearing a run keeps working."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from include.scripts.local_airflow import LocalAirflow
from tests.integration.servers import JsonReceiver

pytestmark = pytest.mark.timeout(900)

DAG_ID = "airports_api_pipeline"  # its ingest takes a slot of the pool source_api


@pytest.fixture(scope="module")
def deadline_airflow(tmp_path_factory: pytest.TempPathFactory, receiver: JsonReceiver):
    base = tmp_path_factory.mktemp("deadlines")
    af = LocalAirflow.isolated(
        base,
        extra_env={
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "PIPELINE_DEADLINE_MINUTES": "0.25",
            "AIRFLOW_CONN_E2E_ALERTS": receiver.connection,
            "PIPELINE_ALERT_CONN_IDS": "e2e_alerts",
        },
    )
    try:
        af.start(timeout=240)
        af.load_settings()
        af.api("PATCH", "/pools/source_api", {"name": "source_api", "slots": 0, "include_deferred": False})
        yield af
    finally:
        af.stop()


def _deadlines(af: LocalAirflow, run_id: str) -> list[dict]:
    quoted = urllib.parse.quote(run_id, safe="")
    body = af._request("GET", f"/ui/dags/{DAG_ID}/dagRuns/{quoted}/deadlines")
    return body["deadlines"]


def _wait(what: str, check, timeout: float = 180) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"{what} not seen within {timeout:.0f}s")


def test_one_alert_per_missed_deadline_of_a_running_run_none_for_a_failed_run(
    deadline_airflow: LocalAirflow, receiver: JsonReceiver
) -> None:
    af = deadline_airflow
    af.wait_for_dag(DAG_ID)
    af.unpause(DAG_ID)
    failed = af.trigger(DAG_ID, "2026-11-21T03:00:00Z")
    af.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(failed, safe='')}", {"state": "failed"})
    running = af.trigger(DAG_ID, "2026-11-22T03:00:00Z")
    # both runs got their deadline at creation: the DAG has had no successful run (no AVERAGE_RUNTIME)
    assert len(_deadlines(af, failed)) == len(_deadlines(af, running)) == 1

    _wait("the alert of the running run", lambda: len(receiver.received) >= 1)
    _wait("the failed run's deadline marked missed", lambda: _deadlines(af, failed)[0]["missed"])
    time.sleep(10)  # the triggerer runs the failed run's callback too: give it time to (not) send

    assert len(receiver.received) == 1, receiver.received
    (alert,) = receiver.received
    assert alert["title"] == "deadline missed"
    assert (alert["dag_id"], alert["run_id"]) == (DAG_ID, running)
    assert alert["run_state"] == "running"
    assert alert["url"] == f"{af.base_url}/dags/{DAG_ID}/runs/{urllib.parse.quote(running)}"
    quoted = urllib.parse.quote(running, safe="")
    assert af.api("GET", f"/dags/{DAG_ID}/dagRuns/{quoted}")["state"] == "running"

    # Clear works on a DAG with this deadline (with DAGRUN_QUEUED_AT, Airflow 3.3.2 raises TypeError here),
    # and the deadline already missed is not raised again
    before = _deadlines(af, failed)
    af.clear(DAG_ID, failed)
    time.sleep(5)
    assert _deadlines(af, failed) == before
    assert len(receiver.received) == 1
    for run_id in (running, failed):
        af.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}", {"state": "failed"})
