"""Fills along a key and time-series interpolation; pandas' ffill/bfill/interpolate are the oracles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.clean.fill import FillByKey, InterpolateTimeSeries
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


def run(rule, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    return pd.concat([rule.transform(b).data for b in chunks(frame, size)])


@pytest.fixture
def readings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "a", "b", "a", None, "b", "a"],
            "t": [1, 1, 2, 2, 3, 3, 4, 5],
            "v": [1.0, np.nan, np.nan, 5.0, np.nan, np.nan, np.nan, 8.0],
        }
    )


@pytest.mark.parametrize("method", ["ffill", "bfill"])
@pytest.mark.parametrize("size", [1, 3, 8])
def test_fill_by_key_matches_pandas(readings: pd.DataFrame, method: str, size: int) -> None:
    rule = FillByKey(["v"], key="id", order_by="t", method=method)
    rule.fit_batches(chunks(readings, size))
    grouped = readings.groupby("id")["v"]
    expected = (grouped.ffill() if method == "ffill" else grouped.bfill()).where(readings["id"].notna(), readings["v"])
    for _ in range(2):  # a second pass starts afresh
        pd.testing.assert_series_equal(run(rule, readings, size)["v"], expected)


def test_fill_by_key_by_hand(readings: pd.DataFrame) -> None:
    out = FillByKey(["v"], "id", "t").transform(readings).data["v"]
    assert out.fillna(-1).tolist() == [1.0, -1, 1.0, 5.0, 1.0, -1, 5.0, 8.0]
    assert out.isna().tolist() == [False, True, False, False, False, True, False, False]


def test_fill_by_key_unsorted_is_a_contract_error(readings: pd.DataFrame) -> None:
    unsorted = readings.assign(t=[1, 1, 2, 2, 1, 3, 4, 5])
    with pytest.raises(DataContractError, match="t decreases within id='a' at position 4"):
        FillByKey(["v"], "id", "t").transform(unsorted)
    rule = FillByKey(["v"], "id", "t")
    rule.transform(unsorted.iloc[:4])
    with pytest.raises(DataContractError, match="position 4"):
        rule.transform(unsorted.iloc[4:])  # across batches too
    with pytest.raises(DataContractError):
        FillByKey(["v"], "id", "t", method="bfill").fit(unsorted)


def test_fill_by_key_edges(readings: pd.DataFrame) -> None:
    assert FillByKey(["v"], "id", "t").transform(readings.iloc[:0]).data.empty
    with pytest.raises(NotFittedError):
        FillByKey(["v"], "id", "t", method="bfill").transform(readings)
    assert FillByKey(["v"], "id", "t", method="bfill").stateful
    assert not FillByKey(["v"], "id", "t").stateful
    with pytest.raises(ConfigurationError) as error:
        FillByKey(["v"], "id", "t", method="nearest").check_params(["v", "id", "t"])
    assert error.value.field == "method"


@pytest.fixture
def series() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "k": [1, 1, 2, 1, 2, 1, 2],
            "when": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-05", "2024-01-03", "2024-01-06", "2024-01-04"]
            ),
            "v": [0.0, np.nan, 10.0, 8.0, np.nan, np.nan, 30.0],
        }
    )


@pytest.mark.parametrize("size", [1, 3, 7])
def test_interpolate_over_time_matches_pandas(series: pd.DataFrame, size: int) -> None:
    rule = InterpolateTimeSeries(["v"], "when", key="k", method="time").fit_batches(chunks(series, size))
    expected = series.groupby("k", group_keys=False).apply(
        lambda g: g.set_index("when")["v"].interpolate(method="time", limit_area="inside").set_axis(g.index)
    )
    # k=1: 0 at day 1, 8 at day 5 -> day 2 is 2; day 6 is after the last point: stays null
    # k=2: 10 at day 1, 30 at day 4 -> day 3 is 10 + 20 * 2 / 3
    pd.testing.assert_series_equal(run(rule, series, size)["v"], expected.sort_index().rename("v"))
    assert run(rule, series, size)["v"].tolist()[:2] == [0.0, 2.0]


def test_interpolate_linear_by_position_and_edges(series: pd.DataFrame) -> None:
    one = series[series["k"] == 1].reset_index(drop=True)
    rule = InterpolateTimeSeries(["v"], "when").fit(one)
    assert rule.transform(one).data["v"].tolist()[:3] == [0.0, 4.0, 8.0]
    nullable = one.assign(v=pd.array([0, None, 8, None], dtype="Int64"))
    assert InterpolateTimeSeries(["v"], "when").fit(nullable).transform(nullable).data["v"].dtype == "Float64"
    empty = InterpolateTimeSeries(["v"], "when", key="k").fit(series.iloc[:0])
    assert empty.transform(series).data["v"].isna().sum() == 3
    allnull = series.assign(v=np.nan)
    assert InterpolateTimeSeries(["v"], "when").fit(allnull).transform(allnull).data["v"].isna().all()
    with pytest.raises(NotFittedError):
        InterpolateTimeSeries(["v"], "when").transform(series)
    with pytest.raises(ConfigurationError):
        InterpolateTimeSeries(["v"], "when", method="spline").check_params(list(series.columns))
