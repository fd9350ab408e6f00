"""File formats of the ingest step: one entry point, :func:`read_source`, for every kind of file.

``read_source(fileobj, source, FileFormat(...))`` streams a file as
:class:`~dataframe_pipeline.ingest.base.SourceBatch` es of at most ``batch_rows`` records, whatever
its format, compression and encoding:

========  ==============================================================================
kind      how it is read
========  ==============================================================================
csv, tsv  :func:`~dataframe_pipeline.ingest.csv_reader.read_csv_batches` (one physical line
          per record, malformed lines quarantined); the delimiter can be sniffed
json      a top-level array of objects, or the array at ``records_path`` ("data.items") in a
          top-level object, parsed one record at a time (``json.JSONDecoder.raw_decode``)
jsonl     one object per line; a line that is not an object is quarantined, blank lines dropped
xml       the elements at ``xml_record_path`` ("/orders/order", "//order"; default: the root's
          children), streamed with ``lxml.etree.iterparse`` and freed as they are read
html      one ``<table>`` of the page (``html_table``: index, or text it contains), read with
          ``pandas.read_html``; its header is what HTML marks as one (``<thead>``, rows of
          ``<th>``), else columns are "0", "1", ... (or ``columns``). **The whole page is held
          in memory** (an HTML parser needs the document): fine for pages, not huge dumps
parquet   ``pyarrow.parquet.ParquetFile.iter_batches``; a compressed or non-seekable Parquet
          file is copied to a temporary file in ``temp_dir`` first (Parquet needs seeks)
========  ==============================================================================

Compression ("gzip", "bz2", "zstd", "zip") and format are detected from the name
(:func:`detect_kind`: ``orders.json.gz`` is gzip-compressed JSON) unless given. A zip archive
yields its members one after the other, each named ``archive.zip!member.csv`` (see
:mod:`~dataframe_pipeline.ingest.compression`). Text is decoded strictly
(:mod:`~dataframe_pipeline.ingest.encodings`); a byte-order mark never reaches a column name.

**Records and provenance.** Every row carries ``_source_file`` (the source name) and
``_source_line``: the physical line for CSV/TSV/JSON Lines, the 1-based record number for JSON
arrays, XML, HTML tables and Parquet. Nested JSON objects are flattened into columns joined with
``flatten_sep`` (``{"a": {"b": 1}}`` gives column ``a.b``); lists, and objects when
``flatten_sep`` is None, are kept as JSON text. An XML record's attributes and child elements
become columns the same way: ``<order id="1"><customer><name>Ann</name></customer></order>``
gives ``id`` and ``customer.name``; an element's text is the column of its own path (``#text``
for the record element itself); repeated child elements are kept as a JSON list.

**Types.** CSV/TSV, XML and HTML values are strings; JSON keeps numbers and booleans; Parquet keeps
its types; ``column_types`` converts any column to an Arrow type. So that every batch of a file has
the same schema, JSON and XML columns and types are decided by the first batch with a good row
(or by ``columns``): a later record with another key, or a value that does not fit the column's
type (1.5 in an int64 column), is quarantined with the reason. Columns that were null in that
batch are strings.

**Row accounting.** For every batch: records in = rows yielded + rows quarantined + rows dropped
by a named rule (blank lines). Quarantined rows carry ``_source_file``, ``_source_line``,
``_raw_line`` (the line or the record's text), ``_rule`` and ``_reason``. A header-only CSV, an
empty JSON array and an XML document without records give one batch of 0 rows; a 0-byte file (or
archive member) raises :class:`EmptySourceError`.

**Whole-file errors.** Bytes that do not decode raise :class:`SourceDecodeError` (with the byte
offset); broken XML/JSON syntax, corrupt compressed data or an unsafe archive raise
:class:`MalformedSourceError`. They may come after batches were yielded: the caller must then drop
what it took from the file and quarantine the file as a whole. :func:`check_source` makes the same
checks in a cheaper pass, to run before ingesting.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    SourceBatch,
    check_source_columns,
)
from dataframe_pipeline.ingest.compression import (
    COMPRESSIONS,
    MalformedSourceError,
    Member,
    UnsafeArchiveMemberError,
    decompress,
    is_empty,
    is_seekable,
    iter_members,
    peek,
    split_compression,
    spooled,
)
from dataframe_pipeline.ingest.csv_reader import (
    MALFORMED_ROW_RULE,
    RAW_LINE_COLUMN,
    CsvOptions,
    EmptySourceError,
    SourceDecodeError,
    read_csv_batches,
)
from dataframe_pipeline.ingest.encodings import (
    DETECT_BYTES,
    check_decodes,
    check_encoding_name,
    iter_lines,
    iter_text,
    resolve_encoding,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from lxml import etree

__all__ = [
    "DUPLICATE_COLUMN_RULE",
    "JSONL_BLANK_LINE_RULE",
    "KINDS",
    "MALFORMED_RECORD_RULE",
    "NOT_AN_OBJECT_RULE",
    "TYPE_MISMATCH_RULE",
    "UNEXPECTED_COLUMN_RULE",
    "EmptySourceError",
    "FileFormat",
    "KeyCollisionError",
    "MalformedSourceError",
    "SourceDecodeError",
    "UnsafeArchiveMemberError",
    "XmlPath",
    "check_decodes",
    "check_source",
    "detect_kind",
    "flatten_record",
    "read_source",
    "read_stream",
]

#: the formats :class:`FileFormat` knows ("auto": from the file name)
KINDS = ("auto", "csv", "tsv", "json", "jsonl", "xml", "html", "parquet")
#: a JSON Lines line or XML record that cannot be read
MALFORMED_RECORD_RULE = "malformed_record"
#: a JSON record that is not an object (e.g. a number in the array)
NOT_AN_OBJECT_RULE = "not_an_object"
#: two values of a record map to the same column name (e.g. an attribute and a child element)
DUPLICATE_COLUMN_RULE = "duplicate_column"
#: a record with a key outside the file's columns
UNEXPECTED_COLUMN_RULE = "unexpected_column"
#: a value that does not fit its column's type
TYPE_MISMATCH_RULE = "type_mismatch"
#: blank lines of a JSON Lines file (dropped, not quarantined)
JSONL_BLANK_LINE_RULE = "jsonl_blank_line"
#: the column of an XML record element's own text
XML_TEXT_COLUMN = "#text"

_KIND_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".xml": "xml",
    ".html": "html",
    ".htm": "html",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_SNIFF_CHARS = 16 * 1024
_SNIFF_DELIMITERS = ",;\t|"
_XML_STEP = re.compile(r"^(\*|[A-Za-z_][\w.\-]*)$")
_JSON_KEY = re.compile(r"^[^.]+$")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# a JSONDecodeError this close to the end of the buffer may only mean the value goes on (an escape
# like "\u00" or a literal like "tru" cut by the chunk boundary is at most 6 characters short)
_INCOMPLETE_MARGIN = 16
# a number parsed this close to the buffer's end may be cut: "1e+" parses as 1, 2 characters short
_NUMBER_TAIL = 2
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# integers beyond this do not convert to double exactly
_DOUBLE_EXACT = 2**53
_REASON_VALUE_CHARS = 200


@dataclass(frozen=True)
class FileFormat:
    """How to read a file. Validate with :meth:`validate`; nothing is checked at construction.

    :param kind: "auto" (from the file name, see :func:`detect_kind`), "csv", "tsv", "json",
        "jsonl", "xml", "html" or "parquet".
    :param compression: "auto" (from the file name), "none", "gzip", "bz2", "zip" or "zstd".
    :param encoding: Python codec of text files, or None / "auto" to detect it.
    :param delimiter: CSV field separator (TSV always uses a tab).
    :param quotechar: CSV quote character.
    :param sniff: detect the CSV delimiter from the first 16 KB (``csv.Sniffer``).
    :param header: CSV/TSV: whether the first line names the columns.
    :param columns: the expected columns, in output order. CSV/TSV/HTML/Parquet: the file must have
        exactly these (without a CSV header: they name the fields). JSON/XML: missing keys are
        null, records with other keys are quarantined.
    :param column_types: Arrow type alias per column ("int64", "double", "timestamp[ms]", ...).
    :param records_path: JSON: dotted path of the array of records in a top-level object.
    :param flatten_sep: separator joining nested JSON keys / XML element names; None keeps nested
        objects as JSON text.
    :param xml_record_path: "/root/record" (from the root) or "//record" (at any depth; "//a/b"
        for ``b`` under ``a``); steps match local names, "*" any name. None: the root's children.
    :param html_table: index of the table in the page, or a text the table contains.
    :param null_values: spellings of null in text formats (JSON has its own ``null``).
    :param batch_rows: the most records (lines for CSV/TSV/JSON Lines) per batch.
    """

    kind: str = "auto"
    compression: str = "auto"
    encoding: str | None = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    sniff: bool = False
    header: bool = True
    columns: Sequence[str] | None = None
    column_types: Mapping[str, str] | None = None
    records_path: str | None = None
    flatten_sep: str | None = "."
    xml_record_path: str | None = None
    html_table: int | str = 0
    null_values: Sequence[str] = ("",)
    batch_rows: int = 100_000

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value."""
        _check_choice("kind", self.kind, KINDS)
        _check_choice("compression", self.compression, COMPRESSIONS)
        check_encoding_name(self.encoding)
        for name in ("sniff", "header"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(name, getattr(self, name), "must be True or False")
        # the fields CSV shares with the other formats are checked by its own rules
        self._csv_options(self.delimiter, "utf-8", header=True).validate()
        if self.kind in ("csv", "tsv") and not self.header and self.columns is None:
            raise ConfigurationError("columns", self.columns, "required when header=False")
        _check_records_path(self.records_path)
        if self.flatten_sep is not None and (not isinstance(self.flatten_sep, str) or not self.flatten_sep):
            raise ConfigurationError("flatten_sep", self.flatten_sep, "must be a non-empty string or None")
        XmlPath.parse(self.xml_record_path)
        _check_html_table(self.html_table)

    def arrow_types(self) -> dict[str, pa.DataType]:
        """The Arrow type of each column named in ``column_types``."""
        return self._csv_options(self.delimiter, "utf-8", header=True).arrow_types()

    def _csv_options(self, delimiter: str, encoding: str, header: bool) -> CsvOptions:
        return CsvOptions(
            delimiter=delimiter,
            quotechar=self.quotechar,
            encoding=encoding,
            header=header,
            columns=self.columns,
            column_types=self.column_types,
            batch_rows=self.batch_rows,
            null_values=self.null_values,
        )


def detect_kind(name: str) -> tuple[str, str]:
    """Format and compression from a file name: ``("json", "gzip")`` for ``"orders.json.gz"``.

    A zip archive gives ``("auto", "zip")``: each member's name decides its format.

    :raises ConfigurationError: the extension names no known format (field ``kind``).
    """
    stem, compression = split_compression(name)
    if compression == "zip":
        return "auto", "zip"
    return _kind_from_name(stem, name), compression


def read_source(
    fileobj: IO[bytes], source: str, fmt: FileFormat, *, temp_dir: str | None = None
) -> Iterator[SourceBatch]:
    """Stream a file (every member of a zip archive in turn) as batches of at most ``batch_rows``.

    The format is validated now; the file is read lazily as the iterator is consumed.

    :param fileobj: the file, a binary file object at its start (not closed here).
    :param source: its name: recorded in ``_source_file``, used to detect format and compression.
    :param fmt: how to read it.
    :param temp_dir: where Parquet in a compressed stream, or a zip archive on a non-seekable
        stream, is copied while it is read (default: the system temp dir).
    :raises ConfigurationError: bad ``fmt`` (now), or a format that cannot be detected (when read).
    :raises EmptySourceError: the file, or an archive member, has no bytes.
    :raises SourceDecodeError: the text does not decode (with the byte offset).
    :raises MalformedSourceError: broken syntax, corrupt compression, unsafe or corrupt archive.
    :raises DataContractError: the file does not match ``fmt`` (columns, records path, table).
    """
    fmt.validate()
    return _iter_source(fileobj, source, fmt, temp_dir)


def read_stream(
    stream: IO[bytes], source: str, kind: str, fmt: FileFormat, *, temp_dir: str | None = None
) -> Iterator[SourceBatch]:
    """Stream one uncompressed file of a known ``kind`` (what :func:`read_source` does per member).

    ``fmt.kind`` and ``fmt.compression`` are not used; ``fmt`` is assumed valid.
    """
    _check_choice("kind", kind, KINDS[1:])
    if kind == "parquet":
        yield from _read_parquet(stream, source, fmt, temp_dir)
        return
    text_input = _open_text(stream, source, kind, fmt)
    readers: dict[str, Callable[[_TextInput], Iterator[SourceBatch]]] = {
        "csv": _read_csv,
        "tsv": _read_csv,
        "json": _read_json,
        "jsonl": _read_jsonl,
        "xml": _read_xml,
        "html": _read_html,
    }
    yield from readers[kind](text_input)


def check_source(fileobj: IO[bytes], source: str, fmt: FileFormat, *, temp_dir: str | None = None) -> None:
    """Raise what :func:`read_source` would raise about the file as a whole, reading it once.

    The whole-file errors are: empty, undecodable, malformed, unsafe archive. Cheaper than
    reading (no tables are built): decoding only for CSV/TSV/JSON Lines/HTML, the syntax for
    JSON and XML, the footer for Parquet. Lets an operator quarantine a bad file before
    ingesting any row of it. Row-level problems are left to :func:`read_source`.
    """
    fmt.validate()
    for member, kind, stream in _iter_streams(fileobj, source, fmt, temp_dir):
        if kind == "parquet":
            _check_parquet(stream, member.source, temp_dir)
            continue
        text_input = _open_text(stream, member.source, kind, fmt)
        if kind == "json":
            _drain(_JsonScanner(text_input.text(), member.source).records(_records_path(fmt)))
        elif kind == "xml":
            _drain(_xml_records(text_input))
        else:
            _drain(text_input.text())


# --- sources, members, text ---------------------------------------------------------------------


def _iter_source(fileobj: IO[bytes], source: str, fmt: FileFormat, temp_dir: str | None) -> Iterator[SourceBatch]:
    for member, kind, stream in _iter_streams(fileobj, source, fmt, temp_dir):
        yield from read_stream(stream, member.source, kind, fmt, temp_dir=temp_dir)


def _iter_streams(
    fileobj: IO[bytes], source: str, fmt: FileFormat, temp_dir: str | None
) -> Iterator[tuple[Member, str, IO[bytes]]]:
    """Each member with its format and its decompressed stream."""
    compression = fmt.compression if fmt.compression != "auto" else split_compression(source)[1]
    for member in iter_members(fileobj, source, compression, temp_dir):
        kind, inner = _member_format(member, fmt)
        with decompress(member.stream, member.source, inner) as stream:
            yield member, kind, stream


def _member_format(member: Member, fmt: FileFormat) -> tuple[str, str]:
    """Format and compression of a member; only archive members may be compressed once more."""
    stem, inner = split_compression(member.name) if member.compression == "zip" else (member.name, "none")
    if inner == "zip":
        raise DataContractError(f"{member.source}: archives inside archives are not supported")
    kind = fmt.kind if fmt.kind != "auto" else _kind_from_name(stem, member.source)
    return kind, inner


def _kind_from_name(name: str, shown: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    extension = base[base.rfind(".") :] if "." in base else ""
    kind = _KIND_EXTENSIONS.get(extension)
    if kind is None:
        raise ConfigurationError(
            "kind", "auto", f"cannot tell the format of {shown!r} from its extension; set kind to one of {KINDS[1:]}"
        )
    return kind


@dataclass(frozen=True)
class _TextInput:
    """A text file to parse: its stream (head replayed), name, format and resolved encoding."""

    stream: IO[bytes]
    source: str
    kind: str
    fmt: FileFormat
    encoding: str
    head: bytes

    def text(self) -> Iterator[str]:
        return iter_text(self.stream, self.encoding, self.source)


def _open_text(stream: IO[bytes], source: str, kind: str, fmt: FileFormat) -> _TextInput:
    head, stream = peek(stream, DETECT_BYTES)
    if not head:
        raise EmptySourceError(f"{source}: the file is empty")
    encoding = resolve_encoding(fmt.encoding, head, source, xml=kind == "xml")
    return _TextInput(stream, source, kind, fmt, encoding, head)


def _drain(items: Iterable[object]) -> None:
    for _ in items:
        pass


# --- CSV / TSV ----------------------------------------------------------------------------------


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


# --- records: flattening and typing (JSON, JSON Lines, XML) -------------------------------------


@dataclass(slots=True)
class _Record:
    """One source record: its values (flattened), or why it was rejected, or a blank line."""

    position: int
    raw: str
    values: dict[str, Any] | None = None
    rule: str | None = None
    reason: str | None = None
    blank: bool = False


class KeyCollisionError(ValueError):
    """Two values of a record map to the same column name once flattened."""


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if key in out:
        raise KeyCollisionError(f"two values for column {key!r} (after flattening)")
    out[key] = value


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten_record(record: Mapping[str, Any], sep: str | None) -> dict[str, Any]:
    """Flatten a JSON object into columns: ``{"a": {"b": 1}, "l": [1]}`` -> ``{"a.b": 1, "l": "[1]"}``.

    Nested objects become columns joined with ``sep``; lists, empty objects, and every object
    when ``sep`` is None, become compact JSON text.

    :raises KeyCollisionError: two keys flatten to the same name (``"a.b"`` and ``a`` > ``b``).
    """
    out: dict[str, Any] = {}
    _flatten_into(out, "", record, sep)
    return out


def _flatten_into(out: dict[str, Any], prefix: str, record: Mapping[str, Any], sep: str | None) -> None:
    for key, value in record.items():
        name = f"{prefix}{sep}{key}" if prefix else key
        if isinstance(value, dict) and value and sep is not None:
            _flatten_into(out, name, value, sep)
        elif isinstance(value, dict | list):
            _put(out, name, _json_text(value))
        else:
            _put(out, name, value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _json_record(position: int, value: Any, raw: str, sep: str | None) -> _Record:
    if not isinstance(value, dict):
        reason = f"the record is a JSON {_json_type_name(value)}, not an object"
        return _Record(position, raw, rule=NOT_AN_OBJECT_RULE, reason=reason)
    try:
        return _Record(position, raw, flatten_record(value, sep))
    except KeyCollisionError as exc:
        return _Record(position, raw, rule=DUPLICATE_COLUMN_RULE, reason=str(exc))
    except RecursionError:
        return _Record(position, raw, rule=MALFORMED_RECORD_RULE, reason="objects nested too deeply to flatten")


def _shown(value: Any) -> str:
    # quotes tell the string "5" from the number 5
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _REASON_VALUE_CHARS else text[:_REASON_VALUE_CHARS] + "..."


def _fit_string(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, str):
        return True, value
    return True, _json_text(value)


def _fit_bool(value: Any) -> tuple[bool, Any]:
    return value is None or isinstance(value, bool), value


def _fit_int64(value: Any) -> tuple[bool, Any]:
    if value is None:
        return True, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 2.0 is 2 exactly
    ok = isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX
    return ok, value


def _fit_double(value: Any) -> tuple[bool, Any]:
    if value is None or (isinstance(value, float)):
        return True, value
    ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _DOUBLE_EXACT
    return ok, float(value) if ok else None


_FITTERS: dict[pa.DataType, Callable[[Any], tuple[bool, Any]]] = {
    pa.string(): _fit_string,
    pa.bool_(): _fit_bool,
    pa.int64(): _fit_int64,
    pa.float64(): _fit_double,
}


def _infer_type(values: Iterable[Any]) -> pa.DataType:
    """The Arrow type of a JSON column from its values in the first batch."""
    present = [value for value in values if value is not None]
    kinds = {type(value) for value in present}
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        # integers beyond int64 are kept exactly, as text
        return pa.int64() if all(_INT64_MIN <= value <= _INT64_MAX for value in present) else pa.string()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


_Reject = tuple[int, str, str, str]  # position, raw text, rule, reason


class _Tabulator:
    """Turns batches of records into tables with the same columns and types for the whole file.

    The columns and types are decided by the first batch with a good record (or by ``columns``)
    and kept: later records that do not fit are quarantined, so a file never changes schema.
    """

    def __init__(self, source: str, fmt: FileFormat, typed_values: bool) -> None:
        self.source = source
        self.fmt = fmt
        self.typed_values = typed_values
        self.columns_: list[str] | None = None
        self.types_: dict[str, pa.DataType] = {}
        self.explicit_: frozenset[str] = frozenset()

    def batch(self, records: list[_Record]) -> SourceBatch:
        good = [record for record in records if record.values is not None]
        rejects = [(r.position, r.raw, r.rule, r.reason) for r in records if r.rule is not None]
        blank = sum(1 for record in records if record.blank)
        if self.columns_ is None and (good or self.fmt.columns is not None):
            self._decide(good)
        if self.columns_ is None:
            table = _table_with_provenance({}, self.source, [])
        else:
            good = self._keep_known_keys(good, rejects)
            table = self._table(good, rejects)
        rejects.sort(key=lambda item: item[0])
        dropped = {JSONL_BLANK_LINE_RULE: blank} if blank else {}
        return SourceBatch(table, _rejected_frame(self.source, rejects), len(records), dropped)

    def _decide(self, good: list[_Record]) -> None:
        explicit = self.fmt.arrow_types()
        if self.fmt.columns is not None:
            columns = list(self.fmt.columns)
        else:
            seen = dict.fromkeys(key for record in good for key in record.values or {} if key not in RESERVED_COLUMNS)
            columns = list(seen) + [name for name in explicit if name not in seen]
        self.types_ = {
            name: explicit.get(name) or self._inferred(name, good) for name in columns if name not in RESERVED_COLUMNS
        }
        self.columns_ = columns
        self.explicit_ = frozenset(explicit)

    def _inferred(self, name: str, good: list[_Record]) -> pa.DataType:
        if not self.typed_values:
            return pa.string()
        return _infer_type((record.values or {}).get(name) for record in good)

    def _keep_known_keys(self, good: list[_Record], rejects: list[_Reject]) -> list[_Record]:
        allowed = set(self.columns_ or [])
        kept = []
        for record in good:
            extra = [key for key in record.values or {} if key not in allowed]
            if not extra:
                kept.append(record)
                continue
            reason = (
                f"keys {extra} are not among the file's columns (decided by its first records or by columns=)"
                if not RESERVED_COLUMNS.intersection(extra)
                else f"keys {sorted(RESERVED_COLUMNS.intersection(extra))} are reserved for provenance"
            )
            rejects.append((record.position, record.raw, UNEXPECTED_COLUMN_RULE, reason))
        return kept

    def _table(self, good: list[_Record], rejects: list[_Reject]) -> pa.Table:
        columns, good = self._fitted_columns(good, rejects)
        table = _table_with_provenance(columns, self.source, [record.position for record in good])
        table, failures = _cast_columns(table, self.types_, self.source)
        rejects.extend((good[i].position, good[i].raw, TYPE_MISMATCH_RULE, reason) for i, reason in failures.items())
        return table

    def _fitted_columns(self, good: list[_Record], rejects: list[_Reject]) -> tuple[dict[str, pa.Array], list[_Record]]:
        """Each column's values converted to its type (text for types Arrow converts later)."""
        failures: dict[int, str] = {}
        values = {name: self._fit_column(name, good, failures) for name in self.columns_ or []}
        if failures:
            rejects.extend((good[i].position, good[i].raw, TYPE_MISMATCH_RULE, failures[i]) for i in sorted(failures))
            values = {name: [v for i, v in enumerate(column) if i not in failures] for name, column in values.items()}
            good = [record for i, record in enumerate(good) if i not in failures]
        arrays = {name: pa.array(column, self._storage_type(name)) for name, column in values.items()}
        return arrays, good

    def _storage_type(self, name: str) -> pa.DataType:
        """Inferred types are collected as such; ``column_types`` from text, converted by Arrow later."""
        return pa.string() if name in self.explicit_ else self.types_[name]

    def _fit_column(self, name: str, good: list[_Record], failures: dict[int, str]) -> list[Any]:
        storage = self._storage_type(name)
        fit = _FITTERS[storage]
        column = []
        for i, record in enumerate(good):
            value = (record.values or {}).get(name)
            ok, fitted = fit(value)
            if not ok:
                failures.setdefault(i, f"column {name!r}: {_shown(value)} does not fit {storage}")
            column.append(fitted)
        return column


def _batches_of(records: Iterator[_Record], tabulator: _Tabulator, batch_rows: int) -> Iterator[SourceBatch]:
    yielded = False
    while True:
        chunk = list(islice(records, batch_rows))
        if not chunk and yielded:
            return
        batch = tabulator.batch(chunk)
        # the records go before the next batch is read: one batch of records in memory, not two
        del chunk
        yield batch
        yielded = True


# --- tables, conversion, quarantine -------------------------------------------------------------


def _table_with_provenance(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], source: str, positions: list[int]
) -> pa.Table:
    data: dict[str, Any] = dict(columns)
    data[SOURCE_FILE_COLUMN] = pa.array([source] * len(positions), pa.string())
    data[SOURCE_LINE_COLUMN] = pa.array(positions, pa.int64())
    return pa.table(data)


def _cast_columns(table: pa.Table, types: Mapping[str, pa.DataType], source: str) -> tuple[pa.Table, dict[int, str]]:
    """Convert columns to ``types``; rows with a value that does not convert are removed.

    :returns: the converted table, and row index (in ``table``) -> reason for the removed rows.
    :raises DataContractError: a column's type has no conversion to the target at all.
    """
    failures: dict[int, str] = {}
    converted: dict[str, pa.ChunkedArray] = {}
    for name, target in types.items():
        column = table.column(name)
        if column.type == target:
            continue
        result = _try_cast(column, target, name, source)
        if result is None:
            for index, reason in _cast_failures(column, name, target).items():
                failures.setdefault(index, reason)
        else:
            converted[name] = result
    if failures:
        table = table.filter(pa.array([i not in failures for i in range(table.num_rows)], pa.bool_()))
        converted = {name: pc.cast(table.column(name), target) for name, target in types.items()}
    for name, column in converted.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table, failures


def _try_cast(column: pa.ChunkedArray, target: pa.DataType, name: str, source: str) -> pa.ChunkedArray | None:
    """``column`` converted, or None when some value does not convert."""
    try:
        return pc.cast(column, target)
    except pa.ArrowNotImplementedError as exc:
        raise DataContractError(
            f"{source}: column {name!r} of type {column.type} cannot be converted to {target}"
        ) from exc
    except pa.ArrowInvalid:
        return None


def _cast_failures(column: pa.ChunkedArray | pa.Array, name: str, target: pa.DataType) -> dict[int, str]:
    """Row index -> reason for the values that do not convert (only run when a conversion failed)."""
    values = column.to_pylist()
    failures: dict[int, str] = {}
    verdicts: dict[Any, bool] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        key = repr(value) if isinstance(value, dict | list) else value
        if key not in verdicts:
            verdicts[key] = _scalar_casts(value, column.type, target)
        if not verdicts[key]:
            failures[index] = f"column {name!r}: cannot convert {_shown(value)} to {target}"
    return failures


def _scalar_casts(value: Any, source_type: pa.DataType, target: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], source_type), target)
    except pa.ArrowInvalid:
        return False
    return True


