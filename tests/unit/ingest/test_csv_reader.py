"""Tests of the streaming CSV reader: exact row accounting, line numbers, encodings, contracts.

The oracle is Python's ``csv`` module reading the whole text (quoted fields may span lines, as in
the reader's contract), with the reader's rules on what is malformed written on top of it
independently of the reader's own scan.
"""

from __future__ import annotations

import csv
import io
import random
from itertools import chain
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataframe_pipeline.ingest.files.csv.lines as csv_lines
from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    EmptySourceError,
    MalformedSourceError,
    SourceDecodeError,
    SourceNotFoundError,
)
from dataframe_pipeline.ingest.files.csv.options import (
    BLANK_LINE_RULE,
    MALFORMED_ROW_RULE,
    BadRow,
    CsvBatch,
    CsvOptions,
)
from dataframe_pipeline.ingest.files.csv.reader import bad_rows_table, read_csv_batches

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.unit

SOURCE = "s3://bucket/in/data.csv"
BARE_CR = "carriage return outside quotes; only LF and CRLF line endings are supported"


def read_all(data: bytes, **options: Any) -> tuple[list[CsvBatch], pa.Table, list[BadRow], int]:
    """All batches, plus their tables concatenated, their bad rows and their blank lines."""
    batches = list(read_csv_batches(io.BytesIO(data), SOURCE, CsvOptions(**options)))
    table = pa.concat_tables([batch.table for batch in batches])
    bad = [row for batch in batches for row in batch.bad_rows]
    return batches, table, bad, sum(batch.blank_lines for batch in batches)


