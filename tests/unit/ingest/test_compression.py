"""Tests of the compressed-stream layer: each codec round-trips, corrupt data and unsafe archives fail.

The oracle is the standard library (and ``zstandard``) compressing known bytes; what
:func:`iter_members` yields must be those bytes exactly.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import random
import zipfile
from typing import TYPE_CHECKING

import pytest
import zstandard

from dataframe_pipeline.exceptions import EmptySourceError, MalformedSourceError, UnsafeArchiveMemberError
from dataframe_pipeline.ingest.files.compression import (
    iter_members,
    peek,
    read_upto,
    split_compression,
    unsafe_member_reason,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.unit

# larger than every internal chunk (1 MiB copies, 16 KiB zstd input) so boundaries are crossed
PAYLOAD = bytes(random.Random(7).getrandbits(8) for _ in range(300_000)) + b"line\n" * 300_000


class NonSeekable(io.RawIOBase):
    """A stream that cannot seek, like an HTTP response body."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data)
    if compression == "bz2":
        return bz2.compress(data)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def read_members(
    data: bytes | io.RawIOBase, source: str, compression: str, **kwargs: str
) -> list[tuple[str, str, bytes]]:
    fileobj = io.BytesIO(data) if isinstance(data, bytes) else data
    return [
        (member.source, member.name, member.stream.read())
        for member in iter_members(fileobj, source, compression, **kwargs)
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("data.csv", ("data.csv", "none")),
        ("data.csv.gz", ("data.csv", "gzip")),
        ("DATA.JSON.GZIP", ("DATA.JSON", "gzip")),
        ("x.xml.bz2", ("x.xml", "bz2")),
        ("archive.zip", ("archive", "zip")),
        ("a.parquet.zst", ("a.parquet", "zstd")),
        ("a.jsonl.zstd", ("a.jsonl", "zstd")),
        ("s3://bucket/path/data.csv.gz", ("s3://bucket/path/data.csv", "gzip")),
        ("https://host/export.json.gz?token=x#frag", ("https://host/export.json", "gzip")),
        ("noextension", ("noextension", "none")),
        ("data.gz.csv", ("data.gz.csv", "none")),
    ],
)
def test_split_compression(name: str, expected: tuple[str, str]) -> None:
    assert split_compression(name) == expected


@pytest.mark.parametrize("compression", ["none", "gzip", "bz2", "zstd"])
def test_single_stream_round_trip(compression: str) -> None:
    members = read_members(compress(PAYLOAD, compression), "s3://b/data.bin", compression)
    assert len(members) == 1
    source, _name, data = members[0]
    assert source == "s3://b/data.bin"
    assert data == PAYLOAD


@pytest.mark.parametrize("compression", ["none", "gzip", "bz2", "zstd"])
def test_single_stream_from_a_non_seekable_stream(compression: str) -> None:
    members = read_members(NonSeekable(compress(PAYLOAD, compression)), "data", compression)
    assert [data for _, _, data in members] == [PAYLOAD]


def test_member_name_drops_the_compression_extension() -> None:
    members = read_members(gzip.compress(b"a\n"), "dir/orders.json.gz", "gzip")
    assert members == [("dir/orders.json.gz", "dir/orders.json", b"a\n")]


def test_concatenated_gzip_members_and_zstd_frames_are_read_to_the_end() -> None:
    parts = [b"first part\n", b"second part\n" * 1000, b"third\n"]
    gz = b"".join(gzip.compress(part) for part in parts)
    zst = b"".join(zstandard.ZstdCompressor().compress(part) for part in parts)
    assert read_members(gz, "x.gz", "gzip")[0][2] == b"".join(parts)
    assert read_members(zst, "x.zst", "zstd")[0][2] == b"".join(parts)


def test_compressed_empty_content_yields_an_empty_stream() -> None:
    # the compressed file has bytes; the formats layer reports the empty content
    assert read_members(gzip.compress(b""), "x.gz", "gzip")[0][2] == b""
    assert read_members(zstandard.ZstdCompressor().compress(b""), "x.zst", "zstd")[0][2] == b""


@pytest.mark.parametrize("compression", ["none", "gzip", "bz2", "zstd", "zip"])
def test_zero_byte_file_is_an_empty_source(compression: str) -> None:
    with pytest.raises(EmptySourceError, match="x: the file is empty"):
        read_members(b"", "x", compression)


