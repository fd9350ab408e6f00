"""Text encodings of ingested files: detection, strict streaming decoding, and a cheap pre-check.

Decoding is strict: bytes that do not decode raise
:class:`~dataframe_pipeline.ingest.csv_reader.SourceDecodeError` with the byte offset (in the
decompressed stream), never replacement characters. A leading byte-order mark is always removed,
so the first column name never carries one.

Detection (``encoding`` None or ``"auto"``) looks at the first :data:`DETECT_BYTES` bytes:

1. a byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. for XML, the ``encoding`` of the XML declaration;
3. bytes that are valid UTF-8 (pure ASCII included) are UTF-8;
4. bytes that decode as cp1252 and read as Western European text (accented letters inside mostly
   ASCII words, as in "José" or "Besançon") are cp1252: charset-normalizer alone often names
   another single-byte code page for such short samples;
5. otherwise charset-normalizer's best guess (e.g. cp1251 for Cyrillic, cp932 for Japanese).

A file that is valid in the detected encoding for its first bytes may still fail later (e.g. a
cp1252 byte after 64 KB of ASCII): that raises ``SourceDecodeError`` like any decoding error.
"""

from __future__ import annotations

import codecs
import re
from typing import IO, TYPE_CHECKING

from dataframe_pipeline.exceptions import ConfigurationError, SourceDecodeError
from dataframe_pipeline.ingest.files.compression import peek

if TYPE_CHECKING:
    from collections.abc import Iterator

#: how many bytes detection looks at
DETECT_BYTES = 64 * 1024
#: bytes read per decoding step
CHUNK_BYTES = 64 * 1024
_BOM = "\ufeff"
# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_WORD = re.compile(r"[^\W\d_]+")
# in Western European text most letters of a word with an accent are still ASCII ("Besançon")
_WESTERN_MAX_ACCENTED_SHARE = 0.5
_MIN_WORD_LETTERS = 3


def is_auto(encoding: str | None) -> bool:
    """Whether ``encoding`` asks for detection (None or "auto")."""
    return encoding is None or encoding.lower() == "auto"


def check_encoding_name(encoding: object, field: str = "encoding") -> None:
    """Raise :class:`ConfigurationError` unless ``encoding`` is None, "auto" or a text codec name."""
    if encoding is None:
        return
    if not isinstance(encoding, str):
        raise ConfigurationError(field, encoding, "must be a codec name, 'auto' or None")
    if is_auto(encoding):
        return
    try:
        # encoding text proves it is a text codec (not e.g. base64) that Python knows
        "\n".encode(encoding)
    except LookupError as exc:
        raise ConfigurationError(field, encoding, f"unknown text encoding ({exc})") from exc


