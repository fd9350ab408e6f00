"""Pipeline metrics reach a real Prometheus: the step operators push them to a real Pushgateway, Prometheus
scrapes it (every second, ``honor_labels``), and the test reads them back through ``/api/v1/query``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.core.operators import _dataset_bytes
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.metrics import URL_ENV
from tests.prometheus_servers import free_port, prometheus, pushgateway, query, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.prometheus_servers import Server

__all__ = ["prometheus", "pushgateway"]  # fixtures

DAG_ID = "metrics_it"
PARTITION = "date=2026-10-09"


def context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="scheduled__m"),
        "ti": SimpleNamespace(try_number=1, map_index=-1),
        "run_id": "scheduled__m",
    }


@pytest.fixture
def csv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    path = tmp_path / "in.csv"
    # a malformed line (quarantined by ingest), a duplicate (dropped by clean), a bad amount (quarantined)
    path.write_text("id,amount\n1,10.5\n2,abc\n1,10.5\n3,7,x\n4,3\n5,8\n")
    return path


def value(prometheus: Server, promql: str) -> float:
    found = wait_for(prometheus, promql)
    assert len(found) == 1, found
    return float(found[0]["value"][1])


def pushed_at(prometheus: Server, dag_id: str, task_id: str) -> float:
    """When the Pushgateway received the group's last push (its own ``push_time_seconds``). The wall clock
    of these machines may step between two readings in a test, so timestamps are compared with this one."""
    return value(prometheus, f'push_time_seconds{{job="dataframe_pipeline",dag_id="{dag_id}",task_id="{task_id}"}}')


def run_pipeline(tmp_path: Path, csv_file: Path, dag_id: str = DAG_ID) -> tuple[dict, dict]:
    lake = (tmp_path / "lake").as_uri()
    with DAG(dag_id, schedule=None):
        ingest = FileIngestOperator(task_id="ingest", source=str(csv_file), storage_root=lake)
        clean = CleanOperator(
            task_id="clean",
            input_dataset="",  # set below: the upstream result, as XCom would give it
            storage_root=lake,
            transforms=[{"exact_duplicates": {}}, {"coerce_types": {"types": {"id": "int", "amount": "float"}}}],
        )
    ingested = ingest.execute(context())
    clean.input_dataset = ingested
    return ingested, clean.execute(context())


def test_step_metrics_reach_prometheus(
    tmp_path: Path, csv_file: Path, pushgateway: Server, prometheus: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, pushgateway.url)
    results = dict(zip(("ingest", "clean"), run_pipeline(tmp_path, csv_file), strict=True))
    assert results["ingest"]["accounting"]["rows_quarantined"] == 1  # the input did what the test expects
    assert results["clean"]["accounting"]["dropped_by_rule"] == {"exact_duplicates": 1}

    for task_id, result in results.items():
        acct = result["accounting"]
        sel = f'{{job="dataframe_pipeline",dag_id="{DAG_ID}",task_id="{task_id}",partition="{PARTITION}"}}'
        series = wait_for(prometheus, f"dataframe_pipeline_rows_in{sel}")
        assert series[0]["metric"]["step"] == task_id
        for key in ("rows_in", "rows_out", "rows_quarantined", "rows_dropped"):
            assert value(prometheus, f"dataframe_pipeline_{key}{sel}") == acct[key], (task_id, key)
        for rule, rows in acct["dropped_by_rule"].items():
            promql = f'dataframe_pipeline_rows_dropped_by_rule{{rule="{rule}",task_id="{task_id}"}}'
            assert value(prometheus, promql) == rows
        for rule, rows in acct["quarantined_by_rule"].items():
            promql = f'dataframe_pipeline_rows_quarantined_by_rule{{rule="{rule}",task_id="{task_id}"}}'
            assert value(prometheus, promql) == rows
        ratio = value(prometheus, f"dataframe_pipeline_quarantine_ratio{sel}")
        assert ratio == pytest.approx(acct["rows_quarantined"] / acct["rows_in"])
        assert value(prometheus, f"dataframe_pipeline_output_bytes{sel}") == _dataset_bytes(result["dataset"]["uri"])
        duration = value(prometheus, f"dataframe_pipeline_duration_seconds{sel}")
        assert 0 < duration < 60
        speed = value(prometheus, f"dataframe_pipeline_rows_per_second{sel}")
        assert speed == pytest.approx(acct["rows_in"] / duration)
        assert value(prometheus, f"dataframe_pipeline_peak_memory_bytes{sel}") > 50 * 2**20  # a Python with Airflow
        stamp = value(prometheus, f"dataframe_pipeline_last_success_timestamp_seconds{sel}")
        assert stamp == pytest.approx(pushed_at(prometheus, DAG_ID, task_id), abs=5)

    # one series per task: the grouping key keeps ingest's and clean's pushes apart
    assert len(query(prometheus, f'dataframe_pipeline_rows_in{{dag_id="{DAG_ID}"}}')) == 2


def test_a_failed_step_pushes_its_failure_time(
    tmp_path: Path, pushgateway: Server, prometheus: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, pushgateway.url)
    with DAG("metrics_it_failure", schedule=None):
        op = CleanOperator(
            task_id="clean",
            input_dataset=(tmp_path / "missing").as_uri(),
            storage_root=(tmp_path / "lake").as_uri(),
            transforms=[{"no_such_transform": {}}],
        )
    with pytest.raises(AirflowFailException, match="no_such_transform"):
        op.execute(context())
    stamp = value(prometheus, 'dataframe_pipeline_last_failure_timestamp_seconds{dag_id="metrics_it_failure"}')
    assert stamp == pytest.approx(pushed_at(prometheus, "metrics_it_failure", "clean"), abs=5)
    assert query(prometheus, 'dataframe_pipeline_last_success_timestamp_seconds{dag_id="metrics_it_failure"}') == []


def test_an_unreachable_gateway_is_a_warning_not_a_failure(
    tmp_path: Path, csv_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="dataframe_pipeline.metrics"):
        _, clean = run_pipeline(tmp_path, csv_file, dag_id="metrics_it_down")
    assert clean["accounting"]["balanced"]
    assert [r.message for r in caplog.records if "not pushed" in r.message], caplog.text
