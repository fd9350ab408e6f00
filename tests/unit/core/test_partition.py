"""One partition per run, however the run was started (core/partition.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta

from dataframe_pipeline.core.partition import Partition, RunFacts, Schedule, event_partitions, resolve_partition
from dataframe_pipeline.exceptions import PartitionError

DAILY = Schedule(cron="0 0 * * *")
HOURLY = Schedule(cron="0 * * * *")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_scheduled_manual_and_backfill_runs_of_a_day_share_its_partition() -> None:
    # a scheduled and a backfill run for X have logical date X (their interval starts there); a manual
    # run for X has logical date X too, but Airflow infers the interval ending at X: the partition
    # ignores the interval and aligns the logical date to the schedule
    partitions = {
        resolve_partition(RunFacts(run_id, logical_date=at(2013, 3, 5)), DAILY)
        for run_id in ("scheduled__2013-03-05", "manual__2013-03-05", "backfill__2013-03-05")
    }
    (partition,) = partitions
    assert (partition.start, partition.end) == (at(2013, 3, 5), at(2013, 3, 6))
    assert partition.path == "date=2013-03-05"
    assert partition.ds == "2013-03-05"


def test_a_manual_run_in_the_middle_of_a_day_is_that_day() -> None:
    partition = resolve_partition(RunFacts("manual__x", logical_date=at(2026, 10, 9, 13, 37)), DAILY)
    assert partition.path == "date=2026-10-09"


def test_an_hourly_schedule_is_partitioned_by_hour_never_by_day() -> None:
    three = resolve_partition(RunFacts("a", logical_date=at(2026, 11, 1, 3)), HOURLY)
    four = resolve_partition(RunFacts("b", logical_date=at(2026, 11, 1, 4)), HOURLY)
    assert three.path == "date=2026-11-01/hour_utc=03"
    assert four.path == "date=2026-11-01/hour_utc=04"
    assert (three.start, three.end) == (at(2026, 11, 1, 3), at(2026, 11, 1, 4))
    assert three.values == {"date": "2026-11-01", "hour_utc": "03"}
    quarter = resolve_partition(RunFacts("c", logical_date=at(2026, 11, 1, 3, 20)), Schedule(cron="*/15 * * * *"))
    assert quarter.path == "date=2026-11-01/hour_utc=03/minute_utc=15"


def test_weekly_and_monthly_partitions_are_keyed_by_their_first_day() -> None:
    weekly = resolve_partition(RunFacts("w", logical_date=at(2026, 10, 8)), Schedule(cron="0 0 * * 1"))
    assert (weekly.path, weekly.end) == ("date=2026-10-05", at(2026, 10, 12))
    monthly = resolve_partition(RunFacts("m", logical_date=at(2026, 10, 20)), Schedule(cron="@monthly"))
    assert (monthly.path, monthly.end) == ("date=2026-10-01", at(2026, 11, 1))


def test_a_day_is_the_schedules_day_in_its_time_zone() -> None:
    amsterdam = Schedule(cron="0 0 * * *", timezone="Europe/Amsterdam")
    # local midnight of 2026-10-09 is 22:00 UTC the day before
    partition = resolve_partition(RunFacts("x", logical_date=at(2026, 10, 8, 22)), amsterdam)
    assert partition.path == "date=2026-10-09"
    assert (partition.start, partition.end) == (at(2026, 10, 8, 22), at(2026, 10, 9, 22))


def test_sub_daily_partitions_are_keyed_in_utc_so_clock_changes_cannot_collide() -> None:
    amsterdam = Schedule(cron="0 * * * *", timezone="Europe/Amsterdam")
    # 2026-10-25 02:00-03:00 local happens twice: 00:00 and 01:00 UTC
    first = resolve_partition(RunFacts("x", logical_date=at(2026, 10, 25, 0)), amsterdam)
    second = resolve_partition(RunFacts("y", logical_date=at(2026, 10, 25, 1)), amsterdam)
    assert first.path != second.path
    assert (first.path, second.path) == ("date=2026-10-25/hour_utc=00", "date=2026-10-25/hour_utc=01")


def test_fixed_periods_are_counted_from_the_start_date() -> None:
    every_six_hours = Schedule(every=timedelta(hours=6), anchor=at(2026, 1, 1, 1))
    partition = resolve_partition(RunFacts("x", logical_date=at(2026, 1, 2, 9)), every_six_hours)
    assert (partition.start, partition.end, partition.grain) == (at(2026, 1, 2, 7), at(2026, 1, 2, 13), "hour")
    monthly = Schedule(every=relativedelta(months=1), anchor=at(2026, 1, 15))
    partition = resolve_partition(RunFacts("x", logical_date=at(2026, 3, 20)), monthly)
    assert (partition.start, partition.end, partition.path) == (at(2026, 3, 15), at(2026, 4, 15), "date=2026-03-15")


def test_without_a_periodic_schedule_a_partition_is_a_day() -> None:
    partition = resolve_partition(RunFacts("x", logical_date=at(2026, 10, 9, 5)), Schedule())
    assert (partition.path, partition.end) == ("date=2026-10-09", at(2026, 10, 10))


def test_a_run_without_logical_date_or_partition_fails_saying_what_to_pass() -> None:
    with pytest.raises(PartitionError) as err:
        resolve_partition(RunFacts("manual__2026-11-23T01:16:31+00:00"), DAILY)
    message = str(err.value)
    assert "manual__2026-11-23T01:16:31+00:00" in message
    assert "logical date" in message and "'partition'" in message and "2026-10-09" in message


def test_the_partition_param_names_the_partition_of_a_run_without_logical_date() -> None:
    partition = resolve_partition(RunFacts("manual__x", requested="2026-10-09"), DAILY)
    assert (partition.path, partition.origin) == ("date=2026-10-09", "param")
    hour = resolve_partition(RunFacts("manual__x", requested="2026-11-01T03:00"), HOURLY)
    assert hour.path == "date=2026-11-01/hour_utc=03"
    assert resolve_partition(RunFacts("m", requested="2026-11-01T03:00:00Z"), HOURLY) == hour
    # the param wins over the logical date: it is what the person asked for
    chosen = resolve_partition(RunFacts("m", logical_date=at(2026, 1, 1), requested="2026-10-09"), DAILY)
    assert chosen.path == "date=2026-10-09"


def test_a_date_param_names_the_partition_labelled_with_that_date() -> None:
    at_three = Schedule(cron="0 3 * * *")  # daily at 03:00, like the airports DAG
    partition = resolve_partition(RunFacts("m", requested="2026-11-21"), at_three)
    assert (partition.start, partition.end, partition.path) == (
        at(2026, 11, 21, 3),
        at(2026, 11, 22, 3),
        "date=2026-11-21",
    )
    # the scheduled run of that partition has that logical date: both name the same partition
    assert resolve_partition(RunFacts("s", logical_date=at(2026, 11, 21, 3)), at_three) == partition
    weekly = Schedule(cron="0 0 * * 1")
    assert resolve_partition(RunFacts("m", requested="2026-10-05"), weekly).path == "date=2026-10-05"


@pytest.mark.parametrize(
    ("requested", "schedule", "problem"),
    [
        ("2026-10-07", Schedule(cron="0 0 * * 1"), "no partition of this schedule is labelled 2026-10-07"),
        ("2026-11-01", HOURLY, "names a day but this DAG's partitions are hours"),
        ("2026-11-01T03:30", HOURLY, "is not the start of a partition"),
        ("yesterday", DAILY, "must be a date"),
        ("2026-13-01", DAILY, "must be a date"),
    ],
)
def test_a_partition_param_that_does_not_fit_the_schedule_is_refused(
    requested: str, schedule: Schedule, problem: str
) -> None:
    with pytest.raises(PartitionError, match=problem) as err:
        resolve_partition(RunFacts("m", requested=requested), schedule)
    assert err.value.field == "partition"
    assert err.value.value == requested


def test_airflows_own_partition_is_used_when_the_run_has_one() -> None:
    partition = resolve_partition(RunFacts("p", partition_date=at(2026, 10, 9), partition_key="2026-10-09"), DAILY)
    assert (partition.path, partition.origin, partition.key) == ("date=2026-10-09", "airflow", "2026-10-09")
    keyed = resolve_partition(RunFacts("p", partition_key="eu/west"), DAILY)
    assert (keyed.path, keyed.start) == ("partition=eu_west", None)


def test_an_asset_triggered_run_takes_the_partition_its_events_carry() -> None:
    upstream = resolve_partition(RunFacts("u", logical_date=at(2026, 11, 1, 3)), HOURLY)
    extras = [{"partition": upstream.as_dict()}, {"other": 1}, None, {"partition": upstream.as_dict()}]
    run = RunFacts("asset_triggered__x", event_partitions=event_partitions(extras))
    partition = resolve_partition(run, Schedule())
    assert (partition.path, partition.start, partition.origin) == (upstream.path, upstream.start, "asset_event")


def test_asset_events_of_different_partitions_are_refused() -> None:
    a = resolve_partition(RunFacts("a", logical_date=at(2026, 11, 1)), DAILY).as_dict()
    b = resolve_partition(RunFacts("b", logical_date=at(2026, 11, 2)), DAILY).as_dict()
    with pytest.raises(PartitionError, match="carry different partitions"):
        resolve_partition(RunFacts("asset_triggered__x", event_partitions=(a, b)), Schedule())


def test_a_partition_round_trips_through_its_dict() -> None:
    partition = resolve_partition(RunFacts("x", logical_date=at(2026, 11, 1, 3)), HOURLY)
    assert Partition.from_dict(partition.as_dict()) == partition


ENDING = Schedule(cron="0 0 * * *", end=at(2026, 10, 28))


def test_a_manual_run_after_the_end_date_takes_the_day_of_its_partition_param() -> None:
    # the UI's Trigger form proposes now as logical date, after the DAG's end_date; the param names the day
    run = RunFacts("manual__now", logical_date=at(2026, 12, 1, 16, 40), requested="2026-10-24")
    partition = resolve_partition(run, ENDING)
    assert (partition.path, partition.origin) == ("date=2026-10-24", "param")
    # the last partition of the schedule is still allowed
    assert resolve_partition(RunFacts("scheduled__x", logical_date=at(2026, 10, 28)), ENDING).ds == "2026-10-28"


@pytest.mark.parametrize(
    ("run", "says"),
    [
        (RunFacts("manual__now", logical_date=at(2026, 12, 1, 16, 40)), "its logical date 2026-12-01 16:40:00+00:00"),
        (RunFacts("manual__x", requested="2026-11-02"), "the 'partition' param asks for"),
    ],
)
def test_a_partition_after_the_end_date_is_refused_saying_which_days_there_are(run: RunFacts, says: str) -> None:
    with pytest.raises(PartitionError) as err:
        resolve_partition(run, ENDING)
    message = str(err.value)
    assert says in message
    assert "after the end of this DAG's schedule (2026-10-28T00:00:00+00:00)" in message
    assert "its last partition is 2026-10-28" in message and "{'partition': '2026-10-28'}" in message
