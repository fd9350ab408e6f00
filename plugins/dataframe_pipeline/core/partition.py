"""The partition a run processes, derived in one place however the run was started. Pure: no Airflow import.

Every step of a run stores its outputs under the run's partition, the SQL source reads the partition's
interval, and the store step publishes into it, so a scheduled run, a manual run, a backfill and a retry
of the same partition all read, write and replace the same data. :func:`resolve_partition` decides it,
in this order:

1. a partition asked for explicitly (the ``partition`` param of a manual run: ``"2026-10-09"``,
   ``"2026-11-01T03:00"``), aligned to the schedule;
2. the partition Airflow gives the run (``partition_date`` / ``partition_key`` of partitioned
   timetables and assets);
3. the run's logical date, aligned to the schedule: the schedule interval that contains it;
4. for an asset-triggered run (no logical date), the partition the triggering asset events carry in
   their ``extra`` (``{"partition": {"start": ...}}``), when they agree on one;
5. for a run woken by an ``AssetWatcher`` (its events come from a trigger and carry no partition: a
   Kafka message arrived), the second of its ``run_after``: each wake-up is its own partition, so a
   micro-batch ingest of the run reads what arrived since the last one (``ingest/kafka/offsets.py``).

A run with none of these fails at once with :class:`~dataframe_pipeline.exceptions.PartitionError`,
saying what to pass. Why not Airflow's data interval: a manual run for logical date X gets the interval
*ending* at X (X-1 to X) while a scheduled or backfill run for X gets the one *starting* at X, so the
same partition would read different data depending on how it was started.

**Grain.** A partition is one interval of the schedule, never coarser: a daily (or weekly, monthly)
schedule gives ``date=2026-10-09`` (the date in the schedule's time zone); a sub-daily one adds the
hour (``date=2026-11-01/hour_utc=03``) and, below an hour, the minute (``minute_utc=15``), in UTC so that
no two partitions share a key when clocks change. The sub-daily fields say UTC in their names, which
also keeps them apart from the ``hour`` or ``minute`` columns data often has (a Hive partition field may
not repeat a column of the data). Without a periodic schedule a partition is a day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dataframe_pipeline.exceptions import PartitionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dateutil.relativedelta import relativedelta

#: the param of a manual run that names the partition to process
PARTITION_PARAM = "partition"
GRAINS = ("day", "hour", "minute", "second")
_DAY = timedelta(days=1)
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_REQUEST_FORMATS = {
    "day": ("%Y-%m-%d",),
    "hour": ("%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"),
    "minute": ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"),
    "second": ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"),
}


@dataclass(frozen=True)
class Schedule:
    """When a DAG runs, as far as partitions care: a cron expression, a fixed period, or neither.

    :param cron: a five-field cron expression (presets such as ``@daily`` resolved), or None.
    :param every: a period (``timedelta`` or ``relativedelta``) counted from ``anchor``, or None.
    :param anchor: where ``every`` periods start (the DAG's start date).
    :param timezone: the zone the cron expression is read in (IANA name).
    :param end: the start of the schedule's last interval (or the DAG's ``end_date``): no partition starts
        after it (a run for a later one is refused).
    """

    cron: str | None = None
    every: timedelta | relativedelta | None = None
    anchor: datetime | None = None
    timezone: str = "UTC"
    end: datetime | None = None

    @property
    def periodic(self) -> bool:
        return self.cron is not None or self.every is not None

    def interval_of(self, instant: datetime) -> tuple[datetime, datetime]:
        """The schedule interval ``[start, end)`` that contains ``instant`` (a day without a schedule)."""
        instant = _utc(instant)
        if self.cron is not None:
            return self._cron_interval(instant)
        if self.every is not None:
            return self._every_interval(instant, self.every)
        start = datetime(instant.year, instant.month, instant.day, tzinfo=UTC)
        return start, start + _DAY

    def _cron_interval(self, instant: datetime) -> tuple[datetime, datetime]:
        from croniter import croniter

        local = instant.astimezone(ZoneInfo(self.timezone))
        start = local if croniter.match(self.cron, local) else croniter(self.cron, local).get_prev(datetime)
        end = croniter(self.cron, start).get_next(datetime)
        return _utc(start), _utc(end)

    def _every_interval(self, instant: datetime, every: timedelta | relativedelta) -> tuple[datetime, datetime]:
        anchor = _utc(self.anchor or datetime(1970, 1, 1, tzinfo=UTC))
        if isinstance(every, timedelta):
            steps = (instant - anchor) // every
            start = anchor + steps * every
            return start, start + every
        start = anchor  # a calendar period (months): walk, it is a handful of steps per year
        while start + every <= instant:
            start += every
        while start > instant:
            start -= every
        return start, start + every


@dataclass(frozen=True)
class Partition:
    """One partition of a DAG's data: an interval of its schedule (or an opaque key from Airflow).

    :param start: the interval's start (UTC).
    :param end: the interval's end (UTC), exclusive.
    :param grain: ``"day"``, ``"hour"``, ``"minute"`` or ``"second"``: which fields name it.
    :param timezone: the schedule's time zone, in which a day partition's date is read.
    :param key: a partition key Airflow gave the run without a date (partitioned assets), else None.
    :param origin: how it was decided (``"param"``, ``"airflow"``, ``"logical_date"``, ``"asset_event"``).
    """

    start: datetime | None
    end: datetime | None
    grain: str = "day"
    timezone: str = "UTC"
    key: str | None = None
    origin: str = field(default="logical_date", compare=False)

    @property
    def values(self) -> dict[str, str]:
        """The partition's fields, coarse to fine: ``{"date": "2026-11-01", "hour_utc": "03"}``."""
        if self.start is None:
            return {"partition": _KEY_UNSAFE.sub("_", self.key or "")}
        when = self.start.astimezone(ZoneInfo(self.timezone)) if self.grain == "day" else self.start
        values = {"date": when.strftime("%Y-%m-%d")}
        for grain, name, fmt in (
            ("hour", "hour_utc", "%H"),
            ("minute", "minute_utc", "%M"),
            ("second", "second_utc", "%S"),
        ):
            if GRAINS.index(self.grain) >= GRAINS.index(grain):
                values[name] = when.strftime(fmt)
        return values

    @property
    def path(self) -> str:
        """The partition as Hive-style directories: ``date=2026-11-01/hour_utc=03``."""
        return "/".join(f"{k}={v}" for k, v in self.values.items())

    @property
    def ds(self) -> str:
        """The partition's date, ``YYYY-MM-DD`` (as Airflow's ``ds``, but the same however the run started)."""
        return self.values["date"]

    @property
    def label(self) -> str:
        """Short text for logs and messages, e.g. ``2026-11-01T03:00Z`` or ``2026-10-09``."""
        if self.start is None:
            return str(self.key)
        if self.grain == "day":
            return self.ds
        return self.start.strftime("%Y-%m-%dT%H:%M" if self.grain != "second" else "%Y-%m-%dT%H:%M:%S") + "Z"

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "grain": self.grain,
            "timezone": self.timezone,
            "key": self.key,
            "path": self.path,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Partition:
        start, end = data.get("start"), data.get("end")
        return cls(
            start=_utc(datetime.fromisoformat(start)) if start else None,
            end=_utc(datetime.fromisoformat(end)) if end else None,
            grain=data.get("grain", "day"),
            timezone=data.get("timezone", "UTC"),
            key=data.get("key"),
            origin=data.get("origin", "asset_event"),
        )

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class RunFacts:
    """What a run says about its partition (read off Airflow's context by the operator).

    :param run_id: the run's id (for messages).
    :param logical_date: the run's logical date, or None (manual runs may have none, asset runs have none).
    :param requested: the ``partition`` param of the run, or None.
    :param partition_date: Airflow's own partition date of the run (partitioned timetables), or None.
    :param partition_key: Airflow's own partition key of the run, or None.
    :param event_partitions: the ``partition`` entries found in the extras of the asset events that
        triggered the run (dicts as :meth:`Partition.as_dict` writes them).
    """

    run_id: str
    logical_date: datetime | None = None
    requested: str | None = None
    partition_date: datetime | None = None
    partition_key: str | None = None
    event_partitions: tuple[Mapping[str, Any], ...] = ()
    #: the ``run_after`` of a run woken by an AssetWatcher (events from a trigger, without a partition)
    woken_at: datetime | None = None


