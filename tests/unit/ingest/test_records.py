"""Tests of the shared record layer (ingest/records.py) through the file readers: repeated keys in
JSON and JSON Lines, the behaviours decided once for every source, and the Arrow fast path.

Documents are written by hand as text (a repeated key cannot be produced with ``json.dumps``); the
HTTP side of the same behaviours is in tests/integration/ingest/test_http_source.py.
"""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import MalformedSourceError
from dataframe_pipeline.ingest.files import json as json_format
from dataframe_pipeline.ingest.files.format import FileFormat, check_source, read_source
from dataframe_pipeline.ingest.records.keys import _raw_json, decode_json
from dataframe_pipeline.ingest.records.rules import (
    DUPLICATE_COLUMN_RULE,
    DUPLICATE_KEY_RULE,
    NOT_AN_OBJECT_RULE,
    TYPE_MISMATCH_RULE,
    UNEXPECTED_COLUMN_RULE,
)
from dataframe_pipeline.ingest.records.types import _FITTERS, _safe_array

if TYPE_CHECKING:
    from dataframe_pipeline.ingest.base import SourceBatch

pytestmark = pytest.mark.unit

REJECTED_COLUMNS = ["_source_file", "_source_line", "_raw_line", RULE_COLUMN, REASON_COLUMN]


def read(data: str, name: str, **options: Any) -> tuple[list[SourceBatch], pa.Table, pd.DataFrame]:
    batches = list(read_source(io.BytesIO(data.encode()), name, FileFormat(**options)))
    for batch in batches:
        assert batch.accounting().balanced, batch.accounting().summary()
        assert batch.table.schema.equals(batches[0].table.schema)
    parts = [batch.rejected for batch in batches if len(batch.rejected)]
    rejected = pd.concat(parts) if parts else pd.DataFrame(columns=REJECTED_COLUMNS)
    return batches, pa.concat_tables(batch.table for batch in batches), rejected


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    return table.drop_columns(["_source_file"]).to_pylist()


def quarantine_of(rejected: pd.DataFrame) -> list[tuple[Any, ...]]:
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert list(rejected.index) == list(rejected["_source_line"])
    return list(rejected[["_source_line", "_raw_line", RULE_COLUMN, REASON_COLUMN]].itertuples(index=False, name=None))


def as_json_document(records: list[str]) -> str:
    return "[\n" + ",\n".join(records) + "\n]"


def as_json_lines(records: list[str]) -> str:
    return "".join(record + "\n" for record in records)


def repeated(path: str, key: str, count: int = 2) -> str:
    return f"key {path!r} is repeated ({count} values for {key!r} in one object): which one holds is ambiguous"


# --- repeated keys in records -------------------------------------------------------------------

# one good record, then a key repeated at the top level, in a nested object, in an object inside a
# list, in a list inside a list, three times, and in an object when objects are not flattened
REPEATED_KEY_RECORDS = [
    '{"id": 1, "customer": {"id": 10}, "items": [{"sku": "a"}]}',
    '{"id": 2, "id": 3}',
    '{"id": 4, "customer": {"id": 10, "id": 11}}',
    '{"id": 5, "items": [{"sku": "a"}, {"sku": "b", "sku": "c"}]}',
    '{"id": 6, "items": [[{"x": 1, "x": 2}]]}',
    '{"id": 7, "a": {"b": {"c": 1, "c": 2, "c": 3}}}',
]
REPEATED_KEY_QUARANTINE = [
    (2, '{"id": 2, "id": 3}', DUPLICATE_KEY_RULE, repeated("id", "id")),
    (3, '{"id": 4, "customer": {"id": 10, "id": 11}}', DUPLICATE_KEY_RULE, repeated("customer.id", "id")),
    (
        4,
        '{"id": 5, "items": [{"sku": "a"}, {"sku": "b", "sku": "c"}]}',
        DUPLICATE_KEY_RULE,
        repeated("items[1].sku", "sku"),
    ),
    (5, '{"id": 6, "items": [[{"x": 1, "x": 2}]]}', DUPLICATE_KEY_RULE, repeated("items[0][0].x", "x")),
    (6, '{"id": 7, "a": {"b": {"c": 1, "c": 2, "c": 3}}}', DUPLICATE_KEY_RULE, repeated("a.b.c", "c", 3)),
]


