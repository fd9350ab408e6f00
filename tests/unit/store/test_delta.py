"""The Delta publisher: partition replace, schema contract, manifest, concurrency, kill-and-retry."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.store.delta import DeltaPublisher, partition_predicate
from dataframe_pipeline.store.tables import history, read_table

PLUGINS = str(Path(__file__).resolve().parents[3] / "plugins")


def publish(
    table: Path | str, day: str, frames, *, run_id: str = "r", fingerprint: str = "f", **kwargs
) -> DeltaPublisher:
    frames = list(frames)
    publisher = DeltaPublisher(
        str(table),
        {"date": day},
        manifest={"run_id": run_id, "input_fingerprint": fingerprint},
        expected_rows=sum(len(f) for f in frames),
        **kwargs,
    )
    for frame in frames:
        publisher.write(frame)
    publisher.commit({})
    return publisher


def orders(ids, split=None) -> pd.DataFrame:
    frame = pd.DataFrame({"order_id": list(ids), "amount": [float(i) for i in ids]})
    if split is not None:
        frame["split"] = [split[i % len(split)] for i in range(len(frame))]
    # a batch as the runner gives it: indexed by row position, not a RangeIndex from 0
    frame.index = pd.Index(range(100, 100 + len(frame)))
    return frame


def test_a_run_replaces_its_partition_and_nothing_else(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publish(table, "2026-10-01", [orders(range(3))])
    publish(table, "2026-10-02", [orders(range(10, 12))])
    again = publish(table, "2026-10-01", [orders(range(3)), orders(range(3, 5))], run_id="r2")
    rows = read_table(str(table)).to_pandas().sort_values("order_id")
    assert rows["order_id"].tolist() == [0, 1, 2, 3, 4, 10, 11]  # no duplicates, the other day kept
    assert "__index_level_0__" not in rows.columns
    assert again.details()["version"] == 2
    assert again.details()["rows"] == 5
    assert again.details()["curated_uri"] == f"{table}/date=2026-10-01"
    assert all(f.startswith("date=2026-10-01/") for f in again.details()["files"])


def test_pandas_timestamps_and_categories_keep_one_schema_across_partitions(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    for day in ("2026-10-01", "2026-10-02"):
        frame = orders(range(3), split=["train", "test"])
        frame["split"] = frame["split"].astype("category")
        frame["order_ts"] = pd.to_datetime([f"{day} 10:00:00.123456"] * 3, utc=True)  # nanoseconds in pandas
        publish(table, day, [frame], subpartition_by=["split"])
    got = read_table(str(table), filters=[("date", "=", "2026-10-02")])
    assert str(got.schema.field("order_ts").type) == "timestamp[us, tz=UTC]"
    assert got.column("order_ts")[0].as_py().microsecond == 123456
    frame = orders([1])
    frame["order_ts"] = pd.to_datetime(["2026-10-03 10:00:00.123456789"], utc=True)
    with pytest.raises(DataContractError, match="would lose data"):
        publish(table, "2026-10-03", [frame])


def test_subpartitions_and_codec(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    done = publish(table, "2026-10-01", [orders(range(6), split=["train", "train", "test"])], subpartition_by=["split"])
    files = done.details()["files"]
    assert {f.split("/")[1] for f in files} == {"split=train", "split=test"}
    assert all(f.endswith(".zstd.parquet") for f in files)
    test_rows = read_table(str(table), filters=[("split", "=", "test")])
    assert sorted(test_rows.column("order_id").to_pylist()) == [2, 5]


def test_a_partition_with_other_columns_is_refused_before_writing(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publish(table, "2026-10-01", [orders(range(3))])
    files_before = sorted(p.name for p in table.rglob("*.parquet"))
    other = orders(range(3)).rename(columns={"amount": "total"})
    other["order_id"] = other["order_id"].astype(str)
    with pytest.raises(DataContractError) as err:
        publish(table, "2026-10-02", [other])
    message = str(err.value)
    assert "added: total (double)" in message
    assert "missing: amount (double)" in message
    assert "retyped: order_id (table long, data string)" in message
    assert sorted(p.name for p in table.rglob("*.parquet")) == files_before  # nothing written
    assert len(history(str(table))) == 1


def test_the_commit_carries_the_manifest(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publisher = DeltaPublisher(
        str(table),
        {"date": "2026-10-01"},
        manifest={"run_id": "manual__1", "input_fingerprint": "abc", "code_version": "deadbeef", "config_sha256": "0f"},
        expected_rows=2,
    )
    publisher.write(orders([1, 2]))
    publisher.commit({})
    (commit,) = history(str(table))
    assert commit["run_id"] == "manual__1"
    assert commit["rows"] == 2
    assert commit["partition"] == {"date": "2026-10-01"}
    assert commit["manifest"]["code_version"] == "deadbeef"
    assert commit["manifest"]["input_fingerprint"] == "abc"


def test_a_short_input_is_never_committed(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publisher = DeltaPublisher(str(table), {"date": "2026-10-01"}, manifest={"run_id": "r"}, expected_rows=5)
    publisher.write(orders([1, 2]))
    with pytest.raises(DataContractError, match="received 2 rows, the input has 5"):
        publisher.commit({})
    assert not (table / "_delta_log").exists() or not list((table / "_delta_log").glob("*.json"))


def test_abort_commits_nothing(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publish(table, "2026-10-01", [orders(range(3))])
    publisher = DeltaPublisher(str(table), {"date": "2026-10-01"}, manifest={"run_id": "r2"}, expected_rows=None)
    publisher.write(orders(range(50)))
    publisher.abort()
    assert read_table(str(table)).num_rows == 3
    assert len(history(str(table))) == 1


def test_bad_configuration_names_the_field() -> None:
    with pytest.raises(ConfigurationError, match="compression='zip'"):
        DeltaPublisher("/x", {"date": "d"}, compression="zip")
    with pytest.raises(ConfigurationError, match="subpartition_by"):
        DeltaPublisher("/x", {"date": "d"}, subpartition_by=["date"])
    with pytest.raises(ConfigurationError, match="partition"):
        DeltaPublisher("/x", {"date": "../etc"})
    assert partition_predicate({"date": "2026-10-01", "hour_utc": "03"}) == "date = '2026-10-01' AND hour_utc = '03'"


def test_partition_columns_in_the_data_are_refused(tmp_path: Path) -> None:
    frame = orders([1])
    frame["date"] = "x"
    with pytest.raises(DataContractError, match="named like the partition columns"):
        publish(tmp_path / "t", "2026-10-01", [frame])


# -- two writers at once ------------------------------------------------------------------------


def _racer(table: str, run_id: str, fingerprint: str, barrier, out) -> None:
    sys.path.insert(0, PLUGINS)
    from dataframe_pipeline.store.delta import DeltaPublisher

    frame = pd.DataFrame({"order_id": range(20_000), "amount": [1.0] * 20_000})
    publisher = DeltaPublisher(
        table,
        {"date": "2026-10-01"},
        manifest={"run_id": run_id, "input_fingerprint": fingerprint},
        expected_rows=len(frame),
        replay=lambda: [frame],
    )
    publisher.write(frame)  # both writers have read the table's version and are writing
    barrier.wait(60)
    publisher.commit({})
    out.put((publisher.details()["version"], publisher.lost_race))


@pytest.mark.parametrize("same_run", [True, False], ids=["two-attempts-of-one-run", "two-runs"])
def test_two_concurrent_writers_leave_each_row_once(tmp_path: Path, same_run: bool) -> None:
    table = str(tmp_path / "orders")
    publish(table, "2026-10-02", [orders(range(5))])  # another day, which must stay
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(2)
    runs = [("r", "f"), ("r", "f")] if same_run else [("r1", "f"), ("r2", "f")]
    procs = [ctx.Process(target=_racer, args=(table, run, fp, barrier, out)) for run, fp in runs]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    results = sorted(out.get(timeout=5) for _ in procs)
    versions = [version for version, _ in results]
    assert [lost for _, lost in results].count(True) == 1  # one commit won, the other got CommitFailedError
    day = read_table(table, filters=[("date", "=", "2026-10-01")])
    assert day.num_rows == 20_000
    assert len(set(day.column("order_id").to_pylist())) == 20_000
    assert read_table(table, filters=[("date", "=", "2026-10-02")]).num_rows == 5
    writes = [c for c in history(table) if c["partition"] == {"date": "2026-10-01"}]
    if same_run:
        # one attempt committed, the other saw the same run's data published and took that version
        assert len(writes) == 1
        assert versions[0] == versions[1] == 1
    else:
        assert len(writes) == 2  # the loser retried on the new version
        assert versions == [1, 2]


# -- killed mid-write ---------------------------------------------------------------------------

KILLED_WRITER = """
import sys, pyarrow as pa
sys.path.insert(0, {plugins!r})
from dataframe_pipeline.store.delta import DeltaPublisher
publisher = DeltaPublisher({table!r}, {{"date": "2026-10-01"}}, manifest={{"run_id": "r"}}, target_file_size=200_000,
                           expected_rows=None)
