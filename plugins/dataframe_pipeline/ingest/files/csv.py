"""Streaming CSV ingest with exact quarantine of malformed rows.

:func:`read_csv_batches` reads a delimited text file in blocks of ``batch_rows`` physical lines and
yields one :class:`CsvBatch` per block: an Arrow table of the good rows, each tagged with the file
(``_source_file``) and the 1-based physical line (``_source_line``) it came from, plus the lines that
could not be read (:class:`BadRow`, with line number, raw text and reason). For every batch::

    physical data lines = table rows + bad rows + blank lines

so nothing is lost silently (see :meth:`CsvBatch.row_accounting`).

**One physical line is one record.** Lines end with LF or CRLF. Quoted fields may contain the
delimiter and doubled quote characters, but not line breaks: quoted newlines are not supported in
this version. A record spanning lines therefore shows up as malformed rows (the line with the
unterminated quote always; the following lines usually, by their field count), which is the safe
failure. A carriage return inside a line (old Mac line endings) also makes the line malformed.

Rows are malformed when they have the wrong number of fields, leave a quoted field open at the end
of the line, contain a bare carriage return, or hold a value that does not convert to the type
``column_types`` asks for (conversion is Arrow's cast from string, e.g. ``" 1"`` is not an
``int64``). Nulls are the values spelled as in ``null_values``, quoted or not.

The file is decoded with the given encoding in strict mode (a leading byte-order mark is removed):
bytes that do not decode raise :class:`SourceDecodeError` with the byte offset, never replacement
characters. Memory is bounded by one block of ``batch_rows`` lines.
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
    SourceNotFoundError,
)
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    check_source_columns,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from dataframe_pipeline.ingest.files.text import _TextInput
from typing import TYPE_CHECKING

from dataframe_pipeline.exceptions import EmptySourceError, SourceDecodeError
from dataframe_pipeline.ingest.base import (
    SourceBatch,
)
from dataframe_pipeline.ingest.files.encodings import DETECT_BYTES
from dataframe_pipeline.ingest.records import RAW_LINE_COLUMN, _rejected_frame

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


#: rule name of the rows quarantined by this reader
MALFORMED_ROW_RULE = "csv_malformed_row"
#: rule name of the blank lines skipped (counted as dropped, not quarantined)
BLANK_LINE_RULE = "csv_blank_line"

_READ_CHUNK_BYTES = 1 << 20
_BOM = "\ufeff"
_OPEN_QUOTE_REASON = "quoted field not closed on this line (quoted newlines are not supported)"
_CARRIAGE_RETURN_REASON = "carriage return inside the line (only LF and CRLF line endings are supported)"


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV file.

    :param delimiter: one character separating fields.
    :param quotechar: one character quoting fields (doubled inside a quoted field for a literal one).
    :param encoding: Python codec name of the file ("utf-8", "utf-16", "cp1252", "latin-1", ...);
        a leading byte-order mark is removed.
    :param header: whether the first non-blank line holds the column names.
    :param columns: the expected columns; with a header the header must name exactly these (any
        order; output follows this order); without a header they name the fields in file order.
        ``None``: take them from the header.
    :param column_types: Arrow type alias per column (as accepted by ``pyarrow.type_for_alias``,
        e.g. "int64", "double", "bool", "date32", "timestamp[ms]"); other columns are strings.
    :param batch_rows: physical lines per block, hence the most rows in one batch.
    :param null_values: the spellings of null.
    """

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    columns: Sequence[str] | None = None
    column_types: Mapping[str, str] | None = None
    batch_rows: int = 100_000
    null_values: Sequence[str] = ("",)

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
        if isinstance(self.batch_rows, bool) or not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise ConfigurationError("batch_rows", self.batch_rows, "must be an integer >= 1")
        _check_null_values(self.null_values)

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
    """A physical line that could not be read as a record.

    :param line: 1-based physical line number in the file.
    :param text: the raw line, without its line ending.
    :param reason: why it was rejected, e.g. "expected 9 fields, found 11".
    """

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class CsvBatch:
    """The result of reading one block of physical lines.

    :param table: the good rows: the file's columns plus ``_source_file`` and ``_source_line``.
    :param bad_rows: the malformed lines of the block, in line order.
    :param blank_lines: how many empty lines the block had (skipped, counted as dropped).
    """

    table: pa.Table
    bad_rows: list[BadRow] = field(default_factory=list)
    blank_lines: int = 0

    def row_accounting(self) -> RowAccounting:
        """Physical data lines in = rows out + rows quarantined + blank lines dropped."""
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
    """Stream a CSV file as :class:`CsvBatch` blocks of at most ``options.batch_rows`` lines.

    Options are validated now; the file is opened and read lazily as the iterator is consumed. A
    header-only file yields one batch with no rows (the schema is still there).

    :param source_file: a path, or a binary file object (not closed by this function).
    :param source: the name recorded in ``_source_file`` and in error messages (e.g. the URI).
    :param options: how to read the file; defaults to :class:`CsvOptions()`.
    :raises ConfigurationError: bad options (raised immediately).
    :raises SourceNotFoundError: the path does not exist.
    :raises EmptySourceError: the file is empty, or has no header line when one is expected.
    :raises SourceDecodeError: the file does not decode in ``options.encoding``.
    :raises DataContractError: the header does not match ``columns`` or ``column_types``.
    """
    options = options or CsvOptions()
    options.validate()
    return _generate_batches(source_file, source, options)


