"""Windows, watermark and lateness against a pandas groupby over the same events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.enrich.windows.aggregate import (
    LATE_REASON_COLUMN,
    WindowAggregator,
    WindowSpec,
    WindowState,
)
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

T0 = pd.Timestamp("2026-12-01T12:00:00Z")


def stream(n: int, seed: int, disorder_s: int = 90) -> pd.DataFrame:
    """Events of 4 devices over ~20 minutes, shuffled by up to ``disorder_s`` (out of order)."""
    rng = np.random.default_rng(seed)
    base = T0 + pd.to_timedelta(np.sort(rng.uniform(0, 1200, n)), unit="s")
    jitter = pd.to_timedelta(rng.uniform(-disorder_s, 0, n), unit="s")
    temps = rng.normal(20, 5, n)
    temps[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "device_id": rng.choice(["a", "b", "c", "d"], n),
            "event_time": (base + jitter).astype("datetime64[ms, UTC]"),
            "temperature_c": temps,
            "humidity_pct": rng.uniform(30, 60, n),
        }
    )


def run_batches(spec: WindowSpec, batches: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame, WindowState]:
    """Each batch is one run; the state goes through its JSON form between runs, as it is persisted."""
    state, emitted, late = None, [], []
    for batch in batches:
        agg = WindowAggregator(spec, WindowState.from_dict(state, spec) if state else None)
        late.append(agg.add(batch))
        emitted.append(agg.finish())
        counts = agg.counts
        assert counts.events == counts.aggregated + counts.routed_late == len(batch)
        state = agg.state.as_dict()
    return pd.concat(emitted, ignore_index=True), pd.concat(late), WindowState.from_dict(state, spec)


def expected(events: pd.DataFrame, spec: WindowSpec, watermark_ms: int) -> pd.DataFrame:
    """pandas: every (device, window) the watermark passed, by exploding events into their windows."""
    t = (
        events["event_time"].astype("int64") // 10**6
        if events["event_time"].dtype.unit == "ns"
        else events["event_time"].astype("int64")
    )
    rows = []
    for j in range(spec.size_ms // spec.slide_ms):
        start = (t // spec.slide_ms - j) * spec.slide_ms
        part = events.assign(window_start=start)
        rows.append(part[start + spec.size_ms > t])
    frame = pd.concat(rows)
    frame = frame[frame["window_start"] + spec.size_ms <= watermark_ms]
    out = frame.groupby(["device_id", "window_start"]).agg(
        events=("temperature_c", "size"), temperature_c_count=("temperature_c", "count"),
        temperature_c_sum=("temperature_c", "sum"), temperature_c_mean=("temperature_c", "mean"),
        temperature_c_min=("temperature_c", "min"), temperature_c_max=("temperature_c", "max"),
        humidity_pct_mean=("humidity_pct", "mean"),
    ).reset_index()  # fmt: skip
    out["window_start"] = pd.to_datetime(out["window_start"], unit="ms", utc=True)
    return out.sort_values(["window_start", "device_id"]).reset_index(drop=True)


def compare(got: pd.DataFrame, want: pd.DataFrame) -> None:
    columns = list(want.columns)
    got = got.sort_values(["window_start", "device_id"]).reset_index(drop=True)[columns]
    got["window_start"] = got["window_start"].astype("datetime64[ns, UTC]")
    want = want.copy()
    want["window_start"] = want["window_start"].astype("datetime64[ns, UTC]")
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("slide", [None, 20])
def test_route_policy_equals_groupby_of_on_time_events(slide) -> None:
    spec = WindowSpec(("device_id",), ("temperature_c", "humidity_pct"), 60, slide, allowed_lateness_seconds=30)
    events = stream(3000, seed=1)
    batches = [events.iloc[i : i + 400] for i in range(0, len(events), 400)]
    emitted, late, state = run_batches(spec, batches)
    assert len(late) > 0 and (late[LATE_REASON_COLUMN] == "late").all()
    assert (emitted["revision"] == 0).all()
    assert not emitted.duplicated(["device_id", "window_start"]).any()
    on_time = events.drop(index=late.index)
    assert len(on_time) + len(late) == len(events)
    compare(emitted, expected(on_time, spec, state.watermark_ms))
    # nothing emitted before the watermark passed its end
    assert (emitted["window_end"] <= emitted["watermark"]).all()


def test_merge_policy_reemits_and_final_revisions_equal_groupby_of_all_events() -> None:
    spec = WindowSpec(("device_id",), ("temperature_c", "humidity_pct"), 60, None, allowed_lateness_seconds=10,
                      late_policy="merge", retain_seconds=600)  # fmt: skip
    events = stream(2000, seed=2, disorder_s=120)
    batches = [events.iloc[i : i + 300] for i in range(0, len(events), 300)]
    emitted, late, state = run_batches(spec, batches)
    assert late.empty
    assert (emitted["revision"] > 0).any()
    final = emitted.sort_values("revision").drop_duplicates(["device_id", "window_start"], keep="last")
    compare(final, expected(events, spec, state.watermark_ms))


def test_merge_routes_events_beyond_retention() -> None:
    spec = WindowSpec(("device_id",), ("temperature_c",), 60, late_policy="merge", retain_seconds=60)
    now = pd.DataFrame({"device_id": ["a"], "event_time": [T0 + pd.Timedelta("1h")], "temperature_c": [1.0]})
    old = pd.DataFrame({"device_id": ["a", "a"], "event_time": [T0, T0 + pd.Timedelta("59min")],
                        "temperature_c": [2.0, 3.0]})  # fmt: skip
    emitted, late, _ = run_batches(spec, [now, old])
    assert late["temperature_c"].tolist() == [2.0]
    assert late[LATE_REASON_COLUMN].tolist() == ["beyond_retention"]
    assert emitted["temperature_c_sum"].tolist() == [3.0]


def test_watermark_survives_restart_and_open_windows_span_runs() -> None:
    spec = WindowSpec(("device_id",), ("temperature_c",), 60)
    first = pd.DataFrame({"device_id": ["a", "a"], "event_time": [T0, T0 + pd.Timedelta("30s")],
                          "temperature_c": [1.0, 2.0]})  # fmt: skip
    second = pd.DataFrame({"device_id": ["a", "a"], "event_time": [T0 + pd.Timedelta("50s"), T0 + pd.Timedelta("61s")],
                           "temperature_c": [3.0, 10.0]})  # fmt: skip
    emitted, _, state = run_batches(spec, [first, second])
    assert emitted["events"].tolist() == [3] and emitted["temperature_c_mean"].tolist() == [2.0]
    assert state.watermark_ms == (T0 + pd.Timedelta("61s")).value // 10**6
    assert state.partials["events"].tolist() == [1]  # the 12:01 window is open


def test_processing_time_and_iso_text() -> None:
    spec = WindowSpec(("device_id",), ("temperature_c",), 60, event_time=None)
    batch = pd.DataFrame({"device_id": ["a", "a"], "_kafka_timestamp": ["2026-12-01T12:00:01Z", "2026-12-01T12:01:30Z"],
                          "temperature_c": [1.0, 5.0]})  # fmt: skip
    agg = WindowAggregator(spec)
    agg.add(batch)
    out = agg.finish()
    assert out["temperature_c_max"].tolist() == [1.0]


def test_events_without_time_or_key_fail_loudly() -> None:
    agg = WindowAggregator(WindowSpec(("device_id",), ("temperature_c",), 60))
    batch = pd.DataFrame(
        {"device_id": ["a", None], "event_time": pd.to_datetime([T0, T0]), "temperature_c": [1.0, 2.0]}
    )
    with pytest.raises(DataContractError, match="without a key"):
        agg.add(batch)


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("size_seconds", {"size_seconds": 0}),
        ("slide_seconds", {"slide_seconds": 90}),
        ("late_policy", {"late_policy": "drop"}),
        ("keys", {"keys": "device_id"}),
        ("allowed_lateness_seconds", {"allowed_lateness_seconds": -1}),
    ],
)
def test_bad_configuration_names_the_field(field, changes) -> None:
    options = {"keys": ("device_id",), "values": ("t",), "size_seconds": 60, **changes}
    with pytest.raises(ConfigurationError) as info:
        WindowSpec(**options).validate()
    assert info.value.field == field