@pytest.mark.parametrize("kind", ["json", "jsonl"])
@pytest.mark.parametrize("batch_rows", [1, 2, 100])
def test_a_record_with_a_repeated_key_at_any_depth_is_quarantined(kind: str, batch_rows: int) -> None:
    document = (as_json_document if kind == "json" else as_json_lines)(REPEATED_KEY_RECORDS)
    batches, table, rejected = read(document, f"f.{kind}", batch_rows=batch_rows)
    assert rows_of(table) == [
        {"id": 1, "customer.id": 10, "items": '[{"sku":"a"}]', "_source_line": 1},
    ]
    # the quarantined text is the record as written: every value of the repeated key is there
    assert quarantine_of(rejected) == REPEATED_KEY_QUARANTINE
    assert sum(batch.rows_in or 0 for batch in batches) == 6
    assert sum(batch.accounting().quarantined_by_rule.get(DUPLICATE_KEY_RULE, 0) for batch in batches) == 5


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_a_repeated_key_is_found_when_objects_are_not_flattened(kind: str) -> None:
    records = ['{"id": 1, "c": {"k": 1}}', '{"id": 2, "c": {"k": 1, "k": 2}}']
    document = (as_json_document if kind == "json" else as_json_lines)(records)
    _, table, rejected = read(document, f"f.{kind}", flatten_sep=None)
    assert rows_of(table) == [{"id": 1, "c": '{"k":1}', "_source_line": 1}]
    assert quarantine_of(rejected) == [(2, records[1], DUPLICATE_KEY_RULE, repeated("c.k", "k"))]


def test_a_repeated_key_comes_before_the_other_rules() -> None:
    # not a fit for the columns and a repeated key: the repeated key is the reason (the value is unknown)
    records = ['{"n": 1}', '{"n": "x", "n": 2, "other": 1}']
    _, _, rejected = read(as_json_document(records), "f.json", batch_rows=1)
    assert quarantine_of(rejected) == [(2, records[1], DUPLICATE_KEY_RULE, repeated("n", "n"))]


def test_a_key_repeated_in_a_string_is_not_a_repeated_key() -> None:
    records = ['{"text": "{\\"id\\": 1, \\"id\\": 2}", "id": 1}']
    _, table, rejected = read(as_json_document(records), "f.json")
    assert rows_of(table) == [{"text": '{"id": 1, "id": 2}', "id": 1, "_source_line": 1}]
    assert rejected.empty


@given(chunk=st.integers(min_value=1, max_value=12))
@settings(max_examples=40, deadline=None)
def test_the_scanner_finds_a_repeated_key_whatever_the_chunk_boundaries(chunk: int) -> None:
    document = '[{"a": 1}, {"b": {"c": 1, "c": 22.5}, "d": "\\u00e9"}, {"e": [1, 2]}]'
    chunks = iter([document[i : i + chunk] for i in range(0, len(document), chunk)])
    scanner = json_format._JsonScanner(chunks, "doc")
    seen = [(value, raw, scanner.repeated) for value, raw in scanner.records([])]
    assert [raw for _, raw, _ in seen] == ['{"a": 1}', '{"b": {"c": 1, "c": 22.5}, "d": "\\u00e9"}', '{"e": [1, 2]}']
    assert [flag for _, _, flag in seen] == [False, True, False]
    # the decoded value keeps what plain json keeps (the last value) and the evidence
    assert seen[1][0] == {"b": {"c": 22.5}, "d": "é"}
    assert seen[1][0]["b"].pairs == [("c", 1), ("c", 22.5)]


def test_decode_json_marks_the_repeated_keys_and_raw_json_shows_every_value() -> None:
    value, repeated_keys = decode_json('{"a": [{"k": 1, "k": 2}], "b": {"x": null}}')
    assert repeated_keys is True
    assert _raw_json(value) == '{"a":[{"k":1,"k":2}],"b":{"x":null}}'
    assert decode_json('{"a": [{"k": 1}]}') == ({"a": [{"k": 1}]}, False)


