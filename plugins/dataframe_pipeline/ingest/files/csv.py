"""Streaming CSV ingest: RFC 4180 records (line breaks in quoted fields included), exact quarantine.

:func:`read_csv_batches` reads a delimited text file in blocks of about ``batch_rows`` physical
lines and yields one :class:`CsvBatch` per block: an Arrow table of the good rows, each tagged with
the file (``_source_file``) and the 1-based physical line its record starts on (``_source_line``),
plus the records that could not be read (:class:`BadRow`: first line, raw text, reason). For every
batch::

    records in = table rows + bad records + blank lines

so nothing is lost silently (see :meth:`CsvBatch.row_accounting`); a record counts once however
many lines it spans.

**Records.** A record ends at a line feed (LF or CRLF) outside quotes. A field is quoted when it
starts with the quote character; it runs to the next quote character that is not doubled, and may
hold the delimiter, doubled quotes and line breaks (LF, CRLF, even a lone CR), all kept in the
value exactly as in the file. A quote anywhere else is a literal character, and after the closing
quote the field goes on unquoted (``"ab"cd`` reads ``abcd``), as Python's ``csv`` and Arrow read
it. So one record may span several physical lines: it is one row, its ``_source_line`` is its
first line, and the rows after it keep their own line numbers. The header may span lines too (RFC
4180 allows line breaks in quoted names). A batch never splits a record: when a block of
``batch_rows`` lines ends inside a quoted field, the reader reads on to the end of that record, so
a batch may cover a few more lines than ``batch_rows``, and the next one starts after the record.

**Malformed records** are quarantined whole: ``_raw_line`` holds all their lines (joined with their
own line endings, the last one without), the reason says what is wrong and on which lines, and no
part of them ever becomes a row. A record is malformed when it

- has the wrong number of fields, whatever lines it spans;
- has a carriage return outside quotes (an old Mac line ending). Parsers that accept one (Python's
  ``csv``, Arrow) end a record there, so the reader follows the quotes that way too, and the lines
  up to the next line feed outside quotes form the one bad record;
- spans lines and has a closing quote followed by something other than the delimiter or the end
  of the record (``"two\\nlines"x``): not RFC 4180, and the usual trace of a quote opened by
  mistake that ran on into the following lines until it met the next quote character. (Within one
  line, ``"ab"cd`` stays accepted, as before.)
- has a quoted field still open at the end of the file: the record from its first line to the end
  of the file, the reason naming the line where that quote opened;
- holds a value that does not convert to the type ``column_types`` asks for (conversion is Arrow's
  cast from string, e.g. ``" 1"`` is not an ``int64``).

A quote opened by mistake whose record still has the right field count and quoting is read as one
row, as by any RFC 4180 reader: that is the limit of what can be told from the text. Nulls are the
values spelled as in ``null_values``, quoted or not.

**Bound.** One record may span at most ``max_record_lines`` physical lines (default 10,000). A
longer record (in practice a quote opened by mistake in a file with few quotes) leaves no safe
place to start reading records again, so :class:`MalformedSourceError` is raised, naming the file,
the record's first line, the line where its quote opened and the option; this may come after
batches were yielded, and the file must then be quarantined as a whole. A quote left open up to
the end of the file within the bound is one bad record, as above. Memory is bounded by
``batch_rows + max_record_lines`` lines.

The file is decoded with the given encoding in strict mode (a leading byte-order mark is removed):
bytes that do not decode raise :class:`SourceDecodeError` with the byte offset, never replacement
characters.

**How, and why some of it is written here.** Arrow's CSV parser (``pyarrow.csv``) splits the
fields. It does not tell which lines a row came from, and it reads a quote left open to the end of
the data it is given (the rest becomes one value), so this module finds the records itself, with
the cheapest test that is exact: a block without a quote character has one record per line; a
block with quotes is parsed by Arrow once, and only when a value or a skipped row holds a line
break, or the last line ends inside quotes, does a scan find where each record starts: the lines
holding a quote are matched all at once (Arrow's RE2 engine) against a pattern of a whole one-line
record, and only those that fail it are followed quote by quote in Python. Each row's line breaks
are then checked against its record's lines, so the scan and Arrow cannot disagree silently.
Python's ``csv`` module would find the records and the fields in one pass, but only splitting the
fields of the 1M-row benchmark file into lists takes it over twice as long as Arrow takes to
build the whole table (3.2 s against 1.3 s, one thread).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN, RowAccounting
from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    EmptySourceError,
    MalformedSourceError,
    SourceDecodeError,
    SourceNotFoundError,
)
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    SourceBatch,
    check_source_columns,
)
from dataframe_pipeline.ingest.files.encodings import DETECT_BYTES
from dataframe_pipeline.ingest.records import RAW_LINE_COLUMN, _rejected_frame

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from dataframe_pipeline.ingest.files.text import _TextInput


#: rule name of the records quarantined by this reader
MALFORMED_ROW_RULE = "csv_malformed_row"
#: rule name of the blank lines skipped (counted as dropped, not quarantined)
BLANK_LINE_RULE = "csv_blank_line"

_READ_CHUNK_BYTES = 1 << 20
_BOM = "\ufeff"
_LINE_ENDINGS = "only LF and CRLF line endings are supported"
# where the quote scan of a line ends: outside quotes, inside the quoted field that was open when the
# line started, or inside a quoted field opened on the line
_OUTSIDE, _STILL_OPEN, _OPENED = 0, 1, 2


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV file.

    :param delimiter: one character separating fields.
    :param quotechar: one character quoting fields (doubled inside a quoted field for a literal one).
    :param encoding: Python codec name of the file ("utf-8", "utf-16", "cp1252", "latin-1", ...);
        a leading byte-order mark is removed.
    :param header: whether the first non-blank record holds the column names.
    :param columns: the expected columns; with a header the header must name exactly these (any
        order; output follows this order); without a header they name the fields in file order.
        ``None``: take them from the header.
    :param column_types: Arrow type alias per column (as accepted by ``pyarrow.type_for_alias``,
        e.g. "int64", "double", "bool", "date32", "timestamp[ms]"); other columns are strings.
    :param batch_rows: physical lines per block, hence about the most rows in one batch (a block
        reads on to the end of a record that spans its last line).
    :param null_values: the spellings of null.
    :param max_record_lines: the most physical lines one record may span (line breaks in quoted
        fields); a longer record raises :class:`MalformedSourceError` (see the module docstring).
    """

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    columns: Sequence[str] | None = None
    column_types: Mapping[str, str] | None = None
    batch_rows: int = 100_000
    null_values: Sequence[str] = ("",)
    max_record_lines: int = 10_000

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value."""
        _check_char("delimiter", self.delimiter)
        _check_char("quotechar", self.quotechar)
        if self.delimiter == self.quotechar:
            raise ConfigurationError("quotechar", self.quotechar, "must differ from the delimiter")
        _check_encoding(self.encoding)
        if not isinstance(self.header, bool):
            raise ConfigurationError("header", self.header, "must be True or False")
        _check_columns(self.columns, self.header)
        self.arrow_types()
        _check_count("batch_rows", self.batch_rows)
        _check_null_values(self.null_values)
        _check_count("max_record_lines", self.max_record_lines)

    def arrow_types(self) -> dict[str, pa.DataType]:
        """The Arrow type of each column named in ``column_types`` (validated)."""
        if self.column_types is None:
            return {}
        if not isinstance(self.column_types, Mapping):
            raise ConfigurationError("column_types", self.column_types, "must be a mapping column -> type")
        if self.columns is not None:
            unknown = sorted(set(self.column_types) - set(self.columns))
            if unknown:
                raise ConfigurationError("column_types", self.column_types, f"unknown columns {unknown}")
        return {name: _arrow_type(name, alias) for name, alias in self.column_types.items()}


@dataclass(frozen=True)
class BadRow:
    """A record that could not be read as a row.

    :param line: 1-based physical line number of the record's first line in the file.
    :param text: the raw record: its lines joined with their own line endings, without the last one.
    :param reason: why it was rejected, e.g. "expected 9 fields, found 11", with the record's lines
        when it spans several ("... (record on lines 6-8)").
    """

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class CsvBatch:
    """The result of reading one block of records.

    :param table: the good rows: the file's columns plus ``_source_file`` and ``_source_line``.
    :param bad_rows: the malformed records of the block, in line order.
    :param blank_lines: how many empty lines the block had (skipped, counted as dropped).
    """

    table: pa.Table
    bad_rows: list[BadRow] = field(default_factory=list)
    blank_lines: int = 0

    def row_accounting(self) -> RowAccounting:
        """Records in = rows out + records quarantined + blank lines dropped."""
        rows_out = self.table.num_rows
        dropped = {BLANK_LINE_RULE: self.blank_lines} if self.blank_lines else {}
        return RowAccounting(
            rows_in=rows_out + len(self.bad_rows) + self.blank_lines,
            rows_out=rows_out,
            rows_quarantined=len(self.bad_rows),
            dropped_by_rule=dropped,
            quarantined_by_rule={MALFORMED_ROW_RULE: len(self.bad_rows)} if self.bad_rows else {},
        )


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


# --- option checks ------------------------------------------------------------------------------


def _check_char(name: str, value: object) -> None:
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
        raise ConfigurationError(name, value, "must be one character other than CR and LF")


def _check_encoding(encoding: object) -> None:
    if not isinstance(encoding, str):
        raise ConfigurationError("encoding", encoding, "must be a codec name")
    try:
        # encoding text proves it is a text codec (not e.g. base64) that Python knows
        "\n".encode(encoding)
    except LookupError as exc:
        raise ConfigurationError("encoding", encoding, f"unknown text encoding ({exc})") from exc


def _check_columns(columns: object, header: bool) -> None:
    if columns is None:
        if not header:
            raise ConfigurationError("columns", columns, "required when header=False")
        return
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
        raise ConfigurationError("columns", columns, "must be a non-empty list of column names")
    if not all(isinstance(name, str) for name in columns):
        raise ConfigurationError("columns", columns, "column names must be strings")
    if len(set(columns)) != len(columns):
        raise ConfigurationError("columns", columns, "column names must be unique")
    reserved = sorted(RESERVED_COLUMNS.intersection(columns))
    if reserved:
        raise ConfigurationError("columns", columns, f"{reserved} are reserved for the reader")


def _arrow_type(column: str, alias: object) -> pa.DataType:
    field_name = f"column_types[{column!r}]"
    try:
        arrow_type = pa.type_for_alias(alias)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(field_name, alias, "not an Arrow type alias") from exc
    try:
        pc.cast(pa.array([], pa.string()), arrow_type)
    except pa.ArrowNotImplementedError as exc:
        raise ConfigurationError(field_name, alias, "strings cannot be converted to this type") from exc
    return arrow_type


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(name, value, "must be an integer >= 1")


def _check_null_values(null_values: object) -> None:
    if isinstance(null_values, str) or not isinstance(null_values, Sequence):
        raise ConfigurationError("null_values", null_values, "must be a list of strings")
    for value in null_values:
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ConfigurationError("null_values", null_values, "must be strings without line breaks")


# --- reading lines ------------------------------------------------------------------------------


@contextmanager
def _open_binary(source_file: str | os.PathLike[str] | IO[bytes], source: str) -> Iterator[IO[bytes]]:
    if isinstance(source_file, io.TextIOBase):
        raise TypeError(f"{source}: expected a path or a binary file object, got a text file object")
    if not isinstance(source_file, str | os.PathLike):
        yield source_file
        return
    try:
        fileobj = open(source_file, "rb")  # noqa: SIM115 - closed below, the generator owns it
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"{source}: no such file {os.fspath(source_file)!r}") from exc
    with fileobj:
        yield fileobj


def _iter_lines(raw: IO[bytes], encoding: str, source: str) -> Iterator[str]:
    """Decoded physical lines, split at LF; the first one without a byte-order mark.

    A line keeps the CR of a CRLF ending (and a CR at the very end of the file): that CR ends the
    line when the line ends outside quotes, and belongs to the value when it ends inside a quoted
    field, which must keep its line breaks exactly.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    pending = ""
    at_start = True
    while True:
        chunk = raw.read(_READ_CHUNK_BYTES)
        text = _decode(decoder, chunk, offset, encoding, source)
        offset += len(chunk)
        if at_start and text:
            # utf-8 and explicit-endian utf-16 codecs leave the byte-order mark in the text
            text = text.removeprefix(_BOM)
            at_start = False
        # a CRLF split across chunks needs no care: the CR stays at the end of the pending line
        lines = (pending + text).split("\n")
        pending = lines.pop()
        yield from lines
        if not chunk:
            break
    if pending:
        yield pending


