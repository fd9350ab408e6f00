"""Retries on a real Airflow of its own (retries and delays are read when the DAG files are parsed):
``PIPELINE_RETRIES=4``, a 3-second first delay doubling up to a 12-second ceiling, and failure alerts to
a webhook receiver of this test.

(a) A transient failure: ``orders_pipeline``'s landing folder (Variable ``orders_landing_uri``, from the
environment) holds no file yet, so ``ingest`` raises ``SourceNotFoundError`` (files can arrive late) on
each of its five tries. The gap from the end of try n to the start of try n+1, read from the task's tries
over REST, is at least the delay Airflow computes (3 s doubling, with its per-try jitter of up to x2) and
stops growing at the 12 s ceiling; one alert arrives, for the last try only.

(b) A configuration error: a ``partition`` param that passes the Param's schema (a string) but names no
day fails try 1 at once with ``retries=4`` configured: one try, no ``up_for_retry``, and the log names
the field and the value.
"""

from __future__ import annotations

import itertools
import time
import urllib.parse
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from include.scripts.local_airflow import LocalAirflow
from tests.integration.servers import JsonReceiver

pytestmark = pytest.mark.timeout(600)

DAG_ID, TASK_ID = "orders_pipeline", "ingest"
RETRIES, DELAY, CEILING = 4, 3, 12
#: the scheduler's loop, the executor and the task process start between a try becoming due and starting
SLACK = 10.0


@pytest.fixture(scope="module")
def retry_airflow(tmp_path_factory: pytest.TempPathFactory, receiver: JsonReceiver):
    base = tmp_path_factory.mktemp("retries")
    af = LocalAirflow.isolated(
        base,
        extra_env={
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "PIPELINE_RETRIES": str(RETRIES),
            "PIPELINE_RETRY_DELAY_SECONDS": str(DELAY),
            "PIPELINE_MAX_RETRY_DELAY_SECONDS": str(CEILING),
            # a landing folder the day's file has not reached (relative to the project, as the Variable is)
            "AIRFLOW_VAR_ORDERS_LANDING_URI": "include/data/orders_not_landed_yet",
            "AIRFLOW_CONN_E2E_ALERTS": receiver.connection,
            "PIPELINE_ALERT_CONN_IDS": "e2e_alerts",
        },
    )
    try:
        af.start(timeout=240)
        af.load_settings()  # the pools the tasks run in
        af.wait_for_dag(DAG_ID)
        af.unpause(DAG_ID)
        yield af
    finally:
        af.stop()


def _tries(af: LocalAirflow, run_id: str) -> list[dict]:
    quoted = urllib.parse.quote(run_id, safe="")
    body = af.api("GET", f"/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/{TASK_ID}/tries")
    return sorted(body["task_instances"], key=lambda t: t["try_number"])


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _airflow_delay(try_number: int, end: datetime, logical_date: datetime) -> float:
    """Seconds Airflow waits after try ``try_number`` failed: its own ``next_retry_datetime`` (the doubling,
    the per-try jitter and the ceiling) with this test's settings."""
    from airflow.models.taskinstance import TaskInstance

    task = SimpleNamespace(
        retry_delay=timedelta(seconds=DELAY),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(seconds=CEILING),
    )
    ti = SimpleNamespace(
        task=task, try_number=try_number, end_date=end, retry_delay_override=None,
        dag_id=DAG_ID, task_id=TASK_ID, logical_date=logical_date, log=None,
    )  # fmt: skip
    return (TaskInstance.next_retry_datetime(ti) - end).total_seconds()  # type: ignore[arg-type]


def _alerts_for(receiver: JsonReceiver, run_id: str) -> list[dict]:
    return [a for a in receiver.received if a.get("run_id") == run_id and a.get("task_id") == TASK_ID]


