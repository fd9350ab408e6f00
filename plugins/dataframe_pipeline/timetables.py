"""A daily (cron) schedule that ends: the last interval is part of the schedule, not of every task.

Why not the DAG's ``end_date``: Airflow copies it to every task, and creates no task instance for a run
whose logical date is after a task's end date. The UI's "Trigger" form proposes *now* as the logical
date, so a manual run after the end date of the demo data was a green run that did nothing. Here the
schedule stops at ``end`` (scheduled runs and backfills never go past it), and a manual run with a
logical date after it is refused when it is triggered, with the reason (HTTP 400 in the REST API and the
UI). A manual run without a logical date names its day in the ``partition`` param (``core/partition.py``,
which refuses a day after ``end`` too).

Registered by the plugin ``plugins/pipeline_timetables.py`` (Airflow deserializes only the custom
timetables a plugin registers).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.timetables.base import TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

if TYPE_CHECKING:
    from airflow.timetables.base import DagRunInfo, DataInterval
    from pendulum import DateTime


class CronDataIntervalUntil(CronDataIntervalTimetable):
    """``CronDataIntervalTimetable(cron, timezone)`` whose last interval starts at ``end`` (inclusive).

    :param cron: a cron expression or preset.
    :param timezone: the zone the expression is read in.
    :param end: the start of the last interval (tz-aware), or None for no end.
    """

    def __init__(self, cron: str, timezone: Any, end: datetime | None = None) -> None:
        super().__init__(cron, timezone)
        if end is not None and end.tzinfo is None:
            raise ValueError(f"end must be timezone-aware, got {end!r}")
        self.end: DateTime | None = pendulum.instance(end) if end is not None else None

    @property
    def expression(self) -> str:
        """The cron expression (what ``core/operators.py`` reads to align partitions)."""
        return self._expression

    @property
    def summary(self) -> str:
        return f"{self._expression} until {self.end:%Y-%m-%d}" if self.end else self._expression

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if self.end is not None:
            latest = min(restriction.latest, self.end) if restriction.latest else self.end
            restriction = TimeRestriction(restriction.earliest, latest, restriction.catchup)
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        if self.end is not None and run_after >= self._get_next(self.end):
            day = f"{self.end:%Y-%m-%d}"
            raise ValueError(
                f"logical date {run_after.isoformat()} is after the end of this DAG's schedule: its last "
                f"interval starts at {self.end.isoformat()}. Pick a logical date up to {day}, or clear the "
                f"logical date and name the day in the 'partition' param (e.g. {day!r})"
            )
        return super().infer_manual_data_interval(run_after=run_after)

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "end": self.end.isoformat() if self.end else None}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> CronDataIntervalUntil:
        from airflow._shared.timezones.timezone import parse_timezone

        end = datetime.fromisoformat(data["end"]) if data.get("end") else None
        return cls(data["expression"], parse_timezone(data["timezone"]), end=end)
