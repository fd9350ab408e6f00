"""What an alert says (pure logic) and which connections it goes to."""

from __future__ import annotations

import pytest

from dataframe_pipeline.alerts.message import (
    build_alert,
    describe_accounting,
    error_of,
    failed_warning_monitors,
    task_log_url,
)
from dataframe_pipeline.alerts.notifier import configured_conn_ids
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError


class AirflowFailException(Exception):
    """Named like Airflow's no-retry wrapper (the class name is what error_of looks at)."""


def _wrapped(cause: Exception) -> Exception:
    try:
        raise AirflowFailException(f"{type(cause).__name__}: {cause}") from cause
    except AirflowFailException as err:
        return err


def test_error_names_the_cause_not_the_no_retry_wrapper() -> None:
    assert error_of(_wrapped(ConfigurationError("batch_rows", 0, "must be positive"))) == (
        "ConfigurationError",
        "batch_rows=0: must be positive",
    )
    # the cause is lost (e.g. the exception went through a process boundary): the prefix names it
    assert error_of(AirflowFailException("DataContractError: column x missing")) == (
        "DataContractError",
        "column x missing",
    )
    assert error_of(DataContractError("column x missing")) == ("DataContractError", "column x missing")
    assert error_of("OSError: disk full") == ("OSError", "disk full")
    assert error_of(None) == (None, None)
    assert len(error_of(ValueError("x" * 10_000))[1]) == 4000


def test_log_link_follows_the_airflow_3_ui_routes() -> None:
    assert (
        task_log_url("http://h:8080/", "d", "manual__2026-10-09T00:00:00+00:00", "t", try_number=2)
        == "http://h:8080/dags/d/runs/manual__2026-10-09T00%3A00%3A00%2B00%3A00/tasks/t?try_number=2"
    )
    assert task_log_url("http://h", "d", "r", "t", map_index=3, try_number=1) == (
        "http://h/dags/d/runs/r/tasks/t/mapped/3?try_number=1"
    )


def test_accounting_and_monitors_are_described() -> None:
    assert describe_accounting(
        {"rows_in": 10, "rows_out": 7, "rows_quarantined": 1, "rows_dropped": 2, "dropped_by_rule": {"dup": 2}}
    ) == ("in 10, out 7, quarantined 1, dropped 2, by rule dup=2")
    monitors = [
        {"name": "volume_drop", "severity": "warning", "success": False},
        {"name": "freshness", "severity": "error", "success": False},  # fails the task: its own alert
        {"name": "max_missing_rate", "severity": "warning", "success": True},
    ]
    assert [m["name"] for m in failed_warning_monitors({"monitors": monitors})] == ["volume_drop"]
    assert failed_warning_monitors(None) == []


def test_deadline_context_of_the_scheduler_names_dag_and_run() -> None:
    context = {
        "dag_run": {"dag_id": "orders_pipeline", "dag_run_id": "scheduled__2026-10-09", "state": "running"},
        "deadline": {"id": "1", "deadline_time": "2026-10-10T00:30:00+00:00"},
    }
    alert = build_alert(context, "deadline missed", base_url="http://ui")
    assert (alert.dag_id, alert.run_id, alert.run_state) == ("orders_pipeline", "scheduled__2026-10-09", "running")
    assert alert.url == "http://ui/dags/orders_pipeline/runs/scheduled__2026-10-09"
    assert alert.text == (
        "[dataframe-pipeline] deadline missed: orders_pipeline / scheduled__2026-10-09"
        " - deadline 2026-10-10T00:30:00+00:00 passed, run running"
    )
    assert "<script>" not in build_alert({"exception": ValueError("<script>")}, "t", base_url="u").html()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PIPELINE_ALERT_CONN_IDS": "mail, slack,mail"}, ["mail", "slack"]),
        ({"PIPELINE_ALERT_CONN_ID": "legacy"}, ["legacy"]),
        ({"AIRFLOW_VAR_PIPELINE_ALERT_CONN_IDS": "from_variable"}, ["from_variable"]),
        ({}, ["pipeline_alerts"]),
    ],
)
def test_channels_from_env_then_variable_then_default(monkeypatch: pytest.MonkeyPatch, env, expected) -> None:
    for name in ("PIPELINE_ALERT_CONN_IDS", "PIPELINE_ALERT_CONN_ID", "AIRFLOW_VAR_PIPELINE_ALERT_CONN_IDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert configured_conn_ids() == expected
