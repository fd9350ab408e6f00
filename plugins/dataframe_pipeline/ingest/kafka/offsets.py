"""Offsets kept with the data: the range of every Kafka partition a dataset holds is in that dataset's
manifest, committed with its files in one atomic write, and a small ledger says which dataset each run
partition of a source wrote.

Layout of the ledger, ``<lake>/_kafka_offsets/<source id>/``::

    00000007@date=2026-12-01~hour_utc=15~minute=05.json   the 7th batch: run partition, dataset, start positions

An entry is written *before* its batch is read (an intent: where the batch starts and which dataset it
goes to). The batch's ranges are written in the dataset's manifest, under ``meta.kafka``, with the
entry's sequence number: the batch counts as landed exactly when that manifest exists with that number.
So, on start (:meth:`OffsetLedger.plan`):

- a run partition that has an entry whose dataset landed **replays** the recorded ranges, exactly: a
  retry, or a re-run of an old partition, gives the same rows (the crash between the write and the
  commit of the offsets to the consumer group is harmless);
- a run partition that has an entry whose dataset never landed reads again from the same start;
- a new run partition starts where the newest landed batch ended (its manifest's ranges), not where
  the consumer group's committed offsets say (they are committed after the data, so they may lag);
  a newest entry that never landed is taken over (its run failed before writing anything, and a retry
  of it gets a new entry after this one): no gap, no duplicate.

Partitions that no landed batch has seen start at the group's committed offset, else at the earliest
(or latest) offset, as configured. One reader per source at a time: the operator sets
``max_active_tis_per_dag=1``. The ledger grows by one small file per batch; it is listed once per run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core import snapshots
from dataframe_pipeline.core.dataset import MANIFEST

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dataframe_pipeline.core.dataset import Location

log = logging.getLogger(__name__)

#: the key of the Kafka section in a dataset manifest's ``meta``
MANIFEST_KEY = "kafka"

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, order=True)
class PartitionRange:
    """The offsets ``first`` (inclusive) to ``end`` (exclusive) of one partition of a topic; ``end`` is
    where the next batch starts. Offsets in between may be missing (transaction markers, compaction)."""

    topic: str
    partition: int
    first: int
    end: int

    @property
    def key(self) -> TopicPartitionKey:
        return (self.topic, self.partition)

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "first": self.first, "end": self.end}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartitionRange:
        return cls(str(data["topic"]), int(data["partition"]), int(data["first"]), int(data["end"]))


def position_key(key: TopicPartitionKey) -> str:
    return f"{key[0]}:{key[1]}"


def parse_position_key(text: str) -> TopicPartitionKey:
    topic, _, partition = text.rpartition(":")
    return topic, int(partition)


@dataclass(frozen=True)
class ReadPlan:
    """Where a batch reads: the ledger entry it belongs to and, per partition, where it starts, or the
    exact ranges it replays.

    :param seq: the entry's sequence number (recorded in the manifest with the ranges).
    :param starts: start offset of each partition known to the ledger (others: group offset or reset).
    :param replay: the ranges of a batch that landed before, to read again exactly; None: a new read.
    :param new_entry: the entry must be written before reading (a run partition not seen before).
    :param superseded: entries of batches that never landed, taken over by this one (removed).
    """

    seq: int
    starts: dict[TopicPartitionKey, int] = field(default_factory=dict)
    replay: tuple[PartitionRange, ...] | None = None
    new_entry: bool = True
    superseded: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.replay is not None:
            spans = ", ".join(f"{r.topic}[{r.partition}] {r.first}..{r.end}" for r in self.replay)
            return f"batch {self.seq}: replaying the recorded ranges {spans}"
        known = ", ".join(f"{t}[{p}] {o}" for (t, p), o in sorted(self.starts.items())) or "none recorded"
        return f"batch {self.seq}: a new read from {known}"


def manifest_section(seq: int, source_id: str, ranges: Iterable[PartitionRange]) -> dict[str, Any]:
    """What the dataset manifest records under ``meta.kafka``."""
    ordered = sorted(ranges)
    return {
        "source_id": source_id,
        "seq": seq,
        "ranges": [r.as_dict() for r in ordered],
        "messages_upper_bound": sum(r.end - r.first for r in ordered),
    }


class OffsetLedger:
    """The ledger of one source: which dataset each run partition wrote, and where batches start.

    :param location: ``<lake>/_kafka_offsets/<source id>``.
    :param source_id: the source's name (recorded in the manifests).
    :param open_dataset: a dataset's location from its URI (the entries name datasets by URI).
    """

    def __init__(self, location: Location, source_id: str, open_dataset: Any) -> None:
        self.location = location
        self.source_id = source_id
        self.open_dataset = open_dataset

    # -- reading --------------------------------------------------------------------------------

    def entries(self) -> dict[int, str]:
        """Sequence number -> entry file name."""
        return snapshots.entries(self.location)

    def read_entry(self, name: str) -> dict[str, Any]:
        return snapshots.read(self.location, name)

    def landed(self, entry: Mapping[str, Any]) -> tuple[PartitionRange, ...] | None:
        """The ranges the entry's dataset recorded, if it landed with this entry's number; else None."""
        manifest = self.open_dataset(entry["dataset"]) / MANIFEST
        if not manifest.exists():
            return None
        section = (json.loads(manifest.read_bytes()).get("meta") or {}).get(MANIFEST_KEY) or {}
        if section.get("seq") != entry["seq"] or section.get("source_id") != self.source_id:
            return None
        return tuple(PartitionRange.from_dict(r) for r in section.get("ranges", []))

    def plan(self, run_partition: str) -> ReadPlan:
        """Where the batch of ``run_partition`` reads (see the module docstring)."""
        entries = self.entries()
        suffix = snapshots.partition_suffix(run_partition)
        mine = [seq for seq, name in entries.items() if name.endswith(suffix)]
        stale: tuple[str, ...] = ()
        if mine:
            entry = self.read_entry(entries[max(mine)])
            ranges = self.landed(entry)
            if ranges is not None:
                return ReadPlan(entry["seq"], _starts(entry), replay=ranges, new_entry=False)
            if entry["seq"] == max(entries):
                return ReadPlan(entry["seq"], _starts(entry), new_entry=False)
            # never landed, and later batches started after it: it reads anew after them
            stale = (entries.pop(entry["seq"]),)
        if not entries:
            return ReadPlan(1, superseded=stale)
        newest_seq = max(entries)
        newest = self.read_entry(entries[newest_seq])
        ranges = self.landed(newest)
        if ranges is None:
            # the newest batch never landed: its run failed before writing; this batch takes over its start
            return ReadPlan(newest_seq + 1, _starts(newest), superseded=(*stale, entries[newest_seq]))
        starts = _starts(newest)
        starts.update({r.key: r.end for r in ranges})
        return ReadPlan(newest_seq + 1, starts, superseded=stale)

    # -- writing --------------------------------------------------------------------------------

    def register(self, plan: ReadPlan, run_partition: str, dataset_uri: str) -> None:
        """Write the entry of a new batch (before it is read), removing the one it supersedes."""
        name = snapshots.entry_name(plan.seq, run_partition)
        entry = {
            "seq": plan.seq,
            "partition": run_partition,
            "dataset": dataset_uri,
            "source_id": self.source_id,
            "starts": {position_key(k): v for k, v in sorted(plan.starts.items())},
            "created": datetime.now(UTC).isoformat(),
        }
        (self.location / name).write_bytes(json.dumps(entry, indent=1).encode())
        for old in plan.superseded:
            log.warning("batch %s never landed: superseded by %s (its run reads anew after this one)", old, name)
            self.location.fs.rm((self.location / old).path)


def _starts(entry: Mapping[str, Any]) -> dict[TopicPartitionKey, int]:
    return {parse_position_key(k): int(v) for k, v in (entry.get("starts") or {}).items()}
