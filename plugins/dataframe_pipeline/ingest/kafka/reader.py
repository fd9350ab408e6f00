"""Reads one micro-batch of Kafka topics as :class:`~dataframe_pipeline.ingest.base.SourceBatch` blocks.

The reader is given a confluent-kafka ``Consumer`` (made by the operator from an Airflow Kafka
connection, auto-commit off) and a :class:`~dataframe_pipeline.ingest.kafka.offsets.ReadPlan`. It
assigns every partition of the topics itself, at the planned offsets (no group rebalance decides what
it reads), and reads:

- a **new batch**: from each partition's start to its end, at most ``max_messages`` in all and for at
  most ``max_seconds``; it ends when every partition reported end-of-partition at the position read
  (the broker's fetch answer, ``enable.partition.eof``), or when no message came for
  ``idle_seconds`` (a consumer without end-of-partition events). The high watermark of ListOffsets is
  only a hint (how long to wait for the first fetch): Tansu answers it with an offset inside the
  last record batch (1 for one batch of 2,000 messages), behind the last message, so stopping there
  would leave messages for the next batch to find, or none at all. The range of each partition
  (first, end) is what was read;
- a **replay**: exactly the recorded ranges, whatever else arrived since (a retry gives the same rows).

Each message value is decoded as UTF-8 JSON, validated against ``json_schema`` if there is one (an
object only: a value that is not an object stays ``not_an_object``; see
:mod:`~dataframe_pipeline.ingest.kafka.schema`), and goes through the shared record layer
(:mod:`dataframe_pipeline.ingest.records`), flattened and typed like a JSON Lines file, one schema for
the whole source. Rows carry ``_source_file`` = ``kafka://<topic>``, ``_source_line`` = the offset,
``_kafka_partition``, ``_kafka_key`` and ``_kafka_timestamp``.

**Poison messages** (not UTF-8, not JSON, not an object, failing ``json_schema``, not fitting the
columns or their types, larger than ``max_message_bytes``) are quarantined with topic, partition,
offset, key, timestamp, rule and reason, and kept (value, key and headers unchanged) for
:meth:`KafkaBatchReader.dead_letter`, which the operator calls once the dataset is committed and
before :meth:`KafkaBatchReader.commit_offsets`. The dead-letter topic is therefore at-least-once (a
crash after producing and before the commit produces them again, with the same ``dlt.*`` headers to
tell them apart); the lake is exactly-once.
Messages without a value (tombstones) are dropped under ``kafka_tombstone`` and counted.

Memory: one poll of messages (``poll_messages``) and the poison messages of the batch.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dataframe_pipeline.exceptions import (
    DataContractError,
    RepeatedKeyError,
    SourceNotFoundError,
    TransientSourceError,
)
from dataframe_pipeline.ingest.base import SOURCE_LINE_COLUMN, SourceBatch
from dataframe_pipeline.ingest.kafka.offsets import PartitionRange, ReadPlan, TopicPartitionKey
from dataframe_pipeline.ingest.kafka.source import (
    KAFKA_COLUMNS,
    KAFKA_KEY_COLUMN,
    KAFKA_PARTITION_COLUMN,
    KAFKA_TIMESTAMP_COLUMN,
    MESSAGE_TOO_LARGE_RULE,
    OFFSET_RESETS,
    SCHEMA_VIOLATION_RULE,
    TOMBSTONE_RULE,
    UNDECODABLE_MESSAGE_RULE,
    KafkaSource,
    source_name,
)
from dataframe_pipeline.ingest.records.flatten import _Record
from dataframe_pipeline.ingest.records.keys import UNIQUE_KEYS, decode_json
from dataframe_pipeline.ingest.records.rules import MALFORMED_RECORD_RULE
from dataframe_pipeline.ingest.records.tabulate import _Tabulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

#: a test hook: ``<point>:<seconds>`` sleeps at ``after_write`` (the dataset committed, the offsets not
#: yet) or ``during_read`` (after the first block), so a test can kill the process there
PAUSE_ENV = "DATAFRAME_PIPELINE_KAFKA_PAUSE"
#: how much of a poison value the quarantine keeps as its raw text (the whole value goes to the DLT)
RAW_PREVIEW_CHARS = 4096
_OFFSET_INVALID = -1001
_TIMESTAMP_NOT_AVAILABLE = 0
#: one JSON value at a position, raising RepeatedKeyError at a repeated key (the C scanner of UNIQUE_KEYS)
# CPython's C scanner (json.JSONDecoder.scan_once) is not in typeshed
_SCAN: Callable[[str, int], tuple[Any, int]] = UNIQUE_KEYS.scan_once  # type: ignore[attr-defined]


def pause_at(point: str) -> None:
    """Sleep here if :data:`PAUSE_ENV` names this point (tests kill the process meanwhile)."""
    spec = os.environ.get(PAUSE_ENV, "")
    name, _, seconds = spec.partition(":")
    if name == point:
        log.warning("%s=%s: pausing %ss at %s", PAUSE_ENV, spec, seconds, point)
        time.sleep(float(seconds or 60))


@dataclass(frozen=True)
class PoisonMessage:
    """A message that went to the quarantine, kept for the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int | None
    rule: str
    reason: str

    def dead_letter_headers(self) -> list[tuple[str, bytes]]:
        """The original headers plus where the message came from and why it is here."""
        extra = {
            "dlt.topic": self.topic,
            "dlt.partition": str(self.partition),
            "dlt.offset": str(self.offset),
            "dlt.timestamp": "" if self.timestamp_ms is None else str(self.timestamp_ms),
            "dlt.rule": self.rule,
            "dlt.reason": self.reason,
        }
        return [*self.headers, *((k, v.encode()) for k, v in extra.items())]


