"""The ``apply_function`` of the Kafka ``AssetWatcher``: turns a message into a wake-up, not into data.

The watcher (``MessageQueueTrigger(scheme="kafka")`` -> the provider's ``AwaitMessageTrigger``, in the
triggerer) polls the topic with its own consumer group and calls :func:`wake_up` for each message; a
truthy return becomes the asset event that starts the processing DAG. The event carries where the
message was (topic, partition, offset, timestamp) for the logs, never its value: the run's
``KafkaIngestOperator`` reads the data from the offsets recorded in the lake, with another consumer
group, so no message is processed twice or skipped whatever the watcher committed (it commits every
message before firing: at most once, harmless for a wake-up).

Fewer events than messages: a message older than ``max_age_seconds`` (by its Kafka timestamp) does
not wake anything, except the first one this triggerer sees, so a watcher that lags behind a busy
topic (it reads one message per poll) does not keep starting runs after the stream stopped; every
recent message still fires, and a run reads everything that arrived up to its start. This module must
stay importable in the triggerer (under ``plugins/``, no DAG-file import) and never imports Airflow.
"""

from __future__ import annotations

import time
from typing import Any

#: topics this process has woken for (the first message always wakes: a backlog gets one run)
_SEEN: set[str] = set()


def wake_up(message: Any, max_age_seconds: float = 30.0) -> dict[str, Any] | None:
    """The asset event's payload for ``message`` (a confluent-kafka ``Message``), or None: no wake-up."""
    topic = message.topic()
    stamp_type, stamp_ms = message.timestamp()
    first = topic not in _SEEN
    _SEEN.add(topic)
    if not first and stamp_type and stamp_ms > 0 and time.time() * 1000 - stamp_ms > max_age_seconds * 1000:
        return None
    return {
        "topic": topic,
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp_ms": stamp_ms if stamp_type else None,
        "woken_ms": int(time.time() * 1000),
    }
