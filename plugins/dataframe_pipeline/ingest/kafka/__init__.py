"""Kafka topics as an ingest source, in micro-batches that land exactly once in the lake.

:class:`~dataframe_pipeline.ingest.kafka.reader.KafkaBatchReader` reads one batch of every partition
of the topics (up to ``max_messages`` or ``max_seconds``) through a confluent-kafka consumer it
assigns itself, decodes JSON values through the shared record layer (as JSON Lines files are), and
quarantines poison messages, which it also produces to a dead-letter topic. The offset range of each
partition is stored with the data, in the dataset's manifest, and a small ledger
(:class:`~dataframe_pipeline.ingest.kafka.offsets.OffsetLedger`) says which dataset each run partition
wrote: a retry replays the recorded ranges, the next partition starts where the last landed batch
ended, and the consumer group's offsets are committed only after the data (they may lag, never lead).

Modules: ``source.py`` (configuration, rules, column names), ``offsets.py`` (ranges, the ledger and the
read plan), ``reader.py`` (the consumer loop, decoding, poison messages, dead letters, commits).
No Airflow here: the operator (``ingest/operators.py``) brings the consumer and producer from an
Airflow Kafka connection.
"""

from __future__ import annotations

from dataframe_pipeline.ingest.kafka.offsets import OffsetLedger, PartitionRange, ReadPlan
from dataframe_pipeline.ingest.kafka.source import KafkaSource

__all__ = ["KafkaSource", "OffsetLedger", "PartitionRange", "ReadPlan"]
