"""Compressed sources as plain byte streams: gzip, bz2, zstd, and zip archives member by member.

:func:`iter_members` turns one source file object into the binary streams to parse: the file itself,
its decompressed content (gzip, bz2, zstd), or one stream per file member of a zip archive (named
``archive.zip!member.csv``). Everything streams; nothing is extracted to disk. Only a zip archive
on a non-seekable stream is copied to a temporary file first (the zip directory is at the end of
the file), in the given ``temp_dir``, deleted when the iteration ends.

Zip members are checked before any is opened: a member with an absolute path or a ``..`` component
(zip-slip) or an encrypted member makes the whole archive refused with
:class:`UnsafeArchiveMemberError`. Corrupt compressed data raises :class:`MalformedSourceError` when
it is met; I/O errors of the underlying file propagate unchanged so that retries apply.
"""

from __future__ import annotations

import bz2
import gzip
import io
import re
import shutil
import tempfile
import zipfile
import zlib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, cast

import zstandard

from dataframe_pipeline.exceptions import (
    EmptySourceError,
    MalformedSourceError,
    UnsafeArchiveMemberError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from _typeshed import WriteableBuffer

#: compression names accepted by :class:`~dataframe_pipeline.ingest.formats.FileFormat`
COMPRESSIONS = ("auto", "none", "gzip", "bz2", "zip", "zstd")
_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zip": "zip", ".zst": "zstd", ".zstd": "zstd"}
_COPY_BYTES = 1 << 20
# compressed bytes fed to zstd per call: bounds the output of one call (zstd expands at most ~32000x)
_ZSTD_INPUT_BYTES = 1 << 14
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Member:
    """One stream to parse: a plain or decompressed file, or one member of a zip archive.

    :param source: the name recorded in ``_source_file`` (``archive.zip!member.csv`` for members).
    :param name: the name the format is detected from (the member name inside an archive).
    :param stream: the decompressed bytes, read sequentially.
    :param compression: the compression that was removed ("none" for a plain file).
    """

    source: str
    name: str
    stream: IO[bytes]
    compression: str


def split_compression(name: str) -> tuple[str, str]:
    """``("data.csv", "gzip")`` for ``"data.csv.gz"``; ``(name, "none")`` without a known extension.

    :param name: a file name, path or URI (a URL's query string and fragment are ignored).
    """
    base = name.split("?", 1)[0].split("#", 1)[0] if "://" in name else name
    lowered = base.lower()
    for extension, compression in _EXTENSIONS.items():
        if lowered.endswith(extension):
            return base[: -len(extension)], compression
    return base, "none"


def iter_members(fileobj: IO[bytes], source: str, compression: str, temp_dir: str | None = None) -> Iterator[Member]:
    """The streams of a source; each is closed when the iteration moves on (or stops).

    :param fileobj: the source, a binary file object (not closed here).
    :param source: its name, for ``_source_file`` and error messages.
    :param compression: "none", "gzip", "bz2", "zstd" or "zip" (resolve "auto" with
        :func:`split_compression` first).
    :param temp_dir: where a non-seekable zip archive is copied (default: the system temp dir).
    :raises EmptySourceError: the file has no bytes, or an archive has no file member.
    :raises UnsafeArchiveMemberError: an archive member is unsafe (raised before any member is read).
    :raises MalformedSourceError: the archive or compressed data is corrupt.
    """
    if compression == "zip":
        yield from _zip_members(fileobj, source, temp_dir)
        return
    name = split_compression(source)[0]
    if compression == "none" and is_seekable(fileobj):
        # handed on as it is, so that formats needing seeks (Parquet) can use it directly
        if is_empty(fileobj):
            raise EmptySourceError(f"{source}: the file is empty")
        yield Member(source, name, fileobj, compression)
        return
    head, stream = peek(fileobj, 1)
    if not head:
        raise EmptySourceError(f"{source}: the file is empty")
    with decompress(stream, source, compression) as plain:
        yield Member(source, name, plain, compression)


def is_seekable(stream: IO[bytes]) -> bool:
    """Whether ``stream`` can seek (file objects without a ``seekable`` method cannot)."""
    seekable = getattr(stream, "seekable", None)
    return bool(seekable and seekable())


def is_empty(stream: IO[bytes]) -> bool:
    """Whether a seekable stream has no bytes left; its position is kept."""
    start = stream.tell()
    empty = not stream.read(1)
    stream.seek(start)
    return empty


@contextmanager
def decompress(stream: IO[bytes], source: str, compression: str) -> Iterator[IO[bytes]]:
    """A stream of the decompressed bytes of ``stream`` ("gzip", "bz2" or "zstd"; "none": as is)."""
    if compression == "none":
        yield stream
        return
    openers: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
        "gzip": lambda raw: _as_stream(gzip.GzipFile(fileobj=raw, mode="rb")),
        "bz2": lambda raw: _as_stream(bz2.BZ2File(raw, mode="rb")),
        "zstd": lambda raw: _as_stream(_ZstdReader(raw, source)),
    }
    if compression not in openers:
        raise ValueError(f"{source}: cannot decompress {compression!r} as a single stream")
    with openers[compression](stream) as inner:
        yield _as_stream(_GuardedReader(inner, source, compression))


def peek(stream: IO[bytes], size: int) -> tuple[bytes, IO[bytes]]:
    """The first ``size`` bytes (fewer at the end) and a stream that reads them again, then the rest."""
    head = read_upto(stream, size)
    return head, _as_stream(_ReplayReader(head, stream))