def string_table(
    rows: list[dict[str, Any]], columns: list[str], types: dict[str, pa.DataType] | None = None
) -> pa.Table:
    types = types or {}
    schema = pa.schema(
        [(name, types.get(name, pa.string())) for name in columns]
        + [("_source_file", pa.string()), ("_source_line", pa.int64())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def assert_tables_equal(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.schema == expected.schema, f"{actual.schema} != {expected.schema}"
    assert actual.to_pylist() == expected.to_pylist()


#: a last line given to Python's csv after the text: a quote still open at the end swallows it
SENTINEL = "\x00end of text"


def csv_oracle(
    text: str, columns: list[str], *, header: bool = True, delimiter: str = ",", null_values: tuple[str, ...] = ("",)
) -> tuple[list[dict[str, Any]], list[tuple[int, str]], int]:
    """Good rows, bad records (first line, raw text) and blank-line count, by Python's csv module.

    The reader's record is the run of Python's records up to one ending with a line feed (see
    :func:`oracle_records`); it is bad when it holds more than one of them (a carriage return
    outside quotes), when a quote is open at the end of the text, when it spans lines and strict
    RFC 4180 quoting (Python's ``strict=True``) refuses it, or when its field count is wrong. Empty
    records are blank lines.
    """
    good: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    blank = 0
    header_seen = not header
    for line, raw, group, still_open, spans_lines in oracle_records(text, delimiter):
        if group == [[]]:
            blank += header_seen
        elif not header_seen:
            header_seen = True
            assert not still_open and len(group) == 1, "the generated header must be readable"
        elif (
            still_open
            or len(group) > 1
            or (spans_lines and not _strict(raw, delimiter))
            or len(group[0]) != len(columns)
        ):
            bad.append((line, raw))
        else:
            values = [None if value in null_values else value for value in group[0]]
            good.append({**dict(zip(columns, values, strict=True)), "_source_file": SOURCE, "_source_line": line})
    return good, bad, blank


def oracle_records(text: str, delimiter: str) -> Iterator[tuple[int, str, list[list[str]], bool, bool]]:
    """Python's csv records grouped into the reader's: first line, raw text, records, open at the end, multi-line.

    Python's csv reads the text split at CR, LF and CRLF ("universal" lines, endings kept), so a
    carriage return outside quotes ends its records there, as the reader assumes.
    """
    ulines = io.StringIO(text, newline="").readlines()
    physical = [1]  # physical line (split at LF only) of each universal line
    for uline in ulines:
        physical.append(physical[-1] + uline.endswith("\n"))

    def group(first: int, stop: int, records: list[list[str]], still_open: bool) -> tuple[Any, ...]:
        raw = "".join(ulines[first:stop])
        raw = raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith(("\n", "\r")) else raw
        return physical[first], raw, records, still_open, physical[stop - 1] > physical[first]

    reader = csv.reader(chain(ulines, [SENTINEL]), delimiter=delimiter, quotechar='"')
    records: list[list[str]] = []
    first = consumed = 0
    for fields in reader:
        start, consumed = consumed, reader.line_num
        if start == len(ulines) and fields == [SENTINEL]:
            return
        records.append(fields)
        if consumed > len(ulines):  # the sentinel went into a quoted field
            yield group(first, len(ulines), records, True)
            return
        if ulines[consumed - 1].endswith("\n") or consumed == len(ulines):
            yield group(first, consumed, records, False)
            records, first = [], consumed


def _strict(record: str, delimiter: str) -> bool:
    try:
        list(csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, quotechar='"', strict=True))
    except csv.Error:
        return False
    return True


# --- exact results on small files ---------------------------------------------------------------

MESSY = (
    "id,name,city\n"  # line 1
    '1,Ann,"Paris, FR"\n'  # 2 good, quoted delimiter
    "2,Bob\n"  # 3 too few fields
    "3,Cid,Rome,IT\n"  # 4 too many fields
    "\n"  # 5 blank
    '4,"Dee,Oslo\n'  # 6 stray quote: the quoted field runs on into line 7 ...
    '5,"Eve ""E""",\n'  # 7 ... and closes at its first quote, mid-field: lines 6-7 are one bad record
    "6,Fay,Lima"  # 8 good, no final newline
)
STRAY_QUOTE = (
    "closing quote followed by 'E' on line 7, not by the delimiter or the end of the record "
    "(a quote opened by mistake?) (record on lines 6-7)"
)


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_malformed_rows_are_quarantined_with_their_line_numbers(batch_rows: int) -> None:
    batches, table, bad, blank = read_all(MESSY.encode(), batch_rows=batch_rows)

    expected = string_table(
        [
            {"id": "1", "name": "Ann", "city": "Paris, FR", "_source_file": SOURCE, "_source_line": 2},
            {"id": "6", "name": "Fay", "city": "Lima", "_source_file": SOURCE, "_source_line": 8},
        ],
        ["id", "name", "city"],
    )
    assert_tables_equal(table, expected)
    assert bad == [
        BadRow(3, "2,Bob", "expected 3 fields, found 2"),
        BadRow(4, "3,Cid,Rome,IT", "expected 3 fields, found 4"),
        BadRow(6, '4,"Dee,Oslo\n5,"Eve ""E""",', STRAY_QUOTE),
    ]
    assert blank == 1
    # 6 records on the 7 data lines (2..8) = 2 rows + 3 quarantined + 1 blank; each batch balances
    assert all(batch.row_accounting().balanced for batch in batches)
    assert sum(batch.row_accounting().rows_in for batch in batches) == 6
    # a block ending on line 6 reads on to line 7, the end of its record
    assert len(batches) == {1: 6, 2: 4, 3: 3, 1000: 1}[batch_rows]


def test_batch_split_gives_identical_concatenated_output() -> None:
    outputs = [read_all(MESSY.encode(), batch_rows=n)[1:] for n in (1, 2, 3, 1000)]
    reference_table, reference_bad, reference_blank = outputs[0]
    for table, bad, blank in outputs[1:]:
        assert table.equals(reference_table)
        assert (bad, blank) == (reference_bad, reference_blank)


def test_batches_never_exceed_batch_rows_and_line_numbers_increase() -> None:
    data = "a\n" + "".join(f"{i}\n" for i in range(10))
    batches, table, _, _ = read_all(data.encode(), batch_rows=4)
    assert [batch.table.num_rows for batch in batches] == [4, 4, 2]
    assert table.column("_source_line").to_pylist() == list(range(2, 12))
    assert table.column("a").to_pylist() == [str(i) for i in range(10)]


def test_row_accounting_counts_blank_lines_as_dropped() -> None:
    (batch,), _, _, _ = read_all(b"a,b\n1,2\n\n1\n\n")
    accounting = batch.row_accounting()
    assert accounting.as_dict() == {
        "rows_in": 4,
        "rows_out": 1,
        "rows_quarantined": 1,
        "rows_dropped": 2,
        "dropped_by_rule": {BLANK_LINE_RULE: 2},
        "quarantined_by_rule": {MALFORMED_ROW_RULE: 1},
        "balanced": True,
    }


def test_empty_lines_are_skipped_wherever_they_are() -> None:
    data = b"a,b\n\n1,2\n\r\n\n3,4\n\n"
    _, table, bad, blank = read_all(data, batch_rows=2)
    assert table.column("_source_line").to_pylist() == [3, 6]
    assert table.column("b").to_pylist() == ["2", "4"]
    assert (bad, blank) == ([], 4)


def test_whitespace_line_is_a_row_not_a_blank_line() -> None:
    _, table, bad, blank = read_all(b"a\n \n")
    assert table.column("a").to_pylist() == [" "]
    assert (bad, blank) == ([], 0)


def test_carriage_return_outside_quotes_is_malformed() -> None:
    _, table, bad, _ = read_all(b"a,b\n1,x\ry\n2,z\n", batch_rows=1)
    assert table.column("a").to_pylist() == ["2"]
    assert bad == [BadRow(2, "1,x\ry", BARE_CR)]


def test_crlf_file_reads_like_lf_file() -> None:
    lf = MESSY.encode()
    crlf = MESSY.replace("\n", "\r\n").encode()
    for batch_rows in (1, 3, 1000):
        _, lf_table, lf_bad, lf_blank = read_all(lf, batch_rows=batch_rows)
        _, crlf_table, crlf_bad, crlf_blank = read_all(crlf, batch_rows=batch_rows)
        assert crlf_table.equals(lf_table)
        assert crlf_blank == lf_blank
        # the raw text of the record on lines 6-7 keeps its own line ending
        assert [BadRow(row.line, row.text.replace("\r\n", "\n"), row.reason) for row in crlf_bad] == lf_bad
        assert crlf_bad[-1].text == '4,"Dee,Oslo\r\n5,"Eve ""E""",'


def test_crlf_split_across_read_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_lines, "_READ_CHUNK_BYTES", 1)
    _, table, bad, _ = read_all(b"a,b\r\n1,2\r\n3,4\r\n")
    assert table.column("b").to_pylist() == ["2", "4"]
    assert bad == []


def test_other_delimiter_and_quotechar() -> None:
    _, table, bad, _ = read_all(b"a;b\n'x;y';2\n1;2;3\n", delimiter=";", quotechar="'")
    assert table.select(["a", "b"]).to_pylist() == [{"a": "x;y", "b": "2"}]
    assert bad == [BadRow(3, "1;2;3", "expected 2 fields, found 3")]


def test_single_row_and_all_null_column() -> None:
    (batch,), table, _, _ = read_all(b"a,b\nx,\n", null_values=["", "NA"])
    expected = string_table([{"a": "x", "b": None, "_source_file": SOURCE, "_source_line": 2}], ["a", "b"])
    assert_tables_equal(table, expected)
    assert batch.table.column("b").null_count == 1


def test_null_values_are_configurable() -> None:
    _, table, _, _ = read_all(b'a,b\nNA,\n"NA",null\n', null_values=["NA", "null"])
    assert table.select(["a", "b"]).to_pylist() == [{"a": None, "b": ""}, {"a": None, "b": None}]


# --- records spanning lines (RFC 4180) ----------------------------------------------------------

ISSUE = (
    "order_id,note,channel\n"  # 1
    "3,plain,web\n"  # 2
    '4,"note: a, b\nc, d",app\n'  # 3-4 one record; line 4 alone would read as 3 fields: c | d" | app
    "5,after,store\n"  # 5
)


@pytest.mark.parametrize(
    ("batch_rows", "lines_per_batch"),
    [(1, [[2], [3], [5]]), (2, [[2, 3], [5]]), (3, [[2, 3], [5]]), (1000, [[2, 3, 5]])],
)
def test_quoted_newline_is_one_row_and_no_fragment_passes(batch_rows: int, lines_per_batch: list[list[int]]) -> None:
    batches, table, bad, blank = read_all(ISSUE.encode(), batch_rows=batch_rows)
    expected = string_table(
        [
            {"order_id": "3", "note": "plain", "channel": "web", "_source_file": SOURCE, "_source_line": 2},
            {"order_id": "4", "note": "note: a, b\nc, d", "channel": "app", "_source_file": SOURCE, "_source_line": 3},
            {"order_id": "5", "note": "after", "channel": "store", "_source_file": SOURCE, "_source_line": 5},
        ],
        ["order_id", "note", "channel"],
    )
    assert_tables_equal(table, expected)
    assert (bad, blank) == ([], 0)
    # a block cut inside the record read on to its end: no batch splits it, each one balances
    assert [batch.table.column("_source_line").to_pylist() for batch in batches] == lines_per_batch
    assert all(batch.row_accounting().balanced for batch in batches)
    assert sum(batch.row_accounting().rows_in for batch in batches) == 3


SPANNING = (
    "id,text\n"  # 1
    '1,"a\nb\nc"\n'  # 2-4
    "2,x\n"  # 5
    '3,"\n"\n'  # 6-7: the value is one line break
    '4,"d\n\ne"\n'  # 8-10: an empty line inside the value is not a blank line
    "\n"  # 11 blank
    '5,"f""\n""g"\n'  # 12-13: doubled quotes on both sides of the break
)


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 4, 1000])
def test_records_spanning_block_boundaries(batch_rows: int) -> None:
    batches, table, bad, blank = read_all(SPANNING.encode(), batch_rows=batch_rows)
    assert table.select(["id", "text", "_source_line"]).to_pylist() == [
        {"id": "1", "text": "a\nb\nc", "_source_line": 2},
        {"id": "2", "text": "x", "_source_line": 5},
        {"id": "3", "text": "\n", "_source_line": 6},
        {"id": "4", "text": "d\n\ne", "_source_line": 8},
        {"id": "5", "text": 'f"\n"g', "_source_line": 12},
    ]
    assert (bad, blank) == ([], 1)
    assert all(batch.row_accounting().balanced for batch in batches)
    assert sum(batch.row_accounting().rows_in for batch in batches) == 6


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_block_ending_inside_a_quote_followed_only_by_empty_lines(batch_rows: int) -> None:
    # found by the property test: with batch_rows=3 the block ends on the empty line 4, inside the
    # quote opened on line 3, and Arrow's skipped row for it had no line break left to show it
    _, table, bad, blank = read_all(b'c0\n""\n,"\n\na"', batch_rows=batch_rows)
    assert table.select(["c0", "_source_line"]).to_pylist() == [{"c0": None, "_source_line": 2}]
    assert bad == [BadRow(3, ',"\n\na"', "expected 1 fields, found 2 (record on lines 3-5)")]
    assert blank == 0


