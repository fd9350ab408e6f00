"""The partition of a run woken by an AssetWatcher: the second of its run_after, one per wake-up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataframe_pipeline.core.partition import RunFacts, Schedule, from_trigger_only, resolve_partition
from dataframe_pipeline.exceptions import PartitionError


def test_a_wake_up_is_its_own_second_grain_partition() -> None:
    woken = datetime(2026, 12, 1, 15, 4, 7, 812_000, tzinfo=UTC)
    partition = resolve_partition(RunFacts("asset_triggered__x", woken_at=woken), Schedule())
    assert partition.path == "date=2026-12-01/hour_utc=15/minute_utc=04/second_utc=07"
    assert partition.origin == "asset_watcher"


def test_only_trigger_events_count_as_wake_ups() -> None:
    assert from_trigger_only([{"from_trigger": True, "payload": {"offset": 3}}])
    assert not from_trigger_only([{"from_trigger": True}, {"other": 1}])
    assert not from_trigger_only([])
    with pytest.raises(PartitionError):
        resolve_partition(RunFacts("asset_triggered__x"), Schedule())