def _rejected_frame(source: str, rejects: Sequence[_Reject]) -> pd.DataFrame:
    """The quarantined records (index: their ``_source_line``), or an empty frame when there are none."""
    if not rejects:
        return pd.DataFrame()
    positions = [item[0] for item in rejects]
    table = pa.table(
        {
            SOURCE_FILE_COLUMN: pa.array([source] * len(rejects), pa.string()),
            SOURCE_LINE_COLUMN: pa.array(positions, pa.int64()),
            RAW_LINE_COLUMN: pa.array([item[1] for item in rejects], pa.string()),
            RULE_COLUMN: pa.array([item[2] for item in rejects], pa.string()),
            REASON_COLUMN: pa.array([item[3] for item in rejects], pa.string()),
        }
    )
    frame = table.to_pandas()
    frame.index = pd.Index(positions, dtype="int64")
    return frame


def _row_text(table: pa.Table, index: int) -> str:
    row = {name: column[index].as_py() for name, column in zip(table.column_names, table.columns, strict=True)}
    return json.dumps(row, ensure_ascii=False, default=str)


def _typed_batch(table: pa.Table, source: str, first_position: int, types: Mapping[str, pa.DataType]) -> SourceBatch:
    """A batch of a typed table (Parquet, HTML): provenance added, ``column_types`` applied."""
    positions = list(range(first_position, first_position + table.num_rows))
    full = _table_with_provenance({name: table.column(name) for name in table.column_names}, source, positions)
    converted, failures = _cast_columns(full, types, source)
    rejects = [
        (positions[i], _row_text(table, i), TYPE_MISMATCH_RULE, reason) for i, reason in sorted(failures.items())
    ]
    return SourceBatch(converted, _rejected_frame(source, rejects), table.num_rows)


