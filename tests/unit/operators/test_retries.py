"""Retries of the pipeline's tasks: exponential backoff with a ceiling (Airflow's own computation of the
next try, with the project's ``default_args``), and no retry for configuration, data-contract and
validation errors (the operator turns them into ``AirflowFailException``, which Airflow's task runner
fails at once, whatever ``retries`` says), while I/O errors propagate so the retries apply."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.defaults import default_args
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.validate.operators import ValidateOperator

END = datetime(2026, 10, 9, 3, 0, tzinfo=UTC)


def _delays(monkeypatch: pytest.MonkeyPatch, tries: int, **env: str) -> list[float]:
    """Seconds from the end of each failed try to the next, as the scheduler computes them."""
    from airflow.models.taskinstance import TaskInstance

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with DAG("retries_probe", schedule=None, start_date=END, default_args=default_args()):
        task = CleanOperator(task_id="clean", input_dataset="file:///nowhere", transforms=[{"exact_duplicates": {}}])
    delays = []
    for try_number in range(1, tries + 1):
        ti = TaskInstance(task, dag_version_id=uuid.uuid4(), run_id="scheduled__2026-10-09")
        ti.try_number, ti.end_date = try_number, END
        delays.append((ti.next_retry_datetime() - END).total_seconds())
    return delays


def test_backoff_doubles_from_the_retry_delay_up_to_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    delays = _delays(monkeypatch, 8)
    for try_number, delay in enumerate(delays, start=1):
        floor = 30 * 2 ** (try_number - 1)  # PIPELINE_RETRY_DELAY_SECONDS, doubled per try
        assert min(floor, 600) <= delay <= min(2 * floor, 600), (try_number, delay)
    assert delays[0] < 60 <= delays[1] < 120 <= delays[2]
    assert delays[-3:] == [600, 600, 600]  # PIPELINE_MAX_RETRY_DELAY_SECONDS


def test_backoff_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    delays = _delays(monkeypatch, 6, PIPELINE_RETRY_DELAY_SECONDS="5", PIPELINE_MAX_RETRY_DELAY_SECONDS="40")
    assert 5 <= delays[0] <= 10
    assert max(delays) == 40
    with DAG("retries_count", schedule=None, start_date=END, default_args=default_args(retries=4)):
        assert CleanOperator(task_id="c", input_dataset="file:///x", transforms=[{"exact_duplicates": {}}]).retries == 4


def _context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=END, run_id="scheduled__x"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "scheduled__x",
    }


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    return tmp_path


def _ingest(tmp_path: Path) -> dict:
    source = tmp_path / "in.csv"
    source.write_text("id,amount\n1,10\n2,\n3,7\n")
    op = FileIngestOperator(task_id="ingest", source=str(source), storage_root=(tmp_path / "lake").as_uri())
    return op.execute(_context())


def test_configuration_error_fails_at_once(landing: Path) -> None:
    op = CleanOperator(
        task_id="clean",
        input_dataset=_ingest(landing),
        storage_root=(landing / "lake").as_uri(),
        transforms=[{"no_such_transform": {}}],
    )
    with pytest.raises(AirflowFailException, match=r"^ConfigurationError: ") as err:
        op.execute(_context())
    assert "no_such_transform" in str(err.value)


def test_blocking_validation_fails_at_once_naming_the_failed_expectation(landing: Path) -> None:
    suite = landing / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "t",
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "amount"},
                        "severity": "critical",
                    }
                ],
            }
        )
    )
    op = ValidateOperator(
        task_id="validate", input_dataset=_ingest(landing), suite=str(suite), storage_root=(landing / "lake").as_uri()
    )
    with pytest.raises(AirflowFailException, match=r"^ValidationFailedError: suite t FAILED") as err:
        op.execute(_context())
    assert "amount" in str(err.value)
    from dataframe_pipeline.alerts.message import error_of

    assert error_of(err.value)[0] == "ValidationFailedError"  # what the failure alert names


def test_an_io_error_propagates_so_the_retries_apply(landing: Path) -> None:
    op = CleanOperator(
        task_id="clean",
        input_dataset=(landing / "lake" / "missing").as_uri(),
        storage_root=(landing / "lake").as_uri(),
        transforms=[{"exact_duplicates": {}}],
    )
    with pytest.raises(OSError) as err:  # a FileNotFoundError: the task is retried
        op.execute(_context())
    assert not isinstance(err.value, AirflowFailException)
    assert isinstance(err.value, OSError), type(err.value)


def test_retry_alerts_are_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "on_retry_callback" not in default_args()
    monkeypatch.setenv("PIPELINE_ALERT_ON_RETRY", "true")
    (notifier,) = default_args()["on_retry_callback"]
    assert notifier.title == "task up for retry"
    assert timedelta(seconds=30) == default_args()["retry_delay"]