def _decode(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, encoding: str, source: str) -> str:
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise TypeError(f"{source}: expected a binary file object, read {type(chunk).__name__}")
    # bytes the decoder still holds from the previous chunk start the data the error points into
    held = len(decoder.getstate()[0])
    try:
        return decoder.decode(chunk, final=not chunk)
    except UnicodeDecodeError as exc:
        raise SourceDecodeError(source, offset - held + exc.start, encoding, exc.reason) from exc


def _has_bare_cr(data: str) -> bool:
    """Whether ``data`` (lines joined or ended with LF) has a carriage return that is not part of a CRLF."""
    if "\r" not in data:
        return False
    return data.count("\r") != data.count("\r\n") + data.endswith("\r")


# --- quotes and records -------------------------------------------------------------------------


def _after_quoted(body: str, pos: int, quote: str) -> int:
    """Index just after the quote closing the quoted content that starts at ``pos``; -1 if none."""
    while True:
        end = body.find(quote, pos)
        if end < 0:
            return -1
        if not body.startswith(quote, end + 1):
            return end + 1
        pos = end + 2  # a doubled quote is a literal quote


def _field_end(body: str, pos: int, delimiter: str, has_cr: bool) -> tuple[int, bool]:
    """Where the unquoted part of a field from ``pos`` ends (-1: at the line end), and whether at a CR."""
    end = body.find(delimiter, pos)
    if has_cr:
        cr = body.find("\r", pos)
        if cr >= 0 and (end < 0 or cr < end):
            return cr, True
    return end, False