def _check_file_columns(names: list[str], fmt: FileFormat, source: str) -> list[str]:
    """The output columns of a file with a schema (Parquet, HTML), checked against ``fmt``."""
    expected = list(fmt.columns) if fmt.columns is not None else None
    check_source_columns(names, expected, fmt.arrow_types(), source, "the file")
    return list(fmt.columns) if fmt.columns is not None else names


# --- JSON ---------------------------------------------------------------------------------------


def _records_path(fmt: FileFormat) -> list[str]:
    return fmt.records_path.split(".") if fmt.records_path else []


def _read_json(inp: _TextInput) -> Iterator[SourceBatch]:
    scanner = _JsonScanner(inp.text(), inp.source)
    sep = inp.fmt.flatten_sep
    records = (
        _json_record(position, value, raw, sep)
        for position, (value, raw) in enumerate(scanner.records(_records_path(inp.fmt)), start=1)
    )
    yield from _batches_of(records, _Tabulator(inp.source, inp.fmt, typed_values=True), inp.fmt.batch_rows)


class _JsonScanner:
    """Reads the records of a JSON document one at a time from decoded text chunks.

    Only the text not yet parsed is kept (plus the record being parsed), so memory is bounded by
    the largest record, whatever the size of the document. Values beside the records path are
    parsed and dropped.
    """

    def __init__(self, chunks: Iterator[str], source: str) -> None:
        self._chunks = chunks
        self._source = source
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._pos = 0
        self._line = 1  # line number of the buffer's first character
        self._eof = False

    def records(self, path: list[str]) -> Iterator[tuple[Any, str]]:
        """(value, raw text) of each element of the records array; then checks the document ends."""
        first = self._peek()
        if not first:
            raise MalformedSourceError(
                f"{self._source}: no JSON value in the file (only whitespace); the file must be quarantined as a whole"
            )
        if path:
            if first != "{":
                raise DataContractError(f"{self._source}: records_path is set but the document is not a JSON object")
            yield from self._object_path(path, ".".join(path))
        elif first == "[":
            yield from self._array()
        else:
            raise DataContractError(
                f"{self._source}: the document is not a JSON array of records"
                + ("; set records_path to the array in this object" if first == "{" else "")
            )
        if self._peek():
            raise self._error("extra data after the JSON document", self._pos)

    def _array(self) -> Iterator[tuple[Any, str]]:
        self._pos += 1  # the "[" seen by the caller
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            self._peek()
            yield self._value()
            separator = self._peek()
            self._pos += 1
            if separator == "]":
                return
            if separator != ",":
                raise self._error("expected ',' or ']' after an array element", self._pos - 1)

    def _object_path(self, path: list[str], full: str) -> Iterator[tuple[Any, str]]:
        """Walk the object the cursor is on, descending into ``path[0]`` and skipping other keys."""
        self._pos += 1  # the "{" seen by the caller
        found = self._peek() == "}"
        if found:
            self._pos += 1
            raise DataContractError(f"{self._source}: records_path {full!r}: no key {path[0]!r}")
        found = False
        while True:
            key = self._key()
            if key == path[0] and not found:
                found = True
                yield from self._descend(path, full)
            else:
                self._value()
            separator = self._peek()
            self._pos += 1
            if separator == "}":
                break
            if separator != ",":
                raise self._error("expected ',' or '}' after an object member", self._pos - 1)
        if not found:
            raise DataContractError(f"{self._source}: records_path {full!r}: no key {path[0]!r}")

    def _descend(self, path: list[str], full: str) -> Iterator[tuple[Any, str]]:
        expected = "[" if len(path) == 1 else "{"
        if self._peek() != expected:
            what = "an array" if expected == "[" else "an object"
            raise DataContractError(f"{self._source}: records_path {full!r}: {path[0]!r} is not {what}")
        yield from self._array() if len(path) == 1 else self._object_path(path[1:], full)

    def _key(self) -> str:
        if self._peek() != '"':
            raise self._error("expected a string key", self._pos)
        key, _ = self._value()
        if self._peek() != ":":
            raise self._error("expected ':' after an object key", self._pos)
        self._pos += 1
        self._peek()
        return key

    def _peek(self) -> str:
        """The next non-whitespace character (the cursor moves onto it), or "" at the end."""
        while True:
            match = _WHITESPACE.match(self._buffer, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill(1):
                return ""

    def _value(self) -> tuple[Any, str]:
        """Decode the value at the cursor, reading more text while it may be cut by the chunk end."""
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except RecursionError as exc:
                raise self._error("values nested too deeply", self._pos) from exc
            except json.JSONDecodeError as exc:
                if self._eof or not self._maybe_incomplete(exc):
                    raise self._error(exc.msg, exc.pos) from exc
                # doubling what is read keeps a record spanning many chunks linear to parse
                self._fill(max(len(self._buffer) - self._pos, 1))
                continue
            # a number at the very end of the buffer ("12", "0.", "1e") may go on in the next chunk
            if _is_number(value) and len(self._buffer) - end <= _NUMBER_TAIL and not self._eof:
                self._fill(1)  # moves the buffer: decode again from the cursor
                continue
            raw = self._buffer[self._pos : end]
            self._pos = end
            return value, raw

    def _maybe_incomplete(self, exc: json.JSONDecodeError) -> bool:
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self._buffer) - _INCOMPLETE_MARGIN

    def _fill(self, at_least: int) -> bool:
        """Append at least ``at_least`` characters of text (fewer at the end); False if none came."""
        if self._eof:
            return False
        self._line += self._buffer.count("\n", 0, self._pos)
        parts = [self._buffer[self._pos :]]
        self._pos = 0
        added = 0
        while added < at_least:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._eof = True
                break
            parts.append(chunk)
            added += len(chunk)
        self._buffer = "".join(parts)
        return added > 0

    def _error(self, problem: str, pos: int) -> MalformedSourceError:
        line = self._line + self._buffer.count("\n", 0, pos)
        near = self._buffer[pos : pos + 40]
        return MalformedSourceError(
            f"{self._source}: not valid JSON at line {line}: {problem} (near {near!r}); the file must be "
            "quarantined as a whole"
        )