for i in range(100_000):
    publisher.write(pa.table({{"order_id": pa.array(range(i * 10_000, (i + 1) * 10_000)), "amount": [1.5] * 10_000}}))
"""


def test_a_writer_killed_mid_write_and_retried_leaves_each_row_once(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publish(table, "2026-10-01", [orders(range(3))])
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(plugins=PLUGINS, table=str(table))])
    try:
        deadline = time.time() + 60
        while len(list(table.rglob("*.parquet"))) < 5 and time.time() < deadline:
            time.sleep(0.05)
        assert len(list(table.rglob("*.parquet"))) >= 5, "the writer wrote no files"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    orphans = len(list(table.rglob("*.parquet"))) - 1
    assert orphans >= 4
    assert read_table(str(table)).num_rows == 3  # the orphans are not in any version
    publish(table, "2026-10-01", [orders(range(1000))], run_id="r")  # the retry
    ids = read_table(str(table)).column("order_id").to_pylist()
    assert sorted(ids) == list(range(1000))


def _other_partition_racer(table: str, day: str, barrier, out) -> None:
    sys.path.insert(0, PLUGINS)
    from dataframe_pipeline.store.delta import DeltaPublisher

    frame = pd.DataFrame({"order_id": range(1000), "amount": [1.0] * 1000})
    publisher = DeltaPublisher(
        table, {"date": day}, manifest={"run_id": day}, expected_rows=1000, replay=lambda: [frame]
    )
    publisher.write(frame)
    barrier.wait(60)
    publisher.commit({})
    out.put(publisher.details()["version"])


def test_two_writers_of_different_partitions_both_publish(tmp_path: Path) -> None:
    table = str(tmp_path / "orders")
    publish(table, "2026-10-09", [orders(range(5))])
    ctx = multiprocessing.get_context("spawn")
    out, barrier = ctx.Queue(), ctx.Barrier(2)
    days = ["2026-10-01", "2026-10-02"]
    procs = [ctx.Process(target=_other_partition_racer, args=(table, day, barrier, out)) for day in days]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert sorted(out.get(timeout=5) for _ in procs) == [1, 2]
    for day in days:
        assert read_table(table, filters=[("date", "=", day)]).num_rows == 1000
    assert read_table(table, filters=[("date", "=", "2026-10-09")]).num_rows == 5


def test_an_empty_input_empties_its_partition_only(tmp_path: Path) -> None:
    table = tmp_path / "orders"
    publish(table, "2026-10-01", [orders(range(3))])
    publish(table, "2026-10-02", [orders(range(10, 12))])
    empty = publish(table, "2026-10-01", [orders([])])  # a batch without rows, as a reader may give
    assert empty.details()["rows"] == 0
    assert read_table(str(table)).column("order_id").to_pylist() == [10, 11]
    nothing = publish(table, "2026-10-02", [])  # no batch at all
    assert nothing.details()["rows"] == 0
    assert read_table(str(table)).num_rows == 0
    assert len(history(str(table))) == 4
    with pytest.raises(DataContractError, match="no rows to publish and no table"):
        publish(tmp_path / "new", "2026-10-01", [])