def test_crlf_file_keeps_quoted_line_breaks_exactly() -> None:
    data = b'id,note\r\n1,"two\r\nlines"\r\n2,"lf\nonly"\r\n3,"cr\ronly"\r\n4,plain\r\n'
    _, table, bad, _ = read_all(data, batch_rows=2)
    assert table.select(["id", "note", "_source_line"]).to_pylist() == [
        {"id": "1", "note": "two\r\nlines", "_source_line": 2},
        {"id": "2", "note": "lf\nonly", "_source_line": 4},
        # RFC 4180 allows a CR in a quoted field: only one outside quotes is malformed
        {"id": "3", "note": "cr\ronly", "_source_line": 6},
        {"id": "4", "note": "plain", "_source_line": 7},
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b'a,b\n1,x\n2,"last\nvalue"', "last\nvalue"),
        (b'a,b\n1,x\n2,"last\nvalue"\n', "last\nvalue"),
        (b'a,b\r\n1,x\r\n2,"last\r\nvalue"\r\n', "last\r\nvalue"),
        # the quoted line break is the last thing in the file
        (b'a,b\n1,x\n2,"last\n"', "last\n"),
        (b'a,b\n1,x\n2,"last\n"\n', "last\n"),
        (b'a,b\r\n1,x\r\n2,"last\r\n"', "last\r\n"),
    ],
)
def test_quoted_newline_in_the_last_record(data: bytes, value: str) -> None:
    batches, table, bad, _ = read_all(data, batch_rows=1)
    assert table.select(["a", "b", "_source_line"]).to_pylist() == [
        {"a": "1", "b": "x", "_source_line": 2},
        {"a": "2", "b": value, "_source_line": 3},
    ]
    assert bad == []
    assert sum(batch.row_accounting().rows_in for batch in batches) == 2