# --- JSON Lines ---------------------------------------------------------------------------------


def _read_jsonl(inp: _TextInput) -> Iterator[SourceBatch]:
    sep = inp.fmt.flatten_sep
    lines = iter_lines(inp.text())
    records = (_jsonl_record(number, line, sep) for number, line in enumerate(lines, start=1))
    yield from _batches_of(records, _Tabulator(inp.source, inp.fmt, typed_values=True), inp.fmt.batch_rows)


def _jsonl_record(number: int, line: str, sep: str | None) -> _Record:
    if not line.strip():
        return _Record(number, line, blank=True)
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
        return _Record(number, line, rule=MALFORMED_RECORD_RULE, reason=reason)
    return _json_record(number, value, line, sep)


# --- XML ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XmlPath:
    """Which elements are records: ``steps`` from the root (``anchored``) or ending anywhere."""

    steps: tuple[str, ...]
    anchored: bool

    @classmethod
    def parse(cls, path: str | None) -> XmlPath:
        """``"/a/b"``, ``"//b"``, ``"//a/b"`` (local names, ``*`` for any); None: the root's children.

        :raises ConfigurationError: (field ``xml_record_path``) anything else.
        """
        if path is None:
            return cls(("*", "*"), anchored=True)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError("xml_record_path", path, "must be a path like '/orders/order' or '//order'")
        anchored = not path.startswith("//")
        steps = tuple(path[1 if anchored else 2 :].split("/"))
        if not all(_XML_STEP.match(step) for step in steps):
            raise ConfigurationError(
                "xml_record_path", path, "steps must be element names (no namespace prefix) or '*', with no predicates"
            )
        return cls(steps, anchored)

    def matches(self, stack: list[str]) -> bool:
        """Whether the element whose ancestry (root first) is ``stack`` is a record."""
        n = len(self.steps)
        if len(stack) < n or (self.anchored and len(stack) != n):
            return False
        return all(step in ("*", name) for step, name in zip(self.steps, stack[-n:], strict=True))

    def check_root(self, root: str, source: str) -> None:
        if self.anchored and self.steps[0] not in ("*", root):
            raise DataContractError(
                f"{source}: the root element is <{root}> but xml_record_path starts at <{self.steps[0]}>"
            )