# --- repeated keys outside the records ----------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "records_path", "key"),
    [
        ('{"data": [{"id": 1}], "data": [{"id": 2}]}', "data", "data"),
        ('{"data": [{"id": 1}], "meta": 1, "meta": 2}', "data", "meta"),
        ('{"meta": {"next": 1, "next": 2}, "data": [{"id": 1}]}', "data", "meta.next"),
        ('{"meta": [{"a": 1, "a": 1}], "data": [{"id": 1}]}', "data", "meta[0].a"),
        ('{"x": {"items": [], "total": 1, "total": 1}}', "x.items", "x.total"),
        ('{"x": {"items": [{"id": 1}], "items": [{"id": 1}]}}', "x.items", "x.items"),
    ],
)
def test_a_key_repeated_outside_the_records_makes_the_file_malformed(
    document: str, records_path: str, key: str
) -> None:
    message = "f.json: the key " + re.escape(repr(key)) + " is repeated outside the records"
    with pytest.raises(MalformedSourceError, match=message) as info:
        read(document, "f.json", records_path=records_path)
    assert str(info.value).endswith("the file must be quarantined as a whole")
    # the check made before ingesting sees it too, so the file is quarantined before any row is taken
    with pytest.raises(MalformedSourceError, match=message):
        check_source(io.BytesIO(document.encode()), "f.json", FileFormat(records_path=records_path))


# --- behaviours decided once for every source ---------------------------------------------------


def test_an_empty_object_adds_no_column_except_under_a_column_of_its_name() -> None:
    records = [
        '{"id": 1, "a": {}, "s": "x", "p": {"q": 1}}',
        '{"id": 2, "a": {}, "s": {}, "p": {}}',
        # second batch: "s" is a column of its own, "p" only the prefix of "p.q", "a" no column at all
        '{"id": 3, "a": {}, "s": {}, "p": {}}',
        '{"id": 4, "s": {"t": 1}, "p": {"q": 2}}',
    ]
    _, table, rejected = read(as_json_document(records), "f.json", batch_rows=2)
    assert rows_of(table) == [
        {"id": 1, "s": "x", "p.q": 1, "_source_line": 1},
        {"id": 2, "s": "{}", "p.q": None, "_source_line": 2},
        {"id": 3, "s": "{}", "p.q": None, "_source_line": 3},
        {"id": 4, "s": '{"t":1}', "p.q": 2, "_source_line": 4},
    ]
    assert rejected.empty


def test_an_object_under_a_column_that_is_not_a_string_is_a_type_mismatch() -> None:
    records = ['{"n": 1}', '{"n": {}}', '{"n": {"k": 1}}']
    _, table, rejected = read(as_json_document(records), "f.json", batch_rows=1)
    assert table.column("n").to_pylist() == [1]
    assert quarantine_of(rejected) == [
        (2, records[1], TYPE_MISMATCH_RULE, "column 'n': {} does not fit int64"),
        (3, records[2], TYPE_MISMATCH_RULE, "column 'n': {\"k\": 1} does not fit int64"),
    ]


def test_an_empty_object_that_flattens_onto_another_key_is_a_duplicate_column() -> None:
    # decided together: "a.b" is a column of its own, so the empty object under a > b is its value too
    records = ['{"a.b": 1}', '{"a.b": 2, "a": {"b": {}}}']
    _, table, rejected = read(as_json_document(records), "f.json")
    assert table.column("a.b").to_pylist() == [1]
    assert quarantine_of(rejected) == [
        (2, records[1], DUPLICATE_COLUMN_RULE, "two values for column 'a.b' (after flattening)")
    ]


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_a_null_key_outside_the_columns_carries_nothing_and_is_kept(kind: str) -> None:
    records = ['{"id": 1}', '{"id": 2, "new": null, "_source_line": null}', '{"id": 3, "new": 0}']
    document = (as_json_document if kind == "json" else as_json_lines)(records)
    batches, table, rejected = read(document, f"f.{kind}", batch_rows=1)
    assert rows_of(table) == [{"id": 1, "_source_line": 1}, {"id": 2, "_source_line": 2}]
    assert quarantine_of(rejected) == [
        (
            3,
            records[2],
            UNEXPECTED_COLUMN_RULE,
            "keys ['new'] are not among the columns decided by the first good records",
        )
    ]
    assert [batch.rows_in for batch in batches] == [1, 1, 1]