def test_empty_quoted_field_followed_by_a_line_break() -> None:
    _, table, bad, blank = read_all(b'a,b\n1,""\n"",2\r\n3,"\n"\n"",""\n')
    assert table.select(["a", "b", "_source_line"]).to_pylist() == [
        {"a": "1", "b": None, "_source_line": 2},
        {"a": None, "b": "2", "_source_line": 3},
        {"a": "3", "b": "\n", "_source_line": 4},
        {"a": None, "b": None, "_source_line": 6},
    ]
    assert (bad, blank) == ([], 0)


def test_quoted_newline_in_the_header_is_part_of_the_name() -> None:
    # RFC 4180 allows line breaks in quoted header names; the data starts after the header record
    _, table, bad, _ = read_all(b'id,"first\nname",n\n1,Ann,2\n')
    assert table.column_names == ["id", "first\nname", "n", "_source_file", "_source_line"]
    assert table.select(["id", "first\nname", "_source_line"]).to_pylist() == [
        {"id": "1", "first\nname": "Ann", "_source_line": 3}
    ]
    assert bad == []
    _, table, _, _ = read_all(b'"a\r\nb",c\r\n1,2\r\n', columns=["c", "a\r\nb"])
    assert table.select(["c", "a\r\nb", "_source_line"]).to_pylist() == [{"c": "2", "a\r\nb": "1", "_source_line": 3}]


def test_wrong_field_count_quarantines_every_line_of_the_record() -> None:
    _, table, bad, _ = read_all(b'a,b,c\n1,"x\ny"\n2,3,4\n5,"p\nq",r,s\n')
    assert table.column("_source_line").to_pylist() == [4]
    assert bad == [
        BadRow(2, '1,"x\ny"', "expected 3 fields, found 2 (record on lines 2-3)"),
        BadRow(5, '5,"p\nq",r,s', "expected 3 fields, found 4 (record on lines 5-6)"),
    ]


def test_carriage_return_outside_quotes_takes_the_whole_record() -> None:
    # Python's csv and Arrow end a record at the CR: the quote after it opens a field running into line 3
    _, table, bad, _ = read_all(b'a,b\n1,x\r"a\nb",2\n3,4\n')
    assert table.select(["a", "b", "_source_line"]).to_pylist() == [{"a": "3", "b": "4", "_source_line": 4}]
    assert bad == [
        BadRow(
            2,
            '1,x\r"a\nb",2',
            "carriage return outside quotes on line 2; only LF and CRLF line endings are supported "
            "(record on lines 2-3)",
        )
    ]


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
@pytest.mark.parametrize(
    ("data", "expected_bad", "good_lines"),
    [
        (
            b'id,note\n1,ok\n2,"never closed\n3,more\n4,last\n',
            BadRow(
                3,
                '2,"never closed\n3,more\n4,last',
                "quoted field opened on line 3 is not closed at the end of the file (record on lines 3-5)",
            ),
            [2],
        ),
        (
            b'id,note\n1,ok\n2,"x',
            BadRow(3, '2,"x', "quoted field opened on line 3 is not closed at the end of the file"),
            [2],
        ),
        (
            b'id,note\n1,ok\n2,"x\n',
            BadRow(3, '2,"x', "quoted field opened on line 3 is not closed at the end of the file"),
            [2],
        ),
        (
            # the quote left open is the one opened on line 3, in a record that started on line 2
            b'id,note,x\n1,"two\nlines","open\nto the end\r\n',
            BadRow(
                2,
                '1,"two\nlines","open\nto the end',
                "quoted field opened on line 3 is not closed at the end of the file (record on lines 2-4)",
            ),
            [],
        ),
    ],
)
def test_quote_left_open_to_the_end_of_the_file_is_one_bad_record(
    data: bytes, expected_bad: BadRow, good_lines: list[int], batch_rows: int
) -> None:
    batches, table, bad, _ = read_all(data, batch_rows=batch_rows)
    assert table.column("_source_line").to_pylist() == good_lines
    assert bad == [expected_bad]
    assert all(batch.row_accounting().balanced for batch in batches)


def test_row_accounting_counts_a_multi_line_record_once() -> None:
    batches, _, _, _ = read_all(b'a,b\n1,"x\ny"\n\n2,"p\nq\nr\n')
    assert len(batches) == 1
    assert batches[0].row_accounting().as_dict() == {
        "rows_in": 3,
        "rows_out": 1,
        "rows_quarantined": 1,
        "rows_dropped": 1,
        "dropped_by_rule": {BLANK_LINE_RULE: 1},
        "quarantined_by_rule": {MALFORMED_ROW_RULE: 1},
        "balanced": True,
    }


