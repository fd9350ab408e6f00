"""FileIngestOperator reading over HTTP from a real server on loopback (what a URL source does)."""

from __future__ import annotations

import functools
import gzip
import threading
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import fsspec
import pytest

from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.ingest.operators import FileIngestOperator


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_files(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    with gzip.open(served / "orders.csv.gz", "wt") as fh:
        fh.write("id,amount\n1,2.5\n2,3.5,extra\n3,4.5\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 1, tzinfo=UTC), run_id="r"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "r",
    }


def test_gzipped_csv_over_http(http_files, tmp_path) -> None:
    url = f"{http_files}/orders.csv.gz"
    result = FileIngestOperator(task_id="ingest", source=url, storage_root=tmp_path.as_uri()).execute(context())
    frame = DatasetReader(fsspec.filesystem("file"), result["dataset"]["uri"].removeprefix("file://")).read_pandas()
    assert frame["id"].tolist() == ["1", "3"]
    assert frame["_source_file"].unique().tolist() == [url]
    assert result["accounting"]["quarantined_by_rule"] == {"csv_malformed_row": 1}


def test_missing_url_is_a_retryable_not_found(http_files, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        FileIngestOperator(task_id="ingest", source=f"{http_files}/nope.csv", storage_root=tmp_path.as_uri()).execute(
            context()
        )
