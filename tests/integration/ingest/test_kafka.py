"""KafkaIngestOperator against a real Kafka-protocol broker: Tansu on loopback (``tests/kafka_broker.py``).

Every test here uses Tansu, not librdkafka's mock cluster: the mock cluster silently drops old data
past 5 MiB or 100,000 message sets per partition and does not persist group commits the way a broker
does, and these tests are about durability (what is read again after a kill, where a restart starts,
committed group offsets). The operator runs with a minimal Airflow context and its Kafka connection
from an ``AIRFLOW_CONN_*`` variable, as in a deployment; the kill tests run it in a subprocess and
SIGKILL it at a pause point (``DATAFRAME_PIPELINE_KAFKA_PAUSE``).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import fsspec
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.ingest.operators import KafkaIngestOperator
from tests.kafka_broker import connection, produce, read_topic

PROJECT = Path(__file__).resolve().parents[3]
CONN = "AIRFLOW_CONN_KAFKA_TEST"
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def context(slot: int, try_number: int = 1) -> dict:
    """The context of the run of the ``slot``-th five-minute partition."""
    from airflow.sdk import CronDataIntervalTimetable

    start = START + timedelta(minutes=5 * slot)
    return {
        "dag": SimpleNamespace(timetable=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC")),
        "dag_run": SimpleNamespace(logical_date=start, run_id=f"scheduled__{start.isoformat()}"),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": f"scheduled__{start.isoformat()}",
        "data_interval_start": start,
        "data_interval_end": start + timedelta(minutes=5),
    }


@pytest.fixture
def topic(kafka_broker, monkeypatch) -> str:
    name = f"events-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics({name: 3, f"{name}-dlt": 1})
    monkeypatch.setenv(CONN, connection(kafka_broker, group=f"pipeline-{name}"))
    return name


def operator(root: Path, topic: str, **options) -> KafkaIngestOperator:
    options = {"max_messages": 100_000, "idle_seconds": 1.5, "dead_letter_topic": f"{topic}-dlt",
               "source_id": f"test.{topic}", **options}  # fmt: skip
    return KafkaIngestOperator(
        task_id="ingest", topics=[topic], kafka_config_id="kafka_test", storage_root=root.as_uri(), **options
    )


def events(n: int, poison_at: int | None = None) -> tuple[list[bytes], list[bytes]]:
    values = [json.dumps({"device": f"d{i % 17}", "seq": i, "temp": 20.0 + i % 10 / 4}).encode() for i in range(n)]
    if poison_at is not None:
        values[poison_at] = b'{"device": "d1", "seq": oops}'
    return values, [f"d{i % 17}".encode() for i in range(n)]


def landed(result: dict) -> pd.DataFrame:
    uri = result["dataset"]["uri"].removeprefix("file://")
    return DatasetReader(fsspec.filesystem("file"), uri).read_pandas()


def quarantined(result: dict) -> pd.DataFrame:
    uri = result["quarantine"]["uri"].removeprefix("file://")
    return DatasetReader(fsspec.filesystem("file"), uri).read_pandas()


def group_offsets(broker, group: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    answer = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    consumer.close()
    return {tp.partition: tp.offset for tp in answer}


def test_ten_thousand_messages_with_one_poison_message(kafka_broker, topic, tmp_path) -> None:
    values, keys = events(10_000, poison_at=4321)
    produce(kafka_broker, topic, values, keys)
    result = operator(tmp_path, topic).execute(context(0))

    frame = landed(result)
    assert len(frame) == 9_999
    assert sorted(frame["seq"]) == [i for i in range(10_000) if i != 4321]
    assert frame["_source_file"].unique().tolist() == [f"kafka://{topic}"]
    assert not frame.duplicated(["_kafka_partition", "_source_line"]).any()
    assert str(frame["_kafka_timestamp"].dtype).startswith("datetime64[ms")
    assert (frame["_kafka_key"] == "d" + (frame["seq"] % 17).astype(str)).all()
    assert [str(frame[c].dtype) for c in ("seq", "temp", "_kafka_partition")] == ["int64", "float64", "int32"]

    bad = quarantined(result)
    assert len(bad) == 1
    row = bad.iloc[0]
    record = json.loads(row["record"])
    assert row["rule"] == "malformed_record" and "not valid JSON" in row["reason"]
    assert row["source"] == f"kafka://{topic}:{row['input_position']}"
    assert record["_kafka_key"] == "d3" and record["_raw_line"] == values[4321].decode()
    assert record["_kafka_partition"] in (0, 1, 2) and record["_kafka_timestamp"].startswith("20")

    dead = read_topic(kafka_broker, f"{topic}-dlt", expected=1)
    assert [m.value() for m in dead] == [values[4321]]
    headers = dict(dead[0].headers())
    assert headers["dlt.topic"] == topic.encode() and headers["dlt.rule"] == b"malformed_record"
    assert int(headers["dlt.offset"]) == row["input_position"]
    assert int(headers["dlt.partition"]) == record["_kafka_partition"]

    accounting = result["accounting"]
    assert (accounting["rows_in"], accounting["rows_out"], accounting["rows_quarantined"]) == (10_000, 9_999, 1)
    ranges = result["kafka"]["ranges"]
    assert sum(r["end"] - r["first"] for r in ranges) == 10_000 and all(r["first"] == 0 for r in ranges)
    # the manifest holds the ranges, committed with the data; the group's offsets followed it
    manifest = json.loads((Path(result["dataset"]["uri"].removeprefix("file://")) / "_manifest.json").read_text())
    assert manifest["meta"]["kafka"]["ranges"] == ranges
    assert group_offsets(kafka_broker, f"pipeline-{topic}", topic) == {r["partition"]: r["end"] for r in ranges}


def test_poison_of_every_kind_is_quarantined_and_the_batch_goes_on(kafka_broker, topic, tmp_path) -> None:
    good = [json.dumps({"device": "d1", "seq": i, "temp": 1.5}).encode() for i in range(5)]
    poison = {
        b"\xff\xfe not utf-8": "undecodable_message",
        b"[1, 2, 3]": "not_an_object",
        json.dumps({"device": "d1", "seq": "seven", "temp": 1.5}).encode(): "type_mismatch",
        json.dumps({"device": "d1", "seq": 9, "temp": 1.5, "extra": 1}).encode(): "unexpected_column",
        json.dumps({"device": "d1", "seq": 9, "temp": 1.5, "pad": "x" * 3000}).encode(): "message_too_large",
    }
    # one partition (offsets 0..10 in order); the schema is declared, as a stream's should be (the first
    # poll may hold any mix of messages)
    single = f"{topic}-one"
    kafka_broker.create_topics({single: 1})
    produce(kafka_broker, single, [*good, *poison, None], [b"k"] * (len(good) + len(poison) + 1))
    result = operator(
        tmp_path, single, dead_letter_topic=f"{topic}-dlt", max_message_bytes=2000,
        columns=["device", "seq", "temp"], column_types={"seq": "int64", "temp": "double"},
    ).execute(context(0))  # fmt: skip

    assert landed(result)["seq"].tolist() == list(range(5))
    bad = quarantined(result).sort_values("input_position")
    assert bad["rule"].tolist() == list(poison.values())
    assert bad["input_position"].tolist() == [5, 6, 7, 8, 9]
    accounting = result["accounting"]
    assert (accounting["rows_in"], accounting["rows_quarantined"], accounting["dropped_by_rule"]) == (
        11,
        5,
        {"kafka_tombstone": 1},
    )
    dead = read_topic(kafka_broker, f"{topic}-dlt", expected=5)
    assert sorted(m.value() for m in dead) == sorted(poison)


def _spawn(root: Path, topic: str, slot: int, pause: str, **options) -> subprocess.Popen:
    """The operator in its own process, pausing at ``pause`` (to be killed there)."""
    code = f"""
