"""Threshold breaches: one alert per opening over many windows and runs, state through its JSON form."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dataframe_pipeline.enrich.windows.aggregate import WindowSpec
from dataframe_pipeline.enrich.windows.breaches import BreachTracker, ThresholdRule
from dataframe_pipeline.exceptions import ConfigurationError

SPEC = WindowSpec(("device_id",), ("temperature_c",), 60)
RULE = ThresholdRule("hot", "temperature_c", "mean", ">", 80)


def windows(device: str, means: list[float | None], start_minute: int = 0, revision: int = 0) -> pd.DataFrame:
    starts = pd.date_range("2026-12-01T12:00Z", periods=len(means), freq="min") + pd.Timedelta(minutes=start_minute)
    return pd.DataFrame({"device_id": device, "window_start": starts, "window_end": starts + pd.Timedelta("1min"),
                         "temperature_c_mean": means, "revision": revision})  # fmt: skip


def through_json(tracker: BreachTracker) -> BreachTracker:
    return BreachTracker.from_dict(json.loads(json.dumps(tracker.as_dict())), [RULE], ["device_id"])


def test_one_alert_per_breach_across_runs_and_a_second_after_recovery() -> None:
    tracker = BreachTracker([RULE], ["device_id"])
    runs = [[70, 85, 90], [95, 99, None], [81, 79], [70, 82, 88]]
    opened, closed, minute = [], [], 0
    for means in runs:
        new, done = tracker.observe(windows("a", means, minute))
        opened += new
        closed += done
        minute += len(means)
        tracker = through_json(tracker)
    assert [b.opened_at for b in opened] == ["2026-12-01T12:01:00+00:00", "2026-12-01T12:09:00+00:00"]
    assert [b.closed_at for b in closed] == ["2026-12-01T12:07:00+00:00"]
    assert len({b.alert_id for b in opened}) == 2


def test_keys_are_independent_and_reemitted_or_old_windows_change_nothing() -> None:
    tracker = BreachTracker([RULE], ["device_id"])
    opened, _ = tracker.observe(pd.concat([windows("a", [90]), windows("b", [50])]))
    assert [b.key for b in opened] == [{"device_id": "a"}]
    assert tracker.observe(windows("a", [10], revision=1)) == ([], [])  # a re-emitted window
    assert tracker.observe(windows("a", [10])) == ([], [])  # the same window again (a retry)
    opened, _ = tracker.observe(windows("b", [99], start_minute=1))
    assert [b.key for b in opened] == [{"device_id": "b"}]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"column": "humidity", "op": ">", "threshold": 1}, "alerts[0].column"),
        ({"column": "temperature_c", "aggregate": "median", "op": ">", "threshold": 1}, "alerts[0].aggregate"),
        ({"column": "temperature_c", "op": "=>", "threshold": 1}, "alerts[0].op"),
        ({"column": "temperature_c", "op": ">", "threshold": "80"}, "alerts[0].threshold"),
    ],
)
def test_bad_rules_name_the_field(config, field) -> None:
    with pytest.raises(ConfigurationError) as info:
        ThresholdRule.from_config(config, 0).validate(SPEC, 0)
    assert info.value.field == field
