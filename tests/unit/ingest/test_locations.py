from __future__ import annotations

import os

import fsspec
import pytest

from dataframe_pipeline.exceptions import SourceNotFoundError, UnsafePathError
from dataframe_pipeline.ingest.files.locations import FileManifest, confine, file_info


@pytest.fixture
def landing(tmp_path):
    root = tmp_path / "landing"
    (root / "orders").mkdir(parents=True)
    for name in ("a.csv", "b.csv", "c.json"):
        (root / "orders" / name).write_text(name)
    (tmp_path / "secret.txt").write_text("secret")
    return root


def test_relative_and_absolute_paths_and_globs_inside_the_root(landing) -> None:
    assert [p.name for p in confine(landing, "orders/*.csv")] == ["a.csv", "b.csv"]
    assert [p.name for p in confine(landing, str(landing / "orders" / "c.json"))] == ["c.json"]
    assert len(confine(landing, "**/*")) == 3


@pytest.mark.parametrize("pattern", ["../secret.txt", "orders/../../secret.txt", "/etc/passwd"])
def test_escapes_are_refused(landing, pattern: str) -> None:
    with pytest.raises(UnsafePathError, match="source="):
        confine(landing, pattern)


def test_symlink_out_of_the_root_is_refused(landing, tmp_path) -> None:
    os.symlink(tmp_path / "secret.txt", landing / "orders" / "link.csv")
    with pytest.raises(UnsafePathError, match="outside the landing root"):
        confine(landing, "orders/*.csv")


def test_symlink_inside_the_root_is_fine(landing) -> None:
    os.symlink(landing / "orders" / "a.csv", landing / "orders" / "z.csv")
    assert [p.name for p in confine(landing, "orders/z.csv")] == ["z.csv"]


def test_nothing_matching_is_not_found(landing) -> None:
    with pytest.raises(SourceNotFoundError, match="no file"):
        confine(landing, "orders/*.parquet")


def test_manifest_new_files_rerun_and_changed_files(tmp_path, landing) -> None:
    fs = fsspec.filesystem("file")
    manifest = FileManifest(fs, str(tmp_path / "state" / "manifest.json"))
    infos = [file_info(fs, str(p)) for p in confine(landing, "orders/*.csv")]
    take, skip = manifest.plan(infos, "day1")
    assert (len(take), len(skip)) == (2, 0)
    manifest.record(take, "day1")

    # a re-run of day1 re-reads the same files; day2 gets nothing new
    assert manifest.plan(infos, "day1") == (infos, [])
    assert manifest.plan(infos, "day2") == ([], infos)

    # a new file and a changed file are picked up by day2
    (landing / "orders" / "d.csv").write_text("d")
    (landing / "orders" / "a.csv").write_text("a, changed")
    infos2 = [file_info(fs, str(p)) for p in confine(landing, "orders/*.csv")]
    take, skip = manifest.plan(infos2, "day2")
    assert sorted(os.path.basename(i.path) for i in take) == ["a.csv", "d.csv"]
    assert [os.path.basename(i.path) for i in skip] == ["b.csv"]
    manifest.record(take, "day2")
    entries = manifest.load()
    assert {os.path.basename(p): e["partition"] for p, e in entries.items()} == {
        "a.csv": "day2",
        "b.csv": "day1",
        "d.csv": "day2",
    }


def test_file_info_hashes_in_chunks(tmp_path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_001)
    info = file_info(fsspec.filesystem("file"), str(path), chunk=1000)
    assert info.size == 3_000_001
    import hashlib

    assert info.sha256 == hashlib.sha256(b"x" * 3_000_001).hexdigest()
