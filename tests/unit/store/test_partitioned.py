from __future__ import annotations

import json

import fsspec
import pandas as pd
import pyarrow.dataset as pads
import pytest

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.store.partitioned import PartitionedParquetWriter


def publish(tmp_path, day: str, frame: pd.DataFrame, **kwargs) -> dict:
    writer = PartitionedParquetWriter(
        fsspec.filesystem("file"), str(tmp_path / "orders"), {"date": day}, subpartition_by="split", **kwargs
    )
    for start in range(0, len(frame), 2):
        writer.write(frame.iloc[start : start + 2])
    return writer.commit({"run": "r1"})


def orders(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [f"o{i + offset}" for i in range(n)],
            "split": [("train", "test", "train")[i % 3] for i in range(n)],
        }
    )


def read(tmp_path) -> pd.DataFrame:
    return (
        pads.dataset(str(tmp_path / "orders"), partitioning="hive", exclude_invalid_files=True).to_table().to_pandas()
    )


def test_hive_layout_readable_by_pyarrow_dataset(tmp_path) -> None:
    manifest = publish(tmp_path, "2026-10-01", orders(6))
    assert manifest["rows"] == 6
    assert sorted(f["path"] for f in manifest["files"]) == [
        "split=test/part-00000.parquet",
        "split=train/part-00000.parquet",
    ]
    df = read(tmp_path)
    assert len(df) == 6
    assert sorted(df["split"].astype(str).unique()) == ["test", "train"]
    assert (df["date"].astype(str) == "2026-10-01").all()


def test_republishing_a_partition_replaces_it_and_keeps_the_others(tmp_path) -> None:
    publish(tmp_path, "2026-10-01", orders(6))
    publish(tmp_path, "2026-10-02", orders(3, offset=100))
    publish(tmp_path, "2026-10-01", orders(4, offset=50))  # re-run of the first day
    df = read(tmp_path)
    assert df.groupby(df["date"].astype(str)).size().to_dict() == {"2026-10-01": 4, "2026-10-02": 3}
    assert df["order_id"].is_unique
    assert not list((tmp_path / "orders" / "_staging").iterdir())  # nothing left behind


def test_manifest_is_written_in_the_partition(tmp_path) -> None:
    manifest = publish(tmp_path, "2026-10-01", orders(3))
    on_disk = json.loads((tmp_path / "orders" / "date=2026-10-01" / "_manifest.json").read_text())
    assert on_disk["fingerprint"] == manifest["fingerprint"]
    assert on_disk["meta"] == {"run": "r1"}


def test_same_data_same_fingerprint(tmp_path) -> None:
    a = publish(tmp_path / "a", "2026-10-01", orders(5))
    b = publish(tmp_path / "b", "2026-10-01", orders(5))
    assert a["fingerprint"] == b["fingerprint"]


def test_bad_partition_values_are_refused(tmp_path) -> None:
    with pytest.raises(DataContractError, match="cannot be a directory name"):
        PartitionedParquetWriter(fsspec.filesystem("file"), str(tmp_path), {"date": "../etc"})
    with pytest.raises(ConfigurationError, match="partition"):
        PartitionedParquetWriter(fsspec.filesystem("file"), str(tmp_path), {})
    writer = PartitionedParquetWriter(fsspec.filesystem("file"), str(tmp_path), {"date": "d"}, subpartition_by="x")
    with pytest.raises(DataContractError, match="subpartition column 'x'"):
        writer.write(pd.DataFrame({"a": [1]}))


def test_a_data_column_named_like_a_partition_field_is_refused(tmp_path) -> None:
    import fsspec
    import pandas as pd

    from dataframe_pipeline.exceptions import DataContractError
    from dataframe_pipeline.store.partitioned import PartitionedParquetWriter

    writer = PartitionedParquetWriter(fsspec.filesystem("file"), str(tmp_path / "d"), {"date": "2026-10-09"})
    with pytest.raises(DataContractError, match=r"column\(s\) \['date'\] named like the partition fields"):
        writer.write(pd.DataFrame({"date": ["x"], "v": [1]}))