def _scan_line(body: str, inside: bool, delimiter: str, quote: str) -> tuple[int, bool, int]:
    """Follow the quotes of one line (without its line ending), as the parsers do.

    A quote opens a quoted field only at the start of a field, a doubled quote inside it is a
    literal quote, after the closing quote the field goes on unquoted, and a carriage return
    outside quotes ends the record (Arrow and Python's ``csv`` read it so), a field starting after it.

    :param inside: whether the line starts inside a quoted field opened on an earlier line.
    :returns: where the line ends (``_OUTSIDE``, ``_STILL_OPEN``, ``_OPENED``), whether it has a
        carriage return outside quotes, and the index of the first character that follows a closing
        quote and is neither the delimiter nor a line end (-1: none).
    """
    has_cr = "\r" in body
    bare_cr, junk = False, -1
    quoted, open_state, pos = inside, _STILL_OPEN, 0
    if not inside and body.startswith(quote):
        quoted, open_state, pos = True, _OPENED, 1
    while True:
        if quoted:
            pos = _after_quoted(body, pos, quote)
            if pos < 0:
                return open_state, bare_cr, junk
            if junk < 0 and pos < len(body) and body[pos] != delimiter and body[pos] != "\r":
                junk = pos
        end, at_cr = _field_end(body, pos, delimiter, has_cr)
        if end < 0:
            return _OUTSIDE, bare_cr, junk
        bare_cr = bare_cr or at_cr
        pos = end + 1
        quoted = body.startswith(quote, pos)
        if quoted:
            open_state, pos = _OPENED, pos + 1


