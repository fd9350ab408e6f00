"""A text file about to be parsed: its stream (head replayed), name, format and resolved encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from dataframe_pipeline.exceptions import (
    EmptySourceError,
)
from dataframe_pipeline.ingest.files.compression import (
    peek,
)
from dataframe_pipeline.ingest.files.encodings import (
    DETECT_BYTES,
    iter_text,
    resolve_encoding,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from dataframe_pipeline.ingest.files.format import FileFormat


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
