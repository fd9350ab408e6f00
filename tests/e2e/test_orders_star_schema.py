"""The asset-triggered DAG with a real Airflow: orders_pipeline's store task publishes a version of the
curated `orders` table, its Asset event starts `orders_star_schema`, which loads that partition of that
version into the warehouse as a star schema.

This module starts its own Airflow (not the shared ``airflow`` fixture, whose scheduler creates no runs:
``use_job_schedule`` off, and asset-triggered runs are created by the same scheduler loop). Its warehouse
is a SQLite file of the test (``AIRFLOW_CONN_WAREHOUSE_DB``; connections of the environment win over the
metadata database).
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from include.scripts.local_airflow import LocalAirflow, prepare_demo_data, train
from tests.e2e.conftest import curated

pytestmark = pytest.mark.timeout(900)

DAY = "2026-10-12"
STAR = "orders_star_schema"
TABLES = ("dim_customer", "dim_product_category", "dim_channel", "dim_country", "dim_date", "fact_orders")


@pytest.fixture(scope="module")
def scheduled_airflow(tmp_path_factory):
    base = tmp_path_factory.mktemp("star-e2e")
    warehouse = base / "warehouse.db"
    af = LocalAirflow.isolated(
        base,
        extra_env={"AIRFLOW_CONN_WAREHOUSE_DB": json.dumps({"conn_type": "sqlite", "host": str(warehouse)})},
    )
    prepare_demo_data()
    try:
        af.start(timeout=240)
        af.load_settings()
        train(af)
        yield af, warehouse
    finally:
        af.stop()


def _star_runs(af: LocalAirflow) -> list[dict]:
    return af.api("GET", f"/dags/{STAR}/dagRuns?order_by=-run_after&limit=20")["dag_runs"]


def _wait_for_star_run_of(af: LocalAirflow, day: str, known: set[str], timeout: float = 300) -> dict:
    """The asset-triggered run that loaded ``day`` (the scheduler may also run orders_pipeline's latest
    interval on its own, which triggers a run for another day)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in _star_runs(af):
            if run["dag_run_id"] in known or run["state"] not in ("success", "failed"):
                continue
            result = af.xcom(STAR, run["dag_run_id"], "load_fact_orders") if run["state"] == "success" else None
            if run["state"] == "failed" or (result and (result["partition"]["start"] or "")[:10] == day):
                return run
            known.add(run["dag_run_id"])
        time.sleep(3)
    raise AssertionError(f"no {STAR} run loaded {day} within {timeout}s: {_star_runs(af)}")


def test_publishing_a_partition_triggers_the_star_schema_load(scheduled_airflow) -> None:
    af, warehouse = scheduled_airflow
    af.wait_for_dag(STAR)
    af.unpause(STAR)
    known = {r["dag_run_id"] for r in _star_runs(af)}
    run_id = af.trigger("orders_pipeline", f"{DAY}T00:00:00Z")
    af.unpause("orders_pipeline")
    assert af.wait_for_run("orders_pipeline", run_id)["state"] == "success"
    store = af.xcom("orders_pipeline", run_id, "store")

    star = _wait_for_star_run_of(af, DAY, known)
    assert star["state"] == "success", star
    assert star["run_type"] == "asset_triggered"
    events = af.api("GET", f"/dags/{STAR}/dagRuns/{star['dag_run_id']}/upstreamAssetEvents")["asset_events"]
    assert [e["extra"]["version"] for e in events if e["extra"].get("partition", {}).get("start", "")[:10] == DAY]
    assert any(e["extra"]["version"] == store["version"] for e in events)

    published = curated(af, "orders", DAY)
    with sqlite3.connect(warehouse) as db:
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        facts = db.execute("SELECT order_id FROM fact_orders WHERE date = ?", (DAY,)).fetchall()
        customers = {r[0] for r in db.execute("SELECT customer_id FROM dim_customer")}
    assert sorted(r[0] for r in facts) == sorted(published["order_id"])
    assert set(published["customer_id"]) <= customers
    assert all(counts[t] > 0 for t in TABLES), counts

    # a re-run of the day publishes a new version and loads the day again: still one copy of each order
    known.add(star["dag_run_id"])
    af.clear("orders_pipeline", run_id)
    assert af.wait_for_run("orders_pipeline", run_id)["state"] == "success"
    again = _wait_for_star_run_of(af, DAY, known)
    assert again["state"] == "success", again
    with sqlite3.connect(warehouse) as db:
        facts_again = db.execute("SELECT order_id FROM fact_orders WHERE date = ?", (DAY,)).fetchall()
    assert sorted(r[0] for r in facts_again) == sorted(published["order_id"])
