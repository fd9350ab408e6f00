"""How a file is read (:class:`FileFormat`) and the one entry point for every kind of file.

:func:`read_source` detects compression and format from the name unless they are given, opens each
member of an archive, and hands the decompressed stream to the reader of its kind (the modules
beside this one); :func:`check_source` makes the whole-file checks in a cheaper pass. See the
package docstring for what each kind gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
)
from dataframe_pipeline.ingest.files.compression import (
    COMPRESSIONS,
    Member,
    decompress,
    iter_members,
    split_compression,
)
from dataframe_pipeline.ingest.files.csv.options import CsvOptions
from dataframe_pipeline.ingest.files.csv.reader import _read_csv
from dataframe_pipeline.ingest.files.encodings import (
    check_encoding_name,
)
from dataframe_pipeline.ingest.files.html import _read_html
from dataframe_pipeline.ingest.files.json import _JSON_KEY, _JsonScanner, _read_json, _read_jsonl, _records_path
from dataframe_pipeline.ingest.files.parquet import _check_parquet, _read_parquet
from dataframe_pipeline.ingest.files.text import _drain, _open_text, _TextInput
from dataframe_pipeline.ingest.files.xml import XmlPath, _read_xml, _xml_records

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    import pyarrow as pa

    from dataframe_pipeline.ingest.base import (
        SourceBatch,
    )


__all__ = ["KINDS", "FileFormat", "check_source", "detect_kind", "read_source", "read_stream"]


#: the formats :class:`FileFormat` knows ("auto": from the file name)
KINDS = ("auto", "csv", "tsv", "json", "jsonl", "xml", "html", "parquet")


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
    :param batch_rows: the most records (lines for CSV/TSV/JSON Lines) per batch; a CSV/TSV batch
        reads on to the end of a record whose quoted field spans its last line.
    :param max_record_lines: CSV/TSV: the most physical lines one record may span (line breaks in
        quoted fields); a longer record makes the file malformed (:class:`MalformedSourceError`).
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
    max_record_lines: int = 10_000

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
            max_record_lines=self.max_record_lines,
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
    :raises MalformedSourceError: broken syntax, corrupt compression, unsafe or corrupt archive, a
        CSV/TSV record spanning more than ``max_record_lines`` lines.
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
