"""A real Airflow of its own (the deadline is read when the DAG files are parsed, so it needs its own
environment): a 15-second run deadline and the alert connection pointing at a webhook receiver of this
test. One run stays running (its first task waits for a pool with no slots), one is marked failed at
once: exactly one alert arrives, for the running run, naming its DAG and run; the failed run's deadline
is marked missed by the scheduler too, and the callback skips it. Clearing a run keeps working."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from include.scripts.local_airflow import LocalAirflow
from tests.integration.servers import free_port

pytestmark = pytest.mark.timeout(900)

DAG_ID = "airports_api_pipeline"  # its ingest takes a slot of the pool source_api


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def deadline_airflow(tmp_path_factory: pytest.TempPathFactory, receiver: HTTPServer):
    base = tmp_path_factory.mktemp("deadlines")
    hook = {"conn_type": "http", "host": "127.0.0.1", "port": receiver.server_port, "schema": "http"}
    af = LocalAirflow(
        home=base / "airflow",
        port=free_port(),
        data_dir=base / "data",
        demo_api_port=free_port(),
        log_server_ports=(free_port(), free_port()),
        extra_env={
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "PIPELINE_DEADLINE_MINUTES": "0.25",
            "AIRFLOW_CONN_E2E_ALERTS": json.dumps(hook),
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


def test_one_alert_per_missed_deadline_of_a_running_run_none_for_a_failed_run(deadline_airflow: LocalAirflow) -> None:
    af = deadline_airflow
    af.wait_for_dag(DAG_ID)
    af.unpause(DAG_ID)
    failed = af.trigger(DAG_ID, "2026-11-21T03:00:00Z")
    af.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(failed, safe='')}", {"state": "failed"})
    running = af.trigger(DAG_ID, "2026-11-22T03:00:00Z")
    # both runs got their deadline at creation: the DAG has had no successful run (no AVERAGE_RUNTIME)
    assert len(_deadlines(af, failed)) == len(_deadlines(af, running)) == 1

    _wait("the alert of the running run", lambda: len(_Receiver.received) >= 1)
    _wait("the failed run's deadline marked missed", lambda: _deadlines(af, failed)[0]["missed"])
    time.sleep(10)  # the triggerer runs the failed run's callback too: give it time to (not) send

    assert len(_Receiver.received) == 1, _Receiver.received
    (alert,) = _Receiver.received
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
    assert len(_Receiver.received) == 1
    for run_id in (running, failed):
        af.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}", {"state": "failed"})
