"""A daily schedule that ends (dataframe_pipeline/timetables.py): scheduled runs and backfills stop at the
last interval, a manual run after it is refused with the reason, and it survives serialization."""

from __future__ import annotations

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from dataframe_pipeline.timetables import CronDataIntervalUntil

pytestmark = pytest.mark.unit
END = pendulum.datetime(2026, 10, 28, tz="UTC")
DAILY = CronDataIntervalUntil("0 0 * * *", timezone="UTC", end=END)


def _day(day: int, month: int = 10) -> pendulum.DateTime:
    return pendulum.datetime(2026, month, day, tz="UTC")


def _next(after: int, latest: pendulum.DateTime | None = None):
    last = DataInterval(_day(after), _day(after + 1))
    return DAILY.next_dagrun_info(
        last_automated_data_interval=last, restriction=TimeRestriction(_day(1), latest, catchup=True)
    )


def test_the_schedule_runs_up_to_its_last_interval_and_no_further() -> None:
    assert _next(26).data_interval == DataInterval(_day(27), _day(28))
    assert _next(27).data_interval == DataInterval(END, _day(29))  # the last one starts at the end
    assert _next(28) is None
    assert _next(26, latest=_day(27)).data_interval.start == _day(27)  # a tighter restriction still wins
    assert _next(27, latest=_day(27)) is None


def test_catching_up_without_a_last_run_is_bounded_too() -> None:
    infos, last = [], None
    restriction = TimeRestriction(_day(25), None, catchup=True)
    while (info := DAILY.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)) is not None:
        infos.append(info.data_interval.start.day)
        last = info.data_interval
    assert infos == [25, 26, 27, 28]


def test_a_manual_run_after_the_end_is_refused_saying_what_to_do() -> None:
    assert DAILY.infer_manual_data_interval(run_after=_day(28, 10).add(hours=13)).end == END
    with pytest.raises(ValueError, match="after the end of this DAG's schedule") as err:
        DAILY.infer_manual_data_interval(run_after=pendulum.datetime(2026, 12, 1, 16, 40, tz="UTC"))
    assert "2026-10-28" in str(err.value) and "'partition' param" in str(err.value)
    with pytest.raises(ValueError):
        DAILY.infer_manual_data_interval(run_after=_day(29))


def test_it_round_trips_through_its_serialized_form() -> None:
    again = CronDataIntervalUntil.deserialize(DAILY.serialize())
    assert (again.expression, again.end, again.summary) == ("0 0 * * *", END, "0 0 * * * until 2026-10-28")
    endless = CronDataIntervalUntil.deserialize(CronDataIntervalUntil("@daily", "UTC").serialize())
    assert endless.end is None and endless.expression == "0 0 * * *"


def test_a_naive_end_is_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        CronDataIntervalUntil("0 0 * * *", "UTC", end=datetime(2026, 10, 28))