def bad_rows_table(bad_rows: Iterable[BadRow], source: str) -> pa.Table:
    """The quarantine record of malformed lines: source file and line, raw text, rule and reason."""
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
    """Decoded physical lines without their LF/CRLF ending; the first one without a byte-order mark."""
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
        # replacing after joining the pending tail also catches a CRLF split across chunks
        lines = (pending + text).replace("\r\n", "\n").split("\n")
        pending = lines.pop()
        yield from lines
        if not chunk:
            break
    if pending:
        yield pending.removesuffix("\r")


def _decode(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, encoding: str, source: str) -> str:
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise TypeError(f"{source}: expected a binary file object, read {type(chunk).__name__}")
    # bytes the decoder still holds from the previous chunk start the data the error points into
    held = len(decoder.getstate()[0])
    try:
        return decoder.decode(chunk, final=not chunk)
    except UnicodeDecodeError as exc:
        raise SourceDecodeError(source, offset - held + exc.start, encoding, exc.reason) from exc


def _ends_inside_quotes(line: str, delimiter: str, quotechar: str) -> bool:
    """Whether a quoted field is still open at the end of ``line`` (the parser would go on reading).

    Mirrors the parser: a quote opens a quoted field only at the start of a field, a doubled quote
    inside it is a literal quote, and after the closing quote the field continues unquoted.
    """
    pos = 0
    while True:
        if line.startswith(quotechar, pos):
            pos += 1
            while True:
                end = line.find(quotechar, pos)
                if end < 0:
                    return True
                if not line.startswith(quotechar, end + 1):
                    break
                pos = end + 2
            pos = end + 1
        next_delimiter = line.find(delimiter, pos)
        if next_delimiter < 0:
            return False
        pos = next_delimiter + 1


# --- header -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """The columns of one file: as they appear in it, as they are output, and their types."""

    file_columns: list[str]
    output_columns: list[str]
    types: dict[str, pa.DataType]


def _read_header(lines: Iterator[str], options: CsvOptions, source: str) -> tuple[list[str], int]:
    """The header's column names and its line number (the first non-blank line)."""
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        if "\r" in line or _ends_inside_quotes(line, options.delimiter, options.quotechar):
            raise DataContractError(f"{source}: cannot read the header on line {number}: {line[:200]!r}")
        return next(csv.reader([line], delimiter=options.delimiter, quotechar=options.quotechar)), number
    raise EmptySourceError(f"{source}: no header line (the file has only blank lines)")


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
            yield parser.parse(block, first_line=last_line + 1)
            last_line += len(block)
            yielded = True
        if not yielded:
            yield parser.parse([], first_line=last_line + 1)


@dataclass
class _Parsed:
    """What the Arrow parser made of a block's lines."""

    table: pa.Table  # good rows, every column a string
    invalid: list[tuple[str, str]]  # (text, reason) of the rows the parser skipped, in order
    unsafe: dict[int, str]  # index in block -> reason, for lines kept away from the parser


