"""What a Kafka micro-batch read is configured with (:class:`KafkaSource`), the rules its poison
messages are quarantined under, and the names of its provenance columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.base import RESERVED_COLUMNS

#: the Kafka partition of a row (int32); with ``_source_file`` (``kafka://<topic>``) and
#: ``_source_line`` (the offset) it names the message
KAFKA_PARTITION_COLUMN = "_kafka_partition"
#: the message key as UTF-8 text (null when the message has none)
KAFKA_KEY_COLUMN = "_kafka_key"
#: the message timestamp (create or log-append time, as the topic is configured), UTC, milliseconds
KAFKA_TIMESTAMP_COLUMN = "_kafka_timestamp"
KAFKA_COLUMNS = (KAFKA_PARTITION_COLUMN, KAFKA_KEY_COLUMN, KAFKA_TIMESTAMP_COLUMN)

#: a message whose value (or key) is not UTF-8 text
UNDECODABLE_MESSAGE_RULE = "undecodable_message"
#: a message whose value is larger than ``max_message_bytes``
MESSAGE_TOO_LARGE_RULE = "message_too_large"
#: a JSON object that does not validate against ``json_schema`` (the reason: the JSON path and the error)
SCHEMA_VIOLATION_RULE = "schema_violation"
#: a message without a value (a deletion marker of a compacted topic): dropped, counted, not quarantined
TOMBSTONE_RULE = "kafka_tombstone"

#: ``auto.offset.reset`` values that name a position (librdkafka's aliases included)
OFFSET_RESETS = {"earliest": "earliest", "smallest": "earliest", "beginning": "earliest",
                 "latest": "latest", "largest": "latest", "end": "latest"}  # fmt: skip


def source_name(topic: str) -> str:
    """The ``_source_file`` of a topic's messages."""
    return f"kafka://{topic}"


@dataclass(frozen=True)
class KafkaSource:
    """One micro-batch of one or more topics, read from every partition of them.

    :param topics: the topics to read.
    :param max_messages: stop after this many messages in all (a new batch; a replay reads its range whole).
    :param max_seconds: stop after this long, whatever was read (a new batch).
    :param idle_seconds: a new batch ends when no message arrived for this long (the topics are drained).
    :param max_message_bytes: larger values are poison (``message_too_large``).
    :param dead_letter_topic: where poison messages are produced (value and key unchanged, the source
        and the error in headers), before the offsets are committed; None: quarantine only.
    :param flatten_sep: separator of flattened nested fields; None keeps objects as JSON text.
    :param columns: the expected columns of the JSON objects; None: decided by the first good messages.
    :param column_types: Arrow type alias per column ("int64", "timestamp[ms]", ...), as files take them.
    :param json_schema: a JSON Schema (loaded: see :func:`~dataframe_pipeline.ingest.kafka.schema.load_json_schema`)
        every decoded JSON object must validate against, before it is flattened; one that does not is
        poison (``schema_violation``). None: no schema.
    :param offset_reset: where a partition with no recorded and no committed offset starts
        (``earliest`` or ``latest``, the connection's ``auto.offset.reset``).
    :param poll_messages: messages asked of the client per call.
    :param timeout_seconds: how long a broker request (metadata, watermarks, commit) may take.
    """

    topics: tuple[str, ...]
    max_messages: int = 100_000
    max_seconds: float = 60.0
    idle_seconds: float = 2.0
    max_message_bytes: int = 1_000_000
    dead_letter_topic: str | None = None
    flatten_sep: str | None = "."
    columns: Sequence[str] | None = None
    column_types: Mapping[str, str] | None = None
    json_schema: Mapping[str, Any] | None = None
    offset_reset: str = "earliest"
    poll_messages: int = 10_000
    timeout_seconds: float = 30.0

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value."""
        self._validate_topics()
        for name in ("max_messages", "max_message_bytes", "poll_messages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(name, value, "must be a positive integer")
        for name in ("max_seconds", "idle_seconds", "timeout_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86_400:
                raise ConfigurationError(name, value, "must be a number of seconds above 0 (and below a day)")
        if self.flatten_sep is not None and (not isinstance(self.flatten_sep, str) or not self.flatten_sep):
            raise ConfigurationError("flatten_sep", self.flatten_sep, "must be a non-empty string or None")
        self._validate_columns()
        if self.json_schema is not None:
            self.message_schema()
        if self.offset_reset not in OFFSET_RESETS:
            raise ConfigurationError("offset_reset", self.offset_reset, f"must be one of {sorted(OFFSET_RESETS)}")

    def _validate_topics(self) -> None:
        topics = self.topics
        if isinstance(topics, str) or not isinstance(topics, Sequence) or not topics:
            raise ConfigurationError("topics", topics, "must be a non-empty list of topic names")
        bad = [t for t in topics if not isinstance(t, str) or not _valid_topic(t)]
        if bad:
            raise ConfigurationError("topics", topics, f"{bad} are not topic names ([A-Za-z0-9._-], 1-249 chars)")
        if len(set(topics)) != len(topics):
            raise ConfigurationError("topics", topics, "names a topic twice")
        dead = self.dead_letter_topic
        if dead is not None and (not isinstance(dead, str) or not _valid_topic(dead)):
            raise ConfigurationError("dead_letter_topic", dead, "must be a topic name or None")
        if dead in topics:
            raise ConfigurationError("dead_letter_topic", dead, "is one of the topics read")

    def _validate_columns(self) -> None:
        columns = self.columns
        if columns is not None and (
            isinstance(columns, str)
            or not isinstance(columns, Sequence)
            or not all(isinstance(c, str) and c for c in columns)
        ):
            raise ConfigurationError("columns", columns, "must be a list of column names or None")
        named = [*(columns or ()), *(self.column_types or {})]
        reserved = sorted({*KAFKA_COLUMNS, *RESERVED_COLUMNS}.intersection(named))
        if reserved:
            raise ConfigurationError("columns", columns, f"{reserved} are reserved for provenance")
        self.arrow_types()

    def message_schema(self) -> Any:
        """The checked :class:`~dataframe_pipeline.ingest.kafka.schema.MessageSchema` of ``json_schema``
        (None without one)."""
        from dataframe_pipeline.ingest.kafka.schema import MessageSchema

        return None if self.json_schema is None else MessageSchema.of(self.json_schema)

    def arrow_types(self) -> dict[str, Any]:
        """The Arrow type of each column named in ``column_types`` (what the record layer reads)."""
        from dataframe_pipeline.ingest.files.csv.options import _arrow_type

        if self.column_types is None:
            return {}
        if not isinstance(self.column_types, Mapping):
            raise ConfigurationError("column_types", self.column_types, "must be a mapping column -> type")
        return {name: _arrow_type(name, alias) for name, alias in self.column_types.items()}


def _valid_topic(name: str) -> bool:
    allowed = all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    return allowed and 0 < len(name) < 250 and name not in (".", "..")
