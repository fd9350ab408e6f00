"""Demo producer: readings of IoT sensors to a Kafka topic, with the dirt real devices send.

Each device reports ``device_id``, ``event_time`` (ISO 8601, UTC, milliseconds), ``temperature_c`` and
``humidity_pct`` as JSON, keyed by its id (so one device's readings stay in one partition, in order).
Dirt, at configurable rates (drawn from one seeded generator, so a run is reproducible):

- **duplicates**: the last reading sent again (a retry after a lost acknowledgement);
- **late events**: an ``event_time`` 1 to 15 minutes in the past (a device that was offline);
- **missing values**: ``temperature_c`` null;
- **glitches**: ``temperature_c`` of -999.0 (a sensor's error code);
- **poison**: not JSON, or a JSON array (``malformed_record``, ``not_an_object``);
- **wrong schema**: a JSON object that fails ``include/schemas/sensor_reading.schema.json``
  (``schema_violation`` at ingestion): ``temperature_c`` as text, ``device_id`` missing, an unexpected
  field, or ``humidity_pct`` above 100.

    python include/scripts/sensor_producer.py [--bootstrap 127.0.0.1:19092] [--topic sensor-readings]
        [--rate 200] [--count 0 (forever)] [--devices 50] [--seed 7] [--create-topic 3]

The last line printed (and the return value of :func:`produce_readings`) counts what was sent, by kind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

KINDS = ("clean", "duplicate", "late", "missing", "glitch", "poison", "wrong_schema")


def reading(rng: random.Random, device: int, now: datetime) -> dict[str, Any]:
    base = 18 + (device % 7)  # each device has its own room
    return {
        "device_id": f"sensor-{device:03d}",
        "event_time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "temperature_c": round(base + rng.gauss(0, 0.8), 2),
        "humidity_pct": round(min(100.0, max(0.0, 45 + rng.gauss(0, 6))), 1),
    }


def poison(rng: random.Random, event: dict[str, Any]) -> bytes:
    if rng.randrange(2) == 0:
        return json.dumps(event).encode()[:-7]  # cut off: not JSON
    return json.dumps([event["device_id"], event["temperature_c"]]).encode()


def wrong_schema(rng: random.Random, event: dict[str, Any]) -> bytes:
    """Valid JSON objects that the sensor reading schema refuses."""
    choice = rng.randrange(4)
    if choice == 0:
        return json.dumps({**event, "temperature_c": "hot"}).encode()
    if choice == 1:
        return json.dumps({k: v for k, v in event.items() if k != "device_id"}).encode()
    if choice == 2:
        return json.dumps({**event, "firmware": "1.2.3"}).encode()
    return json.dumps({**event, "humidity_pct": 140.0}).encode()


def make_message(rng: random.Random, devices: int, now: datetime, rates: dict[str, float]) -> tuple[str, bytes, bytes]:
    """One message: (its kind, key, value). ``duplicate`` is decided by the caller (it resends)."""
    device = rng.randrange(devices)
    event = reading(rng, device, now)
    draw = rng.random()
    kind = "clean"
    for name in ("late", "missing", "glitch", "poison", "wrong_schema"):
        if draw < rates[name]:
            kind = name
            break
        draw -= rates[name]
    if kind == "late":
        event["event_time"] = (now - timedelta(seconds=rng.uniform(60, 900))).isoformat(timespec="milliseconds")
        event["event_time"] = event["event_time"].replace("+00:00", "Z")
    elif kind == "missing":
        event["temperature_c"] = None
    elif kind == "glitch":
        event["temperature_c"] = -999.0
    if kind == "poison":
        value = poison(rng, event)
    elif kind == "wrong_schema":
        value = wrong_schema(rng, event)
    else:
        value = json.dumps(event).encode()
    return kind, event["device_id"].encode(), value


def produce_readings(
    bootstrap: str,
    topic: str,
    *,
    count: int = 0,
    rate: float = 200.0,
    devices: int = 50,
    seed: int = 7,
    rates: dict[str, float] | None = None,
) -> Counter:
    """Send ``count`` messages (0: until interrupted) at about ``rate`` per second (0: as fast as possible)."""
    from confluent_kafka import Producer

    rates = {"duplicate": 0.01, "late": 0.02, "missing": 0.005, "glitch": 0.003, "poison": 0.002,
             "wrong_schema": 0.002, **(rates or {})}  # fmt: skip
    rng = random.Random(seed)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    sent: Counter = Counter()
    started = time.monotonic()
    previous: tuple[bytes, bytes] | None = None
    try:
        while not count or sum(sent.values()) < count:
            if previous is not None and rng.random() < rates["duplicate"]:
                kind, (key, value) = "duplicate", previous
            else:
                kind, key, value = make_message(rng, devices, datetime.now(UTC), rates)
                if kind not in ("poison", "wrong_schema"):  # a retry resends a reading (poison counts stay exact)
                    previous = (key, value)
            _send(producer, topic, key, value)
            sent[kind] += 1
            if rate:
                ahead = sum(sent.values()) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    except KeyboardInterrupt:
        pass
    left = producer.flush(30)
    if left:
        raise RuntimeError(f"{left} messages were not delivered to {bootstrap}")
    return sent


def _send(producer: Any, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            producer.poll(0)
            return
        except BufferError:  # the local queue is full: let it drain
            producer.poll(0.1)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create the topic and its dead-letter topic if they do not exist."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(name, num_partitions=n, replication_factor=1)
              for name, n in ((topic, partitions), (f"{topic}-dlt", 1)) if name not in existing]  # fmt: skip
    for future in admin.create_topics(wanted).values() if wanted else ():
        future.result(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--topic", default="sensor-readings")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second (0: as fast as possible)")
    parser.add_argument("--count", type=int, default=0, help="messages to send (0: until interrupted)")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--create-topic", type=int, metavar="PARTITIONS", help="create the topics first")
    args = parser.parse_args(argv)
    if args.create_topic:
        create_topic(args.bootstrap, args.topic, args.create_topic)
    sent = produce_readings(args.bootstrap, args.topic, count=args.count, rate=args.rate, devices=args.devices,
                            seed=args.seed)  # fmt: skip
    print(json.dumps({"topic": args.topic, "sent": sum(sent.values()), **{k: sent.get(k, 0) for k in KINDS}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