def sniff_bom(head: bytes) -> str | None:
    """The codec a byte-order mark at the start of ``head`` announces, or None."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def detect_encoding(head: bytes, xml: bool = False, truncated: bool = False) -> str | None:
    """Guess the codec of a file from its first bytes (see the module docstring for the order).

    :param head: the first bytes of the file (about :data:`DETECT_BYTES`).
    :param xml: whether to honour an XML declaration's ``encoding``.
    :param truncated: whether the file goes on after ``head`` (its last character may be cut).
    :returns: a Python codec name ("utf-8" when ``head`` is empty), or None when nothing fits.
    """
    declared = _xml_declared(head) if xml else None
    for guess in (sniff_bom(head), declared):
        if guess:
            return guess
    # NUL bytes are valid UTF-8 but mean UTF-16/32 without a byte-order mark (or binary data)
    if b"\x00" not in head:
        if _decodes(head, "utf-8", truncated):
            return "utf-8"
        if _decodes(head, "cp1252", truncated) and _reads_western(head.decode("cp1252")):
            return "cp1252"
    return _charset_normalizer_guess(head)


def resolve_encoding(encoding: str | None, head: bytes, source: str, xml: bool = False) -> str:
    """``encoding`` itself, or the one detected from ``head`` when it is None or "auto".

    :raises SourceDecodeError: detection found no encoding that fits (e.g. binary data).
    """
    if not is_auto(encoding):
        return str(encoding)
    detected = detect_encoding(head, xml=xml, truncated=len(head) >= DETECT_BYTES)
    if detected is None:
        raise SourceDecodeError(source, 0, "any detectable encoding", "no text encoding fits the first bytes")
    return detected


def iter_text(stream: IO[bytes], encoding: str, source: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Decode ``stream`` strictly, chunk by chunk, without a leading byte-order mark.

    :raises SourceDecodeError: with the byte offset of the first byte that does not decode.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    at_start = True
    while True:
        chunk = stream.read(chunk_bytes)
        # bytes the decoder still holds from the previous chunk start the data an error points into
        held = len(decoder.getstate()[0])
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise SourceDecodeError(source, offset - held + exc.start, encoding, exc.reason) from exc
        offset += len(chunk)
        if at_start and text:
            # utf-8 and explicit-endian utf-16 codecs leave the byte-order mark in the text
            text = text.removeprefix(_BOM)
            at_start = False
        if text:
            yield text
        if not chunk:
            return


def iter_lines(chunks: Iterator[str]) -> Iterator[str]:
    """Physical lines of decoded text, without their LF or CRLF ending."""
    pending = ""
    for text in chunks:
        # splitting after joining the pending tail also catches a CRLF split across chunks
        lines = (pending + text).split("\n")
        pending = lines.pop()
        for line in lines:
            yield line.removesuffix("\r")
    if pending:
        yield pending.removesuffix("\r")


def check_decodes(fileobj: IO[bytes], encoding: str | None, source: str = "<stream>") -> None:
    """Read ``fileobj`` to the end and raise if it does not decode; keeps nothing in memory.

    Lets an operator reject a whole file before ingesting any row of it.

    :param fileobj: a binary stream of the (decompressed) file; read to the end, not closed.
    :param encoding: a codec name, or None / "auto" to detect it from the first bytes.
    :param source: the file's name for the error message.
    :raises SourceDecodeError: with the byte offset of the first byte that does not decode.
    """
    check_encoding_name(encoding)
    head, stream = peek(fileobj, DETECT_BYTES)
    for _ in iter_text(stream, resolve_encoding(encoding, head, source), source):
        pass


def _xml_declared(head: bytes) -> str | None:
    match = _XML_DECLARATION.match(head)
    if not match:
        return None
    name = match.group(1).decode("ascii")
    try:
        # the declaration was just read as ASCII: a codec that does not read it so (UTF-16 without
        # a byte-order mark) cannot be the file's
        return codecs.lookup(name).name if "<?xml".encode(name) == b"<?xml" else None
    except (LookupError, UnicodeError):
        return None


def _decodes(head: bytes, encoding: str, truncated: bool) -> bool:
    """Whether ``head`` decodes (allowing a character cut at its end when ``truncated``)."""
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(head, final=not truncated)
    except UnicodeDecodeError:
        return False
    return True


def _reads_western(text: str) -> bool:
    """Whether the non-ASCII letters sit inside mostly ASCII words, as in Western European text.

    Cyrillic or Greek bytes read as cp1252 turn into whole words of accented Latin letters. Words
    shorter than 3 letters ("à", "où") say little either way and are not counted.
    """
    letters = accented = 0
    for word in _WORD.findall(text):
        n_accented = sum(1 for ch in word if not ch.isascii())
        if n_accented and len(word) >= _MIN_WORD_LETTERS:
            letters += len(word)
            accented += n_accented
    # no accented word at all: only symbols such as the euro sign or typographic quotes
    return letters == 0 or accented / letters <= _WESTERN_MAX_ACCENTED_SHARE


def _charset_normalizer_guess(head: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    return None if best is None else codecs.lookup(best.encoding).name