def test_tsv_with_quoted_tabs_and_line_breaks() -> None:
    data = b'id\tnote\n1\t"tab\there\nand a line"\n2\tplain\n3\t"x\ny"\tz\n'
    _, table, bad, _ = read_all(data, delimiter="\t", batch_rows=1)
    assert table.select(["id", "note", "_source_line"]).to_pylist() == [
        {"id": "1", "note": "tab\there\nand a line", "_source_line": 2},
        {"id": "2", "note": "plain", "_source_line": 4},
    ]
    assert bad == [BadRow(5, '3\t"x\ny"\tz', "expected 2 fields, found 3 (record on lines 5-6)")]


# --- the bound on one record --------------------------------------------------------------------


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_records_up_to_max_record_lines_are_read(batch_rows: int) -> None:
    data = b'a,b\n1,"x\ny\nz"\n2,"p\nq\nr\n'  # a closed record of 3 lines, an open one of 3 lines at the end
    _, table, bad, _ = read_all(data, max_record_lines=3, batch_rows=batch_rows)
    assert table.select(["b", "_source_line"]).to_pylist() == [{"b": "x\ny\nz", "_source_line": 2}]
    assert [row.line for row in bad] == [5]


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_closed_record_longer_than_max_record_lines_raises(batch_rows: int) -> None:
    with pytest.raises(MalformedSourceError) as caught:
        read_all(b'a,b\n0,ok\n1,"w\nx\ny\nz"\n2,ok\n', max_record_lines=3, batch_rows=batch_rows)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: the record starting on line 3 spans more than max_record_lines=3 lines")
    assert "(its quoted field opened on line 3 closes on line 6)" in message
    assert "raise max_record_lines" in message


def test_quote_open_past_max_record_lines_mid_file_makes_the_file_malformed() -> None:
    data = b"a,b\n" + b"".join(b"%d,ok\n" % i for i in range(10)) + b'10,"stray\n' + b"11,x\n" * 50
    batches = read_csv_batches(io.BytesIO(data), SOURCE, CsvOptions(batch_rows=5, max_record_lines=20))
    # the rows before the stray quote went out; the caller must drop them and quarantine the file
    assert [next(batches).table.num_rows, next(batches).table.num_rows] == [5, 5]
    with pytest.raises(MalformedSourceError) as caught:
        next(batches)
    assert str(caught.value).startswith(
        f"{SOURCE}: the record starting on line 12 spans more than max_record_lines=20 lines "
        "(its quoted field opened on line 12 is still open on line 32)"
    )


def test_max_record_lines_of_one_allows_no_line_break_in_a_value() -> None:
    assert read_all(b'a,b\n1,"x,y"\n', max_record_lines=1)[1].num_rows == 1
    with pytest.raises(MalformedSourceError, match="line 2 spans more than max_record_lines=1 lines"):
        read_all(b'a,b\n1,"x\ny"\n', max_record_lines=1)


def test_header_longer_than_max_record_lines_raises() -> None:
    with pytest.raises(MalformedSourceError, match="line 1 spans more than max_record_lines=2 lines"):
        read_all(b'a,"b\nc\nd"\n1,2\n', max_record_lines=2)


# --- column types -------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_column_types_convert_and_quarantine_values_that_do_not(batch_rows: int) -> None:
    data = b"id,price,ok,day\n1,2.5,true,2024-01-31\n2,x,false,2024-02-01\n3,,1,\n4, 7,0,2024-13-01\nz,1,1,\n"
    types = {"id": "int64", "price": "double", "ok": "bool", "day": "date32"}
    _, table, bad, _ = read_all(data, column_types=types, batch_rows=batch_rows)

    arrow_types = {"id": pa.int64(), "price": pa.float64(), "ok": pa.bool_(), "day": pa.date32()}
    expected = string_table(
        [
            {"id": 1, "price": 2.5, "ok": True, "day": _date(2024, 1, 31), "_source_file": SOURCE, "_source_line": 2},
            {"id": 3, "price": None, "ok": True, "day": None, "_source_file": SOURCE, "_source_line": 4},
        ],
        ["id", "price", "ok", "day"],
        arrow_types,
    )
    assert_tables_equal(table, expected)
    assert bad == [
        BadRow(3, "2,x,false,2024-02-01", "column 'price': cannot convert 'x' to double"),
        # the first failing column of the row, in column_types order, gives the reason
        BadRow(5, "4, 7,0,2024-13-01", "column 'price': cannot convert ' 7' to double"),
        BadRow(6, "z,1,1,", "column 'id': cannot convert 'z' to int64"),
    ]


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_column_types_failure_on_a_multi_line_record(batch_rows: int) -> None:
    data = b'id,note,n\n1,"two\nlines",x\n2,"ok\nfine",3\n3,"p\r\nq",\n'
    _, table, bad, _ = read_all(data, column_types={"id": "int64", "n": "int64"}, batch_rows=batch_rows)
    expected = string_table(
        [
            {"id": 2, "note": "ok\nfine", "n": 3, "_source_file": SOURCE, "_source_line": 4},
            {"id": 3, "note": "p\r\nq", "n": None, "_source_file": SOURCE, "_source_line": 6},
        ],
        ["id", "note", "n"],
        {"id": pa.int64(), "n": pa.int64()},
    )
    assert_tables_equal(table, expected)
    assert bad == [BadRow(2, '1,"two\nlines",x', "column 'n': cannot convert 'x' to int64 (record on lines 2-3)")]