@dataclass
class KafkaStats:
    """What a read did."""

    messages: int = 0
    rows: int = 0
    poison: int = 0
    tombstones: int = 0
    bytes: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    dead_letters: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(self).items()}


@dataclass
class _Group:
    """The messages of one partition in one poll."""

    topic: str
    partition: int
    messages: list[Any] = field(default_factory=list)


class KafkaBatchReader:
    """One micro-batch of ``source`` through ``consumer``, as planned.

    :param source: the configuration.
    :param consumer: a confluent-kafka ``Consumer`` (not subscribed; auto-commit off).
    :param plan: where to read (start offsets, or the ranges to replay).
    """

    def __init__(self, source: KafkaSource, consumer: Any, plan: ReadPlan) -> None:
        self.source = source
        self.consumer = consumer
        self.plan = plan
        self.stats = KafkaStats()
        self.poison: list[PoisonMessage] = []
        self.starts: dict[TopicPartitionKey, int] = {}
        self.ends: dict[TopicPartitionKey, int] = {}
        #: a replay stops each partition at its recorded end
        self._stop_at: dict[TopicPartitionKey, int] = {}
        #: a new batch: the high watermarks seen at the start (a hint only: see the module's docstring)
        self._hint: dict[TopicPartitionKey, int] = {}
        #: a new batch: where each partition reported end-of-partition (drained when all are at their end)
        self._eof: dict[TopicPartitionKey, int] = {}
        self._tabulator = _Tabulator(None, source, typed_values=True)
        #: built once (the validator, and its compiled predicate): it runs for every message
        self._schema = source.message_schema()

    # -- planning ------------------------------------------------------------------------------

    def partitions(self) -> list[TopicPartitionKey]:
        """Every partition of the topics (a missing topic raises :class:`SourceNotFoundError`)."""
        found: list[TopicPartitionKey] = []
        for topic in self.source.topics:
            meta = self._broker(lambda t=topic: self.consumer.list_topics(t, timeout=self.source.timeout_seconds))
            info = meta.topics.get(topic)
            if info is None or info.error is not None or not info.partitions:
                raise SourceNotFoundError(f"kafka topic {topic!r}: not found ({getattr(info, 'error', None)})")
            found.extend((topic, p) for p in sorted(info.partitions))
        return found

    def resolve(self) -> None:
        """Fix where each partition starts and where the read stops (before reading anything)."""
        from confluent_kafka import TopicPartition

        keys = self.partitions()
        if self.plan.replay is not None:
            missing = [r for r in self.plan.replay if r.key not in keys]
            if missing:
                raise DataContractError(f"cannot replay {missing}: the partitions are gone from the topics")
            self.starts = {r.key: r.first for r in self.plan.replay}
            self._stop_at = {r.key: r.end for r in self.plan.replay}
            self._check_available(self.plan.replay)
            return
        unknown = [k for k in keys if k not in self.plan.starts]
        committed = {}
        if unknown:
            tps = [TopicPartition(t, p) for t, p in unknown]
            answer = self._broker(lambda: self.consumer.committed(tps, timeout=self.source.timeout_seconds))
            committed = {(tp.topic, tp.partition): tp.offset for tp in answer if tp.offset >= 0}
        for key in keys:
            low, high = self._watermarks(key)
            start = self.plan.starts.get(key, committed.get(key))
            if start is None:
                start = low if OFFSET_RESETS[self.source.offset_reset] == "earliest" else high
            if start < low:
                raise DataContractError(
                    f"{key[0]}[{key[1]}]: offsets {start}..{low} were deleted by the broker's retention before "
                    "they were ingested; ingest what is left by removing the ledger entry deliberately"
                )
            # no check against the high watermark: some brokers (Tansu) report it behind the last offset
            self.starts[key], self._hint[key] = start, high

    def _check_available(self, ranges: tuple[PartitionRange, ...]) -> None:
        for r in ranges:
            low, _ = self._watermarks(r.key)
            if r.first < r.end and r.first < low:
                raise DataContractError(
                    f"cannot replay {r.topic}[{r.partition}] {r.first}..{r.end}: the broker deleted offsets "
                    f"before {low} (retention)"
                )

    def _watermarks(self, key: TopicPartitionKey) -> tuple[int, int]:
        from confluent_kafka import TopicPartition

        tp = TopicPartition(*key)
        return self._broker(lambda: self.consumer.get_watermark_offsets(tp, timeout=self.source.timeout_seconds))

    def ranges(self) -> list[PartitionRange]:
        """The range of every partition of the batch (``first == end``: nothing read there)."""
        return [
            PartitionRange(t, p, start, self.ends.get((t, p), start)) for (t, p), start in sorted(self.starts.items())
        ]

    # -- reading -------------------------------------------------------------------------------

    def batches(self) -> Iterator[SourceBatch]:
        """Read the batch; yields one block per poll, at least one (empty: no message)."""
        from confluent_kafka import TopicPartition

        started = time.monotonic()
        if not self.starts:
            self.resolve()
        replay = self.plan.replay is not None
        pending = {k for k, start in self.starts.items() if not replay or start < self._stop_at[k]}
        self.consumer.assign([TopicPartition(t, p, self.starts[(t, p)]) for t, p in sorted(pending)])
        last_message = time.monotonic()
        yielded = False
        self.stats.stopped_by = "replayed" if replay else "drained"
        while pending:
            stop = self._stop_reason(started, last_message, replay, pending)
            if stop:
                self.stats.stopped_by = stop
                break
            want = self.source.poll_messages
            if not replay:
                want = min(want, self.source.max_messages - self.stats.messages)
            idle_limit = self.source.timeout_seconds if replay else self.source.idle_seconds
            messages = self.consumer.consume(num_messages=want, timeout=min(0.5, idle_limit))
            groups = self._take(messages, pending, replay)
            if not groups and not replay and self._at_end():
                break  # drained: stopped_by stays "drained"
            if groups:
                yield self._block(groups)
                # idle time is time spent waiting for messages, not decoding and writing them
                last_message = time.monotonic()
                if not yielded:
                    yielded = True
                    pause_at("during_read")
        if not yielded:
            yield self._block([])
        self.consumer.unassign()
        self.stats.seconds = time.monotonic() - started
        log.info("kafka batch %d read: %s", self.plan.seq, self.stats.as_dict())

    def _stop_reason(self, started: float, last_message: float, replay: bool, pending: set) -> str | None:
        """Why a new batch stops now (None: go on); a replay that stalls fails (it must read its ranges)."""
        now = time.monotonic()
        if replay:
            if now - last_message >= self.source.timeout_seconds:
                missing = [f"{t}[{p}] {self.ends.get((t, p), self.starts[(t, p)])}..{self._stop_at[(t, p)]}"
                           for t, p in sorted(pending)]  # fmt: skip
                raise TransientSourceError(f"replay incomplete: no message for {self.source.timeout_seconds}s, "
                                           f"missing {missing}")  # fmt: skip
            return None
        if self.stats.messages >= self.source.max_messages:
            return "max_messages"
        if now - started >= self.source.max_seconds:
            return "max_seconds"
        idle = self.source.idle_seconds
        if not self.stats.messages and any(self._hint.get(k, 0) > start for k, start in self.starts.items()):
            # messages are there but none came yet: the first fetch of a remote cluster may take a while
            idle = max(idle, min(self.source.timeout_seconds, 10.0))
        if now - last_message >= idle:
            return "idle"
        return None

    def _at_end(self) -> bool:
        """Every partition reported end-of-partition at (or past) the position read so far."""
        return all(self._eof.get(key, -1) >= self.ends.get(key, start) for key, start in self.starts.items())

    def _take(self, messages: list[Any], pending: set[TopicPartitionKey], replay: bool) -> list[_Group]:
        """The messages of the batch in this poll, by partition; in a replay, a partition is done at its end."""
        from confluent_kafka import KafkaError

        groups: dict[TopicPartitionKey, _Group] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._eof[(message.topic(), message.partition())] = message.offset()
                    continue
                raise TransientSourceError(f"kafka: {error}")
            key = (message.topic(), message.partition())
            if key not in pending:
                continue  # a partition already done: prefetched beyond its stop
            offset = message.offset()
            if replay and offset >= self._stop_at[key]:
                pending.discard(key)
                continue
            if key not in groups:
                groups[key] = _Group(*key)
            groups[key].messages.append(message)
            self.ends[key] = offset + 1
            self.stats.messages += 1
            if replay and offset + 1 >= self._stop_at[key]:
                pending.discard(key)
            if not replay and self.stats.messages >= self.source.max_messages:
                break
        return list(groups.values())

    # -- decoding ------------------------------------------------------------------------------

    def _block(self, groups: list[_Group]) -> SourceBatch:
        """One poll's messages as one source batch (each partition tabulated on its own: offsets are
        unique within a partition, so rows and rejects map back to their messages)."""
        batches = [self._group_batch(group) for group in groups]
        if not batches:
            empty = self._tabulator.batch([])
            return SourceBatch(
                self._with_kafka_columns(empty.table, 0, pa.array([], pa.string()), []), empty.rejected, 0
            )
        tables = [b.table for b in batches if b.table.num_rows] or [batches[0].table]
        rejected = [b.rejected for b in batches if len(b.rejected)]
        dropped: dict[str, int] = defaultdict(int)
        for batch in batches:
            for rule, n in batch.dropped.items():
                dropped[rule] += n
        return SourceBatch(
            pa.concat_tables(tables) if len(tables) > 1 else tables[0],
            pd.concat(rejected) if len(rejected) > 1 else (rejected[0] if rejected else pd.DataFrame()),
            sum(b.rows_in or 0 for b in batches),
            dict(dropped),
        )

    def _group_batch(self, group: _Group) -> SourceBatch:
        source = source_name(group.topic)
        records, kept, keys, stamps = [], [], [], []
        tombstones = 0
        record_of, fast_record, limit = self._record, self._fast_record, self.source.max_message_bytes
        for message in group.messages:
            value = message.value()
            if value is None:
                tombstones += 1
                continue
            key = message.key()
            offset = message.offset()
            record = None
            if len(value) <= limit and (key is None or key.isascii()) and value.isascii():
                record = fast_record(value.decode("ascii"), offset, source)
                key_text = key.decode("ascii") if key is not None else None
            if record is None:
                key_text, record = record_of(key, value, offset, source)
            stamp_type, stamp = message.timestamp()
            records.append(record)
            kept.append(message)
            keys.append(key_text)
            stamps.append(stamp if stamp_type != _TIMESTAMP_NOT_AVAILABLE else None)
            self.stats.bytes += len(value)
        self.stats.tombstones += tombstones
        batch = self._tabulator.batch(records)
        self._check_columns()
        table = batch.table
        if table.num_rows == len(records):
            table = self._with_kafka_columns(table, group.partition, pa.array(keys, pa.string()), stamps)
        else:  # some were rejected: the rows' offsets say which messages they are (offsets ascend)
            positions = np.searchsorted([r.position for r in records], table.column(SOURCE_LINE_COLUMN).to_numpy())
            rows = positions.tolist()
            table = self._with_kafka_columns(table, group.partition, pa.array([keys[i] for i in rows], pa.string()),
                                             [stamps[i] for i in rows])  # fmt: skip
        rejected = batch.rejected
        if len(rejected):
            by_offset = {r.position: i for i, r in enumerate(records)}
            rejected = self._note_poison(group, rejected, by_offset, messages=kept, keys=keys, stamps=stamps)
        self.stats.rows += table.num_rows
        dropped = dict(batch.dropped)
        if tombstones:
            dropped[TOMBSTONE_RULE] = tombstones
        return SourceBatch(table, rejected, len(records) + tombstones, dropped)

    def _fast_record(self, text: str, offset: int, source: str) -> _Record | None:
        """The fast path of well-formed messages: ASCII text holding exactly one JSON value (None: the
        slow path, :meth:`_record`, says what is wrong)."""
        try:
            decoded, end = _SCAN(text, 0)
            if end != len(text):
                return None
            if self._schema is not None and type(decoded) is dict:
                reason = self._schema.violation(decoded)
                if reason is not None:
                    return _Record(offset, text, rule=SCHEMA_VIOLATION_RULE, reason=reason, source=source)
            return self._tabulator.json_record(offset, decoded, text, source=source)
        except (StopIteration, RepeatedKeyError, ValueError, RecursionError):
            return None

    def _record(self, key: bytes | None, value: bytes, offset: int, source: str) -> tuple[str | None, _Record]:
        """The message's key as text and its value as a record of the record layer (or a rejected one)."""
        try:
            key_text = key.decode("utf-8") if key is not None else None
        except UnicodeDecodeError as exc:
            shown = (key or b"")[:200].decode("utf-8", "backslashreplace")
            reason = f"the key is not UTF-8 ({exc.reason} at byte {exc.start}): {shown}"
            return shown, _Record(offset, _preview(value), rule=UNDECODABLE_MESSAGE_RULE, reason=reason, source=source)
        if len(value) > self.source.max_message_bytes:
            reason = f"the value is {len(value)} bytes, more than max_message_bytes={self.source.max_message_bytes}"
            return key_text, _Record(offset, _preview(value), rule=MESSAGE_TOO_LARGE_RULE, reason=reason, source=source)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"the value is not UTF-8 ({exc.reason} at byte {exc.start})"
            record = _Record(offset, _preview(value), rule=UNDECODABLE_MESSAGE_RULE, reason=reason, source=source)
            return key_text, record
        try:
            decoded, repeated = decode_json(text)
        except ValueError as exc:  # json.JSONDecodeError
            reason = f"not valid JSON: {getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')}"
            return key_text, _Record(offset, text, rule=MALFORMED_RECORD_RULE, reason=reason, source=source)
        except RecursionError:
            reason = "not valid JSON: values nested too deeply"
            return key_text, _Record(offset, text, rule=MALFORMED_RECORD_RULE, reason=reason, source=source)
        # an object with a repeated key is a duplicate_key (the record layer's), whatever its values
        if self._schema is not None and isinstance(decoded, dict) and not repeated:
            try:
                reason = self._schema.violation(decoded)
            except RecursionError:
                reason = "objects nested too deeply to validate"
            if reason is not None:
                return key_text, _Record(offset, text, rule=SCHEMA_VIOLATION_RULE, reason=reason, source=source)
        return key_text, self._tabulator.json_record(offset, decoded, text, repeated=repeated, source=source)

    def _check_columns(self) -> None:
        clash = sorted(set(KAFKA_COLUMNS).intersection(self._tabulator.columns_ or ()))
        if clash:
            raise DataContractError(f"messages of {self.source.topics} hold fields {clash}, reserved for provenance")

    @staticmethod
    def _with_kafka_columns(table: pa.Table, partition: int, keys: pa.Array, stamps: list[int | None]) -> pa.Table:
        partitions = pa.array(np.full(table.num_rows, partition, dtype=np.int32))
        table = table.append_column(KAFKA_PARTITION_COLUMN, partitions)
        table = table.append_column(KAFKA_KEY_COLUMN, keys)
        return table.append_column(KAFKA_TIMESTAMP_COLUMN, pa.array(stamps, pa.timestamp("ms", tz="UTC")))

    def _note_poison(
        self, group: _Group, rejected: pd.DataFrame, by_offset: dict[int, int], *, messages: list, keys: list,
        stamps: list,
    ) -> pd.DataFrame:  # fmt: skip
        """Add the Kafka provenance to the rejected rows and keep their messages for the dead-letter topic."""
        from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN

        rejected = rejected.copy()
        offsets = [int(o) for o in rejected[SOURCE_LINE_COLUMN]]
        rows = [by_offset[o] for o in offsets]
        rejected[KAFKA_PARTITION_COLUMN] = group.partition
        rejected[KAFKA_KEY_COLUMN] = [keys[i] for i in rows]
        rejected[KAFKA_TIMESTAMP_COLUMN] = [_iso(stamps[i]) for i in rows]
        for offset, rule, reason in zip(offsets, rejected[RULE_COLUMN], rejected[REASON_COLUMN], strict=True):
            message = messages[by_offset[offset]]
            stamp = stamps[by_offset[offset]]
            headers = tuple((k, v if v is not None else b"") for k, v in (message.headers() or ()))
            item = PoisonMessage(
                group.topic, group.partition, offset, message.key(), message.value(), headers, stamp, str(rule),
                str(reason),
            )  # fmt: skip
            self.poison.append(item)
            self.stats.by_rule[str(rule)] = self.stats.by_rule.get(str(rule), 0) + 1
        self.stats.poison += len(rejected)
        return rejected

    # -- after the dataset is committed --------------------------------------------------------

    def dead_letter(self, producer: Any) -> int:
        """Produce the poison messages to the dead-letter topic and wait until the broker has them all."""
        topic = self.source.dead_letter_topic
        if topic is None or not self.poison:
            return 0
        failures: list[str] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for item in self.poison:
            producer.produce(topic, value=item.value, key=item.key, headers=item.dead_letter_headers(),
                             on_delivery=delivered)  # fmt: skip
            producer.poll(0)
        left = producer.flush(self.source.timeout_seconds)
        if left or failures:
            raise TransientSourceError(f"dead-letter topic {topic!r}: {left} not delivered, errors {failures[:3]}")
        self.stats.dead_letters = len(self.poison)
        log.info("produced %d poison message(s) to %s", len(self.poison), topic)
        return len(self.poison)

    def commit_offsets(self) -> list[PartitionRange]:
        """Commit the end of every range read to the consumer group (for lag monitoring; the ledger and
        the manifests, not these, decide where the next batch starts)."""
        from confluent_kafka import TopicPartition

        ranges = [r for r in self.ranges() if r.end > r.first]
        if ranges:
            offsets = [TopicPartition(r.topic, r.partition, r.end) for r in ranges]
            answer = self._broker(lambda: self.consumer.commit(offsets=offsets, asynchronous=False))
            errors = [tp for tp in answer or () if tp.error is not None]
            if errors:
                raise TransientSourceError(f"kafka offset commit failed: {errors}")
        return ranges

    @staticmethod
    def _broker(call: Any) -> Any:
        from confluent_kafka import KafkaException

        try:
            return call()
        except KafkaException as exc:
            raise TransientSourceError(f"kafka: {exc}") from exc


def _preview(value: bytes) -> str:
    """A poison value as quarantine text: UTF-8 where it decodes, escapes where not, cut at a length."""
    text = value[: RAW_PREVIEW_CHARS * 4].decode("utf-8", "backslashreplace")
    if len(text) > RAW_PREVIEW_CHARS or len(value) > RAW_PREVIEW_CHARS * 4:
        return text[:RAW_PREVIEW_CHARS] + f"... ({len(value)} bytes in all; the message is kept in Kafka)"
    return text


def _iso(stamp_ms: int | None) -> str | None:
    if stamp_ms is None:
        return None
    return pd.Timestamp(stamp_ms, unit="ms", tz="UTC").isoformat()