@pytest.mark.parametrize("compression", ["gzip", "bz2", "zstd"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped"])
def test_corrupt_compressed_data_is_malformed(compression: str, damage: str) -> None:
    data = compress(PAYLOAD, compression)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"this is not compressed data at all" + data
    else:
        middle = len(data) // 2
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]
    with pytest.raises(MalformedSourceError, match=rf"^src: corrupt {compression} data"):
        read_members(data, "src", compression)


def test_truncated_zstd_frame_is_not_a_silent_end() -> None:
    data = zstandard.ZstdCompressor().compress(b"x" * 10_000)
    with pytest.raises(MalformedSourceError, match="truncated"):
        read_members(data[:-3], "src", "zstd")


def test_zip_members_in_archive_order_with_their_names() -> None:
    data = zip_bytes({"b.csv": b"b\n", "dir/": b"", "dir/a.json": b"[]", "big.bin": PAYLOAD})
    members = read_members(data, "s3://bucket/archive.zip", "zip")
    assert members == [
        ("s3://bucket/archive.zip!b.csv", "b.csv", b"b\n"),
        ("s3://bucket/archive.zip!dir/a.json", "dir/a.json", b"[]"),
        ("s3://bucket/archive.zip!big.bin", "big.bin", PAYLOAD),
    ]


def test_stored_zip_members_are_read() -> None:
    data = zip_bytes({"a.csv": b"x\n1\n"}, compression=zipfile.ZIP_STORED)
    assert read_members(data, "a.zip", "zip") == [("a.zip!a.csv", "a.csv", b"x\n1\n")]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.csv", "'..' in the path"),
        ("data/../../evil.csv", "'..' in the path"),
        ("/etc/cron.d/evil", "absolute path"),
        ("..\\windows\\evil.csv", "'..' in the path"),
    ],
)
def test_zip_slip_members_refuse_the_archive_before_anything_is_read(tmp_path: Path, member: str, reason: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.csv", b"a\n1\n")
        # ZipInfo keeps the name as given (writestr with a str would normalise some of them)
        archive.writestr(zipfile.ZipInfo(member), b"pwned\n")
    members = iter_members(io.BytesIO(buffer.getvalue()), "up.zip", "zip", temp_dir=str(tmp_path))
    with pytest.raises(UnsafeArchiveMemberError, match=rf"refusing archive member .*: {reason} \(zip-slip\)"):
        next(members)  # not even the good member comes first
    assert os.listdir(tmp_path) == []  # nothing extracted


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a.csv", None),
        ("dir/sub/a.csv", None),
        ("a..b.csv", None),
        ("../a", "'..' in the path"),
        ("a/..", "'..' in the path"),
        ("/a", "absolute path"),
        ("\\a", "absolute path"),
        ("C:/a.csv", "absolute path"),
        ("c:a.csv", "absolute path"),
    ],
)
def test_unsafe_member_reason(name: str, reason: str | None) -> None:
    assert unsafe_member_reason(name) == reason


def test_encrypted_zip_member_is_refused() -> None:
    info = zipfile.ZipInfo("secret.csv")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, b"a\n")
    data = bytearray(buffer.getvalue())
    # set the "encrypted" flag bit in the local header and in the central directory entry
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        data[position + flag_offset] |= 0x1
    with pytest.raises(UnsafeArchiveMemberError, match=r"'secret\.csv' is encrypted"):
        read_members(bytes(data), "s.zip", "zip")


def test_zip_without_file_members_is_empty() -> None:
    with pytest.raises(EmptySourceError, match="the archive has no file members"):
        read_members(zip_bytes({"only-a-dir/": b""}), "e.zip", "zip")


def test_not_a_zip_is_malformed() -> None:
    with pytest.raises(MalformedSourceError, match="not a readable zip archive"):
        read_members(b"PK but not really a zip archive", "x.zip", "zip")


def test_zip_member_with_a_bad_crc_is_malformed() -> None:
    data = bytearray(zip_bytes({"a.txt": b"hello world" * 100}, compression=zipfile.ZIP_STORED))
    data[data.find(b"hello")] ^= 0x20  # 'h' -> 'H': the stored bytes no longer match the CRC
    with pytest.raises(MalformedSourceError, match="corrupt zip data: Bad CRC-32"):
        read_members(bytes(data), "x.zip", "zip")


def test_zip_on_a_non_seekable_stream_goes_through_a_temp_file_that_is_removed(tmp_path: Path) -> None:
    data = zip_bytes({"a.csv": b"a\n1\n", "b.csv": PAYLOAD})
    members = iter_members(NonSeekable(data), "a.zip", "zip", temp_dir=str(tmp_path))
    first = next(members)
    assert first.stream.read() == b"a\n1\n"
    assert len(os.listdir(tmp_path)) == 1  # the copy exists while the archive is read
    assert next(members).stream.read() == PAYLOAD
    assert next(members, None) is None
    assert os.listdir(tmp_path) == []


def test_temp_file_is_removed_when_the_iteration_stops_early(tmp_path: Path) -> None:
    members = iter_members(NonSeekable(zip_bytes({"a.csv": b"1\n", "b.csv": b"2\n"})), "a.zip", "zip", str(tmp_path))
    next(members)
    members.close()
    assert os.listdir(tmp_path) == []


def test_peek_replays_the_head_then_the_rest() -> None:
    stream = NonSeekable(PAYLOAD)
    head, replay = peek(stream, 1000)
    assert head == PAYLOAD[:1000]
    assert read_upto(replay, len(PAYLOAD) + 10) == PAYLOAD


def test_peek_on_a_short_stream() -> None:
    head, replay = peek(io.BytesIO(b"abc"), 10)
    assert head == b"abc"
    assert replay.read() == b"abc"
    assert replay.read() == b""