def test_typed_columns_keep_their_type_in_empty_batches() -> None:
    (batch,), _, _, _ = read_all(b"id,n\nx,1\n", column_types={"id": "int64"})
    assert batch.table.num_rows == 0
    assert batch.table.schema.field("id").type == pa.int64()
    assert batch.bad_rows == [BadRow(2, "x,1", "column 'id': cannot convert 'x' to int64")]


def test_column_types_naming_a_column_missing_from_the_header() -> None:
    with pytest.raises(DataContractError, match=r"not in the file: \['zzz'\]"):
        read_all(b"a,b\n1,2\n", column_types={"zzz": "int64"})


def _date(year: int, month: int, day: int) -> Any:
    import datetime

    return datetime.date(year, month, day)


# --- header contract ----------------------------------------------------------------------------


def test_header_must_name_the_expected_columns() -> None:
    with pytest.raises(DataContractError, match=r"missing \['city'\], extra \['town', 'zip'\]"):
        read_all(b"id,town,zip\n1,2,3\n", columns=["id", "city"])


def test_reordered_header_is_output_in_the_expected_order() -> None:
    _, table, _, _ = read_all(b"b,a\n2,1\n", columns=["a", "b"])
    assert table.column_names == ["a", "b", "_source_file", "_source_line"]
    assert table.select(["a", "b"]).to_pylist() == [{"a": "1", "b": "2"}]


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"a,b,a\n", r"duplicate column names in the header: \['a'\]"),
        (b"a,_source_line\n", r"reserved column names \['_source_line'\]"),
        (b'a,"b\n', "cannot read the header on line 1"),
    ],
)
def test_bad_headers_are_data_contract_errors(header: bytes, match: str) -> None:
    with pytest.raises(DataContractError, match=match):
        read_all(header + b"1,2,3\n")


def test_blank_lines_before_the_header_are_skipped() -> None:
    _, table, _, _ = read_all(b"\n\na,b\n1,2\n")
    assert table.select(["a", "b", "_source_line"]).to_pylist() == [{"a": "1", "b": "2", "_source_line": 4}]


def test_without_header_every_line_is_data() -> None:
    _, table, bad, _ = read_all(b"1,2\n3\n", header=False, columns=["a", "b"])
    expected = string_table([{"a": "1", "b": "2", "_source_file": SOURCE, "_source_line": 1}], ["a", "b"])
    assert_tables_equal(table, expected)
    assert bad == [BadRow(2, "3", "expected 2 fields, found 1")]


def test_header_only_file_yields_one_empty_batch_with_the_schema() -> None:
    batches, table, bad, blank = read_all(b"id,name\r\n", column_types={"id": "int64"})
    assert len(batches) == 1
    assert_tables_equal(table, string_table([], ["id", "name"], {"id": pa.int64()}))
    assert (bad, blank) == ([], 0)
    assert batches[0].row_accounting().rows_in == 0


@pytest.mark.parametrize(
    ("data", "options"),
    [
        (b"", {}),
        (b"", {"header": False, "columns": ["a"]}),
        (b"\xef\xbb\xbf", {}),
        (b"\n\r\n\n", {}),
    ],
)
def test_empty_sources_raise(data: bytes, options: dict[str, Any]) -> None:
    with pytest.raises(EmptySourceError, match=SOURCE):
        read_all(data, **options)


def test_blank_lines_only_without_header_is_zero_rows() -> None:
    _, table, bad, blank = read_all(b"\n\n", header=False, columns=["a"])
    assert (table.num_rows, bad, blank) == (0, [], 2)


# --- encodings ----------------------------------------------------------------------------------


def test_utf8_bom_is_stripped_from_the_first_column_name() -> None:
    _, table, _, _ = read_all(b"\xef\xbb\xbfid,name\n1,x\n", columns=["id", "name"])
    assert table.column_names[0] == "id"
    assert table.column("id").to_pylist() == ["1"]


def test_bom_split_across_read_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_lines, "_READ_CHUNK_BYTES", 1)
    _, table, _, _ = read_all("\ufeffid,näme\n1,é\n".encode())
    assert table.column_names[:2] == ["id", "näme"]
    assert table.column("näme").to_pylist() == ["é"]


def test_cp1252_file_with_accented_characters() -> None:
    text = "nom,ville\r\nAndré,Besançon\r\nZoë,Mülheim \u2013 €5\r\n"
    _, table, bad, _ = read_all(text.encode("cp1252"), encoding="cp1252")
    assert table.select(["nom", "ville"]).to_pylist() == [
        {"nom": "André", "ville": "Besançon"},
        {"nom": "Zoë", "ville": "Mülheim \u2013 €5"},
    ]
    assert bad == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "latin-1", "utf-8"])
def test_other_encodings_give_the_same_rows(encoding: str) -> None:
    text = "\ufeffa,b\n1,ü\n2\n" if encoding.startswith("utf") else "a,b\n1,ü\n2\n"
    _, table, bad, _ = read_all(text.encode(encoding), encoding=encoding, batch_rows=1)
    assert table.select(["a", "b", "_source_line"]).to_pylist() == [{"a": "1", "b": "ü", "_source_line": 2}]
    assert bad == [BadRow(3, "2", "expected 2 fields, found 1")]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 1 << 20])
