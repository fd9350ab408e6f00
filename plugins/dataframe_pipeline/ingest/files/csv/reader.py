"""The CSV reader: blocks of physical lines parsed by Arrow, records spanning lines found by the scan in
:mod:`.records`, malformed records quarantined whole, values cast to ``column_types``; and the CSV kind of
:func:`~dataframe_pipeline.ingest.files.format.read_source`.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from itertools import chain, islice
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    DataContractError,
    EmptySourceError,
)
from dataframe_pipeline.ingest.base import (
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    SourceBatch,
    check_source_columns,
)
from dataframe_pipeline.ingest.files.csv.lines import _iter_lines, _open_binary
from dataframe_pipeline.ingest.files.csv.options import MALFORMED_ROW_RULE, BadRow, CsvBatch, CsvOptions
from dataframe_pipeline.ingest.files.csv.records import (
    _OUTSIDE,
    _closed_line_pattern,
    _has_bare_cr,
    _record_text,
    _Records,
    _RecordScan,
    _scan_line,
    _where,
)
from dataframe_pipeline.ingest.files.encodings import DETECT_BYTES
from dataframe_pipeline.ingest.records.rules import RAW_LINE_COLUMN
from dataframe_pipeline.ingest.records.tabulate import _rejected_frame

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Sequence

    from dataframe_pipeline.ingest.files.text import _TextInput


def read_csv_batches(
    source_file: str | os.PathLike[str] | IO[bytes], source: str, options: CsvOptions | None = None
) -> Iterator[CsvBatch]:
    """Stream a CSV file as :class:`CsvBatch` blocks of about ``options.batch_rows`` lines.

    Options are validated now; the file is opened and read lazily as the iterator is consumed. A
    header-only file yields one batch with no rows (the schema is still there).

    :param source_file: a path, or a binary file object (not closed by this function).
    :param source: the name recorded in ``_source_file`` and in error messages (e.g. the URI).
    :param options: how to read the file; defaults to :class:`CsvOptions()`.
    :raises ConfigurationError: bad options (raised immediately).
    :raises SourceNotFoundError: the path does not exist.
    :raises EmptySourceError: the file is empty, or has no header line when one is expected.
    :raises SourceDecodeError: the file does not decode in ``options.encoding``.
    :raises DataContractError: the header cannot be read, or does not match ``columns`` or
        ``column_types``.
    :raises MalformedSourceError: a record spans more than ``options.max_record_lines`` lines
        (possibly after batches were yielded: quarantine the whole file).
    """
    options = options or CsvOptions()
    options.validate()
    return _generate_batches(source_file, source, options)


def bad_rows_table(bad_rows: Iterable[BadRow], source: str) -> pa.Table:
    """The quarantine record of malformed records: source file and line, raw text, rule and reason."""
    rows = list(bad_rows)
    return pa.table(
        {
            SOURCE_FILE_COLUMN: pa.array([source] * len(rows), pa.string()),
            SOURCE_LINE_COLUMN: pa.array([row.line for row in rows], pa.int64()),
            RAW_LINE_COLUMN: pa.array([row.text for row in rows], pa.string()),
            RULE_COLUMN: pa.array([MALFORMED_ROW_RULE] * len(rows), pa.string()),
            REASON_COLUMN: pa.array([row.reason for row in rows], pa.string()),
        }
    )


@dataclass(frozen=True)
class _Layout:
    """The columns of one file: as they appear in it, as they are output, and their types."""

    file_columns: list[str]
    output_columns: list[str]
    types: dict[str, pa.DataType]


def _read_header(lines: Iterator[str], options: CsvOptions, source: str) -> tuple[list[str], int]:
    """The header's column names and the number of its last line (it is the first non-blank record)."""
    scan = _RecordScan(options, source, first_line=1)
    header: list[str] = []
    for index, line in enumerate(lines):
        if header or line.removesuffix("\r"):
            header.append(line)
            scan.line(index, line)
            if not scan.inside:
                break
    if not header:
        raise EmptySourceError(f"{source}: no header line (the file has only blank lines)")
    first, last = scan.starts[0] + 1, scan.starts[0] + len(header)
    records = scan.records(last)
    problem = records.open_reason or next((reason for _, reason in records.problems.values()), None)
    if problem is None:
        try:
            # Python's csv reads quotes as Arrow does; a header is small, and may hold line breaks
            text = io.StringIO("\n".join(header), newline="")
            return next(csv.reader(text, delimiter=options.delimiter, quotechar=options.quotechar)), last
        except csv.Error as exc:
            problem = str(exc)
    raise DataContractError(f"{source}: cannot read the header on line {first}: {problem}: {header[0][:200]!r}")


