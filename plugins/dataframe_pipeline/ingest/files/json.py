"""JSON documents and JSON Lines files as records.

A JSON document is a top-level array of objects, or the array at ``records_path`` ("data.items") in
a top-level object, parsed one record at a time (``json.JSONDecoder.raw_decode`` over decoded
chunks, so memory is bounded by the largest record). JSON Lines holds one object per line; a line
that is not an object is quarantined, blank lines are dropped by rule. Records are flattened,
typed and rejected by the shared record layer (:mod:`dataframe_pipeline.ingest.records`).

**Repeated keys.** Objects are decoded with the record layer's ``object_pairs_hook``: a record
holding a key twice at any depth is quarantined under ``duplicate_key`` with its text as written
(both values); a key repeated outside the records (in the objects around ``records_path``, or in a
value beside it) makes the document ambiguous and raises :class:`MalformedSourceError`, so the file
is quarantined whole rather than read with one of the values picked.

**Why a hand-written scanner and not ijson.** The reader needs each record's value, its raw text
(the quarantine's evidence), repeated-key detection and ``records_path``. ijson (3.6.0, yajl2_c
backend) gives values only: no source offsets, so no raw text (only a re-serialisation, which
changes numbers and spacing), and repeated keys only through a ``map_type`` whose Python
``__setitem__`` runs for every key. Measured on the benchmark's 1,000,000-record JSON array
(``include/benchmarks/bench_ingest.py`` data, 130 MB, one process per timing, 3 alternating rounds,
CPU seconds on a shared 2-core machine under load ~4): this scanner (values, raw text, repeated
keys) 5.3-5.7 s; ``ijson.items`` values only 3.2-3.5 s; ijson with repeated-key detection 5.9-7.5 s;
ijson with repeated-key detection and re-serialised text 10.5-14.5 s. ijson is faster only when it
does less than the reader needs, and cannot give the text as written at any speed: the scanner stays.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import (
    DataContractError,
    MalformedSourceError,
    RepeatedKeyError,
)
from dataframe_pipeline.ingest.files.encodings import (
    iter_lines,
)
from dataframe_pipeline.ingest.records.flatten import _Record
from dataframe_pipeline.ingest.records.keys import MARKED_KEYS, UNIQUE_KEYS, _repeated_key, decode_json
from dataframe_pipeline.ingest.records.rules import MALFORMED_RECORD_RULE
from dataframe_pipeline.ingest.records.tabulate import _batches_of, _Tabulator

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dataframe_pipeline.ingest.base import (
        SourceBatch,
    )
    from dataframe_pipeline.ingest.files.format import FileFormat
    from dataframe_pipeline.ingest.files.text import _TextInput


_JSON_KEY = re.compile(r"^[^.]+$")


_WHITESPACE = re.compile(r"[ \t\n\r]*")


# a JSONDecodeError this close to the end of the buffer may only mean the value goes on (an escape
# like "\u00" or a literal like "tru" cut by the chunk boundary is at most 6 characters short)
_INCOMPLETE_MARGIN = 16


# a number parsed this close to the buffer's end may be cut: "1e+" parses as 1, 2 characters short
_NUMBER_TAIL = 2


def _records_path(fmt: FileFormat) -> list[str]:
    return fmt.records_path.split(".") if fmt.records_path else []


def _read_json(inp: _TextInput) -> Iterator[SourceBatch]:
    scanner = _JsonScanner(inp.text(), inp.source)
    tabulator = _Tabulator(inp.source, inp.fmt, typed_values=True)
    records = (
        # scanner.repeated is about the value just yielded: the generator is paused on it
        tabulator.json_record(position, value, raw, repeated=scanner.repeated)
        for position, (value, raw) in enumerate(scanner.records(_records_path(inp.fmt)), start=1)
    )
    yield from _batches_of(records, tabulator, inp.fmt.batch_rows)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _JsonScanner:
    """Reads the records of a JSON document one at a time from decoded text chunks.

    Only the text not yet parsed is kept (plus the record being parsed), so memory is bounded by
    the largest record, whatever the size of the document. Values beside the records path are
    parsed and dropped. After each value :attr:`repeated` tells whether an object in it holds a key
    twice (those objects are then ``_RepeatedKeys``); a key repeated outside the records raises
    :class:`MalformedSourceError`: the document is ambiguous.
    """

    def __init__(self, chunks: Iterator[str], source: str) -> None:
        self._chunks = chunks
        self._source = source
        #: whether the last value read holds an object with a repeated key
        self.repeated = False
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
        if self._peek() == "}":
            self._pos += 1
            raise DataContractError(f"{self._source}: records_path {full!r}: no key {path[0]!r}")
        where = full.split(".")[: len(full.split(".")) - len(path)]
        seen: set[str] = set()
        while True:
            key = self._key()
            if key in seen:
                raise self._ambiguous(".".join([*where, key]))
            seen.add(key)
            if key == path[0]:
                yield from self._descend(path, full)
            else:
                value, _ = self._value()
                found = _repeated_key(value, path=".".join([*where, key])) if self.repeated else None
                if found is not None:
                    raise self._ambiguous(found[0])
            separator = self._peek()
            self._pos += 1
            if separator == "}":
                break
            if separator != ",":
                raise self._error("expected ',' or '}' after an object member", self._pos - 1)
        if path[0] not in seen:
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
        decoder = UNIQUE_KEYS
        while True:
            try:
                value, end = decoder.raw_decode(self._buffer, self._pos)
            except RepeatedKeyError:
                decoder = MARKED_KEYS  # the rare case: decode again, keeping the evidence
                continue
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
            self.repeated = decoder is MARKED_KEYS
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

    def _ambiguous(self, path: str) -> MalformedSourceError:
        return MalformedSourceError(
            f"{self._source}: the key {path!r} is repeated outside the records (records_path): the document "
            "is ambiguous, no value can be chosen; the file must be quarantined as a whole"
        )

    def _error(self, problem: str, pos: int) -> MalformedSourceError:
        line = self._line + self._buffer.count("\n", 0, pos)
        near = self._buffer[pos : pos + 40]
        return MalformedSourceError(
            f"{self._source}: not valid JSON at line {line}: {problem} (near {near!r}); the file must be "
            "quarantined as a whole"
        )


def _read_jsonl(inp: _TextInput) -> Iterator[SourceBatch]:
    tabulator = _Tabulator(inp.source, inp.fmt, typed_values=True)
    lines = iter_lines(inp.text())
    records = (_jsonl_record(tabulator, number, line) for number, line in enumerate(lines, start=1))
    yield from _batches_of(records, tabulator, inp.fmt.batch_rows)


def _jsonl_record(tabulator: _Tabulator, number: int, line: str) -> _Record:
    if not line.strip():
        return _Record(number, line, blank=True)
    try:
        value, repeated = decode_json(line)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
        return _Record(number, line, rule=MALFORMED_RECORD_RULE, reason=reason)
    except RecursionError:
        return _Record(number, line, rule=MALFORMED_RECORD_RULE, reason="not valid JSON: values nested too deeply")
    return tabulator.json_record(number, value, line, repeated=repeated)
