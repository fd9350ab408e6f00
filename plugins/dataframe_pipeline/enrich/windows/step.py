"""The window step's pieces for the :class:`~dataframe_pipeline.core.runner.StepRunner`: the sink that
aggregates the input's events and writes the emitted windows as the step's output, the routed output
that writes late events to the late-data dataset, and the bookkeeping of one run (state in, state
out, alerts to send). Pure: no Airflow.

Accounting: every input row reaches the sink (rows in = rows out of the step); the sink's details say
where each went, ``events = aggregated + routed_late``, and the run fails if that does not hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.enrich.windows.aggregate import (
    LATE_REASON_COLUMN,
    LATE_WATERMARK_COLUMN,
    WindowAggregator,
    WindowSpec,
    WindowState,
)
from dataframe_pipeline.enrich.windows.breaches import Breach, BreachTracker, ThresholdRule
from dataframe_pipeline.exceptions import DataContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import pandas as pd

    from dataframe_pipeline.core.dataset import DatasetRef, DatasetWriter
    from dataframe_pipeline.enrich.windows.state import StatePlan

log = logging.getLogger(__name__)


@dataclass
class WindowRun:
    """One run of the windows: built from the state it starts from, it aggregates, emits and evaluates.

    :param spec: the windows.
    :param rules: the threshold rules.
    :param plan: which snapshot the run starts from and writes.
    """

    spec: WindowSpec
    rules: Sequence[ThresholdRule]
    plan: StatePlan
    aggregator: WindowAggregator = field(init=False)
    tracker: BreachTracker = field(init=False)
    emitted: pd.DataFrame | None = field(default=None, init=False)
    opened: list[Breach] = field(default_factory=list, init=False)
    closed: list[Breach] = field(default_factory=list, init=False)
    #: late events of the last batch added, for the late-data output
    pending_late: pd.DataFrame | None = field(default=None, init=False)
    template: pd.DataFrame | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        base = self.plan.base or {}
        self.aggregator = WindowAggregator(self.spec, WindowState.from_dict(base.get("windows"), self.spec))
        self.tracker = BreachTracker.from_dict(base.get("breaches"), self.rules, self.spec.keys)

    def add(self, batch: pd.DataFrame) -> None:
        if self.template is None:
            self.template = batch.iloc[0:0]
        self.pending_late = self.aggregator.add(batch)

    def finish(self) -> pd.DataFrame:
        self.emitted = self.aggregator.finish()
        self.opened, self.closed = self.tracker.observe(self.emitted)
        counts = self.aggregator.counts
        if counts.events != counts.aggregated + counts.routed_late:
            raise DataContractError(f"window accounting does not reconcile: {counts.as_dict()}")
        return self.emitted

    def already_sent(self) -> set[str]:
        """Alerts this partition's earlier snapshot says were sent (a retry does not send them again)."""
        return set((self.plan.previous or {}).get("alerts_sent") or [])

    def to_send(self) -> list[Breach]:
        sent = self.already_sent()
        return [b for b in self.opened if b.alert_id not in sent]

    def snapshot(self, sent: set[str], **extra: Any) -> dict[str, Any]:
        state = self.aggregator.state
        return {
            "watermark": None if state.watermark_ms is None else _iso(state.watermark_ms),
            "windows": state.as_dict(),
            "breaches": self.tracker.as_dict(),
            "alerts_sent": sorted(sent),
            "opened": [b.as_dict() for b in self.opened],
            "closed": [b.as_dict() for b in self.closed],
            "counts": self.aggregator.counts.as_dict(),
            **extra,
        }

    def details(self) -> dict[str, Any]:
        state = self.aggregator.state
        return {
            "windows": {
                **self.aggregator.counts.as_dict(),
                "watermark": None if state.watermark_ms is None else _iso(state.watermark_ms),
                "watermark_before": None
                if self.aggregator.start_watermark is None
                else _iso(self.aggregator.start_watermark),
                "open_windows": 0 if state.partials is None else int((state.partials["revision"] < 0).sum()),
                "breaches_opened": [b.as_dict() for b in self.opened],
                "breaches_closed": [b.as_dict() for b in self.closed],
                "state_seq": self.plan.seq,
            }
        }


class WindowSink:
    """The step's output: the windows emitted by this run (``<task>/output``)."""

    def __init__(self, run: WindowRun, writer: DatasetWriter) -> None:
        self.run = run
        self.writer = writer

    def write(self, batch: pd.DataFrame) -> None:
        self.run.add(batch)

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef:
        emitted = self.run.finish()
        self.writer.write(self.run.aggregator.output_table(emitted))
        return self.writer.commit({**meta, "windows": self.run.details()["windows"]})

    def abort(self) -> None:
        self.writer.abort()

    def details(self) -> Mapping[str, Any]:
        return self.run.details()


class LateEvents:
    """The routed late-data dataset (``<task>/late``): late events, whole, with the reason and the
    watermark they were behind.

    :param run: the run (its sink classifies each batch before this output sees it).
    :param writer: the dataset.
    :param template: an empty frame with the input's columns (for a run that read no batch).
    """

    def __init__(self, run: WindowRun, writer: DatasetWriter, template: Callable[[], pd.DataFrame]) -> None:
        self.run = run
        self.writer = writer
        self.template = template
        self.rows = 0

    def write(self, batch: pd.DataFrame) -> None:
        late = self.run.pending_late
        self.run.pending_late = None
        if late is not None and len(late):
            self.writer.write(late)
            self.rows += len(late)

    def commit(self, output: DatasetRef) -> Mapping[str, Any]:
        if self.rows == 0:
            empty = (self.run.template if self.run.template is not None else self.template()).copy()
            empty[LATE_REASON_COLUMN] = empty.index.astype(str)
            empty[LATE_WATERMARK_COLUMN] = empty.index.astype("datetime64[ms]").tz_localize("UTC")
            self.writer.write(empty)
        ref = self.writer.commit({"step": "windows.late", "windows_output": output.uri})
        return {"late": ref.as_dict()}

    def abort(self) -> None:
        self.writer.abort()


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
