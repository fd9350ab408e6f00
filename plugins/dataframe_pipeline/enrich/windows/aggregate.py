"""Event-time windows over a stream that arrives in micro-batches: watermark, lateness, tumbling and
sliding windows with mergeable partial aggregates kept between runs. Pure: no Airflow, no Kafka.

Why here (``enrich``) and not in ``ingest/kafka``: the windows read a committed dataset of the lake
(the ingest or clean output of a run), not the consumer, so any event dataset can be windowed and the
Kafka reader stays about offsets.

**Event time and processing time.** A window is placed by the event's own time (``event_time``, e.g.
the reading's timestamp) or, with ``event_time=None``, by the time the broker stamped the message
(``_kafka_timestamp``: processing time).

**Watermark.** ``watermark = max event time seen - allowed lateness``, computed at the end of a run
(micro-batch semantics, as Spark Structured Streaming does: deterministic whatever the order of the
events within a run) and persisted with the open windows, so it survives restarts. A window
``[start, start + size)`` is emitted once the watermark reaches its end, once (revision 0).

**Late events** are events older than the watermark at the start of the run. They are never dropped:

- ``late_policy="route"``: they go, whole and unaggregated, to the step's late-data dataset
  (``_late_reason = "late"``);
- ``late_policy="merge"``: they are merged into their windows; a window already emitted is emitted
  again in this run with ``revision + 1`` (readers keep the highest revision of a window). Emitted
  windows are kept for ``retain_seconds`` for that; an event older than ``watermark - retain_seconds``
  goes to the late-data dataset (``_late_reason = "beyond_retention"``).

**State.** Per (key, window start): the event count and, per value column, count, sum, min and max
(mergeable; the mean is ``sum / count``). Open windows (and, in ``merge`` mode, the retained emitted
ones) are the only state: its size is keys x windows within the lateness, not the stream's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

#: the processing-time column the Kafka ingest adds (milliseconds, UTC)
PROCESSING_TIME_COLUMN = "_kafka_timestamp"
WINDOW_START = "window_start"
WINDOW_END = "window_end"
EVENTS = "events"
REVISION = "revision"
WATERMARK = "watermark"
#: the columns a late event gets in the late-data dataset
LATE_REASON_COLUMN = "_late_reason"
LATE_WATERMARK_COLUMN = "_watermark"
LATE_POLICIES = ("route", "merge")
AGGREGATES = ("count", "sum", "mean", "min", "max")
_PARTIALS = ("count", "sum", "min", "max")
_MS = 1000


@dataclass(frozen=True)
class WindowSpec:
    """Windows per key over one or more value columns.

    :param keys: the key columns (e.g. ``["device_id"]``).
    :param values: the numeric columns aggregated (count, sum, mean, min, max of each).
    :param size_seconds: the window length.
    :param slide_seconds: a sliding window's step; None (or the size): tumbling windows.
    :param event_time: the event-time column; None: processing time (``_kafka_timestamp``).
    :param allowed_lateness_seconds: how far behind the newest event the watermark trails.
    :param late_policy: ``route`` or ``merge`` (see the module docstring).
    :param retain_seconds: ``merge``: how long emitted windows are kept to be re-emitted.
    """

    keys: tuple[str, ...]
    values: tuple[str, ...]
    size_seconds: int
    slide_seconds: int | None = None
    event_time: str | None = "event_time"
    allowed_lateness_seconds: int = 0
    late_policy: str = "route"
    retain_seconds: int = 3600

    @property
    def time_column(self) -> str:
        return self.event_time or PROCESSING_TIME_COLUMN

    @property
    def size_ms(self) -> int:
        return int(self.size_seconds) * _MS

    @property
    def slide_ms(self) -> int:
        return int(self.slide_seconds or self.size_seconds) * _MS

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value."""
        for name in ("keys", "values"):
            value = getattr(self, name)
            if isinstance(value, str) or not value or not all(isinstance(c, str) and c for c in value):
                raise ConfigurationError(name, value, "must be a non-empty list of column names")
        for name in ("size_seconds", "slide_seconds", "allowed_lateness_seconds", "retain_seconds"):
            value = getattr(self, name)
            if value is None and name == "slide_seconds":
                continue
            minimum = 0 if name == "allowed_lateness_seconds" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigurationError(name, value, f"must be an integer number of seconds >= {minimum}")
        if self.slide_seconds is not None and self.slide_seconds > self.size_seconds:
            raise ConfigurationError(
                "slide_seconds", self.slide_seconds, f"must not exceed size_seconds={self.size_seconds}"
            )
        if self.late_policy not in LATE_POLICIES:
            raise ConfigurationError("late_policy", self.late_policy, f"must be one of {list(LATE_POLICIES)}")
        if self.event_time is not None and (not isinstance(self.event_time, str) or not self.event_time):
            raise ConfigurationError("event_time", self.event_time, "must be a column name or None (processing time)")
        clash = sorted(set(self.keys) & set(self.values))
        if clash:
            raise ConfigurationError("values", self.values, f"{clash} are also keys")

    def check_columns(self, columns: list[str]) -> None:
        """The input holds every column the windows need (else a ConfigurationError naming the field)."""
        for name, wanted in (("keys", self.keys), ("values", self.values), ("event_time", (self.time_column,))):
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise ConfigurationError(name, list(wanted), f"{missing} not in the input's columns {columns}")

    def partial_columns(self) -> list[str]:
        return [EVENTS, *(f"{v}__{p}" for v in self.values for p in _PARTIALS)]

    def output_schema(self, key_types: dict[str, pa.DataType] | None = None) -> pa.Schema:
        """The schema of the emitted windows."""
        stamp = pa.timestamp("ms", tz="UTC")
        fields = [(k, (key_types or {}).get(k, pa.string())) for k in self.keys]
        fields += [(WINDOW_START, stamp), (WINDOW_END, stamp), (EVENTS, pa.int64())]
        for v in self.values:
            fields += [(f"{v}_count", pa.int64()), (f"{v}_sum", pa.float64()), (f"{v}_mean", pa.float64()),
                       (f"{v}_min", pa.float64()), (f"{v}_max", pa.float64())]  # fmt: skip
        fields += [(REVISION, pa.int64()), (WATERMARK, stamp)]
        return pa.schema(fields)


