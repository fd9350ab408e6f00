from __future__ import annotations

import json
import threading

import fsspec
import pandas as pd
import pyarrow as pa
import pytest

from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter, prefetch
from dataframe_pipeline.exceptions import DataContractError, DatasetNotFoundError


@pytest.fixture
def fs():
    return fsspec.filesystem("file")


def frame(start: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + n), "name": [f"n{i}" for i in range(start, start + n)]})


def test_round_trip_in_batches_with_positional_index(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    with DatasetWriter(fs, path, max_rows_per_file=4) as w:
        w.write(frame(0, 3))
        w.write(frame(3, 7))
        ref = w.commit({"step": "t"})
    assert ref.rows == 10
    assert ref.columns == {"id": "int64", "name": "large_string"}
    manifest = json.loads((tmp_path / "ds" / "_manifest.json").read_text())
    assert [f["rows"] for f in manifest["files"]] == [4, 4, 2]
    batches = list(DatasetReader(fs, path).iter_batches(batch_rows=3))
    assert [list(b.index) for b in batches][:2] == [[0, 1, 2], [3]]  # batches never span files
    whole = pd.concat(batches)
    assert list(whole.index) == list(range(10))
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), frame(0, 10), check_dtype=False)


def test_same_data_gives_the_same_fingerprint_and_different_data_does_not(fs, tmp_path) -> None:
    refs = []
    for i, data in enumerate([frame(0, 5), frame(0, 5), frame(1, 5)]):
        with DatasetWriter(fs, str(tmp_path / f"d{i}")) as w:
            w.write(data)
            refs.append(w.commit())
    assert refs[0].fingerprint == refs[1].fingerprint != refs[2].fingerprint


def test_rewrite_replaces_the_dataset_and_removes_the_old_attempt(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    for n in (5, 2):
        with DatasetWriter(fs, path) as w:
            w.write(frame(0, n))
            w.commit()
    assert DatasetReader(fs, path).rows == 2
    assert len([p for p in (tmp_path / "ds").iterdir() if p.name.startswith("attempt=")]) == 1


def test_failed_attempt_leaves_the_committed_version_in_place(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    with DatasetWriter(fs, path) as w:
        w.write(frame(0, 5))
        w.commit()
    with pytest.raises(RuntimeError), DatasetWriter(fs, path) as w:
        w.write(frame(0, 3))
        raise RuntimeError("task killed")
    reader = DatasetReader(fs, path)
    assert reader.rows == 5
    assert len(reader.read_pandas()) == 5
    assert len([p for p in (tmp_path / "ds").iterdir() if p.name.startswith("attempt=")]) == 1


def test_uncommitted_dataset_is_not_found(fs, tmp_path) -> None:
    w = DatasetWriter(fs, str(tmp_path / "ds"))
    w.write(frame(0, 2))  # written but never committed
    with pytest.raises(DatasetNotFoundError, match=r"missing _manifest\.json"):
        DatasetReader(fs, str(tmp_path / "ds"))


def test_empty_dataset_keeps_its_schema(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    with DatasetWriter(fs, path) as w:
        w.write(frame(0, 0))
        ref = w.commit()
    assert ref.rows == 0
    batches = list(DatasetReader(fs, path).iter_batches())
    assert len(batches) == 1
    assert list(batches[0].columns) == ["id", "name"]
    assert batches[0].empty


def test_all_null_batch_is_cast_to_the_fixed_schema(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    with DatasetWriter(fs, path) as w:
        w.write(pd.DataFrame({"x": [1.5], "s": ["a"]}))
        w.write(pd.DataFrame({"x": [None], "s": [None]}))
        ref = w.commit()
    assert ref.columns == {"x": "double", "s": "large_string"}
    out = DatasetReader(fs, path).read_pandas()
    assert out["x"].isna().tolist() == [False, True]


def test_batch_with_other_columns_is_refused(fs, tmp_path) -> None:
    with DatasetWriter(fs, str(tmp_path / "ds")) as w:
        w.write(pd.DataFrame({"a": [1]}))
        with pytest.raises(DataContractError, match="differ"):
            w.write(pd.DataFrame({"b": [1]}))


def test_arrow_tables_are_written_as_is(fs, tmp_path) -> None:
    table = pa.table({"a": pa.array([1, 2], pa.int32())})
    with DatasetWriter(fs, str(tmp_path / "ds")) as w:
        w.write(table)
        assert w.commit().columns == {"a": "int32"}


def test_column_selection(fs, tmp_path) -> None:
    with DatasetWriter(fs, str(tmp_path / "ds")) as w:
        w.write(frame(0, 3))
        w.commit()
    out = DatasetReader(fs, str(tmp_path / "ds")).read_pandas(columns=["name"])
    assert list(out.columns) == ["name"]


def test_a_group_of_writes_can_be_rolled_back_without_touching_the_rest(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    with DatasetWriter(fs, path, max_rows_per_file=2) as w:
        w.write(frame(0, 3))
        mark = w.begin_group()
        w.write(frame(3, 5))  # e.g. a file that turns out to be bad half-way
        assert w.rows == 8
        assert w.rollback_group(mark) == 5
        assert w.rows == 3
        w.begin_group()
        w.write(frame(100, 1))
        ref = w.commit()
    assert ref.rows == 4
    out = DatasetReader(fs, path).read_pandas()
    assert out["id"].tolist() == [0, 1, 2, 100]
    files = sorted(p.name for p in next((tmp_path / "ds").glob("attempt=*")).iterdir())
    assert len(files) == 3  # 2 + 1 rows of the first write, then the last group


def test_a_background_write_error_surfaces_at_the_next_call_and_nothing_is_committed(fs, tmp_path) -> None:
    path = str(tmp_path / "ds")
    # the cast to int64 fails in the writer thread; it surfaces at commit() at the latest
    with pytest.raises(pa.ArrowInvalid), DatasetWriter(fs, path) as w:
        w.write(pd.DataFrame({"x": [1, 2]}))
        w.write(pd.DataFrame({"x": ["not a number"]}))
        w.commit()
    assert not fs.exists(f"{path}/_manifest.json")
    assert not fs.exists(path) or not fs.ls(path)  # the attempt's files were removed


def test_background_and_foreground_writers_write_the_same_bytes(fs, tmp_path) -> None:
    frames = [pd.DataFrame({"x": range(i, i + 50), "s": [f"v{i}"] * 50}) for i in range(0, 500, 50)]
    refs = []
    for background in (True, False):
        with DatasetWriter(fs, str(tmp_path / f"ds-{background}"), background=background) as w:
            for frame in frames:
                w.write(frame)
            refs.append(w.commit())
    assert refs[0].fingerprint == refs[1].fingerprint
    assert refs[0].rows == 500


def test_prefetch_yields_in_order_and_raises_where_the_producer_failed() -> None:
    def produce():
        yield 1
        yield 2
        raise ValueError("boom at 3")

    seen = []
    with pytest.raises(ValueError, match="boom at 3"):
        for item in prefetch(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_prefetch_stopped_early_closes_the_producer() -> None:
    closed = threading.Event()

    def produce():
        try:
            yield from range(1000)
        finally:
            closed.set()

    items = prefetch(produce())
    assert next(items) == 0
    items.close()
    assert closed.wait(5)
