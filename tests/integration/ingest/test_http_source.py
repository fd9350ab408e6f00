"""HttpReader against a real HTTP server on loopback (pytest-httpserver), one handler per API behaviour."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    HttpSourceError,
    PaginationLoopError,
    UnsafeUrlError,
)
from dataframe_pipeline.ingest.files.format import FileFormat, read_source
from dataframe_pipeline.ingest.http.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from dataframe_pipeline.ingest.http.pagination import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
)
from dataframe_pipeline.ingest.http.reader import HttpReader
from dataframe_pipeline.ingest.http.source import HttpSource
from dataframe_pipeline.ingest.records.rules import (
    DUPLICATE_COLUMN_RULE,
    DUPLICATE_KEY_RULE,
    NOT_AN_OBJECT_RULE,
    TYPE_MISMATCH_RULE,
    UNEXPECTED_COLUMN_RULE,
)

if TYPE_CHECKING:
    from werkzeug import Request

    from dataframe_pipeline.ingest.base import SourceBatch

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-VALUE-42"


# --- helpers ------------------------------------------------------------------------------------


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def make_records(n: int = 7) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"n{i}", "geo": {"lat": i + 0.5, "tags": ["a", str(i)]}} for i in range(1, n + 1)]


def expected_table(files: list[str]) -> pa.Table:
    """The flattened form of make_records(len(files)), written out independently of the reader."""
    ids = list(range(1, len(files) + 1))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"n{i}" for i in ids], pa.string()),
            "geo.lat": pa.array([i + 0.5 for i in ids], pa.float64()),
            "geo.tags": pa.array([f'["a","{i}"]' for i in ids], pa.string()),
            "_source_file": pa.array(files, pa.string()),
            "_source_line": pa.array(ids, pa.int64()),
        }
    )


def assert_table(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema.equals(expected.schema), f"{actual.schema}\n!=\n{expected.schema}"
    assert actual.to_pylist() == expected.to_pylist()


def read(source: HttpSource, **kwargs: Any) -> tuple[HttpReader, pa.Table, pd.DataFrame, list[SourceBatch]]:
    """Read everything; checks every batch balances, fits batch_rows and has the same schema."""
    reader = HttpReader(source, **kwargs)
    batches = list(reader.batches())
    for batch in batches:
        accounting = batch.accounting()
        assert accounting.balanced
        assert accounting.rows_in <= source.batch_rows
        assert batch.table.schema.equals(batches[0].table.schema)
    table = pa.concat_tables([b.table for b in batches])
    parts = [b.rejected for b in batches if len(b.rejected)]
    return reader, table, pd.concat(parts) if parts else pd.DataFrame(), batches


def per_page(files: list[str], sizes: list[int]) -> list[str]:
    return [file for file, size in zip(files, sizes, strict=True) for _ in range(size)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EdgeRng:
    """Jitter stub: always the top (or bottom) of the interval, so backoff waits are exact."""

    def __init__(self, top: bool = True) -> None:
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def base(httpserver: HTTPServer) -> str:
    return httpserver.url_for("/api")


def api_requests(httpserver: HTTPServer, path: str = "/api/items") -> list[Request]:
    return [request for request, _ in httpserver.log if request.path == path]


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"base_url": "ftp://host/x"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"base_url": f"http://alice:{SECRET}@host/x"}, "base_url"),
        ({"base_url": "http://host/x#frag"}, "base_url"),
        ({"endpoint": "http://other/x"}, "endpoint"),
        ({"method": "DELETE"}, "method"),
        ({"params": {"a": [1]}}, "params"),
        ({"params": {"api_key": SECRET, "bad": None}}, "params"),
        ({"headers": {"X-API-Key": SECRET, "n": 1}}, "headers"),
        ({"auth": "Bearer x"}, "auth"),
        ({"auth": BasicAuth("alice", "")}, "auth.password"),
        ({"auth": BasicAuth("", SECRET)}, "auth.login"),
        ({"auth": BearerAuth("")}, "auth.token"),
        ({"auth": ApiKeyAuth(SECRET, "key", "cookie")}, "auth.location"),  # type: ignore[arg-type]
        ({"auth": ApiKeyAuth(SECRET, "")}, "auth.name"),
        ({"auth": OAuth2ClientCredentials("not a url", "id", SECRET)}, "auth.token_url"),
        ({"auth": OAuth2ClientCredentials("http://h/token", "id", "")}, "auth.client_secret"),
        ({"pagination": "cursor"}, "pagination"),
        ({"pagination": PageNumberPagination(start_page=-1)}, "pagination.start_page"),
        ({"pagination": PageNumberPagination(page_size_param="n")}, "pagination.page_size"),
        ({"pagination": PageNumberPagination(page_size_param="n", page_size=0)}, "pagination.page_size"),
        ({"pagination": OffsetPagination(limit=0)}, "pagination.limit"),
        ({"pagination": CursorPagination(cursor_path="a..b")}, "pagination.cursor_path"),
        ({"pagination": NextUrlPagination(next_url_path="")}, "pagination.next_url_path"),
        ({"pagination": LinkHeaderPagination(rel="")}, "pagination.rel"),
        ({"records_path": ""}, "records_path"),
        ({"records_path": "data."}, "records_path"),
        ({"flatten_sep": ""}, "flatten_sep"),
        ({"max_pages": 0}, "max_pages"),
        ({"rate_limit_per_second": 0}, "rate_limit_per_second"),
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_seconds": -0.1}, "backoff_seconds"),
        ({"max_backoff_seconds": float("nan")}, "max_backoff_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"batch_rows": 0}, "batch_rows"),
        ({"batch_rows": True}, "batch_rows"),
    ],
)
def test_bad_configuration_names_the_field_and_never_shows_a_secret(changes: dict[str, Any], field: str) -> None:
    source = HttpSource(**{"base_url": "http://127.0.0.1:1/api", **changes})
    with pytest.raises(ConfigurationError) as info:
        HttpReader(source).batches()  # raised before iterating: nothing is fetched
    assert info.value.field == field
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.value)


def test_repr_of_the_configuration_hides_secrets() -> None:
    source = HttpSource(
        "http://127.0.0.1:1/api",
        params={"api_key": SECRET, "q": "x"},
        headers={"Authorization": f"Bearer {SECRET}", "Accept": "application/json"},
        auth=OAuth2ClientCredentials("http://127.0.0.1:1/token", "client", SECRET),
    )
    source.validate()
    shown = repr(source)
    assert SECRET not in shown
    assert "'api_key': '***'" in shown
    assert "'q': 'x'" in shown
    assert "'Accept': 'application/json'" in shown
    for auth in (BasicAuth("alice", SECRET), BearerAuth(SECRET), ApiKeyAuth(SECRET, "key", "query")):
        assert SECRET not in repr(auth)


# --- a single page and records ------------------------------------------------------------------


def test_single_page_sends_params_and_headers_and_flattens_records(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request(
        "/api/items", query_string={"q": "x", "n": "3"}, headers={"Accept-Language": "fr"}
    ).respond_with_json({"data": {"items": make_records(3)}})
    source = HttpSource(
        base, "items", params={"q": "x", "n": 3}, headers={"Accept-Language": "fr"}, records_path="data.items"
    )
    reader, table, rejected, batches = read(source)
    assert_table(table, expected_table([f"{base}/items?q=x&n=3"] * 3))
    assert rejected.empty
    assert len(batches) == 1
    stats = reader.stats
    assert (stats.pages, stats.records, stats.requests, stats.retries, stats.hit_max_pages) == (1, 3, 1, 0, False)
    assert stats.bytes == len(httpserver.log[0][1].get_data())
    assert stats.seconds > 0


def test_post_method_and_body_that_is_the_list(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items", method="POST").respond_with_json(make_records(2))
    _, table, _, _ = read(HttpSource(base, "/items", method="POST"))
    assert_table(table, expected_table([f"{base}/items"] * 2))


def test_flatten_separator_and_lists_as_json_text(httpserver: HTTPServer, base: str) -> None:
    record = {"a": {"b": 1, "c": {"d": "x", "e": [1, {"f": None}]}}, "t": [], "u": "ü"}
    httpserver.expect_request("/api/items").respond_with_json([record])
    _, table, _, _ = read(HttpSource(base, "items", flatten_sep="__"))
    expected = pa.table(
        {
            "a__b": pa.array([1], pa.int64()),
            "a__c__d": pa.array(["x"], pa.string()),
            "a__c__e": pa.array(['[1,{"f":null}]'], pa.string()),
            "t": pa.array(["[]"], pa.string()),
            "u": pa.array(["ü"], pa.string()),
            "_source_file": pa.array([f"{base}/items"], pa.string()),
            "_source_line": pa.array([1], pa.int64()),
        }
    )
    assert_table(table, expected)


def test_empty_source_yields_one_empty_batch(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_json({"data": []})
    reader, table, rejected, batches = read(HttpSource(base, "items", records_path="data"))
    assert len(batches) == 1
    assert batches[0].rows_in == 0
    assert table.schema.names == ["_source_file", "_source_line"]
    assert table.num_rows == 0
    assert rejected.empty
    assert (reader.stats.pages, reader.stats.records) == (1, 0)


def test_null_records_path_is_an_empty_page(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_json({"data": None})
    _, table, _, _ = read(HttpSource(base, "items", records_path="data"))
    assert table.num_rows == 0


@pytest.mark.parametrize(
    ("body", "records_path", "message"),
    [
        ({"items": []}, "data", "records_path 'data' is not in the response"),
        ({"data": {"a": 1}}, "data", "holds a JSON object, not a list"),
        ({"data": []}, None, "the body (records_path=None) holds a JSON object"),
    ],
)
def test_records_not_found_is_a_data_contract_error(
    httpserver: HTTPServer, base: str, body: Any, records_path: str | None, message: str
) -> None:
    httpserver.expect_request("/api/items").respond_with_json(body)
    with pytest.raises(DataContractError, match=re.escape(message)):
        list(HttpReader(HttpSource(base, "items", records_path=records_path)).batches())


def test_body_that_is_not_json_is_a_data_contract_error(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_data("<html>oops</html>", content_type="text/html")
    with pytest.raises(DataContractError, match=r"is not JSON.*<html>oops"):
        list(HttpReader(HttpSource(base, "items")).batches())


def paged(pages: list[list[Any]]) -> Any:
    """A cursor API serving ``pages`` (cursor = page index), at most one page per request."""

    def handler(request: Request) -> Response:
        index = int(request.args.get("cursor", "0"))
        nxt = index + 1 if index + 1 < len(pages) else None
        return json_response({"data": pages[index], "next": nxt})

    return handler


def test_types_are_decided_by_the_first_page_and_misfits_are_quarantined(httpserver: HTTPServer, base: str) -> None:
    first = [
        {"n": 1, "x": 1, "b": True, "s": "a", "z": None, "m": 1},
        {"n": 2, "x": 1.5, "b": False, "s": "b", "z": None, "m": "two"},
    ]
    second = [
        {"n": 3.0, "x": 4, "b": True, "s": 5, "z": {"k": 1}, "m": [1]},  # fits: 3.0 is whole, 5 -> "5"
        {"n": 2.5},  # fraction in int64
        {"n": "4"},  # string in int64
        {"b": 1},  # number in bool
        {"x": "1.5"},  # string in double
        {"n": 2**63},  # out of int64
        {"new": 1},  # field the first page did not have
        {"new": None, "n": 9},  # a null unknown field carries nothing: kept
        7,
        "text",
        [1, 2],
        None,
        {"_source_line": 1},
        {"a.b": 1, "a": {"b": 2}},
    ]
    httpserver.expect_request("/api/items").respond_with_handler(paged([first, second]))
    _, table, rejected, _ = read(HttpSource(base, "items", records_path="data", pagination=CursorPagination("next")))
    page1, page2 = f"{base}/items", f"{base}/items?cursor=1"
    expected = pa.table(
        {
            "n": pa.array([1, 2, 3, 9], pa.int64()),
            "x": pa.array([1.0, 1.5, 4.0, None], pa.float64()),
            "b": pa.array([True, False, True, None], pa.bool_()),
            "s": pa.array(["a", "b", "5", None], pa.string()),
            "z": pa.array([None, None, '{"k":1}', None], pa.string()),  # null on page 1: string
            "m": pa.array(["1", "two", "[1]", None], pa.string()),  # mixed kinds on page 1: string
            "_source_file": pa.array([page1, page1, page2, page2], pa.string()),
            "_source_line": pa.array([1, 2, 3, 10], pa.int64()),
        }
    )
    assert_table(table, expected)
    expected_rejected = pd.DataFrame(
        {
            "_source_file": [page2] * 12,
            "_source_line": pd.array([4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16], dtype="int64"),
            "_raw_line": [
                '{"n":2.5}', '{"n":"4"}', '{"b":1}', '{"x":"1.5"}', '{"n":9223372036854775808}', '{"new":1}',
                "7", '"text"', "[1,2]", "null", '{"_source_line":1}', '{"a.b":1,"a":{"b":2}}',
            ],
            "_rule": [TYPE_MISMATCH_RULE] * 5 + [UNEXPECTED_COLUMN_RULE] + [NOT_AN_OBJECT_RULE] * 4
            + [UNEXPECTED_COLUMN_RULE, DUPLICATE_COLUMN_RULE],
            "_reason": [
                "column 'n': 2.5 does not fit int64",
                "column 'n': '4' does not fit int64",
                "column 'b': 1 does not fit bool",
                "column 'x': '1.5' does not fit double",
                "column 'n': 9223372036854775808 does not fit int64",
                "keys ['new'] are not among the columns decided by the first good records",
                "the record is a JSON number, not an object",
                "the record is a JSON string, not an object",
                "the record is a JSON array, not an object",
                "the record is a JSON null, not an object",
                "keys ['_source_line'] are reserved for provenance",
                "two values for column 'a.b' (after flattening)",
            ],
        },
        index=pd.Index([4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16], dtype="int64"),
    )  # fmt: skip
    pd.testing.assert_frame_equal(rejected, expected_rejected)


def test_nested_object_under_a_string_column_is_kept_as_json_text(httpserver: HTTPServer, base: str) -> None:
    # page 1 has no location (null): its column is text; page 2's nested object stays whole in it
    pages = [[{"id": 1, "location": None}], [{"id": 2, "location": {"lat": 1.5}}, {"id": 3, "location": {}}]]
    httpserver.expect_request("/api/items").respond_with_handler(paged(pages))
    _, table, rejected, _ = read(HttpSource(base, "items", records_path="data", pagination=CursorPagination("next")))
    assert table.column("location").to_pylist() == [None, '{"lat":1.5}', "{}"]
    assert rejected.empty


def test_schema_comes_from_the_first_page_with_an_object(httpserver: HTTPServer, base: str) -> None:
    pages = [[], [1], [{"id": 1}], [{"id": 2, "extra": "x"}]]
    httpserver.expect_request("/api/items").respond_with_handler(paged(pages))
    _, table, rejected, _ = read(HttpSource(base, "items", records_path="data", pagination=CursorPagination("next")))
    assert table.schema.names == ["id", "_source_file", "_source_line"]
    assert table.column("id").to_pylist() == [1]
    assert rejected["_rule"].tolist() == [NOT_AN_OBJECT_RULE, UNEXPECTED_COLUMN_RULE]
    assert rejected["_source_line"].tolist() == [1, 3]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 4, 5, 100])
def test_output_does_not_depend_on_batch_rows(httpserver: HTTPServer, base: str, batch_rows: int) -> None:
    pages = [
        [{"id": 1, "v": 1}, "bad", {"id": 2, "v": 2}],
        [{"id": 3, "v": 2.5}, {"id": 4, "v": 4}],
        [{"id": 5, "v": None}],
    ]
    httpserver.expect_request("/api/items").respond_with_handler(paged(pages))
    source = HttpSource(base, "items", records_path="data", pagination=CursorPagination("next"), batch_rows=batch_rows)
    _, table, rejected, batches = read(source)
    _, whole, whole_rejected, _ = read(
        HttpSource(base, "items", records_path="data", pagination=CursorPagination("next"))
    )
    assert_table(table, whole)
    pd.testing.assert_frame_equal(rejected, whole_rejected)
    assert table.column("id").to_pylist() == [1, 2, 4, 5]
    assert table.column("_source_line").to_pylist() == [1, 3, 5, 6]
    assert rejected["_source_line"].tolist() == [2, 4]
    full, rest = divmod(6, batch_rows)
    assert [b.rows_in for b in batches] == [batch_rows] * full + ([rest] if rest else [])


def test_same_input_same_output(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_json(make_records(5))
    _, first, _, _ = read(HttpSource(base, "items"))
    _, second, _, _ = read(HttpSource(base, "items"))
    assert_table(first, second)


# --- one record layer: a JSON file, a JSON Lines file and API pages give the same result ---------

# four groups of three records, written compactly by hand (a repeated key cannot come from json.dumps):
# the first group decides the columns (a file's first batch, the API's first page)
SHARED_RECORDS = [
    [
        '{"id":1,"name":"Ann","amount":1.5,"geo":{"lat":1.25,"tags":["a"]},"note":null,"meta":{}}',
        '{"id":2,"name":"Bob","amount":2,"geo":{"lat":2.5,"tags":[]},"note":"x","meta":{}}',
        "7",
    ],
    [
        '{"id":3,"name":"Cy","amount":9007199254740993}',
        '{"id":4,"id":5,"name":"Dee"}',
        '{"id":6,"name":"Eve","geo":{"lat":1.0,"lat":2.0}}',
    ],
    [
        '{"id":7,"name":"Fay","extra":null,"note":{}}',
        '{"id":8,"extra":1}',
        '{"id":9,"geo":{"tags":[{"k":1,"k":2}]}}',
    ],
    [
        '{"id":10,"name":"Gus","amount":3,"geo":{"lat":3,"tags":["b","c"]}}',
        '{"id":"11"}',
        '{"geo.lat":1,"geo":{"lat":2}}',
    ],
]


def repeated_reason(path: str, key: str) -> str:
    return f"key {path!r} is repeated (2 values for {key!r} in one object): which one holds is ambiguous"


def raw_pages(pages: list[list[str]]) -> Any:
    """A cursor API serving pages of records given as JSON text."""

    def handler(request: Request) -> Response:
        index = int(request.args.get("cursor", "0"))
        nxt = str(index + 1) if index + 1 < len(pages) else "null"
        body = '{"data":[' + ",".join(pages[index]) + '],"next":' + nxt + "}"
        return Response(body, content_type="application/json")

    return handler


def read_shared(kind: str, httpserver: HTTPServer, base: str, tmp_path: Any) -> tuple[pa.Table, pd.DataFrame, Any]:
    """SHARED_RECORDS read as ``kind``: rows and quarantine without ``_source_file``, and the accounting."""
    records = [record for group in SHARED_RECORDS for record in group]
    if kind == "http":
        httpserver.expect_request("/api/items").respond_with_handler(raw_pages(SHARED_RECORDS))
        source = HttpSource(base, "items", records_path="data", pagination=CursorPagination("next"), batch_rows=3)
        _, table, rejected, batches = read(source)
    else:
        path = tmp_path / f"records.{kind}"
        path.write_text("[" + ",\n".join(records) + "]" if kind == "json" else "\n".join(records) + "\n")
        with path.open("rb") as fileobj:
            batches = list(read_source(fileobj, str(path), FileFormat(batch_rows=3)))
        table = pa.concat_tables(batch.table for batch in batches)
        rejected = pd.concat([batch.rejected for batch in batches if len(batch.rejected)])
    accounting = [batch.accounting() for batch in batches]
    assert all(part.balanced for part in accounting)
    return table.drop_columns(["_source_file"]), rejected.drop(columns=["_source_file"]), accounting


@pytest.mark.parametrize("kind", ["json", "jsonl", "http"])
def test_json_file_json_lines_and_api_pages_give_the_same_rows_and_quarantine(
    httpserver: HTTPServer, base: str, tmp_path: Any, kind: str
) -> None:
    table, rejected, accounting = read_shared(kind, httpserver, base, tmp_path)
    expected = pa.table(
        {
            "id": pa.array([1, 2, 7, 10], pa.int64()),
            "name": pa.array(["Ann", "Bob", "Fay", "Gus"], pa.string()),
            "amount": pa.array([1.5, 2.0, None, 3.0], pa.float64()),  # ints as doubles: exact
            "geo.lat": pa.array([1.25, 2.5, None, 3.0], pa.float64()),
            "geo.tags": pa.array(['["a"]', "[]", None, '["b","c"]'], pa.string()),
            # null in the first group: a string column, whose later object is its value
            "note": pa.array([None, "x", "{}", None], pa.string()),
            # no "meta": an empty object adds no column; no "extra": a null key carries nothing
            "_source_line": pa.array([1, 2, 7, 10], pa.int64()),
        }
    )
    assert_table(table, expected)
    records = [record for group in SHARED_RECORDS for record in group]
    expected_rejected = pd.DataFrame(
        {
            "_source_line": pd.array([3, 4, 5, 6, 8, 9, 11, 12], dtype="int64"),
            "_raw_line": [records[line - 1] for line in (3, 4, 5, 6, 8, 9, 11, 12)],
            "_rule": [
                NOT_AN_OBJECT_RULE, TYPE_MISMATCH_RULE, DUPLICATE_KEY_RULE, DUPLICATE_KEY_RULE,
                UNEXPECTED_COLUMN_RULE, DUPLICATE_KEY_RULE, TYPE_MISMATCH_RULE, DUPLICATE_COLUMN_RULE,
            ],
            "_reason": [
                "the record is a JSON number, not an object",
                "column 'amount': 9007199254740993 does not fit double",
                repeated_reason("id", "id"),
                repeated_reason("geo.lat", "lat"),
                "keys ['extra'] are not among the columns decided by the first good records",
                repeated_reason("geo.tags[0].k", "k"),
                "column 'id': '11' does not fit int64",
                "two values for column 'geo.lat' (after flattening)",
            ],
        },
        index=pd.Index([3, 4, 5, 6, 8, 9, 11, 12], dtype="int64"),
    )  # fmt: skip
    pd.testing.assert_frame_equal(rejected, expected_rejected)
    assert sum(part.rows_in for part in accounting) == 12
    assert sum(part.rows_out for part in accounting) == 4
    by_rule: dict[str, int] = {}
    for part in accounting:
        for rule, count in part.quarantined_by_rule.items():
            by_rule[rule] = by_rule.get(rule, 0) + count
    assert by_rule == {
        NOT_AN_OBJECT_RULE: 1, TYPE_MISMATCH_RULE: 2, DUPLICATE_KEY_RULE: 3, UNEXPECTED_COLUMN_RULE: 1,
        DUPLICATE_COLUMN_RULE: 1,
    }  # fmt: skip


def test_a_repeated_key_in_a_record_of_a_bare_list_is_quarantined(httpserver: HTTPServer, base: str) -> None:
    body = '[{"id":1,"c":{"x":1}},{"id":2,"c":{"x":1,"x":2}},{"id":3,"id":3}]'
    httpserver.expect_request("/api/items").respond_with_data(body, content_type="application/json")
    _, table, rejected, batches = read(HttpSource(base, "items"))
    assert table.column("id").to_pylist() == [1]
    assert rejected["_raw_line"].tolist() == ['{"id":2,"c":{"x":1,"x":2}}', '{"id":3,"id":3}']
    assert rejected["_rule"].tolist() == [DUPLICATE_KEY_RULE, DUPLICATE_KEY_RULE]
    assert rejected["_reason"].tolist() == [repeated_reason("c.x", "x"), repeated_reason("id", "id")]
    assert [batch.accounting().rows_in for batch in batches] == [3]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"data":[{"id":1}],"data":[{"id":2}]}', "data"),
        ('{"data":[{"id":1}],"meta":{"next":1,"next":2}}', "meta.next"),
        ('{"page":{"data":[{"id":1}],"data":[]}}', "page.data"),
        ('{"links":[{"rel":"a","rel":"b"}],"data":[{"id":1}]}', "links[0].rel"),
    ],
)
def test_a_key_repeated_outside_the_records_fails_the_page(
    httpserver: HTTPServer, base: str, body: str, key: str
) -> None:
    httpserver.expect_request("/api/items").respond_with_data(body, content_type="application/json")
    records_path = "page.data" if body.startswith('{"page"') else "data"
    with pytest.raises(DataContractError, match=re.escape(f"the key {key!r} is repeated outside the records")):
        list(HttpReader(HttpSource(base, "items", records_path=records_path)).batches())


def test_a_repeated_envelope_key_on_a_later_page_fails_after_the_earlier_pages(
    httpserver: HTTPServer, base: str
) -> None:
    pages = ['{"data":[{"id":1}],"next":1}', '{"data":[{"id":2}],"next":null,"next":null}']

    def handler(request: Request) -> Response:
        return Response(pages[int(request.args.get("cursor", "0"))], content_type="application/json")

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    source = HttpSource(base, "items", records_path="data", pagination=CursorPagination("next"), batch_rows=1)
    yielded: list[SourceBatch] = []
    with pytest.raises(DataContractError, match=re.escape("the key 'next' is repeated outside the records")):
        yielded.extend(HttpReader(source).batches())
    # what was read before is the caller's to drop: the read as a whole failed
    assert [batch.table.column("id").to_pylist() for batch in yielded] == [[1]]


# --- pagination styles --------------------------------------------------------------------------


def page_number_handler(total_pages: bool, start: int = 1) -> Any:
    records = make_records()

    def handler(request: Request) -> Response:
        page, size = int(request.args["page"]) - start, int(request.args["per_page"])
        body: dict[str, Any] = {"data": records[page * size : (page + 1) * size]}
        if total_pages:
            body["meta"] = {"total_pages": 3}
        return json_response(body)

    return handler


@pytest.mark.parametrize(("total_pages", "requests"), [(False, 4), (True, 3)])
def test_page_number_stops_on_empty_page_or_total(
    httpserver: HTTPServer, base: str, total_pages: bool, requests: int
) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(page_number_handler(total_pages))
    pagination = PageNumberPagination(
        page_size_param="per_page", page_size=3, total_pages_path="meta.total_pages" if total_pages else None
    )
    reader, table, _, _ = read(HttpSource(base, "items", records_path="data", pagination=pagination))
    files = [f"{base}/items?page={p}&per_page=3" for p in (1, 2, 3)]
    assert_table(table, expected_table(per_page(files, [3, 3, 1])))
    assert len(api_requests(httpserver)) == requests
    assert (reader.stats.pages, reader.stats.requests, reader.stats.records) == (requests, requests, 7)


def test_page_number_starting_at_zero(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(page_number_handler(False, start=0))
    pagination = PageNumberPagination(start_page=0, page_size_param="per_page", page_size=3)
    _, table, _, _ = read(HttpSource(base, "items", records_path="data", pagination=pagination))
    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert [r.args["page"] for r in api_requests(httpserver)] == ["0", "1", "2", "3"]


@pytest.mark.parametrize(("total", "requests"), [(None, 5), (7, 4)])
def test_offset_advances_by_records_received(
    httpserver: HTTPServer, base: str, total: int | None, requests: int
) -> None:
    records = make_records()

    def handler(request: Request) -> Response:
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        body: dict[str, Any] = {"items": records[offset : offset + min(limit, 2)]}  # the server caps the limit
        if total is not None:
            body["total"] = total
        return json_response(body)

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    pagination = OffsetPagination(limit=3, total_path="total" if total is not None else None)
    reader, table, _, _ = read(HttpSource(base, "items", records_path="items", pagination=pagination))
    files = [f"{base}/items?offset={o}&limit=3" for o in (0, 2, 4, 6)]
    assert_table(table, expected_table(per_page(files, [2, 2, 2, 1])))
    assert [r.args["offset"] for r in api_requests(httpserver)] == ["0", "2", "4", "6", "7"][:requests]
    assert reader.stats.pages == requests


def test_cursor_from_a_body_path(httpserver: HTTPServer, base: str) -> None:
    records = make_records()
    cursors = {None: (0, "c-3"), "c-3": (3, "c-6"), "c-6": (6, None)}

    def handler(request: Request) -> Response:
        start, nxt = cursors[request.args.get("after")]
        return json_response({"data": records[start : start + 3], "meta": {"next_token": nxt}})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    pagination = CursorPagination(cursor_path="meta.next_token", cursor_param="after")
    reader, table, _, _ = read(HttpSource(base, "items", params={"q": "x"}, records_path="data", pagination=pagination))
    files = [f"{base}/items?q=x", f"{base}/items?q=x&after=c-3", f"{base}/items?q=x&after=c-6"]
    assert_table(table, expected_table(per_page(files, [3, 3, 1])))
    assert reader.stats.pages == 3


def test_link_header_relative_and_absolute(httpserver: HTTPServer, base: str) -> None:
    records = make_records()

    def handler(request: Request) -> Response:
        start = int(request.args.get("after", "0"))
        links = {
            0: '</api/items?after=3>; rel="next"',
            3: f'<{base}/items?after=6>; rel="next", <{base}/items?after=6>; rel="last"',
            6: f'<{base}/items>; rel="first"',
        }
        return json_response(records[start : start + 3], headers={"Link": links[start]})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    reader, table, _, _ = read(HttpSource(base, "items", pagination=LinkHeaderPagination()))
    files = [f"{base}/items", f"{base}/items?after=3", f"{base}/items?after=6"]
    assert_table(table, expected_table(per_page(files, [3, 3, 1])))
    assert reader.stats.pages == 3


def test_next_url_in_the_body(httpserver: HTTPServer, base: str) -> None:
    records = make_records()

    def handler(request: Request) -> Response:
        start = int(request.args.get("after", "0"))
        nxt = {0: "items?after=3", 3: f"{base}/items?after=6", 6: None}[start]  # relative, absolute, end
        return json_response({"results": records[start : start + 3], "links": {"next": nxt}})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    pagination = NextUrlPagination("links.next")
    reader, table, _, _ = read(HttpSource(base, "items", records_path="results", pagination=pagination))
    files = [f"{base}/items", f"{base}/items?after=3", f"{base}/items?after=6"]
    assert_table(table, expected_table(per_page(files, [3, 3, 1])))
    assert reader.stats.pages == 3


def test_max_pages_stops_an_endless_api_and_reports_it(
    httpserver: HTTPServer, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: Request) -> Response:
        cursor = int(request.args.get("cursor", "0"))
        return json_response({"data": [{"id": cursor}], "next": cursor + 1})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    source = HttpSource(base, "items", records_path="data", pagination=CursorPagination("next"), max_pages=3)
    with caplog.at_level(logging.WARNING, logger="dataframe_pipeline"):
        reader, table, _, _ = read(source)
    assert table.column("id").to_pylist() == [0, 1, 2]
    assert len(api_requests(httpserver)) == 3
    assert reader.stats.hit_max_pages is True
    assert reader.stats.pages == 3
    assert any(r.levelno == logging.WARNING and "max_pages=3" in r.getMessage() for r in caplog.records)


def test_finishing_exactly_at_max_pages_is_not_hitting_the_bound(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(paged([[{"id": 1}], [{"id": 2}]]))
    source = HttpSource(base, "items", records_path="data", pagination=CursorPagination("next"), max_pages=2)
    reader, table, _, _ = read(source)
    assert table.num_rows == 2
    assert reader.stats.hit_max_pages is False


@pytest.mark.parametrize("style", ["cursor", "next_url", "link"])
def test_repeated_cursor_or_next_url_is_a_loop_error(httpserver: HTTPServer, base: str, style: str) -> None:
    # A -> B -> A: the API loops; the reader must fail instead of hanging
    following = {"A": "B", "B": "A"}

    def handler(request: Request) -> Response:
        current = request.args.get("c", "A")
        nxt = following[current]
        if style == "cursor":
            return json_response({"data": [{"id": current}], "next": nxt})
        if style == "next_url":
            return json_response({"data": [{"id": current}], "next": f"/api/items?c={nxt}"})
        return json_response({"data": [{"id": current}]}, headers={"Link": f'</api/items?c={nxt}>; rel="next"'})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    pagination = {
        "cursor": CursorPagination("next", "c"),
        "next_url": NextUrlPagination("next"),
        "link": LinkHeaderPagination(),
    }[style]
    source = HttpSource(base, "items", params={"c": "A"}, records_path="data", pagination=pagination, max_pages=50)
    with pytest.raises(PaginationLoopError, match=r"page 3 would fetch .*c=A again"):
        list(HttpReader(source).batches())
    assert len(api_requests(httpserver)) == 2


@pytest.mark.parametrize(
    "next_url",
    [
        "http://169.254.169.254/latest/meta-data/",  # another host
        "https://{host}/api/items?after=1",  # same host, scheme change
        "http://{host_only}:{other_port}/api/items?after=1",  # same host, another port
        "//evil.example/api/items",  # scheme-relative
    ],
)
@pytest.mark.parametrize("style", ["body", "link"])
def test_next_links_off_the_base_origin_are_refused(
    httpserver: HTTPServer, base: str, next_url: str, style: str
) -> None:
    target = next_url.format(
        host=f"{httpserver.host}:{httpserver.port}", host_only=httpserver.host, other_port=httpserver.port + 1
    )

    def handler(request: Request) -> Response:
        if style == "body":
            return json_response({"data": [{"id": 1}], "next": target})
        return json_response({"data": [{"id": 1}]}, headers={"Link": f'<{target}>; rel="next"'})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    pagination = NextUrlPagination("next") if style == "body" else LinkHeaderPagination()
    with pytest.raises(UnsafeUrlError, match="leaves"):
        list(HttpReader(HttpSource(base, "items", records_path="data", pagination=pagination)).batches())
    assert len(httpserver.log) == 1


# --- retries ------------------------------------------------------------------------------------


def flaky(statuses: list[int], final: Response | None = None, headers: dict[str, str] | None = None) -> Any:
    """Answers the given statuses in turn, then ``final`` (a one-record page) for ever."""
    answers = iter(statuses)

    def handler(request: Request) -> Response:
        status = next(answers, None)
        if status is None:
            return final or json_response([{"id": 1}])
        return json_response({"message": f"status {status}"}, status=status, headers=headers)

    return handler


@pytest.mark.parametrize(("top", "expected_sleeps"), [(True, [0.5, 1.0, 2.0]), (False, [0.0, 0.0, 0.0])])
def test_5xx_and_429_are_retried_with_full_jitter_backoff(
    httpserver: HTTPServer, base: str, top: bool, expected_sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(flaky([503, 500, 429]))
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING, logger="dataframe_pipeline"):
        reader, table, _, _ = read(HttpSource(base, "items"), sleep=sleeps.append, rng=EdgeRng(top))
    assert table.column("id").to_pylist() == [1]
    assert sleeps == expected_sleeps
    assert (reader.stats.requests, reader.stats.retries, reader.stats.pages) == (4, 3, 1)
    assert [r.getMessage().split("; ")[0].rsplit(": ", 1)[1] for r in caplog.records] == [
        "HTTP 503",
        "HTTP 500",
        "HTTP 429",
    ]


def test_retries_give_up_after_max_retries_with_capped_backoff(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(flaky([500] * 10))
    sleeps: list[float] = []
    source = HttpSource(base, "items", max_retries=3, backoff_seconds=0.5, max_backoff_seconds=1.5)
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(source, sleep=sleeps.append, rng=EdgeRng()).batches())
    assert sleeps == [0.5, 1.0, 1.5]
    assert (info.value.status, info.value.retryable) == (500, True)
    assert info.value.message == "status 500 (gave up after 3 retries)"
    assert len(api_requests(httpserver)) == 4


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("3", 3.0), ("0", 0.0), (formatdate(1_800_000_007, usegmt=True), 7.0), (formatdate(1_799_999_000), 0.0)],
)
def test_retry_after_seconds_or_http_date_is_honoured(
    httpserver: HTTPServer, base: str, retry_after: str, expected: float
) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(flaky([429], headers={"Retry-After": retry_after}))
    sleeps: list[float] = []
    reader = HttpReader(HttpSource(base, "items"), sleep=sleeps.append, wall_clock=lambda: 1_800_000_000.0)
    list(reader.batches())
    assert sleeps == [expected]
    assert reader.stats.retries == 1


def test_retry_after_longer_than_max_backoff_fails_at_once(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(flaky([503], headers={"Retry-After": "120"}))
    sleeps: list[float] = []
    with pytest.raises(HttpSourceError, match="Retry-After asks for 120s") as info:
        list(HttpReader(HttpSource(base, "items", max_backoff_seconds=30), sleep=sleeps.append).batches())
    assert sleeps == []
    assert (info.value.status, info.value.retryable) == (503, True)


def test_each_retry_is_logged_with_its_number_and_wait(
    httpserver: HTTPServer, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(flaky([503, 502]))
    with caplog.at_level(logging.WARNING, logger="dataframe_pipeline"):
        read(HttpSource(base, "items", max_retries=4), sleep=lambda _: None, rng=EdgeRng())
    assert [r.getMessage() for r in caplog.records] == [
        f"{base}/items: HTTP 503; retry 1/4 in 0.50s",
        f"{base}/items: HTTP 502; retry 2/4 in 1.00s",
    ]


def test_max_retries_zero_sends_once(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(flaky([503]))
    sleeps: list[float] = []
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(HttpSource(base, "items", max_retries=0), sleep=sleeps.append).batches())
    assert (info.value.status, info.value.message) == (503, "status 503 (gave up after 0 retries)")
    assert sleeps == []
    assert len(api_requests(httpserver)) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_4xx_fail_at_once_with_a_truncated_message(httpserver: HTTPServer, base: str, status: int) -> None:
    long_message = "no such thing " + "x" * 2000
    httpserver.expect_request("/api/items").respond_with_handler(
        lambda _: json_response({"error": "ignored", "message": long_message}, status=status)
    )
    sleeps: list[float] = []
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(HttpSource(base, "items"), sleep=sleeps.append).batches())
    error = info.value
    assert (error.status, error.retryable, error.url) == (status, False, f"{base}/items")
    assert error.message == long_message[:500] + "..."
    assert str(error) == f"{base}/items: HTTP {status}: {long_message[:500]}..."
    assert sleeps == []
    assert len(api_requests(httpserver)) == 1


def test_plain_text_error_body_is_the_message(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_data("Not\n  here", status=404)
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(HttpSource(base, "items")).batches())
    assert info.value.message == "Not here"


def test_redirects_are_not_followed(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_data("", status=302, headers={"Location": "/elsewhere"})
    with pytest.raises(HttpSourceError, match="redirect to /elsewhere not followed") as info:
        list(HttpReader(HttpSource(base, "items")).batches())
    assert (info.value.status, info.value.retryable) == (302, False)
    assert len(httpserver.log) == 1


def test_connection_error_is_retried_until_the_server_answers() -> None:
    port = free_port()
    server = HTTPServer(host="127.0.0.1", port=port)
    server.expect_request("/items").respond_with_json([{"id": 1}])
    sleeps: list[float] = []

    def sleep_then_start(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # two connection refusals, then the server is up
            server.start()

    try:
        reader, table, _, _ = read(
            HttpSource(f"http://127.0.0.1:{port}", "items"), sleep=sleep_then_start, rng=EdgeRng()
        )
    finally:
        if server.is_running():
            server.stop()
    assert table.column("id").to_pylist() == [1]
    assert sleeps == [0.5, 1.0]
    assert (reader.stats.requests, reader.stats.retries) == (3, 2)


def test_connection_errors_give_up_without_a_status() -> None:
    sleeps: list[float] = []
    source = HttpSource(f"http://127.0.0.1:{free_port()}", "items", max_retries=2)
    with pytest.raises(HttpSourceError, match="ConnectError") as info:
        list(HttpReader(source, sleep=sleeps.append).batches())
    assert (info.value.status, info.value.retryable) == (None, True)
    assert "no response" in str(info.value)
    assert len(sleeps) == 2


def test_read_timeout_is_retried() -> None:
    calls: list[int] = []

    def slow_once(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)
        return json_response([{"id": 1}])

    # a threaded server, so the retry is answered while the first request still sleeps
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.expect_request("/items").respond_with_handler(slow_once)
    server.start()
    sleeps: list[float] = []
    try:
        reader, table, _, _ = read(HttpSource(server.url_for("/"), "items", timeout_seconds=0.2), sleep=sleeps.append)
    finally:
        server.stop()
    assert table.column("id").to_pylist() == [1]
    assert reader.stats.retries == 1
    assert len(sleeps) == 1


# --- authentication -----------------------------------------------------------------------------


def _basic_ok(request: Request) -> bool:
    auth = request.authorization
    return auth is not None and (auth.type, auth.username, auth.password) == ("basic", "alice", SECRET)


AUTHS: dict[str, tuple[Any, Any]] = {
    "basic": (BasicAuth("alice", SECRET), _basic_ok),
    "bearer": (BearerAuth(SECRET), lambda r: r.headers.get("Authorization") == f"Bearer {SECRET}"),
    "api_key_header": (ApiKeyAuth(SECRET, "X-Token"), lambda r: r.headers.get("X-Token") == SECRET),
    "api_key_query": (
        ApiKeyAuth(SECRET, "key", "query"),
        lambda r: r.args.getlist("key") == [SECRET] and "Authorization" not in r.headers,
    ),
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
def test_static_auth_is_sent_on_every_page(httpserver: HTTPServer, base: str, kind: str) -> None:
    auth, accepts = AUTHS[kind]
    records = make_records()

    def handler(request: Request) -> Response:
        if not accepts(request):
            return json_response({"message": "unauthorized"}, status=401)
        start = int(request.args.get("after", "0"))
        nxt = f"/api/items?after={start + 3}" if start + 3 < len(records) else None
        return json_response({"data": records[start : start + 3], "next": nxt})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    source = HttpSource(base, "items", auth=auth, records_path="data", pagination=NextUrlPagination("next"))
    _, table, _, _ = read(source)
    files = [f"{base}/items", f"{base}/items?after=3", f"{base}/items?after=6"]
    assert_table(table, expected_table(per_page(files, [3, 3, 1])))


class TokenServer:
    """An OAuth2 token endpoint issuing tok-1, tok-2, ... and an API accepting the tokens in ``valid``."""

    def __init__(self, httpserver: HTTPServer, expires_in: Any = 3600, in_body: bool = False) -> None:
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.expires_in = expires_in
        self.in_body = in_body
        httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(self.token)
        self.url = httpserver.url_for("/oauth/token")

    def client_ok(self, request: Request) -> bool:
        if self.in_body:
            return request.form.get("client_id") == "client" and request.form.get("client_secret") == SECRET
        auth = request.authorization
        return auth is not None and (auth.username, auth.password) == ("client", SECRET)

    def token(self, request: Request) -> Response:
        form = request.form
        if not self.client_ok(request) or form.get("grant_type") != "client_credentials":
            received = request.form.get("client_secret") or (request.authorization or {}).get("password")
            return json_response({"error": "invalid_client", "error_description": f"bad secret {received}"}, 401)
        if form.get("scope") != "read write":
            return json_response({"error": "invalid_scope"}, 400)
        token = f"tok-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid.add(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return json_response(body)

    def accepts(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.valid


def oauth_api(httpserver: HTTPServer, tokens: TokenServer, on_page: Any = None) -> None:
    records = make_records()

    def handler(request: Request) -> Response:
        if not tokens.accepts(request):
            return json_response({"message": "token expired or revoked"}, status=401)
        if on_page is not None:
            on_page()
        start = int(request.args.get("cursor", "0"))
        nxt = start + 3 if start + 3 < len(records) else None
        return json_response({"data": records[start : start + 3], "next": nxt})

    httpserver.expect_request("/api/items").respond_with_handler(handler)


def oauth_source(base: str, tokens: TokenServer, **kwargs: Any) -> HttpSource:
    auth = OAuth2ClientCredentials(tokens.url, "client", SECRET, scope="read write", **kwargs)
    return HttpSource(base, "items", auth=auth, records_path="data", pagination=CursorPagination("next"))


@pytest.mark.parametrize("in_body", [False, True])
def test_oauth2_token_is_fetched_once_and_cached(httpserver: HTTPServer, base: str, in_body: bool) -> None:
    tokens = TokenServer(httpserver, in_body=in_body)
    oauth_api(httpserver, tokens)
    reader, table, _, _ = read(oauth_source(base, tokens, credentials_in_body=in_body))
    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert tokens.issued == ["tok-1"]
    assert reader.stats.requests == 4  # one token request and three pages
    assert [r.headers["Authorization"] for r in api_requests(httpserver)] == ["Bearer tok-1"] * 3


@pytest.mark.parametrize("expires_in", [60, "60"])  # some providers send it as a string
def test_oauth2_token_is_renewed_when_it_expires(httpserver: HTTPServer, base: str, expires_in: Any) -> None:
    clock = FakeClock()

    def advance() -> None:
        clock.now += 100  # each page takes longer than the token lives

    tokens = TokenServer(httpserver, expires_in=expires_in)
    oauth_api(httpserver, tokens, on_page=advance)
    _, table, _, _ = read(oauth_source(base, tokens), clock=clock)
    assert table.num_rows == 7
    assert tokens.issued == ["tok-1", "tok-2", "tok-3"]
    assert [r.headers["Authorization"] for r in api_requests(httpserver)] == [
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-3",
    ]


def test_oauth2_token_without_expiry_is_kept(httpserver: HTTPServer, base: str) -> None:
    clock = FakeClock()
    tokens = TokenServer(httpserver, expires_in=None)
    oauth_api(httpserver, tokens, on_page=lambda: setattr(clock, "now", clock.now + 1e6))
    read(oauth_source(base, tokens), clock=clock)
    assert tokens.issued == ["tok-1"]


def test_oauth2_refreshes_once_on_401(httpserver: HTTPServer, base: str) -> None:
    tokens = TokenServer(httpserver)
    revoked: list[str] = []

    def revoke_first_token() -> None:
        if not revoked:  # the server revokes tok-1 after serving one page with it
            revoked.append("tok-1")
            tokens.valid.discard("tok-1")

    oauth_api(httpserver, tokens, on_page=revoke_first_token)
    reader, table, _, _ = read(oauth_source(base, tokens))
    assert table.num_rows == 7
    assert tokens.issued == ["tok-1", "tok-2"]
    assert [r.headers["Authorization"] for r in api_requests(httpserver)] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"
    ]  # fmt: skip
    assert reader.stats.retries == 1


def test_oauth2_refresh_does_not_use_up_the_retries(httpserver: HTTPServer, base: str) -> None:
    """503, then 401 (token revoked), then 503 with the new token: with max_retries=1 each 503 is retried."""
    tokens = TokenServer(httpserver)
    answers = iter(["busy", "revoke", "busy"])

    def handler(request: Request) -> Response:
        step = next(answers, None)
        if step == "revoke":
            tokens.valid.discard("tok-1")
        if not tokens.accepts(request):
            return json_response({"message": "token revoked"}, status=401)
        if step == "busy":
            return json_response({"message": "busy"}, status=503)
        return json_response({"data": [{"id": 1}], "next": None})

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    sleeps: list[float] = []
    auth = OAuth2ClientCredentials(tokens.url, "client", SECRET, scope="read write")
    source = HttpSource(base, "items", auth=auth, records_path="data", max_retries=1)
    reader, table, _, _ = read(source, sleep=sleeps.append, rng=EdgeRng())
    assert table.column("id").to_pylist() == [1]
    assert tokens.issued == ["tok-1", "tok-2"]
    assert [r.headers["Authorization"] for r in api_requests(httpserver)] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"
    ]  # fmt: skip
    assert sleeps == [0.5, 0.5]  # the second run of the retries starts from the first backoff again
    assert reader.stats.retries == 3  # two backoffs and the refresh


def test_oauth2_second_401_fails(httpserver: HTTPServer, base: str) -> None:
    tokens = TokenServer(httpserver)
    httpserver.expect_request("/api/items").respond_with_handler(
        lambda _: json_response({"message": "forbidden scope"}, status=401)
    )
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(oauth_source(base, tokens)).batches())
    assert (info.value.status, info.value.retryable, info.value.message) == (401, False, "forbidden scope")
    assert tokens.issued == ["tok-1", "tok-2"]


def test_oauth2_rejected_client_fails_without_showing_the_secret(httpserver: HTTPServer, base: str) -> None:
    tokens = TokenServer(httpserver)
    oauth_api(httpserver, tokens)
    auth = OAuth2ClientCredentials(tokens.url, "client", "wrong-secret-value", scope="read write")
    source = HttpSource(base, "items", auth=auth, records_path="data")
    with pytest.raises(HttpSourceError) as info:
        list(HttpReader(source).batches())
    assert (info.value.status, info.value.url, info.value.retryable) == (401, tokens.url, False)
    assert info.value.message == "bad secret ***"  # the server echoed it; scrubbed
    assert "wrong-secret-value" not in str(info.value)
    assert api_requests(httpserver) == []


@pytest.mark.parametrize("kind", [*sorted(AUTHS), "oauth2"])
def test_secrets_never_reach_logs_errors_or_provenance(
    httpserver: HTTPServer, base: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The server echoes everything it gets (URL, headers) in its error and its next link."""
    if kind == "oauth2":
        tokens = TokenServer(httpserver)
        auth: Any = OAuth2ClientCredentials(tokens.url, "client", SECRET, scope="read write")
        secrets = [SECRET, "tok-1"]
    else:
        auth, secrets = AUTHS[kind][0], [SECRET, base64.b64encode(f"alice:{SECRET}".encode()).decode()]
    failures = iter([503])

    def handler(request: Request) -> Response:
        if next(failures, None):
            return json_response({"message": f"busy, {request.url} {dict(request.headers)}"}, status=503)
        if "after" not in request.args:  # the next link echoes a query key, as some APIs do
            echo = f"&key={SECRET}" if kind == "api_key_query" else ""
            return json_response({"data": [{"id": 1}], "next": f"/api/items?after=1{echo}"})
        return json_response({"message": f"denied {request.url} {dict(request.headers)}"}, status=403)

    httpserver.expect_request("/api/items").respond_with_handler(handler)
    source = HttpSource(
        base, "items", auth=auth, records_path="data", pagination=NextUrlPagination("next"), batch_rows=1
    )
    caplog.set_level(logging.DEBUG)
    batches = []
    with pytest.raises(HttpSourceError) as info:
        for batch in HttpReader(source, sleep=lambda _: None).batches():
            batches.append(batch)
    echoed = info.value.message
    assert "denied" in echoed
    assert "***" in echoed  # the echo held the secret, now scrubbed
    # werkzeug's own access log is the server's, not ours: it shows what the server received
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    assert "HTTP 503" in ours  # the retry was logged
    files = [value for batch in batches for value in batch.table.column("_source_file").to_pylist()]
    assert files == [f"{base}/items"]
    for secret in secrets:
        assert secret not in ours
        assert secret not in str(info.value)
        assert secret not in info.value.url
        assert secret not in repr(source)
    assert info.value.url == f"{base}/items?after=1"
    # while the server did get the credentials with every request
    accepts = AUTHS[kind][1] if kind in AUTHS else (lambda r: r.headers.get("Authorization") == "Bearer tok-1")
    assert len(api_requests(httpserver)) == 3
    assert all(accepts(r) for r in api_requests(httpserver))