import json, sys
sys.path[:0] = {[str(PROJECT / "plugins"), str(PROJECT)]!r}
from pathlib import Path
from tests.integration.ingest.test_kafka import context, operator
result = operator(Path({str(root)!r}), {topic!r}, **{options!r}).execute(context({slot}))
print(json.dumps(result["kafka"]["ranges"]))
"""
    env = {**os.environ, "DATAFRAME_PIPELINE_KAFKA_PAUSE": pause}
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip


def _kill_when(process: subprocess.Popen, ready, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"the operator ended before the kill point: {process.stderr.read().decode()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the kill point was not reached")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


def _manifests(root: Path, slot: int) -> list[Path]:
    start = START + timedelta(minutes=5 * slot)
    where = f"date={start:%Y-%m-%d}/hour_utc={start:%H}/minute_utc={start:%M}/ingest/output/_manifest.json"
    return list(root.glob(f"*/{where}"))


def _all_rows(root: Path) -> pd.DataFrame:
    frames = [
        DatasetReader(fsspec.filesystem("file"), str(path.parent)).read_pandas()
        for path in sorted(root.glob("**/ingest/output/_manifest.json"))
    ]
    return pd.concat(frames, ignore_index=True)


def test_sigkill_between_the_write_and_the_commit_lands_each_message_once(kafka_broker, topic, tmp_path) -> None:
    values, keys = events(10_000)
    produce(kafka_broker, topic, values, keys)
    # the first batch (4,000 messages) is killed after its dataset is committed, before the group commit
    process = _spawn(tmp_path, topic, 0, "after_write:120", max_messages=4000)
    _kill_when(process, lambda: any(tmp_path.glob("**/ingest/output/_manifest.json")))
    assert group_offsets(kafka_broker, f"pipeline-{topic}", topic) == {0: -1001, 1: -1001, 2: -1001}
    first = sorted(landed_manifest(tmp_path)["seq"])

    retry = operator(tmp_path, topic, max_messages=4000).execute(context(0, try_number=2))
    assert retry["kafka"]["replayed"] is True
    assert sorted(landed(retry)["seq"]) == first  # the same 4,000 messages, read again
    nxt = operator(tmp_path, topic).execute(context(1))
    assert nxt["kafka"]["replayed"] is False

    everything = _all_rows(tmp_path)
    assert len(everything) == 10_000
    assert sorted(everything["seq"]) == list(range(10_000))  # each message exactly once
    ends = {r["partition"]: r["end"] for r in nxt["kafka"]["ranges"]}
    assert group_offsets(kafka_broker, f"pipeline-{topic}", topic) == ends


def landed_manifest(root: Path) -> pd.DataFrame:
    path = next(root.glob("**/ingest/output/_manifest.json"))
    return DatasetReader(fsspec.filesystem("file"), str(path.parent)).read_pandas()


def test_restart_during_a_backfill_from_the_earliest_offsets_leaves_no_gap_and_no_duplicate(
    kafka_broker, topic, tmp_path
) -> None:
    values, keys = events(10_000)
    produce(kafka_broker, topic, values, keys)
    results = [operator(tmp_path, topic, max_messages=3000).execute(context(0))]
    # the second batch is killed while reading (part files written, nothing committed)
    process = _spawn(tmp_path, topic, 1, "during_read:120", max_messages=3000, batch_rows=500)
    _kill_when(process, lambda: any(tmp_path.glob("**/minute_utc=05/ingest/output/attempt=*/*.parquet")))
    assert _manifests(tmp_path, 0) and not _manifests(tmp_path, 1)
    for slot in range(1, 10):  # the killed partition again, then the next ones until the topic is drained
        results.append(operator(tmp_path, topic, max_messages=3000).execute(context(slot, try_number=2)))
        if results[-1]["dataset"]["rows"] == 0:
            break
    rows = [r["dataset"]["rows"] for r in results]
    assert sum(rows) == 10_000 and rows[-1] == 0 and max(rows) == 3000, rows

    # per partition, each batch starts where the one before ended: contiguous ranges
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for result in results:
        for r in result["kafka"]["ranges"]:
            by_partition.setdefault(r["partition"], []).append((r["first"], r["end"]))
    for spans in by_partition.values():
        assert spans[0][0] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    everything = _all_rows(tmp_path)
    assert sorted(everything["seq"]) == list(range(10_000))
    for partition, rows in everything.groupby("_kafka_partition"):
        offsets = sorted(rows["_source_line"])
        assert offsets == list(range(by_partition[partition][-1][1]))  # every offset once, none missing


def test_a_batch_reads_to_the_end_of_each_partition_when_the_watermark_lags(
    kafka_broker, topic, tmp_path, monkeypatch
) -> None:
    """Tansu answers ListOffsets with an offset inside the last record batch (1 for one batch of 2,000
    messages), behind the last message: a batch that starts past it must still read to the end
    (end-of-partition from the fetch decides), even when the first fetch is slow (here the broker
    holds each fetch for a second, as a loaded one may)."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    slow = {"fetch.min.bytes": 100_000_000, "fetch.wait.max.ms": 1200}
    monkeypatch.setenv(CONN, connection(kafka_broker, group=f"pipeline-{topic}", **slow))

    values, _ = events(2000)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5, "enable.idempotence": False})
    for value in values:  # one flush: few record batches, the last one starting well before 2000
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    probe = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": "probe"})
    _, high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    probe.close()

    first = operator(tmp_path, topic, max_messages=1000).execute(context(0))
    second = operator(tmp_path, topic, max_messages=5000).execute(context(1))
    assert (first["dataset"]["rows"], second["dataset"]["rows"]) == (1000, 1000), f"the watermark said {high}"
    assert [(r["first"], r["end"]) for r in second["kafka"]["ranges"] if r["partition"] == 0] == [(1000, 2000)]
    assert second["kafka"]["stopped_by"] == "drained"
    assert sorted(landed(first)["seq"].tolist() + landed(second)["seq"].tolist()) == list(range(2000))