def _layout(header: list[str] | None, options: CsvOptions, source: str) -> _Layout:
    expected = list(options.columns) if options.columns is not None else None
    # validate() makes sure there are columns when there is no header
    file_columns = header if header is not None else list(expected or [])
    types = options.arrow_types()
    check_source_columns(file_columns, expected, types, source, "the header")
    return _Layout(file_columns, expected or file_columns, types)


def _generate_batches(
    source_file: str | os.PathLike[str] | IO[bytes], source: str, options: CsvOptions
) -> Iterator[CsvBatch]:
    with _open_binary(source_file, source) as raw:
        lines = _iter_lines(raw, options.encoding, source)
        first = next(lines, None)
        if first is None:
            raise EmptySourceError(f"{source}: the file is empty")
        lines = chain([first], lines)
        header, last_line = _read_header(lines, options, source) if options.header else (None, 0)
        parser = _BlockParser(options, _layout(header, options, source), source)
        yielded = False
        while block := list(islice(lines, options.batch_rows)):
            yield parser.parse(block, last_line + 1, lines)
            last_line += len(block)  # parse reads on to the end of a record the block cut
            yielded = True
        if not yielded:
            yield parser.parse([], last_line + 1, lines)


_Parsed = tuple[pa.Table, list[tuple[str, str]]]  # good rows (strings), (text, reason) of skipped rows