def _closed_line_pattern(delimiter: str, quote: str) -> str:
    """An RE2 pattern of a line that :func:`_scan_line` leaves outside quotes, with no bare carriage return.

    Fields are a quoted part (doubled quotes inside) and an unquoted rest not starting with a quote,
    or an unquoted field not starting with a quote; a CRLF's CR may end the line. The parse is unique
    (each alternative starts with a different character), so a match is exactly the scan's answer.
    """
    d, q = f"\\x{{{ord(delimiter):x}}}", f"\\x{{{ord(quote):x}}}"
    rest = f"(?:[^{q}{d}\\r][^{d}\\r]*)?"
    field = f"(?:{q}(?:[^{q}]|{q}{q})*{q}{rest}|{rest})"
    return f"^{field}(?:{d}{field})*\\r?$"


def _where(first: int, last: int) -> str:
    """The lines of a record spanning several, for reasons (nothing for a one-line record)."""
    return "" if first == last else f" (record on lines {first}-{last})"


def _record_text(lines: Sequence[str], start: int, stop: int) -> str:
    """The raw text of ``lines[start:stop]``: joined with their own line endings, the last one without."""
    if stop - start == 1:
        return lines[start].removesuffix("\r")
    return "\n".join(lines[start:stop]).removesuffix("\r")


