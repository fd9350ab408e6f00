"""The validate operator on real datasets: severities, quarantine on failure, contract, monitors, history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fsspec
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.validate.history import read_history
from dataframe_pipeline.validate.operators import ValidateOperator

pytestmark = pytest.mark.unit

ORDERS = pd.DataFrame(
    {
        "order_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "amount": [10.0, -5.0, 20.0, None, 900.0, 15.0],
        "returned": [0, 1, 0, 0, 0, 1],
        "channel": ["web", "app", "fax", "web", "web", "store"],
        "order_ts": pd.to_datetime(
            ["2026-10-09 01:00", "2026-10-09 05:00", "2026-10-09 08:00", "2026-10-09 09:00", "2026-10-09 10:00",
             "2026-10-09 12:00"], utc=True,
        ),
    }
)  # fmt: skip


def context(day: int = 9, try_number: int = 1) -> dict[str, Any]:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, day, tzinfo=UTC), run_id=f"scheduled__{day}"),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": f"scheduled__{day}",
    }


def dataset(tmp_path: Path, frame: pd.DataFrame, name: str = "in") -> str:
    path = tmp_path / "data" / name
    with DatasetWriter(fsspec.filesystem("file"), str(path), uri=path.as_uri(), attempt_id="t") as writer:
        writer.write(frame)
        return writer.commit({}).uri


def suite_file(tmp_path: Path, expectations: list[dict], monitors: dict | None = None) -> str:
    path = tmp_path / "suite.json"
    body: dict[str, Any] = {"name": "orders_test", "expectations": expectations}
    if monitors is not None:
        body["monitors"] = monitors
    path.write_text(json.dumps(body))
    return str(path)


def validate(tmp_path: Path, suite: str, frame: pd.DataFrame = ORDERS, day: int = 9, **kwargs: Any) -> dict:
    op = ValidateOperator(
        task_id="validate",
        input_dataset=dataset(tmp_path, frame, f"in{day}"),
        suite=suite,
        storage_root=(tmp_path / "lake").as_uri(),
        **kwargs,
    )
    return op.execute(context(day))


def expectation(kind: str, severity: str | None = None, on_failure: str | None = None, **kwargs: Any) -> dict:
    item: dict[str, Any] = {"type": f"expect_{kind}", "kwargs": kwargs}
    if severity:
        item["severity"] = severity
    if on_failure:
        item["on_failure"] = on_failure
    return item


def test_an_error_fails_naming_the_expectation_counts_and_examples(tmp_path: Path) -> None:
    suite = suite_file(
        tmp_path,
        [
            expectation("column_values_to_be_in_set", column="channel", value_set=["web", "app", "store"]),
            expectation("column_values_to_be_between", column="amount", min_value=0),
            expectation("column_values_to_be_unique", column="order_id"),
        ],
    )
    with pytest.raises(AirflowFailException) as failure:
        validate(tmp_path, suite)
    message = str(failure.value)
    assert "ValidationFailedError: suite orders_test FAILED" in message
    assert "expect_column_values_to_be_in_set(channel) [error]: 1 of 6 rows unexpected" in message
    assert "e.g. ['fax']" in message
    assert "expect_column_values_to_be_between(amount) [error]: 1 of 6 rows unexpected" in message
    assert "expect_column_values_to_be_unique" not in message  # it passed
    (report,) = (tmp_path / "lake").glob("*/date=2026-10-09/validate/report.json")
    body = json.loads(report.read_text())
    assert body["success"] is False
    assert body["statistics"] == {"evaluated": 3, "successful": 1, "failed_errors": 2, "failed_warnings": 0}


def test_a_warning_is_reported_and_the_data_passes_on(tmp_path: Path) -> None:
    suite = suite_file(
        tmp_path,
        [
            expectation("column_values_to_be_in_set", "warning", column="channel", value_set=["web", "app", "store"]),
            expectation("table_row_count_to_be_between", min_value=1),
        ],
    )
    result = validate(tmp_path, suite)
    validation = result["validation"]
    assert validation["success"] is True and result["success"] is True
    assert validation["statistics"] == {"evaluated": 2, "successful": 1, "failed_errors": 0, "failed_warnings": 1}
    first = validation["expectations"][0]
    assert first["severity"] == "warning" and first["success"] is False
    assert first["unexpected_count"] == 1 and first["examples"] == ["fax"]
    assert result["dataset"]["rows"] == 6 and result["dataset"]["uri"].endswith("/data/in9")  # passed through
    assert set(validation) == {
        "success", "suite", "report_uri", "statistics", "expectations", "contract", "metrics", "monitors",
        "history_uri",
    }  # fmt: skip
    assert set(first) == {
        "type", "column", "kwargs", "severity", "success", "element_count", "unexpected_count",
        "unexpected_percent", "missing_count", "examples", "observed_value", "exception", "on_failure",
    }  # fmt: skip


def test_quarantine_on_failure_removes_rows_and_reconciles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = suite_file(
        tmp_path,
        [
            expectation("column_values_to_be_between", on_failure="quarantine", column="amount", min_value=0),
            expectation("rows_to_pass_expression", on_failure="quarantine", expression="channel != 'fax'"),
            expectation(
                "rows_to_pass_rule", on_failure="quarantine",
                rule="tests.unit.validate.sample_rules:AmountCap", params={"cap": 500},
            ),
            expectation("table_row_count_to_equal", value=3),
        ],
    )  # fmt: skip
    result = validate(tmp_path, suite)
    assert result["accounting"]["rows_in"] == 6
    assert result["accounting"]["rows_out"] == 3 and result["accounting"]["rows_quarantined"] == 3
    assert result["accounting"]["balanced"] is True
    assert result["accounting"]["quarantined_by_rule"] == {
        "expectation:expect_column_values_to_be_between:amount": 1,
        "expectation:expect_rows_to_pass_expression:channel != 'fax'": 1,
        "expectation:expect_rows_to_pass_rule:tests.unit.validate.sample_rules:AmountCap": 1,
    }
    out = DatasetReader(fsspec.filesystem("file"), result["dataset"]["uri"].removeprefix("file://")).read_pandas()
    assert sorted(out["order_id"]) == ["A1", "A4", "A6"]  # the output is the validate step's own, filtered
    quarantine = DatasetReader(fsspec.filesystem("file"), result["quarantine"]["uri"].removeprefix("file://"))
    reasons = sorted(quarantine.read_pandas()["reason"])
    assert reasons[0] == "expect_column_values_to_be_between: amount=-5.0"
    validation = result["validation"]
    assert validation["success"] is True  # quarantined rows do not fail the run
    assert validation["expectations"][-1]["observed_value"] == 3  # aggregates see the rows kept
    assert validation["statistics"]["failed_warnings"] == 3


def test_a_quarantining_check_that_cannot_run_fails(tmp_path: Path) -> None:
    suite = suite_file(
        tmp_path, [expectation("column_values_to_not_be_null", on_failure="quarantine", column="no_such_column")]
    )
    with pytest.raises(AirflowFailException, match=r"no_such_column\) \[error\]: not evaluated"):
        validate(tmp_path, suite)


def test_referential_check_against_another_dataset(tmp_path: Path) -> None:
    channels = dataset(tmp_path, pd.DataFrame({"code": ["web", "app", "store", None]}), "channels")
    suite = suite_file(
        tmp_path,
        [
            expectation(
                "column_values_to_be_in_dataset", "warning", column="channel", dataset=channels, dataset_column="code"
            )
        ],
    )
    (outcome,) = validate(tmp_path, suite)["validation"]["expectations"]
    assert (outcome["success"], outcome["unexpected_count"], outcome["examples"]) == (False, 1, ["fax"])


def test_contract_differences_fail_before_reading(tmp_path: Path) -> None:
    contract = tmp_path / "contract.yaml"
    contract.write_text(
        "allow_extra: false\ncolumns:\n  order_id: string\n  amount: integer\n  returned: int64\n"
        "  order_ts: timestamp\n  customer_id: string\n"
    )
    suite = suite_file(tmp_path, [expectation("table_row_count_to_be_between", min_value=1)])
    with pytest.raises(AirflowFailException) as failure:
        validate(tmp_path, suite, contract=str(contract))
    message = str(failure.value)
    assert "amount: retyped, expected integer, actual double" in message
    assert "customer_id: missing (expected string)" in message
    assert "channel: added (large_string), not in the contract" in message
    (report,) = (tmp_path / "lake").glob("*/date=2026-10-09/validate/report.json")
    differences = json.loads(report.read_text())["contract"]["differences"]
    assert {(d["column"], d["change"]) for d in differences} == {
        ("amount", "retyped"), ("customer_id", "missing"), ("channel", "added"),
    }  # fmt: skip
    assert not list((tmp_path / "lake").glob("*/date=2026-10-09/validate/output"))


def test_contract_that_holds_is_reported(tmp_path: Path) -> None:
    contract = tmp_path / "contract.yaml"
    contract.write_text("columns:\n  order_id: string\n  amount: double\n  order_ts: timestamp[us, tz=UTC]\n")
    suite = suite_file(tmp_path, [expectation("table_row_count_to_be_between", min_value=1)])
    result = validate(tmp_path, suite, contract=str(contract))
    assert result["validation"]["contract"] == {"success": True, "differences": []}


def test_monitors_history_volume_drop_and_freshness(tmp_path: Path) -> None:
    monitors = {
        "max_missing_rate": {"amount": 0.1, "severity": "warning"},
        "volume_drop": {"last_n": 3, "max_drop": 0.5, "severity": "critical"},
        "freshness": {"column": "order_ts", "max_age": "1 day", "severity": "warning"},
    }
    suite = suite_file(tmp_path, [expectation("table_row_count_to_be_between", min_value=1)], monitors)
    first = validate(tmp_path, suite, day=9)["validation"]
    by_name = {m["name"]: m for m in first["monitors"]}
    assert by_name["max_missing_rate:amount"]["success"] is False  # 1 of 6 missing > 10%
    assert by_name["max_missing_rate:amount"]["observed"] == pytest.approx(1 / 6)
    assert by_name["volume_drop"]["success"] is True and by_name["volume_drop"]["observed"] is None
    # the partition ends 2026-10-10 00:00; the newest order is 12:00 on the 9th: 12 hours old
    assert by_name["freshness:order_ts"]["observed"] == 12 * 3600 and by_name["freshness:order_ts"]["success"]
    assert first["metrics"]["freshness_seconds"] == 12 * 3600
    # a second day with 2 rows: a drop of 67% against the median (6) fails as an error
    small = ORDERS.iloc[:2].assign(order_ts=pd.Timestamp("2026-10-08", tz="UTC"))
    with pytest.raises(AirflowFailException, match=r"monitor volume_drop \[error\]") as failure:
        validate(tmp_path, suite, frame=small, day=10)
    assert "freshness" not in str(failure.value)  # a warning: logged and reported, not in the error
    (report,) = (tmp_path / "lake").glob("*/date=2026-10-10/validate/report.json")
    stale = {m["name"]: m for m in json.loads(report.read_text())["monitors"]}["freshness:order_ts"]
    assert (stale["success"], stale["severity"], stale["observed"]) == (False, "warning", 3 * 86400)
    history_dir = tmp_path / "lake" / "_quality" / "adhoc_airflow" / "validate"
    history = read_history(str(history_dir))
    assert sorted(history["partition"].unique()) == ["2026-10-09", "2026-10-10"]
    stale = history[(history["partition"] == "2026-10-10") & (history["metric"] == "freshness_seconds")]
    assert stale["value"].tolist() == [3 * 86400.0]  # relative to the partition end, not to now
    assert list(history.columns) == [
        "dag_id",
        "task_id",
        "run_id",
        "partition",
        "recorded_at",
        "metric",
        "column",
        "value",
    ]
    assert history["value"].dtype == "float64"


def test_history_rerun_replaces_its_partition(tmp_path: Path) -> None:
    suite = suite_file(tmp_path, [expectation("table_row_count_to_be_between", min_value=1)])
    validate(tmp_path, suite)
    validate(tmp_path, suite, frame=ORDERS.iloc[:4])
    history = read_history(str(tmp_path / "lake" / "_quality" / "adhoc_airflow" / "validate"))
    rows = history[history["metric"] == "row_count"]
    assert rows["value"].tolist() == [4.0]  # one file per partition: the last run's


@pytest.mark.parametrize(
    ("item", "field", "value"),
    [
        (
            expectation("column_values_to_be_blue", column="x"),
            "expectations[0].type",
            "expect_column_values_to_be_blue",
        ),
        (expectation("column_values_to_be_unique", "fatal", column="x"), "expectations[0].severity", "fatal"),
        (expectation("column_values_to_be_unique", "info", column="x"), "expectations[0].severity", "info"),
        (
            expectation("column_values_to_be_unique", on_failure="quarantine", column="x"),
            "expectations[0].on_failure",
            "quarantine",
        ),
        (
            expectation("column_mean_to_be_between", on_failure="quarantine", column="x", min_value=1),
            "on_failure",
            "quarantine",
        ),
        (expectation("column_values_to_be_unique", on_failure="drop", column="x"), "on_failure", "drop"),
        (expectation("rows_to_pass_expression", expression="amount >="), "expression", "amount >="),
        (expectation("rows_to_pass_rule", rule="no.such.module:Rule"), "rule", "no.such.module:Rule"),
        (expectation("column_mean_to_be_between", column="x"), "min_value", None),
    ],
)
def test_bad_configuration_names_field_and_value(tmp_path: Path, item: dict, field: str, value: Any) -> None:
    op = ValidateOperator(task_id="validate", input_dataset="file:///x", suite=suite_file(tmp_path, [item]))
    with pytest.raises(ConfigurationError) as error:
        op.validate_config()
    assert field in error.value.field
    assert error.value.value == value


@pytest.mark.parametrize(
    ("monitors", "field"),
    [
        ({"volume_drop": {"last_n": 0, "max_drop": 0.5}}, "monitors.volume_drop.last_n"),
        ({"freshness": {"column": "order_ts", "max_age": "soon"}}, "monitors.freshness.max_age"),
        ({"max_missing_rate": {"amount": 2}}, "monitors.max_missing_rate.amount"),
        ({"max_missing_rate": {"amount": 0.1, "severity": "loud"}}, "monitors.max_missing_rate.severity"),
        ({"row_spikes": {}}, "monitors.row_spikes"),
    ],
)
def test_bad_monitors_are_refused(tmp_path: Path, monitors: dict, field: str) -> None:
    suite = suite_file(tmp_path, [expectation("table_row_count_to_be_between", min_value=1)], monitors)
    op = ValidateOperator(task_id="validate", input_dataset="file:///x", suite=suite)
    with pytest.raises(ConfigurationError) as error:
        op.validate_config()
    assert error.value.field == field


def test_duplicate_and_outlier_rates_come_from_every_upstream_result(tmp_path: Path) -> None:
    from airflow.sdk import DAG
    from airflow.sdk.bases.operator import BaseOperator

    upstream = {
        "ingest": {"step": "ingest", "accounting": {"rows_in": 10, "dropped_by_rule": {}, "quarantined_by_rule": {}}},
        "clean": {
            "step": "clean",
            "accounting": {
                "rows_in": 9,
                "dropped_by_rule": {"exact_duplicates": 2},
                "quarantined_by_rule": {"iqr_outliers": 1, "coerce_types:amount": 1},
            },
        },
    }
    suite = suite_file(
        tmp_path,
        [expectation("table_row_count_to_be_between", min_value=1)],
        {"max_duplicate_rate": {"value": 0.1, "severity": "warning"}},
    )
    with DAG("quality", schedule=None, start_date=datetime(2026, 10, 1, tzinfo=UTC)):
        ingest, clean = BaseOperator(task_id="ingest"), BaseOperator(task_id="clean")
        op = ValidateOperator(
            task_id="validate",
            input_dataset=dataset(tmp_path, ORDERS),
            suite=suite,
            storage_root=(tmp_path / "lake").as_uri(),
        )
        ingest >> clean >> op
    pulled: list[list[str]] = []

    def xcom_pull(task_ids: list[str]) -> list[dict]:
        pulled.append(task_ids)
        return [upstream[t] for t in task_ids]

    ctx = context()
    ctx["ti"] = SimpleNamespace(try_number=1, xcom_pull=xcom_pull)
    validation = op.execute(ctx)["validation"]
    assert pulled == [["clean", "ingest"]]  # every upstream task, not only the direct one
    assert validation["metrics"]["duplicate_rate"] == pytest.approx(0.2)  # 2 of the 10 rows ingest read
    assert validation["metrics"]["outlier_rate"] == pytest.approx(0.1)
    (monitor,) = validation["monitors"]
    assert (monitor["name"], monitor["success"], monitor["severity"]) == ("max_duplicate_rate", False, "warning")
