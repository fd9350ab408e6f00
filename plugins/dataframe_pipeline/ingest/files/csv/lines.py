"""Physical lines of a text file, decoded strictly (a decoding error raises with its byte offset)."""

from __future__ import annotations

import codecs
import io
import os
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from dataframe_pipeline.exceptions import (
    SourceDecodeError,
    SourceNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


_READ_CHUNK_BYTES = 1 << 20


_BOM = "\ufeff"


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