@pytest.mark.parametrize(
    ("encoding", "data", "offset"),
    [
        ("utf-8", b"h\nab\xffcd\n", 4),
        ("utf-8", b"\xef\xbb\xbfh\nab\xffcd\n", 7),
        ("utf-8", b"h\nab\xe2\x82z\n", 4),
        ("utf-8", b"h\nab\xc3", 4),  # cut inside a character at the end of the file
        ("cp1252", b"h\nab\x81cd\n", 4),  # 0x81 is undefined in cp1252
        ("utf-16", b"\xff\xfeh\x00\n\x00a\x00\x00\xd8x\x00", 8),  # lone surrogate
    ],
)
def test_undecodable_bytes_raise_with_the_byte_offset(
    monkeypatch: pytest.MonkeyPatch, chunk_bytes: int, encoding: str, data: bytes, offset: int
) -> None:
    monkeypatch.setattr(csv_lines, "_READ_CHUNK_BYTES", chunk_bytes)
    with pytest.raises(SourceDecodeError) as caught:
        read_all(data, encoding=encoding)
    assert caught.value.offset == offset
    assert caught.value.source == SOURCE
    assert f"not valid {encoding} at byte offset {offset}" in str(caught.value)


def test_decode_error_after_good_batches_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    # small reads: the bad byte is decoded only after the first batches went out
    monkeypatch.setattr(csv_lines, "_READ_CHUNK_BYTES", 4)
    data = b"a\n" + b"x\n" * 10 + b"\xff\n"
    batches = read_csv_batches(io.BytesIO(data), SOURCE, CsvOptions(batch_rows=2))
    assert next(batches).table.num_rows == 2
    with pytest.raises(SourceDecodeError, match="byte offset 22"):
        list(batches)


# --- sources and options ------------------------------------------------------------------------


def test_reads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(MESSY.encode())
    from_path = list(read_csv_batches(path, SOURCE, CsvOptions(batch_rows=3)))
    from_str = list(read_csv_batches(str(path), SOURCE, CsvOptions(batch_rows=3)))
    from_object = list(read_csv_batches(io.BytesIO(MESSY.encode()), SOURCE, CsvOptions(batch_rows=3)))
    assert from_path == from_str == from_object


def test_missing_path_raises_source_not_found(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no such file"):
        list(read_csv_batches(tmp_path / "nope.csv", SOURCE))


def test_text_file_object_is_refused() -> None:
    with pytest.raises(TypeError, match="text file object"):
        list(read_csv_batches(io.StringIO("a\n1\n"), SOURCE))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"delimiter": ""}, "delimiter"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": "\n"}, "delimiter"),
        ({"quotechar": ""}, "quotechar"),
        ({"quotechar": ","}, "quotechar"),
        ({"encoding": "no-such-codec"}, "encoding"),
        ({"encoding": "base64"}, "encoding"),
        ({"header": "yes"}, "header"),
        ({"header": False}, "columns"),
        ({"columns": "abc"}, "columns"),
        ({"columns": []}, "columns"),
        ({"columns": ["a", "a"]}, "columns"),
        ({"columns": ["a", 1]}, "columns"),
        ({"columns": ["a", "_source_file"]}, "columns"),
        ({"column_types": {"a": "nonsense"}}, "column_types['a']"),
        ({"column_types": {"a": "duration[s]"}}, "column_types['a']"),
        ({"columns": ["a"], "column_types": {"b": "int64"}}, "column_types"),
        ({"column_types": ["a"]}, "column_types"),
        ({"batch_rows": 0}, "batch_rows"),
        ({"batch_rows": True}, "batch_rows"),
        ({"batch_rows": 2.5}, "batch_rows"),
        ({"null_values": "NA"}, "null_values"),
        ({"null_values": ["a\nb"]}, "null_values"),
        ({"max_record_lines": 0}, "max_record_lines"),
        ({"max_record_lines": False}, "max_record_lines"),
        ({"max_record_lines": 1.5}, "max_record_lines"),
        ({"max_record_lines": "10"}, "max_record_lines"),
    ],
)
def test_bad_options_raise_before_reading(options: dict[str, Any], field: str) -> None:
    # a source that does not exist proves nothing is opened before the options are checked
    with pytest.raises(ConfigurationError) as caught:
        read_csv_batches("/no/such/file.csv", SOURCE, CsvOptions(**options))
    assert caught.value.field == field


def test_default_options_are_valid() -> None:
    CsvOptions().validate()
    CsvOptions(header=False, columns=("a",), column_types={"a": "timestamp[ms]"}, encoding="UTF8").validate()


def test_bad_rows_table_for_quarantine() -> None:
    table = bad_rows_table([BadRow(3, "2,Bob", "expected 3 fields, found 2")], SOURCE)
    assert table.to_pylist() == [
        {
            "_source_file": SOURCE,
            "_source_line": 3,
            "_raw_line": "2,Bob",
            RULE_COLUMN: MALFORMED_ROW_RULE,
            REASON_COLUMN: "expected 3 fields, found 2",
        }
    ]
    assert bad_rows_table([], SOURCE).num_rows == 0


# --- against the oracle -------------------------------------------------------------------------