class _Utf8Reader:
    """A binary file object over decoded text, encoded again as UTF-8 (what lxml is told to read)."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._data = b""
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._data):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._data, self._pos = chunk.encode("utf-8"), 0
        end = len(self._data) if size < 0 else self._pos + size
        out = self._data[self._pos : end]
        self._pos += len(out)
        return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_xml(inp: _TextInput) -> Iterator[SourceBatch]:
    tabulator = _Tabulator(inp.source, inp.fmt, typed_values=False)
    yield from _batches_of(_xml_records(inp), tabulator, inp.fmt.batch_rows)


def _xml_records(inp: _TextInput) -> Iterator[_Record]:
    """The records of an XML document, each element freed once read (bounded memory)."""
    from lxml import etree

    path = XmlPath.parse(inp.fmt.xml_record_path)
    stack: list[str] = []
    record_depth: int | None = None
    position = 0
    events = etree.iterparse(
        _Utf8Reader(inp.text()),
        events=("start", "end"),
        encoding="utf-8",  # the text was decoded already: the declaration's encoding no longer applies
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        for event, element in events:
            if event == "start":
                stack.append(_local(element.tag))
                if len(stack) == 1:
                    path.check_root(stack[0], inp.source)
                if record_depth is None and path.matches(stack):
                    record_depth = len(stack)
                continue
            if record_depth == len(stack):
                position += 1
                yield _xml_record(position, element, inp.fmt)
                record_depth = None
            if record_depth is None:
                _free(element)
            stack.pop()
    except etree.XMLSyntaxError as exc:
        raise MalformedSourceError(
            f"{inp.source}: not well-formed XML ({exc}) after {position} records; the file must be "
            "quarantined as a whole"
        ) from exc


def _free(element: etree._Element) -> None:
    """Drop an element's content and its earlier siblings: they have been read."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _xml_record(position: int, element: etree._Element, fmt: FileFormat) -> _Record:
    from lxml import etree

    raw = etree.tostring(element, encoding="unicode", with_tail=False)
    values: dict[str, Any] = {}
    try:
        _walk_element(element, "", values, fmt.flatten_sep, frozenset(fmt.null_values))
    except KeyCollisionError as exc:
        return _Record(position, raw, rule=DUPLICATE_COLUMN_RULE, reason=str(exc))
    return _Record(position, raw, values)