@dataclass
class WindowState:
    """What the windows keep between runs: the newest event time, the watermark and the partials."""

    max_event_ms: int | None = None
    watermark_ms: int | None = None
    #: keys + window_start (ms) + partial columns + revision (-1: not emitted yet)
    partials: pd.DataFrame | None = None

    def as_dict(self) -> dict[str, Any]:
        frame = self.partials
        records = [] if frame is None else frame.astype(object).where(frame.notna(), None).to_dict("records")
        return {"max_event_ms": self.max_event_ms, "watermark_ms": self.watermark_ms, "windows": records}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, spec: WindowSpec) -> WindowState:
        if not data:
            return cls()
        columns = [*spec.keys, WINDOW_START, *spec.partial_columns(), REVISION]
        frame = pd.DataFrame(data.get("windows") or [], columns=columns)
        return cls(data.get("max_event_ms"), data.get("watermark_ms"), _typed(frame, spec))


def _typed(frame: pd.DataFrame, spec: WindowSpec) -> pd.DataFrame:
    frame = frame.copy()
    for column in (WINDOW_START, EVENTS, REVISION, *(f"{v}__count" for v in spec.values)):
        frame[column] = frame[column].astype("int64")
    for v in spec.values:
        for p in ("sum", "min", "max"):
            frame[f"{v}__{p}"] = frame[f"{v}__{p}"].astype("float64")
    return frame


@dataclass
class RunCounts:
    """One run's accounting of events: ``events = aggregated + routed_late`` (``merged_late`` is part of aggregated)."""

    events: int = 0
    aggregated: int = 0
    merged_late: int = 0
    routed_late: int = 0
    windows_emitted: int = 0
    windows_reemitted: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(self).items()}