def test_a_transient_failure_is_retried_with_growing_delays_up_to_the_ceiling(
    retry_airflow: LocalAirflow, receiver: JsonReceiver
) -> None:
    af = retry_airflow
    task = af.api("GET", f"/dags/{DAG_ID}/tasks/{TASK_ID}")
    assert task["retries"] == RETRIES and task["retry_exponential_backoff"] == 2.0  # the DAG took the env
    run_id = af.trigger(DAG_ID, "2026-10-09T00:00:00Z")
    run = af.wait_for_run(DAG_ID, run_id, timeout=300)
    assert run["state"] == "failed"

    tries = _tries(af, run_id)
    assert [t["try_number"] for t in tries] == list(range(1, RETRIES + 2))
    assert {t["state"] for t in tries} == {"failed"}  # each try's record keeps how it ended
    log = af.task_log(DAG_ID, run_id, TASK_ID, 1)
    assert "SourceNotFoundError" in log and "orders_not_landed_yet/orders_2026-10-09.csv" in log

    logical_date = _at(run["logical_date"])
    gaps, due = [], []
    for before, after in itertools.pairwise(tries):
        end = _at(before["end_date"])
        gaps.append((_at(after["start_date"]) - end).total_seconds())
        due.append(_airflow_delay(before["try_number"], end, logical_date))
    print(f"retry delays due {due}, gaps measured {[round(g, 1) for g in gaps]}")
    # the delay doubles from DELAY (Airflow adds up to x2 jitter per try), then stays at the ceiling
    for n, delay in enumerate(due, start=1):
        floor = DELAY * 2 ** (n - 1)
        assert min(floor, CEILING) <= delay <= min(2 * floor, CEILING), (n, delay)
    assert due[2:] == [CEILING, CEILING]  # uncapped, the 4th delay would be 24-48 s
    # each try waited for its delay, and not much longer: the gaps follow the delays
    for n, (gap, delay) in enumerate(zip(gaps, due, strict=True), start=1):
        assert delay <= gap < delay + SLACK, (n, gap, delay)
    assert gaps[3] < DELAY * 2**3  # the ceiling held: an uncapped 4th delay is 24 s at least

    # the failure alert is sent once, for the last try (no alert on retry: PIPELINE_ALERT_ON_RETRY is off)
    deadline = time.monotonic() + 30
    while not _alerts_for(receiver, run_id) and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(3)
    alerts = _alerts_for(receiver, run_id)
    assert len(alerts) == 1, alerts
    assert alerts[0]["try_number"] == RETRIES + 1
    assert (alerts[0]["title"], alerts[0]["error_class"]) == ("task failed", "SourceNotFoundError")
    assert "orders_not_landed_yet/orders_2026-10-09.csv" in alerts[0]["error"]


def test_a_configuration_error_fails_the_first_try_without_retry(
    retry_airflow: LocalAirflow, receiver: JsonReceiver
) -> None:
    af = retry_airflow
    bad = "2026-13-45"  # a string, as the Param's schema asks, but no day
    run_id = af.trigger(DAG_ID, None, conf={"partition": bad})
    run = af.wait_for_run(DAG_ID, run_id, timeout=180)
    assert run["state"] == "failed"

    tries = _tries(af, run_id)
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed")]
    ti = next(t for t in af.task_instances(DAG_ID, run_id) if t["task_id"] == TASK_ID)
    assert (ti["state"], ti["try_number"], ti["max_tries"]) == ("failed", 1, RETRIES)  # retries were allowed
    log = af.task_log(DAG_ID, run_id, TASK_ID, 1)
    assert f"PartitionError: partition={bad!r}" in log, log[-2000:]

    deadline = time.monotonic() + 30
    while not _alerts_for(receiver, run_id) and time.monotonic() < deadline:
        time.sleep(1)
    alerts = _alerts_for(receiver, run_id)
    assert [(a["try_number"], a["error_class"]) for a in alerts] == [(1, "PartitionError")]
    assert f"partition={bad!r}" in alerts[0]["error"]