def test_a_null_key_outside_declared_columns_is_kept_and_a_value_is_not() -> None:
    records = ['{"id": 1, "z": null}', '{"id": 2, "z": 1}']
    _, table, rejected = read(as_json_document(records), "f.json", columns=["id"])
    assert rows_of(table) == [{"id": 1, "_source_line": 1}]
    assert quarantine_of(rejected) == [
        (2, records[1], UNEXPECTED_COLUMN_RULE, "keys ['z'] are not among the declared columns (columns=)")
    ]


def test_a_null_xml_element_outside_the_columns_is_kept() -> None:
    document = "<rows><row><v>1</v></row><row><v>2</v><w>NA</w></row><row><v>3</v><w>x</w></row></rows>"
    _, table, rejected = read(document, "f.xml", batch_rows=1, null_values=["NA"])
    assert rows_of(table) == [{"v": "1", "_source_line": 1}, {"v": "2", "_source_line": 2}]
    assert [(line, rule) for line, _, rule, _ in quarantine_of(rejected)] == [(3, UNEXPECTED_COLUMN_RULE)]


def test_ints_become_doubles_only_when_exact_and_floats_never_truncate() -> None:
    records = [
        '{"d": 0.5, "i": 1}',
        f'{{"d": {2**53}, "i": 2.0}}',  # both exact
        f'{{"d": {2**53 + 1}, "i": 3}}',  # beyond 2**53: a double would round it
        f'{{"d": {-(2**53) - 1}, "i": 4}}',
        '{"d": 1, "i": 3.5}',  # 3.5 is not an int64
        '{"d": true, "i": 6}',  # a boolean is not a number
    ]
    _, table, rejected = read(as_json_document(records), "f.json", batch_rows=1)
    assert table.schema.field("d").type == pa.float64()
    assert rows_of(table) == [{"d": 0.5, "i": 1, "_source_line": 1}, {"d": float(2**53), "i": 2, "_source_line": 2}]
    assert [(line, reason) for line, _, _, reason in quarantine_of(rejected)] == [
        (3, f"column 'd': {2**53 + 1} does not fit double"),
        (4, f"column 'd': {-(2**53) - 1} does not fit double"),
        (5, "column 'i': 3.5 does not fit int64"),
        (6, "column 'd': true does not fit double"),
    ]


def test_not_an_object_reasons_are_the_same_for_json_and_json_lines() -> None:
    records = ['{"a": 1}', "2", "null", '"s"', "[1]", "true"]
    _, _, from_json = read(as_json_document(records), "f.json")
    _, _, from_lines = read(as_json_lines(records), "f.jsonl")
    expected = [
        (2, "2", NOT_AN_OBJECT_RULE, "the record is a JSON number, not an object"),
        (3, "null", NOT_AN_OBJECT_RULE, "the record is a JSON null, not an object"),
        (4, '"s"', NOT_AN_OBJECT_RULE, "the record is a JSON string, not an object"),
        (5, "[1]", NOT_AN_OBJECT_RULE, "the record is a JSON array, not an object"),
        (6, "true", NOT_AN_OBJECT_RULE, "the record is a JSON boolean, not an object"),
    ]
    assert quarantine_of(from_json) == expected
    assert quarantine_of(from_lines) == expected


def test_json_lines_nested_too_deeply_is_a_malformed_record() -> None:
    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000
    _, table, rejected = read(as_json_lines(['{"a": 1}', deep, '{"a": 3}']), "f.jsonl")
    assert table.column("a").to_pylist() == [1, 3]
    assert [(line, rule, reason) for line, _, rule, reason in quarantine_of(rejected)] == [
        (2, "malformed_record", "not valid JSON: values nested too deeply")
    ]


# --- the Arrow fast path gives what the fitters give --------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text()
fast_path_values = st.lists(
    json_scalars | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=2), st.integers()),
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(values=fast_path_values, arrow_type=st.sampled_from([pa.string(), pa.bool_(), pa.int64(), pa.float64()]))
def test_the_arrow_fast_path_takes_a_column_only_when_the_fitters_take_every_value_as_it(
    values: list[Any], arrow_type: pa.DataType
) -> None:
    array = _safe_array(values, arrow_type)
    fitted = [_FITTERS[arrow_type](value) for value in values]
    if array is None:
        return  # the fitters decide value by value
    assert all(ok for ok, _ in fitted), (values, arrow_type)
    expected = pa.array([value for _, value in fitted], arrow_type)
    assert array.equals(expected) or json.dumps(array.to_pylist()) == json.dumps(expected.to_pylist())