def grain_of(start: datetime, end: datetime) -> str:
    """The finest field needed to name intervals of this length: a day or more -> "day", etc."""
    length = end - start
    if length >= _DAY:
        return "day"
    if length >= timedelta(hours=1):
        return "hour"
    if length >= timedelta(minutes=1):
        return "minute"
    return "second"


def resolve_partition(run: RunFacts, schedule: Schedule) -> Partition:
    """The partition ``run`` processes (see the module docstring for the order of precedence).

    :raises PartitionError: nothing names a partition, the requested one does not fit the schedule, or the
        partition starts after the schedule's end.
    """
    return _within_end(run, schedule, _resolve(run, schedule))


def _within_end(run: RunFacts, schedule: Schedule, partition: Partition) -> Partition:
    """Refuse a partition after the DAG's end date: a manual run with the UI's default logical date (now)
    would otherwise look for data that does not exist (or, without this check, do nothing and succeed)."""
    if schedule.end is None or partition.start is None or partition.start <= _utc(schedule.end):
        return partition
    end = _aligned(_utc(schedule.end), schedule, "end")
    how = (
        f"the {PARTITION_PARAM!r} param asks for"
        if partition.origin == "param"
        else f"its logical date {run.logical_date} makes it"
    )
    raise PartitionError(
        PARTITION_PARAM,
        partition.label,
        f"run {run.run_id!r} is for partition {partition.label} ({how} that), after the end of this DAG's "
        f"schedule ({_utc(schedule.end).isoformat()}): its last partition is {end.label}. Trigger it with conf "
        f"{{{PARTITION_PARAM!r}: {end.label!r}}} (any partition up to {end.label}) or with a logical date "
        "up to the end",
    )