def _children(element: etree._Element) -> dict[str, list[etree._Element]]:
    """Child elements by local name, in document order (entity references are skipped)."""
    groups: dict[str, list[etree._Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            groups.setdefault(_local(child.tag), []).append(child)
    return groups


def _own_text(element: etree._Element, has_children: bool) -> str | None:
    """An element's text as a value: a bare leaf's even when empty, otherwise only non-blank text."""
    text = element.text
    if has_children or element.attrib:
        return text if text and text.strip() else None
    return text or ""


def _walk_element(
    element: etree._Element, prefix: str, out: dict[str, Any], sep: str | None, nulls: frozenset[str]
) -> None:
    for name, value in element.attrib.items():
        _put(out, f"{prefix}{sep}{_local(name)}" if prefix else _local(name), None if value in nulls else value)
    groups = _children(element)
    text = _own_text(element, bool(groups))
    if text is not None:
        _put(out, prefix or XML_TEXT_COLUMN, None if text in nulls else text)
    for tag, group in groups.items():
        key = f"{prefix}{sep}{tag}" if prefix else tag
        if len(group) > 1:
            _put(out, key, _json_text([_element_json(child) for child in group]))
        elif sep is not None or not (group[0].attrib or len(group[0])):
            _walk_element(group[0], key, out, sep, nulls)
        else:
            _put(out, key, _json_text(_element_json(group[0])))


def _element_json(element: etree._Element) -> Any:
    """An element as JSON data: a bare leaf is its text, others an object (text under "#text")."""
    groups = _children(element)
    text = _own_text(element, bool(groups))
    if not groups and not element.attrib:
        return text
    data: dict[str, Any] = {_local(name): value for name, value in element.attrib.items()}
    for tag, group in groups.items():
        data[tag] = [_element_json(c) for c in group] if len(group) > 1 else _element_json(group[0])
    if text is not None:
        data[XML_TEXT_COLUMN] = text
    return data


# --- HTML ---------------------------------------------------------------------------------------


def _read_html(inp: _TextInput) -> Iterator[SourceBatch]:
    # an HTML parser needs the whole document: this is the one format held in memory entirely
    table = _html_table(inp)
    types = inp.fmt.arrow_types()
    yielded = False
    for offset in range(0, table.num_rows, inp.fmt.batch_rows):
        yield _typed_batch(table.slice(offset, inp.fmt.batch_rows), inp.source, offset + 1, types)
        yielded = True
    if not yielded:
        yield _typed_batch(table, inp.source, 1, types)


def _html_table(inp: _TextInput) -> pa.Table:
    """The chosen table of the page as strings (nulls where ``null_values`` say), columns checked."""
    element_html = _select_html_table("".join(inp.text()), inp.fmt.html_table, inp.source)
    frame = _html_frame(element_html, inp.fmt.null_values, inp.source)
    names = _html_column_names(frame.columns, inp.fmt)
    columns = _check_file_columns(names, inp.fmt, inp.source)
    data = {
        name: pa.array([None if _is_missing(v) else str(v) for v in frame.iloc[:, i].tolist()], pa.string())
        for i, name in enumerate(names)
    }
    return pa.table(data).select(columns)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _select_html_table(text: str, choice: int | str, source: str) -> str:
    import lxml.html
    from lxml import etree

    try:
        document = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise MalformedSourceError(f"{source}: not a readable HTML document: {exc}") from exc
    tables = document.xpath("//table")
    if isinstance(choice, int):
        if choice >= len(tables):
            raise DataContractError(f"{source}: html_table={choice} but the page has {len(tables)} tables")
        return lxml.html.tostring(tables[choice], encoding="unicode")
    for table in tables:
        if choice in table.text_content():
            return lxml.html.tostring(table, encoding="unicode")
    raise DataContractError(f"{source}: no table of the {len(tables)} in the page contains {choice!r}")


def _html_frame(table_html: str, null_values: Sequence[str], source: str) -> pd.DataFrame:
    def parse(converters: dict[int, Callable[[str], str]] | None) -> pd.DataFrame:
        return pd.read_html(
            io.StringIO(table_html),
            flavor="lxml",
            thousands=None,
            keep_default_na=False,
            na_values=list(null_values),
            converters=converters,
        )[0]

    try:
        # the first pass counts the columns so that the second keeps every cell as text ("007")
        width = parse(None).shape[1]
        return parse(dict.fromkeys(range(width), str))
    except ValueError as exc:
        raise DataContractError(f"{source}: the selected table cannot be read: {exc}") from exc


def _html_column_names(columns: pd.Index, fmt: FileFormat) -> list[str]:
    if isinstance(columns, pd.MultiIndex):
        sep = fmt.flatten_sep or "."
        names = []
        for levels in columns:
            parts = [str(p) for p in levels if not str(p).startswith("Unnamed:")]
            names.append(sep.join(dict.fromkeys(parts)))
        return names
    if all(isinstance(name, int) for name in columns):
        # no header row: positional names, or the expected columns in file order
        if fmt.columns is not None and len(fmt.columns) == len(columns):
            return list(fmt.columns)
        return [str(name) for name in columns]
    return [str(name) for name in columns]


# --- Parquet ------------------------------------------------------------------------------------


def _open_parquet(stack: ExitStack, stream: IO[bytes], source: str, temp_dir: str | None) -> Any:
    import pyarrow.parquet as pq

    if not is_seekable(stream):
        # Parquet is read from its footer backwards: a stream has to be copied first
        stream = stack.enter_context(spooled(stream, temp_dir, ".parquet"))
    if is_empty(stream):
        raise EmptySourceError(f"{source}: the file is empty")
    try:
        return pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedSourceError(f"{source}: not a readable Parquet file: {exc}") from exc


def _check_parquet(stream: IO[bytes], source: str, temp_dir: str | None) -> None:
    with ExitStack() as stack:
        _open_parquet(stack, stream, source, temp_dir)


def _read_parquet(stream: IO[bytes], source: str, fmt: FileFormat, temp_dir: str | None) -> Iterator[SourceBatch]:
    with ExitStack() as stack:
        parquet = _open_parquet(stack, stream, source, temp_dir)
        columns = _check_file_columns(parquet.schema_arrow.names, fmt, source)
        types = fmt.arrow_types()
        position = 1
        for batch in _parquet_batches(parquet, columns, fmt.batch_rows, source):
            yield _typed_batch(pa.Table.from_batches([batch]), source, position, types)
            position += batch.num_rows
        if position == 1:
            empty = parquet.schema_arrow.empty_table().select(columns)
            yield _typed_batch(empty, source, 1, types)


def _parquet_batches(parquet: Any, columns: list[str], batch_rows: int, source: str) -> Iterator[pa.RecordBatch]:
    batches = parquet.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedSourceError(f"{source}: corrupt Parquet data: {exc}") from exc
        if batch is None:
            return
        yield batch


# --- option checks ------------------------------------------------------------------------------


def _check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigurationError(name, value, f"must be one of {list(choices)}")


def _check_records_path(path: object) -> None:
    if path is None:
        return
    if not isinstance(path, str) or not all(_JSON_KEY.match(key) for key in path.split(".")):
        raise ConfigurationError("records_path", path, "must be dotted keys like 'data.items'")


def _check_html_table(choice: object) -> None:
    if isinstance(choice, bool) or not isinstance(choice, int | str):
        raise ConfigurationError("html_table", choice, "must be a table index or a text the table contains")
    if isinstance(choice, int) and choice < 0:
        raise ConfigurationError("html_table", choice, "must be >= 0")
    if isinstance(choice, str) and not choice:
        raise ConfigurationError("html_table", choice, "must not be empty")