def test_a_retry_of_the_same_partition_gives_the_same_dataset(kafka_broker, topic, tmp_path) -> None:
    values, keys = events(2000)
    produce(kafka_broker, topic, values, keys)
    first = operator(tmp_path, topic, max_messages=1500).execute(context(0))
    produce(kafka_broker, topic, *events(500))  # new messages meanwhile: not part of the retried partition
    again = operator(tmp_path, topic, max_messages=1500).execute(context(0, try_number=2))
    assert again["kafka"]["ranges"] == first["kafka"]["ranges"]
    assert again["dataset"]["rows"] == first["dataset"]["rows"] == 1500
    columns = ["_kafka_partition", "_source_line"]
    left = landed(first).sort_values(columns).reset_index(drop=True)
    right = landed(again).sort_values(columns).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)


def test_bad_configuration_fails_naming_the_field(kafka_broker, topic, tmp_path, monkeypatch) -> None:
    with pytest.raises(AirflowFailException, match="max_messages"):
        operator(tmp_path, topic, max_messages=0).execute(context(0))
    with pytest.raises(AirflowFailException, match="dead_letter_topic"):
        operator(tmp_path, topic, dead_letter_topic=topic).execute(context(0))
    monkeypatch.setenv(CONN, connection(kafka_broker, **{"enable.auto.commit": "true"}))
    with pytest.raises(AirflowFailException, match=r"enable\.auto\.commit.*'true'"):
        operator(tmp_path, topic).execute(context(0))


