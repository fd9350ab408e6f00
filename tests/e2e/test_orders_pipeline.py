"""A real Airflow, started from the venv in a temporary AIRFLOW_HOME, runs orders_pipeline end to end.

Everything goes through the v2 REST API with a JWT from /auth/token: trigger, wait, logs, XCom,
clear-and-rerun, backfill. Results are checked on disk against the source file's own line count.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from dataframe_pipeline.core.dataset import DatasetReader
from include.scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import curated, local_path

pytestmark = pytest.mark.timeout(900)

PROJECT = Path(__file__).resolve().parents[2]
DAG_ID = "orders_pipeline"
DAY = "2026-10-09"  # a day with malformed lines, duplicates, bad dates and bad emails
STEPS = ["ingest", "clean", "enrich", "refine", "validate", "store"]


@pytest.fixture(scope="module")
def first_run(airflow: LocalAirflow) -> dict:
    airflow.wait_for_dag(DAG_ID)
    run_id = airflow.trigger(DAG_ID, f"{DAY}T00:00:00Z")
    airflow.unpause(DAG_ID)
    return airflow.wait_for_run(DAG_ID, run_id, timeout=600)


def _results(af: LocalAirflow, run_id: str) -> dict[str, dict]:
    return {step: af.xcom(DAG_ID, run_id, step) for step in STEPS}


def _source_data_lines(day: str) -> int:
    with open(PROJECT / "include" / "data" / "orders" / f"orders_{day}.csv", newline="") as fh:
        return sum(1 for line in fh if line.strip()) - 1  # minus the header


def _fs():
    import fsspec

    return fsspec.filesystem("file")


def test_run_succeeds_with_every_task(airflow: LocalAirflow, first_run: dict) -> None:
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, first_run["dag_run_id"])}
    assert first_run["state"] == "success", states
    assert states == dict.fromkeys([*STEPS, "report"], "success")


def test_row_accounting_reconciles_with_the_source_file(airflow: LocalAirflow, first_run: dict) -> None:
    results = _results(airflow, first_run["dag_run_id"])
    ingest = results["ingest"]["accounting"]
    assert ingest["rows_in"] == _source_data_lines(DAY)
    assert ingest["rows_quarantined"] == 4  # the 4 malformed lines of that file
    previous_out = None
    for step in ("ingest", "clean", "enrich", "refine"):
        acct = results[step]["accounting"]
        assert acct["balanced"], (step, acct)
        assert acct["rows_in"] == acct["rows_out"] + acct["rows_quarantined"] + acct["rows_dropped"]
        if previous_out is not None:
            assert acct["rows_in"] == previous_out, step
        previous_out = acct["rows_out"]
        # the quarantine on disk holds exactly the rows reported
        q_path = local_path(results[step]["quarantine"]["uri"])
        assert DatasetReader(_fs(), str(q_path)).rows == acct["rows_quarantined"]
    clean = results["clean"]["accounting"]
    assert clean["dropped_by_rule"].get("exact_duplicates", 0) >= 1
    assert clean["rows_quarantined"] >= 1
    assert results["store"]["rows"] == results["refine"]["accounting"]["rows_out"]
    published = curated(airflow, "orders", DAY)
    assert len(published) == results["store"]["rows"]
    assert published["order_id"].is_unique
    assert set(published["split"].astype(str)) == {"train", "test"}
    # every source line is accounted for: in the curated data, in a quarantine, or dropped by a rule
    dropped = sum(results[s]["accounting"]["rows_dropped"] for s in ("ingest", "clean", "enrich", "refine"))
    quarantined = sum(results[s]["accounting"]["rows_quarantined"] for s in ("ingest", "clean", "enrich", "refine"))
    assert _source_data_lines(DAY) == len(published) + quarantined + dropped


def test_quarantine_says_where_rows_came_from(airflow: LocalAirflow, first_run: dict) -> None:
    results = _results(airflow, first_run["dag_run_id"])
    ingest_q = DatasetReader(_fs(), str(local_path(results["ingest"]["quarantine"]["uri"]))).read_pandas()
    sources = ingest_q["source"].tolist()
    assert all(s.endswith((":12", ":36", ":230", ":297")) for s in sources), sources
    clean_q = DatasetReader(_fs(), str(local_path(results["clean"]["quarantine"]["uri"]))).read_pandas()
    assert set(clean_q["step"]) == {"clean"}
    assert clean_q["reason"].str.len().min() > 5
    assert clean_q["source"].str.contains(f"orders_{DAY}.csv:").all()


def test_task_log_over_rest_reports_row_counts(airflow: LocalAirflow, first_run: dict) -> None:
    run_id = first_run["dag_run_id"]
    acct = airflow.xcom(DAG_ID, run_id, "clean")["accounting"]
    log = airflow.task_log(DAG_ID, run_id, "clean", 1)
    assert "row accounting [clean]" in log
    assert f"rows in={acct['rows_in']} out={acct['rows_out']} quarantined={acct['rows_quarantined']}" in log


def test_validation_report_is_stored(airflow: LocalAirflow, first_run: dict) -> None:
    result = airflow.xcom(DAG_ID, first_run["dag_run_id"], "validate")
    report = json.loads(local_path(result["report_uri"]).read_text())
    assert report["success"] is True
    assert report["dataset"]["rows"] == airflow.xcom(DAG_ID, first_run["dag_run_id"], "refine")["dataset"]["rows"]


def test_clearing_and_rerunning_the_partition_gives_identical_output(airflow: LocalAirflow, first_run: dict) -> None:
    run_id = first_run["dag_run_id"]
    before = _results(airflow, run_id)
    curated_before = curated(airflow, "orders", DAY).sort_values("order_id").reset_index(drop=True)
    airflow.clear(DAG_ID, run_id)
    rerun = airflow.wait_for_run(DAG_ID, run_id, timeout=600)
    assert rerun["state"] == "success"
    after = _results(airflow, run_id)
    for step in ("ingest", "clean", "enrich", "refine"):
        assert after[step]["dataset"]["fingerprint"] == before[step]["dataset"]["fingerprint"], step
        assert after[step]["accounting"] == before[step]["accounting"], step
    assert after["store"]["fingerprint"] == before["store"]["fingerprint"]
    curated_after = curated(airflow, "orders", DAY).sort_values("order_id").reset_index(drop=True)
    assert curated_after["order_id"].is_unique
    pd.testing.assert_frame_equal(curated_after, curated_before)
    # the superseded attempt's files are gone: one attempt directory per dataset
    out_dir = local_path(after["clean"]["dataset"]["uri"])
    assert len([p for p in out_dir.iterdir() if p.name.startswith("attempt=")]) == 1


def test_backfill_over_rest(airflow: LocalAirflow, first_run: dict) -> None:
    backfill = airflow.api(
        "POST",
        "/backfills",
        {
            "dag_id": DAG_ID,
            "from_date": "2026-10-01T00:00:00Z",
            "to_date": "2026-10-02T00:00:00Z",
            "max_active_runs": 2,
            "reprocess_behavior": "none",
        },
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        runs = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns?run_type=backfill")["dag_runs"]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    assert backfill["dag_id"] == DAG_ID
    assert sorted((r["logical_date"][:10], r["state"]) for r in runs) == [
        ("2026-10-01", "success"),
        ("2026-10-02", "success"),
    ]
    for day in ("2026-10-01", "2026-10-02"):
        assert len(curated(airflow, "orders", day)) > 200


def test_every_curated_partition_has_one_feature_schema(airflow: LocalAirflow, first_run: dict) -> None:
    """The days published by the runs above (first run, backfill) share columns, types and scaling."""
    import numpy as np

    days = {day: curated(airflow, "orders", day) for day in ("2026-10-01", "2026-10-02", DAY)}
    assert all(len(frame) > 200 for frame in days.values())
    columns = {day: list(frame.columns) for day, frame in days.items()}
    assert len({tuple(c) for c in columns.values()}) == 1, columns
    dtypes = {day: tuple(frame.dtypes.astype(str)) for day, frame in days.items()}
    assert len(set(dtypes.values())) == 1
    fits = [np.polyfit(frame["amount"], frame["amount_scaled"], 1) for frame in days.values()]
    for fit in fits[1:]:
        np.testing.assert_allclose(fit, fits[0], rtol=1e-9)


class _AlertReceiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_failing_validation_blocks_publishing_keeps_the_last_good_version_and_alerts_once(
    airflow: LocalAirflow, first_run: dict, tmp_path: Path
) -> None:
    day = "2026-10-03"
    run_id = airflow.trigger(DAG_ID, f"{day}T00:00:00Z")
    assert airflow.wait_for_run(DAG_ID, run_id)["state"] == "success"
    good = curated(airflow, "orders", day).sort_values("order_id").reset_index(drop=True)

    # the same day again, from a landing folder where every order came through a channel the suite rejects
    # inside the project: local sources are confined to the landing root (the project by default)
    landing = PROJECT / "data" / "e2e" / tmp_path.name
    landing.mkdir(parents=True)
    source = (PROJECT / "include" / "data" / "orders" / f"orders_{day}.csv").read_text().splitlines()
    header = source[0].split(",")
    channel = header.index("channel")
    rows = [line.split(",") for line in source[1:]]
    for row in rows:
        if len(row) == len(header):
            row[channel] = "fax"
    (landing / f"orders_{day}.csv").write_text("\n".join([source[0], *(",".join(r) for r in rows)]) + "\n")

    _AlertReceiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _AlertReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alerts_conn = {
        "connection_id": "pipeline_alerts",
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": server.server_port,
        "schema": "http",
        "extra": json.dumps({"endpoint": "/alerts"}),
    }
    try:
        airflow.api("PATCH", "/connections/pipeline_alerts", alerts_conn)
        airflow.api("PATCH", "/variables/orders_landing_uri", {"key": "orders_landing_uri", "value": str(landing)})
        airflow.clear(DAG_ID, run_id)
        assert airflow.wait_for_run(DAG_ID, run_id)["state"] == "failed"
        states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG_ID, run_id)}
        assert states["validate"] == "failed"
        assert states["store"] == "upstream_failed"
        # the data is wrong, not the weather: no retry
        assert next(t for t in airflow.task_instances(DAG_ID, run_id) if t["task_id"] == "validate")["try_number"] == 2
        log = airflow.task_log(DAG_ID, run_id, "validate", 2)
        assert "ValidationFailedError" in log and "expect_column_values_to_be_in_set" in log
        deadline = time.monotonic() + 30
        while not _AlertReceiver.received and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # a second alert would arrive by now
    finally:
        server.shutdown()
        shutil.rmtree(landing, ignore_errors=True)
        airflow.load_settings()  # restore the variable and the connection from airflow_settings.yaml
    assert [(a["task_id"], a["title"]) for a in _AlertReceiver.received] == [("validate", "task failed")]
    assert "ValidationFailedError" in _AlertReceiver.received[0]["text"]
    # the last good version of the partition is still the published one
    pd.testing.assert_frame_equal(curated(airflow, "orders", day).sort_values("order_id").reset_index(drop=True), good)


def test_a_warning_publishes_and_a_quarantining_expectation_sets_rows_aside(
    airflow: LocalAirflow, first_run: dict, tmp_path: Path
) -> None:
    """One order with a country that is no ISO code (a warning) and one with a unit price of 0 (an
    expectation that quarantines): the day is published with the first and without the second."""
    day = "2026-10-06"
    landing = PROJECT / "data" / "e2e" / tmp_path.name
    landing.mkdir(parents=True)
    lines = (PROJECT / "include" / "data" / "orders" / f"orders_{day}.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    good = [r for r in rows if len(r) == len(header) and r[header.index("order_id")].startswith("O")]
    odd, free = good[10], good[20]
    odd[header.index("country")] = "XYZ"
    free[header.index("unit_price")] = "0"
    (landing / f"orders_{day}.csv").write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    try:
        airflow.api("PATCH", "/variables/orders_landing_uri", {"key": "orders_landing_uri", "value": str(landing)})
        run_id = airflow.trigger(DAG_ID, f"{day}T00:00:00Z")
        run = airflow.wait_for_run(DAG_ID, run_id)
    finally:
        shutil.rmtree(landing, ignore_errors=True)
        airflow.load_settings()
    assert run["state"] == "success"
    validate = airflow.xcom(DAG_ID, run_id, "validate")
    validation = validate["validation"]
    assert validation["success"] is True and validation["statistics"]["failed_warnings"] >= 1
    by_check = {(e["type"], e["column"]): e for e in validation["expectations"]}
    country = by_check[("expect_column_values_to_match_regex", "country")]
    assert (country["severity"], country["success"], country["unexpected_count"]) == ("warning", False, 1)
    assert country["examples"] == ["XYZ"]
    price = by_check[("expect_column_values_to_be_between", "unit_price")]
    assert (price["on_failure"], price["unexpected_count"]) == ("quarantine", 1)
    # validate's own accounting: the row set aside is in its quarantine, with the expectation as the rule
    acct = validate["accounting"]
    assert acct["balanced"] and acct["rows_quarantined"] == 1
    assert acct["rows_in"] == airflow.xcom(DAG_ID, run_id, "refine")["accounting"]["rows_out"]
    quarantine = DatasetReader(_fs(), str(local_path(validate["quarantine"]["uri"]))).read_pandas()
    assert quarantine["rule"].tolist() == ["expectation:expect_column_values_to_be_between:unit_price"]
    assert quarantine["source"].str.contains(f"orders_{day}.csv:").all()
    published = curated(airflow, "orders", day)
    assert len(published) == acct["rows_out"] == airflow.xcom(DAG_ID, run_id, "store")["rows"]
    order_id = header.index("order_id")
    assert odd[order_id] in set(published["order_id"]) and free[order_id] not in set(published["order_id"])