def read_upto(stream: IO[bytes], size: int) -> bytes:
    """Read until ``size`` bytes or the end (a single ``read`` may return less than asked)."""
    parts: list[bytes] = []
    missing = size
    while missing > 0:
        chunk = stream.read(missing)
        if not chunk:
            break
        parts.append(bytes(chunk))
        missing -= len(chunk)
    return b"".join(parts)


@contextmanager
def spooled(stream: IO[bytes], temp_dir: str | None, suffix: str = "") -> Iterator[IO[bytes]]:
    """A seekable copy of ``stream`` in a temporary file of ``temp_dir``, removed on exit."""
    with tempfile.NamedTemporaryFile(dir=temp_dir, prefix="ingest-", suffix=suffix, delete=True) as copy:
        shutil.copyfileobj(stream, copy, _COPY_BYTES)
        copy.flush()
        copy.seek(0)
        yield copy


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name is unsafe to use as a path (zip-slip), or None if it is safe."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in the path"
    return None


# --- zip ----------------------------------------------------------------------------------------


def _zip_members(fileobj: IO[bytes], source: str, temp_dir: str | None) -> Iterator[Member]:
    with ExitStack() as stack:
        archive = stack.enter_context(_open_zip(stack, fileobj, source, temp_dir))
        for info in _checked_infos(archive, source):
            try:
                raw = archive.open(info)
            except (zipfile.BadZipFile, NotImplementedError, zlib.error) as exc:
                raise MalformedSourceError(f"{source}: cannot open archive member {info.filename!r}: {exc}") from exc
            with raw:
                yield Member(
                    f"{source}!{info.filename}", info.filename, _as_stream(_GuardedReader(raw, source, "zip")), "zip"
                )


@contextmanager
def _open_zip(stack: ExitStack, fileobj: IO[bytes], source: str, temp_dir: str | None) -> Iterator[zipfile.ZipFile]:
    if not is_seekable(fileobj):
        # the zip directory is at the end of the file: a stream has to be copied before reading
        fileobj = stack.enter_context(spooled(fileobj, temp_dir, ".zip"))
    if is_empty(fileobj):
        raise EmptySourceError(f"{source}: the file is empty")
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise MalformedSourceError(f"{source}: not a readable zip archive: {exc}") from exc
    with archive:
        yield archive


def _checked_infos(archive: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    """The file members, after checking every name: an archive is refused before anything is read."""
    infos = [info for info in archive.infolist() if not info.is_dir()]
    for info in archive.infolist():
        reason = unsafe_member_reason(info.filename)
        if reason:
            raise UnsafeArchiveMemberError(
                f"{source}: refusing archive member {info.filename!r}: {reason} (zip-slip); the archive is not read"
            )
        if info.flag_bits & 0x1:
            raise UnsafeArchiveMemberError(f"{source}: archive member {info.filename!r} is encrypted")
    if not infos:
        raise EmptySourceError(f"{source}: the archive has no file members")
    return infos


# --- readers ------------------------------------------------------------------------------------


def _as_stream(reader: io.IOBase) -> IO[bytes]:
    """``reader`` typed as the binary file object it is: typeshed does not declare the ``io`` classes
    (``RawIOBase``, ``GzipFile``, ``BZ2File``) as ``IO[bytes]``, though they provide its interface."""
    return cast("IO[bytes]", reader)


class _ReplayReader(io.RawIOBase):
    """Reads ``head`` again, then the rest of ``rest`` (what :func:`peek` returns)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        n = min(len(target), len(self._head))
        target[:n] = self._head[:n]
        self._head = self._head[n:]
        if n < len(target):
            # readers like GzipFile expect a small read (its 2-byte magic) to be served in full
            data = self._rest.read(len(target) - n)
            target[n : n + len(data)] = data
            n += len(data)
        return n


class _GuardedReader(io.RawIOBase):
    """Turns the decompressors' errors about corrupt data into :class:`MalformedSourceError`."""

    def __init__(self, inner: IO[bytes], source: str, compression: str) -> None:
        self._inner = inner
        self._source = source
        self._compression = compression

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(target))
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile, zstandard.ZstdError) as exc:
            raise MalformedSourceError(f"{self._source}: corrupt {self._compression} data: {exc}") from exc
        except OSError as exc:
            # bz2 reports corrupt data as a bare OSError without errno; real I/O errors carry one
            if self._compression == "bz2" and exc.errno is None and "Invalid data stream" in str(exc):
                raise MalformedSourceError(f"{self._source}: corrupt bz2 data: {exc}") from exc
            raise
        n = len(data)
        target[:n] = data
        return n


class _ZstdReader(io.RawIOBase):
    """Zstandard frames, one after the other; a truncated frame is an error (not a silent end)."""

    def __init__(self, raw: IO[bytes], source: str) -> None:
        self._raw = raw
        self._source = source
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending and not self._eof:
            self._pending = self._next_output()
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_output(self) -> bytes:
        chunk = self._raw.read(_ZSTD_INPUT_BYTES)
        if not chunk:
            self._eof = True
            if self._in_frame:
                raise zstandard.ZstdError("truncated: the data ends inside a frame")
            return b""
        output = []
        while chunk:
            output.append(self._frame.decompress(chunk))
            self._in_frame = True
            chunk = b""
            if self._frame.eof:
                # the next frame starts in the bytes left over from this one
                chunk = self._frame.unused_data
                self._frame = self._decompressor.decompressobj()
                self._in_frame = False
        return b"".join(output)