def test_the_sensor_dag_chain_lands_cleans_and_publishes_a_batch(kafka_broker, topic, tmp_path) -> None:
    """The tasks of dags/sensor_stream_pipeline.py, as the DAG declares them, on its clean config."""
    from dataframe_pipeline.clean.operators import CleanOperator
    from dataframe_pipeline.config import load_pipeline_config
    from dataframe_pipeline.store.operators import DeltaStoreOperator

    readings = [
        {"device_id": f"s{i % 5}", "event_time": f"2026-12-01T12:00:{i % 60:02d}Z", "temperature_c": 20.5 + i,
         "humidity_pct": 40.0}
        for i in range(50)
    ]  # fmt: skip
    readings[7]["temperature_c"] = None  # a reading without its value: clean quarantines it
    values = [json.dumps(r).encode() for r in readings] + [b"garbage"]
    produce(kafka_broker, topic, values, [b"s"] * len(values))
    ingest = operator(
        tmp_path, topic, columns=["device_id", "event_time", "temperature_c", "humidity_pct"],
        column_types={"temperature_c": "double", "humidity_pct": "double"},
        json_schema="schemas/sensor_reading.schema.json",
    ).execute(context(0))  # fmt: skip
    assert (ingest["dataset"]["rows"], ingest["quarantine"]["rows"]) == (50, 1)
    config = load_pipeline_config("sensor_stream_pipeline", steps=("clean",))
    clean = CleanOperator(task_id="clean", input_dataset=ingest, transforms=config["clean"],
                          storage_root=tmp_path.as_uri()).execute(context(0))  # fmt: skip
    assert (clean["dataset"]["rows"], clean["quarantine"]["rows"]) == (49, 1)
    store = DeltaStoreOperator(task_id="store", input_dataset=clean, dataset_name="sensor_readings",
                                 storage_root=tmp_path.as_uri(), curated_root=(tmp_path / "curated").as_uri()
                                 ).execute(context(0))  # fmt: skip
    published = pd.read_parquet(tmp_path / "curated" / "sensor_readings")
    assert len(published) == 49 and store["accounting"]["rows_out"] == 49
    assert set(published["_source_file"]) == {f"kafka://{topic}"}
    assert str(published["event_time"].dtype).startswith("datetime64")


