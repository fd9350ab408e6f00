"""The watcher's apply_function: a payload naming the message (never its value), fewer wake-ups than messages."""

from __future__ import annotations

import time

from dataframe_pipeline.ingest.kafka import wakeup


class Message:
    """The part of confluent-kafka's Message the function reads."""

    def __init__(self, topic: str, offset: int, age_s: float) -> None:
        self._topic, self._offset, self._stamp = topic, offset, int((time.time() - age_s) * 1000)

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._stamp)

    def value(self) -> bytes:
        raise AssertionError("the wake-up must not read the value")


def test_first_message_wakes_then_only_recent_ones() -> None:
    wakeup._SEEN.discard("t-wake")
    first = wakeup.wake_up(Message("t-wake", 0, age_s=3600))
    assert first["offset"] == 0 and first["topic"] == "t-wake"
    assert wakeup.wake_up(Message("t-wake", 1, age_s=3600)) is None  # a lagging watcher's old message
    assert wakeup.wake_up(Message("t-wake", 2, age_s=1))["offset"] == 2
