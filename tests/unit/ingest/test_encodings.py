"""Tests of encodings: detection, byte-order marks, strict decoding with byte offsets, check_decodes.

Expected texts are written here and encoded with Python's codecs; offsets are computed from the
encoded bytes independently of the decoder.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json

import pyarrow as pa
import pytest

from dataframe_pipeline.exceptions import ConfigurationError, SourceDecodeError
from dataframe_pipeline.ingest.files.encodings import (
    CHUNK_BYTES,
    check_decodes,
    check_encoding_name,
    detect_encoding,
    iter_lines,
    iter_text,
    resolve_encoding,
    sniff_bom,
)
from dataframe_pipeline.ingest.files.format import FileFormat, read_source

pytestmark = pytest.mark.unit

WESTERN = (
    "id,name,city,note\n1,José,Besançon,crème brûlée\n2,Renée,Zürich,€5 “quoted” \u2013 dash\n3,Ægir,Århus,naïve\n"
)
ROWS = [
    ("1", "José", "Besançon", "crème brûlée"),
    ("2", "Renée", "Zürich", "€5 “quoted” \u2013 dash"),
    ("3", "Ægir", "Århus", "naïve"),
]
CYRILLIC = "id,name\n1,Привет мир, как дела сегодня\n2,Москва столица России\n"


def csv_values(data: bytes, name: str = "f.csv", **options: object) -> tuple[list[str], list[tuple[str, ...]]]:
    batches = list(read_source(io.BytesIO(data), name, FileFormat(**options)))
    table = pa.concat_tables(batch.table for batch in batches)
    columns = [c for c in table.column_names if not c.startswith("_source")]
    rows = list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    return columns, rows


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (codecs.BOM_UTF8 + b"a", "utf-8"),
        (codecs.BOM_UTF16_LE + "a".encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + "a".encode("utf-16-be"), "utf-16"),
        (codecs.BOM_UTF32_LE + "a".encode("utf-32-le"), "utf-32"),
        (codecs.BOM_UTF32_BE + "a".encode("utf-32-be"), "utf-32"),
        (b"a,b\n", None),
        (b"", None),
    ],
)
def test_sniff_bom(head: bytes, expected: str | None) -> None:
    assert sniff_bom(head) == expected


@pytest.mark.parametrize(
    ("text", "codec", "expected"),
    [
        (WESTERN, "cp1252", "cp1252"),
        ("a,b\n1,Müller\n", "cp1252", "cp1252"),
        ("price\n€5 “quoted”\n", "cp1252", "cp1252"),
        (WESTERN, "utf-8", "utf-8"),
        ("plain ascii,only\n", "ascii", "utf-8"),
        (WESTERN * 3000, "cp1252", "cp1252"),  # longer than the detection window
        (CYRILLIC, "cp1251", "cp1251"),
    ],
)
def test_detect_encoding(text: str, codec: str, expected: str) -> None:
    data = text.encode(codec)
    assert detect_encoding(data[: 64 * 1024], truncated=len(data) > 64 * 1024) == expected


def test_detect_utf8_when_the_window_cuts_a_character() -> None:
    data = ("x" * 9 + "é").encode("utf-8")  # é is 2 bytes: cut after its first byte
    assert detect_encoding(data[:10], truncated=True) == "utf-8"
    assert detect_encoding(data[:10]) != "utf-8"  # the whole file: the cut character is an error


def test_detect_honours_the_xml_declaration_only_for_xml() -> None:
    head = b'<?xml version="1.0" encoding="ISO-8859-15"?><r/>'
    assert detect_encoding(head, xml=True) == "iso8859-15"
    assert detect_encoding(head) == "utf-8"
    # a declaration readable as ASCII cannot be in UTF-16: the bytes decide
    assert detect_encoding(b'<?xml version="1.0" encoding="UTF-16"?><r/>', xml=True) == "utf-8"
    assert detect_encoding(b'<?xml version="1.0" encoding="no-such-codec"?><r/>', xml=True) == "utf-8"


def test_resolve_encoding_keeps_an_explicit_codec() -> None:
    assert resolve_encoding("latin-1", "é".encode(), "src") == "latin-1"
    assert resolve_encoding("AUTO", "é".encode("cp1252"), "src") == "cp1252"
    assert resolve_encoding(None, b"abc", "src") == "utf-8"


def test_resolve_encoding_fails_when_nothing_fits() -> None:
    binary = bytes(range(256)) * 10
    with pytest.raises(SourceDecodeError, match="src: not valid any detectable encoding at byte offset 0"):
        resolve_encoding("auto", binary, "src")


@pytest.mark.parametrize("bad", ["utf-99", "base64", 5])
def test_check_encoding_name_rejects(bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^encoding="):
        check_encoding_name(bad)


@pytest.mark.parametrize("good", [None, "auto", "Auto", "utf-8", "cp1252", "utf-16"])
def test_check_encoding_name_accepts(good: str | None) -> None:
    check_encoding_name(good)


@pytest.mark.parametrize("encoding", ["utf-8", "auto", None])
def test_utf8_bom_never_reaches_the_first_column_name(encoding: str | None) -> None:
    columns, rows = csv_values(codecs.BOM_UTF8 + WESTERN.encode("utf-8"), encoding=encoding)
    assert columns == ["id", "name", "city", "note"]
    assert rows == ROWS


@pytest.mark.parametrize(
    ("name", "document", "first_column"),
    [
        ("f.json", '[{"id": "1"}]', "id"),
        ("f.jsonl", '{"id": "1"}\n', "id"),
        ("f.xml", "<rows><row><id>1</id></row></rows>", "id"),
        ("f.html", "<table><tr><th>id</th></tr><tr><td>1</td></tr></table>", "id"),
        ("f.tsv", "id\tx\n1\t2\n", "id"),
    ],
)
def test_utf8_bom_in_other_formats(name: str, document: str, first_column: str) -> None:
    batches = list(read_source(io.BytesIO(codecs.BOM_UTF8 + document.encode()), name, FileFormat()))
    assert batches[0].table.column_names[0] == first_column
    assert batches[0].table.column(0).to_pylist() == ["1"]


@pytest.mark.parametrize("bom_codec", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
@pytest.mark.parametrize("encoding", ["utf-16", "auto"])
def test_utf16_with_bom(bom_codec: tuple[str, bytes], encoding: str) -> None:
    codec, bom = bom_codec
    columns, rows = csv_values(bom + WESTERN.encode(codec), encoding=encoding)
    assert columns == ["id", "name", "city", "note"]
    assert rows == ROWS


@pytest.mark.parametrize("encoding", ["cp1252", "auto"])
def test_cp1252_accented_text(encoding: str) -> None:
    columns, rows = csv_values(WESTERN.encode("cp1252"), encoding=encoding)
    assert columns == ["id", "name", "city", "note"]
    assert rows == ROWS


def test_latin1_text() -> None:
    text = "id,name\n1,Ærøskøbing\n"
    assert csv_values(text.encode("latin-1"), encoding="latin-1")[1] == [("1", "Ærøskøbing")]


def test_cp1252_read_as_utf8_fails_with_the_offset() -> None:
    data = WESTERN.encode("cp1252")
    offset = data.index("é".encode("cp1252"))
    with pytest.raises(SourceDecodeError, match=rf"f.csv: not valid utf-8 at byte offset {offset}:") as info:
        csv_values(data, encoding="utf-8")
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("f.json", '[{"a": "ok"}, {"a": "X"}]'),
        ("f.jsonl", '{"a": "ok"}\n{"a": "X"}\n'),
        ("f.xml", "<r><a>ok</a><a>X</a></r>"),
        ("f.html", "<table><tr><th>a</th></tr><tr><td>ok</td></tr><tr><td>X</td></tr></table>"),
        ("f.csv", "a\nok\nX\n"),
    ],
)
def test_undecodable_bytes_raise_with_the_offset_in_every_text_format(name: str, document: str) -> None:
    data = document.encode("utf-8").replace(b"X", b"\xff")
    with pytest.raises(SourceDecodeError) as info:
        list(read_source(io.BytesIO(data), name, FileFormat()))
    assert info.value.offset == data.index(b"\xff")
    assert info.value.source == name


def test_offset_of_a_bad_byte_far_into_the_file_and_split_across_chunks() -> None:
    # a 2-byte character straddles the chunk boundary, then an invalid byte further on
    body = b"a" * (CHUNK_BYTES - 1) + "é".encode() + b"b" * 1000
    bad = body + b"\xc3\x28" + b"tail"
    with pytest.raises(SourceDecodeError) as info:
        check_decodes(io.BytesIO(bad), "utf-8", "big.txt")
    assert info.value.offset == len(body)
    check_decodes(io.BytesIO(body), "utf-8", "big.txt")  # the same without the bad byte decodes


def test_offset_counts_in_the_decompressed_stream() -> None:
    data = b"a,b\n" + b"1,2\n" * 1000 + b"3,\xff\n"
    with pytest.raises(SourceDecodeError) as info:
        list(read_source(io.BytesIO(gzip.compress(data)), "f.csv.gz", FileFormat()))
    assert info.value.offset == data.index(b"\xff")


def test_check_decodes_passes_valid_files_in_any_encoding() -> None:
    check_decodes(io.BytesIO(codecs.BOM_UTF16_LE + WESTERN.encode("utf-16-le")), "utf-16")
    check_decodes(io.BytesIO(WESTERN.encode("cp1252")), "auto")
    check_decodes(io.BytesIO(WESTERN.encode("cp1252")), None)
    check_decodes(io.BytesIO(b""), "utf-8")


def test_check_decodes_raises_for_undecodable_bytes() -> None:
    data = WESTERN.encode("cp1252")
    with pytest.raises(SourceDecodeError) as info:
        check_decodes(io.BytesIO(data), "utf-8", "s3://b/f.csv")
    assert info.value.offset == data.index("é".encode("cp1252"))
    assert "s3://b/f.csv: not valid utf-8" in str(info.value)


def test_check_decodes_rejects_a_bad_encoding_name() -> None:
    with pytest.raises(ConfigurationError, match=r"^encoding='nope'"):
        check_decodes(io.BytesIO(b"a"), "nope")


def test_iter_text_strips_the_bom_once() -> None:
    data = codecs.BOM_UTF8 + "\ufeffkept".encode()
    assert "".join(iter_text(io.BytesIO(data), "utf-8", "s", chunk_bytes=2)) == "\ufeffkept"


def test_iter_lines_with_crlf_split_across_chunks() -> None:
    chunks = iter(["a\r", "\nb\n", "\r\nc", "\r"])
    assert list(iter_lines(chunks)) == ["a", "b", "", "c"]


def test_json_in_utf16_and_cp1252() -> None:
    records = [{"name": "José", "price": "€5"}]
    for codec, data in [
        ("utf-16", codecs.BOM_UTF16_BE + json.dumps(records, ensure_ascii=False).encode("utf-16-be")),
        ("cp1252", json.dumps(records, ensure_ascii=False).encode("cp1252")),
    ]:
        batches = list(read_source(io.BytesIO(data), "f.json", FileFormat(encoding="auto")))
        assert batches[0].table.select(["name", "price"]).to_pylist() == records, codec


def test_xml_declared_encoding_is_used_when_detecting() -> None:
    data = '<?xml version="1.0" encoding="windows-1252"?><r><row><o>José €</o></row></r>'.encode("cp1252")
    batches = list(read_source(io.BytesIO(data), "f.xml", FileFormat(encoding="auto")))
    assert batches[0].table.column("o").to_pylist() == ["José €"]


def test_xml_in_utf16_with_bom() -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><r><o a="é">x</o></r>'
    data = codecs.BOM_UTF16_LE + xml.encode("utf-16-le")
    batches = list(read_source(io.BytesIO(data), "f.xml", FileFormat(encoding="auto")))
    # the record element's own text is the "#text" column
    assert batches[0].table.select(["a", "#text"]).to_pylist() == [{"a": "é", "#text": "x"}]
