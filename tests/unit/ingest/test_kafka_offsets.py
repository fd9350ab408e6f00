"""The offsets ledger and the read plan (pure logic, local files): where a batch starts, what a retry
replays, what happens to a batch that never landed; and the checks of a Kafka source's configuration."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from dataframe_pipeline.core.dataset import DatasetWriter, Location
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.kafka import KafkaSource, OffsetLedger, PartitionRange, ReadPlan
from dataframe_pipeline.ingest.kafka.offsets import manifest_section


@pytest.fixture
def lake(tmp_path):
    return Location.local(str(tmp_path))


def ledger(lake: Location, source_id: str = "dag.ingest") -> OffsetLedger:
    return OffsetLedger(lake / "_kafka_offsets" / source_id, source_id, Location.local)


def land(lake: Location, dataset: str, seq: int, ranges: list[PartitionRange], source_id: str = "dag.ingest") -> None:
    """Commit a dataset whose manifest records ``ranges`` as batch ``seq``."""
    target = lake / dataset
    writer = DatasetWriter(target.fs, target.path, uri=target.uri)
    writer.write(pa.table({"x": [1]}))
    writer.commit({"kafka": manifest_section(seq, source_id, ranges)})


def test_the_first_batch_has_no_recorded_start(lake) -> None:
    plan = ledger(lake).plan("date=2026-12-01/hour_utc=12")
    assert (plan.seq, plan.starts, plan.replay, plan.new_entry) == (1, {}, None, True)


def test_a_landed_batch_is_replayed_and_the_next_starts_at_its_ends(lake) -> None:
    book = ledger(lake)
    first = book.plan("p=1")
    book.register(ReadPlan(first.seq, {("t", 0): 0, ("t", 1): 5}), "p=1", (lake / "p1").uri)
    ranges = [PartitionRange("t", 0, 0, 40), PartitionRange("t", 1, 5, 5)]
    land(lake, "p1", 1, ranges)

    retry = book.plan("p=1")
    assert retry.replay == tuple(ranges) and not retry.new_entry and retry.seq == 1
    following = book.plan("p=2")
    assert following.seq == 2 and following.replay is None
    assert following.starts == {("t", 0): 40, ("t", 1): 5}


def test_a_batch_that_never_landed_reads_again_from_the_same_start(lake) -> None:
    book = ledger(lake)
    plan = book.plan("p=1")
    book.register(ReadPlan(plan.seq, {("t", 0): 7}), "p=1", (lake / "p1").uri)
    again = book.plan("p=1")
    assert (again.seq, again.starts, again.replay, again.new_entry) == (1, {("t", 0): 7}, None, False)


def test_a_new_partition_takes_over_a_batch_that_never_landed(lake) -> None:
    book = ledger(lake)
    book.register(ReadPlan(1, {("t", 0): 0}), "p=1", (lake / "p1").uri)
    land(lake, "p1", 1, [PartitionRange("t", 0, 0, 10)])
    plan2 = book.plan("p=2")
    book.register(ReadPlan(plan2.seq, {("t", 0): 10}), "p=2", (lake / "p2").uri)  # p=2 failed before writing
    takeover = book.plan("p=3")
    assert takeover.seq == 3 and takeover.starts == {("t", 0): 10}
    assert takeover.superseded == ("00000002@p=2.json",)
    book.register(takeover, "p=3", (lake / "p3").uri)
    assert sorted(book.entries()) == [1, 3]
    land(lake, "p3", 3, [PartitionRange("t", 0, 10, 25)])
    # the failed partition, retried later, reads after the batch that took over
    late = book.plan("p=2")
    assert late.seq == 4 and late.starts == {("t", 0): 25} and late.new_entry


def test_a_manifest_of_another_batch_or_source_does_not_count_as_landed(lake) -> None:
    book = ledger(lake)
    book.register(ReadPlan(1, {("t", 0): 0}), "p=1", (lake / "p1").uri)
    land(lake, "p1", 1, [PartitionRange("t", 0, 0, 10)], source_id="other.source")
    assert book.plan("p=1").replay is None
    land(lake, "p1", 9, [PartitionRange("t", 0, 0, 10)])
    assert book.plan("p=1").replay is None


def test_ledger_entries_are_small_json_files_named_by_batch_and_partition(lake) -> None:
    book = ledger(lake)
    book.register(ReadPlan(1, {("a.b", 2): 3}),
                  "date=2026-12-01/hour_utc=12", "file:///lake/x")  # fmt: skip
    [name] = book.entries().values()
    assert name == "00000001@date=2026-12-01~hour_utc=12.json"
    entry = json.loads((book.location / name).read_bytes())
    assert entry["starts"] == {"a.b:2": 3} and entry["dataset"] == "file:///lake/x"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"topics": ()}, "topics"),
        ({"topics": ("ok", "bad topic")}, "topics"),
        ({"topics": ("a", "a")}, "topics"),
        ({"max_messages": 0}, "max_messages"),
        ({"max_seconds": -1}, "max_seconds"),
        ({"max_message_bytes": True}, "max_message_bytes"),
        ({"dead_letter_topic": "a"}, "dead_letter_topic"),
        ({"columns": ["x", "_kafka_key"]}, "columns"),
        ({"column_types": {"x": "no-such-type"}}, "column_types['x']"),
        ({"offset_reset": "sometime"}, "offset_reset"),
    ],
)
def test_bad_source_settings_name_the_field(options, field) -> None:
    with pytest.raises(ConfigurationError) as info:
        KafkaSource(**{"topics": ("a",), **options}).validate()
    assert info.value.field == field
