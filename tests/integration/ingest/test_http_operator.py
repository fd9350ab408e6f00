"""HttpIngestOperator against a real HTTP server on loopback: the result, and which failures are retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException
from pytest_httpserver import HTTPServer

from dataframe_pipeline.exceptions import HttpSourceError
from dataframe_pipeline.ingest.operators import HttpIngestOperator

pytestmark = pytest.mark.integration


def context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 11, 20, tzinfo=UTC), run_id="scheduled__x"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "scheduled__x",
    }


@pytest.fixture
def api(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    conn = {"conn_type": "http", "host": httpserver.host, "port": httpserver.port, "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_TEST_API", json.dumps(conn))
    return httpserver


def operator(tmp_path, **kwargs) -> HttpIngestOperator:
    return HttpIngestOperator(
        task_id="ingest", http_conn_id="test_api", endpoint="/items", records_path="data",
        storage_root=tmp_path.as_uri(), **kwargs,
    )  # fmt: skip


def test_pages_are_ingested_with_their_statistics(api: HTTPServer, tmp_path) -> None:
    api.expect_request("/items", query_string="page=1").respond_with_json({"data": [{"id": 1}, {"id": 2}]})
    api.expect_request("/items", query_string="page=2").respond_with_json({"data": [{"id": 3}]})
    api.expect_request("/items", query_string="page=3").respond_with_json({"data": []})
    result = operator(tmp_path, pagination={"type": "page_number"}).execute(context())
    assert result["accounting"]["rows_in"] == result["dataset"]["rows"] == 3
    assert result["http"]["pages"] == 3
    assert result["partition"]["path"] == "date=2026-11-20"


def test_a_client_error_fails_the_task_without_retry(api: HTTPServer, tmp_path) -> None:
    api.expect_request("/items").respond_with_json({"message": "no such collection"}, status=404)
    with pytest.raises(AirflowFailException, match="HTTP 404: no such collection"):
        operator(tmp_path).execute(context())


def test_a_server_that_keeps_failing_is_left_to_the_tasks_retries(
    api: HTTPServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataframe_pipeline.ingest.http.reader import HttpReader

    api.expect_request("/items").respond_with_data("busy", status=503)
    waits: list[float] = []
    monkeypatch.setitem(HttpReader.__init__.__kwdefaults__, "sleep", waits.append)  # the reader's own seam
    with pytest.raises(HttpSourceError, match="HTTP 503") as err:
        operator(tmp_path).execute(context())
    assert err.value.retryable
    assert len(waits) == 5  # the reader's retries ran first, each after a backoff