class _BlockParser:
    """Turns one block of physical lines into a :class:`CsvBatch`."""

    def __init__(self, options: CsvOptions, layout: _Layout, source: str) -> None:
        self.options = options
        self.layout = layout
        self.source = source

    def parse(self, lines: list[str], first_line: int) -> CsvBatch:
        parsed = self._parse_lines(lines)
        line_numbers, bad_rows, blank = _number_rows(lines, first_line, parsed)
        if len(line_numbers) != parsed.table.num_rows:
            raise RuntimeError(
                f"{self.source}: lines {first_line}-{first_line + len(lines) - 1}: parsed "
                f"{parsed.table.num_rows} rows but matched {len(line_numbers)} lines (reader bug)"
            )
        table, failures = _convert(parsed.table, self.layout.types)
        if failures:
            keep = [i for i in range(len(line_numbers)) if i not in failures]
            bad_rows += [
                BadRow(line_numbers[i], lines[line_numbers[i] - first_line], reason) for i, reason in failures.items()
            ]
            bad_rows.sort(key=lambda row: row.line)
            line_numbers = [line_numbers[i] for i in keep]
        return CsvBatch(self._finish(table, line_numbers), bad_rows, blank)

    def _parse_lines(self, lines: list[str]) -> _Parsed:
        """Parse with Arrow, making sure no record was read across a line break."""
        # a quote left open on the last line runs to the end of the data and leaves no LF to spot
        quote = self.options.quotechar
        last_open = bool(lines) and _ends_inside_quotes(lines[-1], self.options.delimiter, quote)
        if not last_open and not any("\r" in line for line in lines):
            table, invalid = self._arrow_parse(lines)
            if not _spans_lines(table, invalid):
                return _Parsed(table, invalid, {})
        unsafe = self._unsafe_lines(lines)
        kept = [line for i, line in enumerate(lines) if i not in unsafe]
        table, invalid = self._arrow_parse(kept)
        if _spans_lines(table, invalid):
            raise RuntimeError(f"{self.source}: a record spans lines after removing open quotes (reader bug)")
        return _Parsed(table, invalid, unsafe)

    def _unsafe_lines(self, lines: list[str]) -> dict[int, str]:
        unsafe = {}
        for i, line in enumerate(lines):
            if "\r" in line:
                unsafe[i] = _CARRIAGE_RETURN_REASON
            elif _ends_inside_quotes(line, self.options.delimiter, self.options.quotechar):
                unsafe[i] = _OPEN_QUOTE_REASON
        return unsafe

    def _arrow_parse(self, lines: list[str]) -> tuple[pa.Table, list[tuple[str, str]]]:
        names = self.layout.file_columns
        data = "\n".join(lines) + "\n"
        if not data.strip("\n"):
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
                newlines_in_values=False,
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

    def _finish(self, table: pa.Table, line_numbers: list[int]) -> pa.Table:
        table = table.select(self.layout.output_columns)
        n_rows = table.num_rows
        table = table.append_column(SOURCE_FILE_COLUMN, pc.fill_null(pa.nulls(n_rows, pa.string()), self.source))
        return table.append_column(SOURCE_LINE_COLUMN, pa.array(line_numbers, pa.int64()))


def _spans_lines(table: pa.Table, invalid: list[tuple[str, str]]) -> bool:
    """Whether the parser read a quoted field across a line break (the break is then in a value)."""
    if any("\n" in text for text, _ in invalid):
        return True
    return any(pc.any(pc.match_substring(column, "\n")).as_py() for column in table.columns)


def _number_rows(lines: list[str], first_line: int, parsed: _Parsed) -> tuple[list[int], list[BadRow], int]:
    """Line number of each parsed row, the bad rows and the blank-line count of a block.

    The parser skips empty lines and reports skipped rows by text, in order; every other line is
    the next parsed row. A line with the same text as a skipped row is itself malformed (a line
    parses the same wherever it is), so matching texts in order is exact.
    """
    if not parsed.unsafe and not parsed.invalid and "" not in lines:
        return list(range(first_line, first_line + len(lines))), [], 0
    good: list[int] = []
    bad: list[BadRow] = []
    blank = 0
    invalid = iter(parsed.invalid)
    next_invalid = next(invalid, None)
    for i, line in enumerate(lines):
        number = first_line + i
        if i in parsed.unsafe:
            bad.append(BadRow(number, line, parsed.unsafe[i]))
        elif not line:
            blank += 1
        elif next_invalid is not None and line == next_invalid[0]:
            bad.append(BadRow(number, line, next_invalid[1]))
            next_invalid = next(invalid, None)
        else:
            good.append(number)
    if next_invalid is not None:
        raise RuntimeError(f"skipped row {next_invalid[0][:200]!r} matches no line (reader bug)")
    return good, bad, blank


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
