"""How a CSV file is read (:class:`CsvOptions`, checked as configuration) and what one block of it gives
(:class:`CsvBatch`, :class:`BadRow`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import RowAccounting
from dataframe_pipeline.exceptions import (
    ConfigurationError,
)
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
)

#: rule name of the records quarantined by this reader
MALFORMED_ROW_RULE = "csv_malformed_row"


#: rule name of the blank lines skipped (counted as dropped, not quarantined)
BLANK_LINE_RULE = "csv_blank_line"


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
