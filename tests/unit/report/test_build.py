"""The report of a run built from the datasets its steps left: every section, its pictures, the page."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataframe_pipeline.core.dataset import Location
from dataframe_pipeline.report.build import build_report, write_report
from tests.unit.report.conftest import DAY, inputs_of, png_ok


def test_every_section_is_built_with_real_pictures(run) -> None:
    report = build_report(inputs_of(run))
    sections = report.data["sections"]
    assert report.data["verdict"] == "published"
    assert {"accounting", "distributions", "outliers_0", "drift", "tsne"} <= set(report.pictures)
    for name, png in report.pictures.items():
        assert png_ok(png), name
    steps = {s["step"]: s for s in sections["accounting"]["steps"]}
    assert steps["clean"]["rows_in"] == 403 and steps["clean"]["rows_quarantined"] == 3
    assert sections["accounting"]["note"] == ""


def test_null_rates_before_and_after_cleaning(run) -> None:
    cleaning = build_report(inputs_of(run)).data["sections"]["cleaning"]
    by_column = {c["column"]: c for c in cleaning["columns"]}
    assert by_column["amount"]["nulls_before"] == 10 and by_column["amount"]["nulls_after"] == 0
    assert by_column["country"]["nulls_before"] == 3 + 3  # 3 blanked + the 3 outlier rows without a country
    assert by_column["amount"]["null_rate_before"] == 10 / 403
    assert "amount" in cleaning["histogram_columns"]


def test_outliers_with_their_fences(run) -> None:
    outliers = build_report(inputs_of(run)).data["sections"]["outliers"]
    assert outliers["quarantined_by_rule"] == {"iqr_outliers": 3}
    amount = outliers["columns"]["amount"]
    assert amount["count"] == 3 and amount["fences"] == [1.25, 950.0]
    assert amount["values"] == [0.01, 9000.5, 12000.0]


def test_drift_against_the_latest_earlier_delta_partition(run) -> None:
    drift = build_report(inputs_of(run)).data["sections"]["drift"]
    assert drift["reference"]["format"] == "delta"
    assert drift["reference"]["partition"] == {"date": "2026-10-08"}
    assert drift["reference"]["rows"] == 500
    by_column = {d["column"]: d for d in drift["columns"]}
    # the current amounts are shifted by 0.6 on the log scale, the countries reweighted: both drift
    assert by_column["amount"]["drifted"] and by_column["amount"]["psi"] > 0.2
    assert by_column["country"]["kind"] == "categorical" and by_column["country"]["drifted"]
    assert by_column["order_id"]["kind"] == "not compared"
    assert not by_column["returned"]["drifted"]
    assert "date" not in by_column


def test_first_run_says_there_is_nothing_to_compare(run, tmp_path) -> None:
    drift = build_report(inputs_of(run, curated_table=Location.local(str(tmp_path / "none")))).data["sections"]["drift"]
    assert drift["columns"] == [] and "first run" in drift["note"]


def test_hive_parquet_reference_when_the_table_is_not_delta(run, tmp_path) -> None:
    table = tmp_path / "hive" / "orders"
    for day, n in (("2026-10-05", 50), ("2026-10-08", 80), (DAY, 10)):
        folder = table / f"date={day}" / "split=train"
        folder.mkdir(parents=True)
        frame = run["current"].head(n)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-00000.parquet")
    drift = build_report(inputs_of(run, curated_table=Location.local(str(table)))).data["sections"]["drift"]
    assert drift["reference"]["format"] == "parquet"
    assert drift["reference"]["partition"] == {"date": "2026-10-08"} and drift["reference"]["rows"] == 80
    assert {d["column"] for d in drift["columns"]} >= {"amount", "split"}


def test_history_is_drawn_from_the_history_dataset(run, tmp_path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    rows = []
    for i, day in enumerate(["2026-10-07", "2026-10-08", DAY]):
        stamp = pd.Timestamp(f"{day}T01:00:00Z")
        rows.append(("orders_pipeline", "validate", f"r{i}", day, stamp, "row_count", None, 400.0 + i))
        rows.append(("orders_pipeline", "validate", f"r{i}", day, stamp, "missing_rate", "amount", 0.01 * i))
        rows.append(("other_dag", "validate", f"x{i}", day, stamp, "row_count", None, 5.0))
    names = ["dag_id", "task_id", "run_id", "partition", "recorded_at", "metric", "column", "value"]
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(rows, columns=names), preserve_index=False), history / "a.parquet")
    validate = {**run["results"]["validate"]}
    validate["validation"] = {"success": True, "suite": "orders_curated", "history_uri": f"file://{history}"}
    results = {**run["results"], "validate": validate}
    report = build_report(inputs_of(run, results=results))
    assert report.data["sections"]["history"]["runs"] == 3
    assert png_ok(report.pictures["history"])


def test_no_history_is_a_note(run) -> None:
    section = build_report(inputs_of(run)).data["sections"]["history"]
    assert section["uri"] is None and "history_uri" in section["note"]


def test_a_failed_validation_blocks_and_the_report_says_why(run) -> None:
    results = {**run["results"], "validate": None, "store": None}
    failed = {"suite_name": "orders_curated", "success": False, "evaluated": 5, "successful": 4, "unsuccessful": 1,
              "failures": [{"expectation_type": "expect_column_values_to_be_between", "column": "amount",
                            "unexpected_count": 7, "partial_unexpected": [9000.5, 12000.0, -1.0]}]}  # fmt: skip
    states = {**dict.fromkeys(results, "success"), "validate": "failed", "store": "upstream_failed"}
    report = build_report(inputs_of(run, results=results, states=states, validation_report=failed))
    assert report.data["verdict"].startswith("blocked: validation failed")
    validation = report.data["sections"]["validation"]
    assert validation["success"] is False and validation["shape"] == "legacy"
    assert validation["expectations"][0]["unexpected_count"] == 7
    assert "validate (failed)" in report.data["sections"]["accounting"]["note"]


def test_write_report_writes_a_self_contained_page(run, tmp_path) -> None:
    out = write_report(inputs_of(run), Location.local(str(tmp_path / "report")))
    page = (tmp_path / "report" / "report.html").read_text()
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert out["html_uri"].endswith("report/report.html") and out["report_uri"].endswith("report/report.json")
    assert data["sections"]["drift"]["drifted"] == out["drifted_columns"]
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(out["pictures"]) >= 5
    assert all(png_ok(base64.b64decode(i)) for i in images)
    assert "<script" not in page and 'src="http' not in page
