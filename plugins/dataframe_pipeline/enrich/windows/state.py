"""Where the window state lives between runs: one snapshot per run partition, in order.

Layout, ``<lake>/_stream_state/<state id>/``::

    00000012@date=2026-12-01~hour_utc=15~minute_utc=05.json   state after the 12th run partition

A snapshot holds the watermark, the open windows, the breach state and the alerts sent. It is written
after the run's outputs are committed. A run starts from the snapshot **before** its own: a new
partition from the newest one; a retry or re-run of partition P (whose snapshot k exists) from
snapshot k - 1, so its events are never counted twice, and the alerts snapshot k says were sent are
not sent again. Only the newest snapshot is replaced by a re-run (later ones stay as they were).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core import snapshots

if TYPE_CHECKING:
    from dataframe_pipeline.core.dataset import Location


@dataclass(frozen=True)
class StatePlan:
    """Which snapshot a run starts from and which it writes.

    :param seq: the snapshot the run writes.
    :param base: the state it starts from (None: the first run).
    :param previous: this partition's own earlier snapshot (a retry or re-run), else None.
    :param newest: whether the run writes the newest snapshot (else it leaves the snapshots as they are).
    """

    seq: int
    base: dict[str, Any] | None
    previous: dict[str, Any] | None
    newest: bool


class StateStore:
    """The snapshots of one stream's windows (see the module docstring)."""

    def __init__(self, location: Location) -> None:
        self.location = location

    def entries(self) -> dict[int, str]:
        return snapshots.entries(self.location)

    def read(self, name: str) -> dict[str, Any]:
        return snapshots.read(self.location, name)

    def plan(self, run_partition: str) -> StatePlan:
        entries = self.entries()
        suffix = snapshots.partition_suffix(run_partition)
        mine = sorted(seq for seq, name in entries.items() if name.endswith(suffix))
        if mine:
            seq = mine[-1]
            earlier = [s for s in entries if s < seq]
            base = self.read(entries[max(earlier)]) if earlier else None
            return StatePlan(seq, base, self.read(entries[seq]), newest=seq == max(entries))
        if not entries:
            return StatePlan(1, None, None, newest=True)
        newest = max(entries)
        return StatePlan(newest + 1, self.read(entries[newest]), None, newest=True)

    def save(self, plan: StatePlan, run_partition: str, state: dict[str, Any]) -> str:
        name = snapshots.entry_name(plan.seq, run_partition)
        body = {"seq": plan.seq, "partition": run_partition, "saved": datetime.now(UTC).isoformat(), **state}
        (self.location / name).write_bytes(json.dumps(body, indent=1, default=str).encode())
        return (self.location / name).uri