# --- rate limit ---------------------------------------------------------------------------------


def endless_cursor(request: Request) -> Response:
    cursor = int(request.args.get("cursor", "0"))
    return json_response({"data": [{"id": cursor}], "next": cursor + 1})


def test_rate_limit_spaces_requests(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(endless_cursor)
    rate, pages = 20.0, 6
    source = HttpSource(
        base, "items", records_path="data", pagination=CursorPagination("next"), max_pages=pages,
        rate_limit_per_second=rate,
    )  # fmt: skip
    started = time.monotonic()
    reader, table, _, _ = read(source)
    elapsed = time.monotonic() - started
    assert reader.stats.requests == pages
    assert table.num_rows == pages
    assert elapsed >= (pages - 1) / rate


def test_rate_limit_is_shared_by_readers_of_the_same_host(httpserver: HTTPServer, base: str) -> None:
    httpserver.expect_request("/api/items").respond_with_handler(endless_cursor)
    rate, pages_each = 10.0, 3
    source = HttpSource(
        base, "items", records_path="data", pagination=CursorPagination("next"), max_pages=pages_each,
        rate_limit_per_second=rate,
    )  # fmt: skip
    errors: list[BaseException] = []

    def run() -> None:
        try:
            read(source)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert errors == []
    assert len(api_requests(httpserver)) == 2 * pages_each
    # separate buckets would let both readers finish in (pages_each - 1) / rate = 0.2 s
    assert elapsed >= (2 * pages_each - 1) / rate
