"""OpenLineage from the local Airflow (scheduler, LocalExecutor, task processes): the file transport that
``local_airflow.py`` configures receives START and COMPLETE events of every orders_pipeline task, with
the datasets, schemas and data-quality facets."""

from __future__ import annotations

import json
import time

import pytest

from include.scripts.local_airflow import LocalAirflow

pytestmark = pytest.mark.timeout(900)

DAG_ID = "orders_pipeline"
DAY = "2026-10-15"  # a day no other e2e test runs
STEPS = ["ingest", "clean", "enrich", "refine", "validate", "store"]


def _events(af: LocalAirflow, run_id: str, timeout: float = 60) -> list[dict]:
    """The task events of one run; the listener emits from a forked process, so wait for the last one."""
    deadline = time.monotonic() + timeout
    while True:
        lines = af.lineage_file.read_text().splitlines() if af.lineage_file.exists() else []
        events = [json.loads(line) for line in lines]
        mine = [e for e in events if e["run"]["facets"].get("airflow", {}).get("dagRun", {}).get("run_id") == run_id]
        if any(e["eventType"] == "COMPLETE" and e["job"]["name"] == f"{DAG_ID}.store" for e in mine):
            return mine
        if time.monotonic() > deadline:
            return mine
        time.sleep(1)


def test_orders_pipeline_emits_lineage_of_every_step(airflow: LocalAirflow) -> None:
    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger(DAG_ID, f"{DAY}T00:00:00Z")
    airflow.unpause(DAG_ID)
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=600)["state"] == "success"
    events = _events(airflow, run_id)
    seen = {(e["job"]["name"].split(".", 1)[1], e["eventType"]) for e in events}
    assert seen >= {(step, kind) for step in STEPS for kind in ("START", "COMPLETE")}, sorted(seen)
    complete = {e["job"]["name"].split(".", 1)[1]: e for e in events if e["eventType"] == "COMPLETE"}
    assert all(e["job"]["namespace"] == "dataframe_pipeline" for e in events)

    (source,) = complete["ingest"]["inputs"]
    assert source["name"].endswith(f"include/data/orders/orders_{DAY}.csv")
    assert source["namespace"].startswith("file://")

    outputs = {
        d["name"].rsplit("/", 2)[-2] + "/" + d["name"].rsplit("/", 1)[-1]: d for d in complete["refine"]["outputs"]
    }
    assert {"refine/output", "refine/split=train", "refine/split=test", "refine/quarantine"} <= set(outputs)

    (validated,) = complete["validate"]["inputs"]
    assert validated["name"].endswith(f"/{DAG_ID}/date={DAY}/refine/output")
    assertions = validated["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert len(assertions) >= 5
    assert all(a["success"] for a in assertions)
    assert {"order_id", "customer_email"} <= {a.get("column") for a in assertions}

    table = {d["name"]: d for d in complete["store"]["outputs"]}[str(airflow.data_dir / "curated" / "orders")]
    columns = [f["name"] for f in table["facets"]["schema"]["fields"]]
    assert {"order_id", "amount_scaled", "_source_file", "_source_line"} <= set(columns)
    assert table["outputFacets"]["outputStatistics"]["rowCount"] > 0
    accounting = complete["store"]["run"]["facets"]["dataframePipeline"]["accounting"]
    assert accounting["balanced"] is True