def _resolve(run: RunFacts, schedule: Schedule) -> Partition:
    if run.requested not in (None, ""):
        return _requested(run, schedule)
    if run.partition_date is not None:
        return _aligned(run.partition_date, schedule, "airflow", key=run.partition_key)
    if run.partition_key:
        return Partition(None, None, key=run.partition_key, origin="airflow")
    if run.logical_date is not None:
        return _aligned(run.logical_date, schedule, "logical_date")
    if run.event_partitions:
        return _from_events(run)
    if run.woken_at is not None:
        start = _utc(run.woken_at).replace(microsecond=0)
        return Partition(start, start + timedelta(seconds=1), "second", "UTC", origin="asset_watcher")
    raise PartitionError(
        "partition",
        None,
        f"run {run.run_id!r} has no partition: it has no logical date and no {PARTITION_PARAM!r} param. "
        f"Trigger it with a logical date, or with conf {{{PARTITION_PARAM!r}: '2026-10-09'}} "
        "(a sub-daily DAG takes '2026-10-09T03:00')",
    )


def _aligned(instant: datetime, schedule: Schedule, origin: str, key: str | None = None) -> Partition:
    start, end = schedule.interval_of(instant)
    return Partition(start, end, grain_of(start, end), schedule.timezone, key=key, origin=origin)


def _requested(run: RunFacts, schedule: Schedule) -> Partition:
    """The partition a ``partition`` param names: a date names the partition *labelled* with that date (a
    daily schedule at 03:00 given "2026-11-21" runs 2026-11-21T03:00 to the next day's 03:00); a time names
    the partition starting then. A name that no partition of the schedule has is refused."""
    text = str(run.requested).strip()
    instant = _parse_instant(text, schedule.timezone)
    start, end = schedule.interval_of(instant)
    grain = grain_of(start, end)
    finest = _precision(text)
    if GRAINS.index(finest) < GRAINS.index(grain):
        raise PartitionError(
            PARTITION_PARAM,
            run.requested,
            f"names a {finest} but this DAG's partitions are {grain}s: give the {grain} too, "
            f"e.g. {start.strftime('%Y-%m-%dT%H:%M')!r}",
        )
    if finest == "day" and start < instant:
        # the interval holding midnight began the day before: take the next one
        start, end = schedule.interval_of(end)
    partition = Partition(start, end, grain_of(start, end), schedule.timezone, origin="param")
    if finest == "day":
        if partition.ds != text[:10]:
            raise PartitionError(
                PARTITION_PARAM,
                run.requested,
                f"no partition of this schedule is labelled {text[:10]}; the next one is {partition.ds}",
            )
    elif start != instant:
        raise PartitionError(
            PARTITION_PARAM,
            run.requested,
            f"is not the start of a partition of this schedule; the partition holding it starts at "
            f"{start.strftime('%Y-%m-%dT%H:%M')}Z",
        )
    return partition


def _parse_instant(text: str, timezone: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PartitionError(
            PARTITION_PARAM, text, "must be a date ('2026-10-09') or a date and time ('2026-11-01T03:00')"
        ) from None
    if parsed.tzinfo is None:
        # a date is a day of the schedule's calendar; a naive time of day is read as UTC
        zone = ZoneInfo(timezone) if len(text) <= 10 else UTC
        parsed = parsed.replace(tzinfo=zone)
    return _utc(parsed)


def _precision(text: str) -> str:
    if len(text) <= 10:
        return "day"
    clock = re.split(r"[T ]", text, maxsplit=1)[1]
    clock = re.split(r"[Z+-]", clock, maxsplit=1)[0]
    return ("hour", "minute", "second")[min(clock.count(":"), 2)]


def _from_events(run: RunFacts) -> Partition:
    found = {Partition.from_dict(p) for p in run.event_partitions}
    if len(found) > 1:
        shown = sorted(p.path for p in found)
        raise PartitionError(
            "partition",
            shown,
            f"the asset events that triggered run {run.run_id!r} carry different partitions; "
            f"trigger one run per partition, with conf {{{PARTITION_PARAM!r}: ...}}",
        )
    (partition,) = found
    return Partition(
        partition.start, partition.end, partition.grain, partition.timezone, partition.key, origin="asset_event"
    )


def event_partitions(extras: Iterable[Mapping[str, Any] | None]) -> tuple[Mapping[str, Any], ...]:
    """The ``partition`` entries of asset event extras (events without one are ignored)."""
    # an AssetWatcher's event has {"from_trigger": True, "payload": ...}: see from_trigger_only
    out = []
    for extra in extras:
        entry = (extra or {}).get("partition")
        if isinstance(entry, dict):
            out.append(entry)
    return tuple(out)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def from_trigger_only(extras: Iterable[Mapping[str, Any] | None]) -> bool:
    """Whether every asset event came from a trigger (an ``AssetWatcher``: a wake-up, not a publication)."""
    found = [extra or {} for extra in extras]
    return bool(found) and all(extra.get("from_trigger") is True for extra in found)