class _BlockParser:
    """Turns one block of physical lines into a :class:`CsvBatch`."""

    def __init__(self, options: CsvOptions, layout: _Layout, source: str) -> None:
        self.options = options
        self.layout = layout
        self.source = source
        self.closed_line = _closed_line_pattern(options.delimiter, options.quotechar)

    def parse(self, lines: list[str], first_line: int, more: Iterator[str]) -> CsvBatch:
        """The batch of the records of ``lines``, which starts with a record.

        When the block ends inside a quoted field, the rest of that record is read from ``more`` and
        appended to ``lines`` (the caller counts the lines it took from there).
        """
        # the last line keeps its LF for Arrow: a quote left open earlier in the block then always
        # puts a line break into the value or skipped row it makes (Arrow drops only the final one)
        data = "\n".join([*lines, ""])
        bare_cr = _has_bare_cr(data)
        parsed = None
        if not bare_cr:
            # the common case: one record per line, which the cheapest exact test tells
            parsed = self._arrow_parse(data)
            if self.options.quotechar not in data or self._one_line_records(lines, parsed):
                return self._batch(lines, first_line, _Records(range(len(lines)), len(lines)), parsed)
        scan = self._scan(lines, _marked_lines(data, self.options.quotechar, bare_cr), first_line)
        if scan.inside:
            self._read_record_end(lines, more, scan)
            parsed = None
        records = scan.records(len(lines))
        if parsed is None or records.problems or records.stop < len(lines):
            parsed = self._arrow_parse(_arrow_text(lines, records))
        return self._batch(lines, first_line, records, parsed)

    def _one_line_records(self, lines: list[str], parsed: _Parsed) -> bool:
        """Whether no record spans lines, given Arrow's reading of the whole block."""
        # a quote left open on the last line runs to the end of the data and leaves no LF to spot
        if _spans_lines(*parsed):
            return False
        last = lines[-1].removesuffix("\r")
        return _scan_line(last, False, self.options.delimiter, self.options.quotechar)[0] == _OUTSIDE

    def _scan(self, lines: list[str], marked: list[int], first_line: int) -> _RecordScan:
        """Scan the ``marked`` lines (those with a quote or a bare carriage return); the others are plain.

        A marked line that is a whole record by itself when it starts outside quotes (most are) needs
        no scan then: Arrow's regex engine tells them all at once, at C speed.
        """
        texts = pa.array([lines[index] for index in marked], pa.string())
        closed = pc.match_substring_regex(texts, self.closed_line).to_pylist() if marked else []
        scan = _RecordScan(self.options, self.source, first_line)
        previous = 0
        for index, whole_record in zip(marked, closed, strict=True):
            if whole_record and not scan.inside:
                continue  # one record, left to the next plain run
            scan.plain(previous, index)
            scan.line(index, lines[index])
            previous = index + 1
        scan.plain(previous, len(lines))
        return scan

    def _read_record_end(self, lines: list[str], more: Iterator[str], scan: _RecordScan) -> None:
        """Read on to the end of the record open at the end of the block (or of the file)."""
        for line in more:
            lines.append(line)
            scan.line(len(lines) - 1, line)
            if not scan.inside:
                return

    def _batch(self, lines: list[str], first_line: int, records: _Records, parsed: _Parsed) -> CsvBatch:
        table, invalid = parsed
        good, bad_rows, blank = _number_records(lines, first_line, records, invalid)
        if len(good) != table.num_rows:
            raise RuntimeError(
                f"{self.source}: lines {first_line}-{first_line + len(lines) - 1}: parsed "
                f"{table.num_rows} rows but matched {len(good)} records (reader bug)"
            )
        if not isinstance(records.starts, range):
            _check_line_breaks(table, records, good, self.source, first_line)
        table, failures = _convert(table, self.layout.types)
        if failures:
            for index, reason in failures.items():
                start, stop = records.span(good[index])
                where = _where(first_line + start, first_line + stop - 1)
                bad_rows.append(BadRow(first_line + start, _record_text(lines, start, stop), reason + where))
            bad_rows.sort(key=lambda row: row.line)
            good = [record for index, record in enumerate(good) if index not in failures]
        if isinstance(good, range) and isinstance(records.starts, range):
            numbers = pa.array(list(range(first_line, first_line + len(good))), pa.int64())  # each line a row
        else:
            starts = pa.array(records.starts, pa.int64())
            numbers = pc.add(starts if isinstance(good, range) else starts.take(pa.array(good, pa.int64())), first_line)
        return CsvBatch(self._finish(table, numbers), bad_rows, blank)

    def _arrow_parse(self, data: str) -> _Parsed:
        """Arrow's reading of ``data``: lines joined with LF, the last one ending with LF too."""
        names = self.layout.file_columns
        if not data.strip("\r\n"):
            return pa.table({name: pa.array([], pa.string()) for name in names}), []
        invalid: list[tuple[str, str]] = []

        def skip_invalid(row: pa_csv.InvalidRow) -> str:
            invalid.append((row.text, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
            return "skip"

        encoded = data.encode("utf-8")
        table = pa_csv.read_csv(
            io.BytesIO(encoded),
            # one thread keeps the skipped rows in file order; one block avoids rows straddling blocks
            read_options=pa_csv.ReadOptions(
                column_names=names, use_threads=False, block_size=max(len(encoded), 1 << 16)
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=self.options.delimiter,
                quote_char=self.options.quotechar,
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
                invalid_row_handler=skip_invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=list(self.options.null_values),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        return table, invalid

    def _finish(self, table: pa.Table, line_numbers: pa.Array) -> pa.Table:
        table = table.select(self.layout.output_columns)
        n_rows = table.num_rows
        table = table.append_column(SOURCE_FILE_COLUMN, pc.fill_null(pa.nulls(n_rows, pa.string()), self.source))
        return table.append_column(SOURCE_LINE_COLUMN, line_numbers)


def _spans_lines(table: pa.Table, invalid: list[tuple[str, str]]) -> bool:
    """Whether the parser read a quoted field across a line break (the break is then in a value)."""
    if any("\n" in text for text, _ in invalid):
        return True
    return any(pc.any(pc.match_substring(column, "\n")).as_py() for column in table.columns)


def _marked_lines(data: str, quote: str, bare_cr: bool) -> list[int]:
    """Indices of the lines of ``data`` (lines ended by LF) that hold a quote (or a bare carriage return).

    Searching the joined text skips the lines without one at C speed, where most lines are.
    """
    marked = _lines_with(data, quote)
    if bare_cr:
        marked = sorted(set(marked).union(_lines_with(data, "\r", bare=True)))
    return marked


def _lines_with(data: str, char: str, *, bare: bool = False) -> list[int]:
    """Indices of the lines of ``data`` holding ``char``; with ``bare``, other than as their last character."""
    found: list[int] = []
    line, counted, pos = 0, 0, data.find(char)
    while pos >= 0:
        line += data.count("\n", counted, pos)
        end = data.find("\n", pos)
        end = len(data) if end < 0 else end
        # pos is the line's first occurrence: it is its last character only when it is the only one there
        if not bare or pos < end - 1:
            found.append(line)
        counted, pos = end, data.find(char, end)
    return found


def _arrow_text(lines: list[str], records: _Records) -> str:
    """The lines Arrow parses: the records' lines, without those the scan found malformed."""
    pieces: list[str] = []
    previous = 0
    for start, (stop, _) in sorted(records.problems.items()):
        pieces.extend(lines[previous:start])
        previous = stop
    pieces.extend(lines[previous : records.stop])
    pieces.append("")
    return "\n".join(pieces)


def _number_records(
    lines: list[str], first_line: int, records: _Records, invalid: list[tuple[str, str]]
) -> tuple[Sequence[int], list[BadRow], int]:
    """The record of each parsed row (its index in ``records``), the bad records and the blank lines.

    The parser skips empty lines and reports skipped rows by text, in order; every other record it
    was given is the next parsed row. A record with the same text as a skipped row is itself
    malformed (a record parses the same wherever it starts), so matching texts in order is exact.
    """
    if not invalid and not records.problems and records.open_reason is None and "" not in lines and "\r" not in lines:
        return range(len(records.starts)), [], 0
    good: list[int] = []
    bad: list[BadRow] = []
    blank = 0
    pending = iter(invalid)
    next_invalid = next(pending, None)
    for index, (start, stop) in enumerate(records.spans()):
        if start in records.problems:
            bad.append(BadRow(first_line + start, _record_text(lines, start, stop), records.problems[start][1]))
        elif stop - start == 1 and lines[start] in ("", "\r"):
            blank += 1
        elif next_invalid is not None and _record_text(lines, start, stop) == next_invalid[0]:
            where = _where(first_line + start, first_line + stop - 1)
            bad.append(BadRow(first_line + start, next_invalid[0], next_invalid[1] + where))
            next_invalid = next(pending, None)
        else:
            good.append(index)
    if next_invalid is not None:
        raise RuntimeError(f"skipped row {next_invalid[0][:200]!r} matches no record (reader bug)")
    if records.open_reason is not None:
        bad.append(
            BadRow(first_line + records.stop, _record_text(lines, records.stop, len(lines)), records.open_reason)
        )
    return good, bad, blank


def _check_line_breaks(table: pa.Table, records: _Records, good: Sequence[int], source: str, first_line: int) -> None:
    """Each row must hold the line breaks of its record's lines: the scan and Arrow found the same records."""
    bounds = pa.array([*records.starts, records.stop], pa.int64())
    expected = pc.subtract(pc.subtract(bounds[1:], bounds[:-1]), 1)
    if not isinstance(good, range):
        expected = expected.take(pa.array(good, pa.int64()))
    found = None
    for column in table.columns:
        breaks = pc.fill_null(pc.count_substring(column, "\n"), 0).combine_chunks().cast(pa.int64())
        found = breaks if found is None else pc.add(found, breaks)
    if found is None or not found.equals(expected):
        raise RuntimeError(
            f"{source}: block from line {first_line}: rows and records disagree on line breaks (reader bug)"
        )


def _convert(table: pa.Table, types: dict[str, pa.DataType]) -> tuple[pa.Table, dict[int, str]]:
    """Cast string columns to their types; rows with a value that does not convert are returned apart.

    :returns: the converted table of the rows that converted, and row index -> reason for the others
        (the first failing column of the row).
    """
    converted: dict[str, pa.ChunkedArray] = {}
    failures: dict[int, str] = {}
    for name, arrow_type in types.items():
        try:
            converted[name] = pc.cast(table.column(name), arrow_type)
        except pa.ArrowInvalid:
            for index, reason in _cast_failures(table.column(name), name, arrow_type).items():
                failures.setdefault(index, reason)
    if failures:
        table = table.filter(pa.array([i not in failures for i in range(table.num_rows)]))
        converted = {name: pc.cast(table.column(name), arrow_type) for name, arrow_type in types.items()}
    for name, column in converted.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table, failures


def _cast_failures(column: pa.ChunkedArray, name: str, arrow_type: pa.DataType) -> dict[int, str]:
    """Row index -> reason for the values of ``column`` that do not cast (only run when a cast failed)."""
    bad_values = [
        value for value in pc.unique(column).to_pylist() if value is not None and not _casts(value, arrow_type)
    ]
    bad_mask = pc.is_in(column, value_set=pa.array(bad_values, pa.string()))
    indices = pc.indices_nonzero(pc.fill_null(bad_mask, False)).to_pylist()
    values = column.take(indices).to_pylist()
    return {
        index: f"column {name!r}: cannot convert {value!r} to {arrow_type}"
        for index, value in zip(indices, values, strict=True)
    }


def _casts(value: str, arrow_type: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], pa.string()), arrow_type)
    except pa.ArrowInvalid:
        return False
    return True


_SNIFF_CHARS = 16 * 1024


_SNIFF_DELIMITERS = ",;\t|"


def _read_csv(inp: _TextInput) -> Iterator[SourceBatch]:
    delimiter = _sniff_delimiter(inp) if inp.fmt.sniff else "\t" if inp.kind == "tsv" else inp.fmt.delimiter
    options = inp.fmt._csv_options(delimiter, inp.encoding, inp.fmt.header)
    for batch in read_csv_batches(inp.stream, inp.source, options):
        accounting = batch.row_accounting()
        rejected = _rejected_frame(
            inp.source,
            [(row.line, row.text, MALFORMED_ROW_RULE, row.reason) for row in batch.bad_rows],
        )
        yield SourceBatch(batch.table, rejected, accounting.rows_in, dict(accounting.dropped_by_rule))


def _sniff_delimiter(inp: _TextInput) -> str:

    # replacement characters only affect the sample: the reader itself decodes strictly
    sample = codecs.getincrementaldecoder(inp.encoding)(errors="replace").decode(inp.head[: _SNIFF_CHARS * 4])
    sample = sample.removeprefix("\ufeff")[:_SNIFF_CHARS]
    if len(inp.head) == DETECT_BYTES and "\n" in sample:
        sample = sample[: sample.rfind("\n")]  # a cut last line would confuse the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=_SNIFF_DELIMITERS).delimiter
    except csv.Error as exc:
        raise DataContractError(
            f"{inp.source}: cannot sniff the delimiter from the first {len(sample)} characters ({exc}); "
            "set delimiter instead"
        ) from exc