def generated_csv(n_rows: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = ["id,name,city,amount,note"]
    for i in range(n_rows):
        kind = rng.randrange(200)
        if kind == 0:
            lines.append(f"{i},extra,field,1,2,3")
        elif kind == 1:
            lines.append(f"{i},short")
        elif kind == 2:
            lines.append(f'{i},"unterminated,x,1,n')
        elif kind == 3:
            lines.append("")
        elif kind == 4:
            lines.append(f'{i},"two\nlines",x,1')  # one field short, over two lines
        else:
            note = rng.choice(
                ["", "plain", '"with, comma"', '"say ""hi"""', "café", "naïve", '"line one\nline two"', '"\r\n\n"']
            )
            lines.append(f"{i},name{i},City {i % 50},{i * 1.5},{note}")
    return "\n".join(lines) + "\n"


def test_50k_row_file_matches_the_oracle() -> None:
    text = generated_csv(50_000, seed=7)
    columns = ["id", "name", "city", "amount", "note"]
    batches, table, bad, blank = read_all(text.encode(), batch_rows=4096)

    good, oracle_bad, oracle_blank = csv_oracle(text, columns)
    assert table.to_pylist() == good
    assert [(row.line, row.text) for row in bad] == oracle_bad
    assert blank == oracle_blank
    assert len(oracle_bad) > 500  # the generator did produce malformed records
    assert sum("\n" in row["note"] for row in good if row["note"]) > 5000  # and records spanning lines
    # an unterminated quote runs on to the next quote character: the records it swallows count once
    assert table.num_rows + len(bad) + blank == sum(batch.row_accounting().rows_in for batch in batches) < 50_000
    assert all(batch.row_accounting().balanced for batch in batches)


# the pieces include line breaks: a "line" may then hold several, inside quotes or not
LINE_PIECES = st.sampled_from(["a", "b", ",", '"', '""', " ", "é", "\r", "1", "\n", "\r\n"])
LINES = st.lists(st.lists(LINE_PIECES, max_size=6).map("".join), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    lines=LINES,
    n_columns=st.integers(min_value=1, max_value=3),
    batch_rows=st.integers(min_value=1, max_value=5),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_random_files_match_the_oracle(
    lines: list[str], n_columns: int, batch_rows: int, crlf: bool, final_newline: bool
) -> None:
    columns = [f"c{i}" for i in range(n_columns)]
    ending = "\r\n" if crlf else "\n"
    text = ending.join([",".join(columns), *lines]) + (ending if final_newline else "")
    _, table, bad, blank = read_all(text.encode(), batch_rows=batch_rows)

    good, oracle_bad, oracle_blank = csv_oracle(text, columns)
    assert table.to_pylist() == good
    assert [(row.line, row.text) for row in bad] == oracle_bad
    assert blank == oracle_blank


FIELD_PIECES = ["a", "1", " ", "é", ",", ";", "\t", '"', "\n", "\r\n"]
FIELDS = st.lists(st.sampled_from(FIELD_PIECES), max_size=5).map("".join)
# csv.writer quotes a lone CR only when it quotes every field or the line terminator holds a CR
FIELDS_WITH_CR = st.lists(st.sampled_from([*FIELD_PIECES, "\r"]), max_size=5).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    n_columns=st.integers(min_value=1, max_value=3),
    delimiter=st.sampled_from([",", "\t", ";"]),
    ending=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    batch_rows=st.integers(min_value=1, max_value=4),
    final_newline=st.booleans(),
)
def test_values_with_line_breaks_round_trip_through_python_csv(
    data: st.DataObject,
    n_columns: int,
    delimiter: str,
    ending: str,
    quoting: int,
    batch_rows: int,
    final_newline: bool,
) -> None:
    columns = [f"c{i}" for i in range(n_columns)]
    fields = FIELDS if quoting == csv.QUOTE_MINIMAL and ending == "\n" else FIELDS_WITH_CR
    # rows of the right width, and others (malformed, whatever lines they span, or blank when empty)
    rows = data.draw(
        st.lists(
            st.one_of(st.lists(fields, min_size=n_columns, max_size=n_columns), st.lists(fields, max_size=4)),
            max_size=10,
        )
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=ending, quoting=quoting)
    writer.writerows([columns, *rows])
    text = buffer.getvalue()
    if not final_newline:
        text = text.removesuffix(ending)
        if rows and rows[-1] == []:
            rows = rows[:-1]  # that blank line was only its line ending

    expected: list[dict[str, Any]] = []
    expected_bad: list[int] = []
    blank = 0
    line = 2
    for row in rows:
        if not row:
            blank += 1
        elif len(row) == n_columns:
            values = [value or None for value in row]
            expected.append({**dict(zip(columns, values, strict=True)), "_source_file": SOURCE, "_source_line": line})
        else:
            expected_bad.append(line)
        line += 1 + sum(value.count("\n") for value in row)

    batches, table, bad, blank_lines = read_all(text.encode(), delimiter=delimiter, batch_rows=batch_rows)
    assert table.to_pylist() == expected
    assert [row.line for row in bad] == expected_bad
    assert blank_lines == blank
    good, oracle_bad, oracle_blank = csv_oracle(text, columns, delimiter=delimiter)
    assert (good, [(row.line, row.text) for row in bad], oracle_blank) == (expected, oracle_bad, blank)
    assert all(batch.row_accounting().balanced for batch in batches)