def test_an_empty_topic_gives_an_empty_dataset_with_the_declared_columns(kafka_broker, topic, tmp_path) -> None:
    result = operator(tmp_path, topic, columns=["a", "b"], column_types={"b": "int64"}, idle_seconds=0.5).execute(
        context(0)
    )
    assert result["dataset"]["rows"] == 0 and result["kafka"]["stopped_by"] in ("drained", "idle")
    assert list(result["dataset"]["columns"])[:2] == ["a", "b"]
    assert result["dataset"]["columns"]["b"] == "int64"
    assert {"_kafka_partition", "_kafka_key", "_kafka_timestamp"} <= set(result["dataset"]["columns"])


def test_the_demo_producer_dirt_reconciles_with_what_landed(kafka_broker, topic, tmp_path) -> None:
    """include/scripts/sensor_producer.py: every message sent lands or is quarantined (poison and
    readings failing the DAGs' schema, also in the dead-letter topic); duplicates, late events, missing
    values and glitches land, as sent (later steps deal with them)."""
    from include.scripts.sensor_producer import produce_readings

    rates = {"duplicate": 0.03, "late": 0.05, "missing": 0.02, "glitch": 0.01, "poison": 0.02, "wrong_schema": 0.02}
    sent = produce_readings(kafka_broker.bootstrap, topic, count=3000, rate=0, seed=11, rates=rates)
    assert sum(sent.values()) == 3000 and min(sent[k] for k in rates) > 0
    result = operator(
        tmp_path, topic, columns=["device_id", "event_time", "temperature_c", "humidity_pct"],
        column_types={"temperature_c": "double", "humidity_pct": "double"},
        json_schema="schemas/sensor_reading.schema.json",  # as the sensor DAGs read the topic
    ).execute(context(0))  # fmt: skip
    frame = landed(result)
    by_rule = quarantined(result)["rule"].value_counts().to_dict()
    assert by_rule.pop("schema_violation") == sent["wrong_schema"]
    assert sum(by_rule.values()) == sent["poison"] and set(by_rule) <= {"malformed_record", "not_an_object"}
    bad = sent["poison"] + sent["wrong_schema"]
    assert result["quarantine"]["rows"] == bad
    assert len(frame) == 3000 - bad
    # a duplicate resends the reading before it, which may be a missing value or a glitch
    assert sent["missing"] <= frame["temperature_c"].isna().sum() <= sent["missing"] + sent["duplicate"]
    assert sent["glitch"] <= (frame["temperature_c"] == -999.0).sum() <= sent["glitch"] + sent["duplicate"]
    keys = frame[["device_id", "event_time", "temperature_c", "humidity_pct"]].astype(str)
    assert keys.duplicated().sum() >= sent["duplicate"]
    dead = read_topic(kafka_broker, f"{topic}-dlt", expected=bad)
    assert len(dead) == bad
    assert sum(dict(m.headers())["dlt.rule"] == b"schema_violation" for m in dead) == sent["wrong_schema"]