@dataclass
class _Records:
    """Where the records of a block are.

    Record ``k`` is ``lines[starts[k]:starts[k + 1]]``, the last one ending at ``stop``. ``problems``
    maps the start of a record the scan found malformed to its stop and reason; ``open_reason`` is
    set when the lines from ``stop`` to the end hold a quoted field never closed (end of file).
    """

    starts: Sequence[int]
    stop: int
    problems: dict[int, tuple[int, str]] = field(default_factory=dict)
    open_reason: str | None = None

    def spans(self) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each record, in order."""
        return zip(self.starts, chain(self.starts[1:], [self.stop]), strict=False)

    def span(self, record: int) -> tuple[int, int]:
        """``(start, stop)`` of record number ``record``."""
        following = record + 1
        return self.starts[record], self.starts[following] if following < len(self.starts) else self.stop


class _RecordScan:
    """Finds where the records of a block start, following the quotes line by line.

    Lines given to :meth:`line` are scanned. Runs given to :meth:`plain` need no scan: outside
    quotes each of their lines is a whole record (no quote, or a complete one-line record); inside a
    quoted field they hold no quote, so the field goes on through them. Line indices are the
    block's; ``first_line`` is the file's number of index 0.
    """

    def __init__(self, options: CsvOptions, source: str, first_line: int) -> None:
        self.delimiter, self.quote = options.delimiter, options.quotechar
        self.max_lines = options.max_record_lines
        self.source, self.first_line = source, first_line
        self.starts: list[int] = []
        self.problems: dict[int, tuple[int, str]] = {}
        self.inside = False
        self.opened = -1  # line where the quote still open opened
        self.bare_cr = -1  # first line of the current record with a carriage return outside quotes
        self.junk: tuple[int, str] = (-1, "")  # first line (and character) with a bad closing quote

    def plain(self, start: int, stop: int) -> None:
        """Lines ``start`` to ``stop - 1`` need no scan (see the class docstring)."""
        if self.inside:
            self._check_length(stop)
        else:
            self.starts.extend(range(start, stop))

    def line(self, index: int, line: str) -> None:
        """Scan line ``index``: a record starts there unless a quoted field is open."""
        if not self.inside:
            self.starts.append(index)
            self.bare_cr, self.junk = -1, (-1, "")
        body = line.removesuffix("\r")
        state, bare_cr, junk = _scan_line(body, self.inside, self.delimiter, self.quote)
        if bare_cr and self.bare_cr < 0:
            self.bare_cr = index
        if junk >= 0 and self.junk[0] < 0:
            self.junk = (index, body[junk])
        if state == _OPENED:
            self.opened = index
        self.inside = state != _OUTSIDE
        self._check_length(index + 1)
        if not self.inside:
            reason = self._problem(self.starts[-1], index + 1)
            if reason:
                self.problems[self.starts[-1]] = (index + 1, reason)

    def records(self, n_lines: int) -> _Records:
        """The records of the ``n_lines`` scanned lines; one still open there is left apart (end of file)."""
        if not self.inside:
            return _Records(self.starts, n_lines, self.problems)
        start = self.starts[-1]
        where = _where(self.first_line + start, self.first_line + n_lines - 1)
        reason = f"quoted field opened on line {self.first_line + self.opened} is not closed at the end of the file"
        return _Records(self.starts[:-1], start, self.problems, reason + where)

    def _problem(self, start: int, stop: int) -> str | None:
        where = _where(self.first_line + start, self.first_line + stop - 1)
        if self.bare_cr >= 0:
            on = f" on line {self.first_line + self.bare_cr}" if where else ""
            return f"carriage return outside quotes{on}; {_LINE_ENDINGS}{where}"
        if self.junk[0] >= 0 and where:
            return (
                f"closing quote followed by {self.junk[1]!r} on line {self.first_line + self.junk[0]}, not by the "
                f"delimiter or the end of the record (a quote opened by mistake?){where}"
            )
        return None

    def _check_length(self, stop: int) -> None:
        start = self.starts[-1]
        if stop - start <= self.max_lines:
            return
        last = self.first_line + stop - 1
        state = f"is still open on line {last}" if self.inside else f"closes on line {last}"
        raise MalformedSourceError(
            f"{self.source}: the record starting on line {self.first_line + start} spans more than "
            f"max_record_lines={self.max_lines} lines (its quoted field opened on line "
            f"{self.first_line + self.opened} {state}). A quote opened by mistake leaves no safe place to read "
            "rows again, so the file is malformed as a whole: quarantine it, or raise max_record_lines if its "
            "records are really this long"
        )


# --- header -------------------------------------------------------------------------------------


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


# --- blocks -------------------------------------------------------------------------------------


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


# --- conversion ---------------------------------------------------------------------------------


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


# --- read_source adapter ---------------------------------------------------------------------


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
    import codecs

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