class WindowAggregator:
    """Adds a run's events to the windows and emits those the watermark passed.

    ``add`` each batch (it returns the batch's late events to route), then ``finish`` once: it advances
    the watermark and returns the windows emitted by this run. ``state`` is then what to persist.
    """

    def __init__(self, spec: WindowSpec, state: WindowState | None = None) -> None:
        self.spec = spec
        self.state = state or WindowState()
        self.start_watermark = self.state.watermark_ms
        self.counts = RunCounts()
        self._partials = [self.state.partials] if self.state.partials is not None and len(self.state.partials) else []
        #: windows touched by late events of this run (re-emitted if already emitted)
        self._dirty: list[pd.DataFrame] = []
        self._key_types: dict[str, pa.DataType] = {}

    # -- events ----------------------------------------------------------------------------------

    def add(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Aggregate a batch of events; returns its events routed to the late-data dataset."""
        spec = self.spec
        self._remember_key_types(batch)
        times = event_millis(batch[spec.time_column], spec.time_column)
        self._check_complete(batch, times)
        self.counts.events += len(batch)
        if len(batch):
            newest = int(times.max())
            self.state.max_event_ms = max(newest, self.state.max_event_ms or newest)
        routed = np.zeros(len(batch), dtype=bool)
        reasons = np.full(len(batch), None, dtype=object)
        watermark = self.start_watermark
        late = times < watermark if watermark is not None else np.zeros(len(batch), dtype=bool)
        if spec.late_policy == "route":
            routed |= late
            reasons[late] = "late"
        else:
            too_old = times < watermark - spec.retain_seconds * _MS if watermark is not None else late
            routed |= too_old
            reasons[too_old] = "beyond_retention"
            merged = late & ~too_old
            self.counts.merged_late += int(merged.sum())
        kept = ~routed
        if kept.any():
            partial = self._partial(batch.loc[kept], times[kept])
            self._partials.append(partial)
            if spec.late_policy == "merge":
                late_windows = self._partial(batch.loc[late & kept], times[late & kept])
                if len(late_windows):
                    self._dirty.append(late_windows[[*spec.keys, WINDOW_START]])
        self.counts.aggregated += int(kept.sum())
        self.counts.routed_late += int(routed.sum())
        for reason in reasons[routed]:
            self.counts.by_reason[reason] = self.counts.by_reason.get(reason, 0) + 1
        out = batch.loc[routed].copy()
        out[LATE_REASON_COLUMN] = pd.Series(reasons[routed], index=out.index, dtype=object)
        out[LATE_WATERMARK_COLUMN] = pd.Series(
            pd.to_datetime([watermark] * len(out), unit="ms", utc=True), index=out.index
        ).astype("datetime64[ms, UTC]")
        return out

    def _remember_key_types(self, batch: pd.DataFrame) -> None:
        if self._key_types or not len(batch.columns):
            return
        schema = pa.Schema.from_pandas(batch[list(self.spec.keys)].head(0), preserve_index=False)
        self._key_types = {f.name: (pa.string() if f.type == pa.null() else f.type) for f in schema}

    def _check_complete(self, batch: pd.DataFrame, times: np.ndarray) -> None:
        """An event without a time or a key cannot be placed: the clean step must quarantine it first."""
        missing_time = int(np.isnan(times).sum()) if times.dtype.kind == "f" else 0
        missing_key = {k: int(batch[k].isna().sum()) for k in self.spec.keys if batch[k].isna().any()}
        if missing_time or missing_key:
            raise DataContractError(
                f"{missing_time} event(s) without {self.spec.time_column!r} and {missing_key or 'no'} without a key: "
                "quarantine them before the windows (clean: missing_values strategy 'quarantine')"
            )

    def _partial(self, events: pd.DataFrame, times: np.ndarray) -> pd.DataFrame:
        """The partial aggregates of events per key and window they fall in."""
        spec = self.spec
        times = times.astype("int64")
        size, slide = spec.size_ms, spec.slide_ms
        per_event = math.ceil(size / slide)
        base = np.floor_divide(times, slide) * slide
        pieces = []
        for j in range(per_event):
            starts = base - j * slide
            inside = starts + size > times
            if not inside.any():
                continue
            piece = events.loc[inside, [*spec.keys, *spec.values]].copy()
            piece[WINDOW_START] = starts[inside]
            pieces.append(piece)
        frame = pd.concat(pieces, ignore_index=True) if pieces else events[[*spec.keys, *spec.values]].iloc[0:0]
        if WINDOW_START not in frame:
            frame[WINDOW_START] = np.array([], dtype="int64")
        named: dict[str, Any] = {EVENTS: (WINDOW_START, "size")}
        for v in spec.values:
            frame[v] = pd.to_numeric(frame[v], errors="raise").astype("float64")
            named.update({f"{v}__count": (v, "count"), f"{v}__sum": (v, "sum"), f"{v}__min": (v, "min"),
                          f"{v}__max": (v, "max")})  # fmt: skip
        grouped = frame.groupby([*spec.keys, WINDOW_START], sort=False).agg(**named).reset_index()
        grouped[REVISION] = -1
        return _typed(grouped, spec)

    # -- the end of the run ----------------------------------------------------------------------

    def finish(self) -> pd.DataFrame:
        """Advance the watermark, emit the windows it passed (and re-emit merged ones); returns them."""
        spec = self.spec
        partials = self._merged()
        if self.state.max_event_ms is not None:
            advanced = self.state.max_event_ms - spec.allowed_lateness_seconds * _MS
            self.state.watermark_ms = max(advanced, self.state.watermark_ms or advanced)
        watermark = self.state.watermark_ms
        ends = partials[WINDOW_START] + spec.size_ms
        closed = ends <= watermark if watermark is not None else pd.Series(False, index=partials.index)
        fresh = closed & (partials[REVISION] < 0)
        dirty = self._dirty_mask(partials) & (partials[REVISION] >= 0)
        emit = fresh | dirty
        partials.loc[emit, REVISION] = partials.loc[emit, REVISION] + 1
        self.counts.windows_emitted += int(fresh.sum())
        self.counts.windows_reemitted += int(dirty.sum())
        emitted = self._output(partials.loc[emit], watermark)
        keep = ~closed  # no watermark yet: nothing is closed, every window stays open
        if spec.late_policy == "merge" and watermark is not None:
            keep = keep | (ends > watermark - spec.retain_seconds * _MS)  # closed windows a late event may reopen
        self.state.partials = partials.loc[keep].reset_index(drop=True)
        return emitted

    def _merged(self) -> pd.DataFrame:
        spec = self.spec
        columns = [*spec.keys, WINDOW_START, *spec.partial_columns(), REVISION]
        if not self._partials:
            return _typed(pd.DataFrame({c: [] for c in columns}), spec)
        frame = pd.concat(self._partials, ignore_index=True)
        how = {EVENTS: "sum", REVISION: "max"}
        for v in spec.values:
            how.update({f"{v}__count": "sum", f"{v}__sum": "sum", f"{v}__min": "min", f"{v}__max": "max"})
        merged = frame.groupby([*spec.keys, WINDOW_START], sort=True).agg(how).reset_index()
        return _typed(merged[columns], spec)

    def _dirty_mask(self, partials: pd.DataFrame) -> pd.Series:
        if not self._dirty:
            return pd.Series(False, index=partials.index)
        touched = pd.concat(self._dirty, ignore_index=True).drop_duplicates()
        touched["_touched"] = True
        marked = partials[[*self.spec.keys, WINDOW_START]].merge(
            touched, how="left", on=[*self.spec.keys, WINDOW_START]
        )
        return pd.Series(marked["_touched"].fillna(False).astype(bool).to_numpy(), index=partials.index)

    def _output(self, windows: pd.DataFrame, watermark: int | None) -> pd.DataFrame:
        spec = self.spec
        out = windows[list(spec.keys)].copy()
        out[WINDOW_START] = pd.to_datetime(windows[WINDOW_START], unit="ms", utc=True)
        out[WINDOW_END] = pd.to_datetime(windows[WINDOW_START] + spec.size_ms, unit="ms", utc=True)
        out[EVENTS] = windows[EVENTS]
        for v in spec.values:
            count = windows[f"{v}__count"]
            out[f"{v}_count"] = count
            out[f"{v}_sum"] = windows[f"{v}__sum"].where(count > 0)
            out[f"{v}_mean"] = windows[f"{v}__sum"].where(count > 0) / count.where(count > 0)
            out[f"{v}_min"] = windows[f"{v}__min"]
            out[f"{v}_max"] = windows[f"{v}__max"]
        out[REVISION] = windows[REVISION]
        out[WATERMARK] = pd.to_datetime(
            pd.Series([watermark] * len(out), index=out.index, dtype="float64"), unit="ms", utc=True
        )
        return out.sort_values([WINDOW_START, *spec.keys]).reset_index(drop=True)

    def output_table(self, windows: pd.DataFrame) -> pa.Table:
        """The emitted windows as Arrow, with the output schema (also when empty)."""
        schema = self.spec.output_schema(self._key_types)
        return pa.Table.from_pandas(windows, schema=schema, preserve_index=False)


def event_millis(column: pd.Series, name: str) -> np.ndarray:
    """Event times as milliseconds since the epoch (float: NaN where missing); datetimes or ISO text."""
    if pd.api.types.is_datetime64_any_dtype(column):
        values = column
    elif pd.api.types.is_numeric_dtype(column):
        raise DataContractError(f"{name!r} holds numbers ({column.dtype}): give datetimes (coerce_types: datetime)")
    else:
        try:
            values = pd.to_datetime(column, utc=True, format="ISO8601")
        except (ValueError, TypeError) as err:
            raise DataContractError(f"{name!r} holds values that are not ISO 8601 times: {err}") from err
    if getattr(values.dt, "tz", None) is None:
        values = values.dt.tz_localize("UTC")
    as_ms = values.dt.tz_convert("UTC").astype("datetime64[ms, UTC]")
    ints = as_ms.astype("int64").to_numpy().astype("float64")
    ints[as_ms.isna().to_numpy()] = np.nan
    return ints
