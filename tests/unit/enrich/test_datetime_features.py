from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dataframe_pipeline.enrich.datetime_features import DateTimeFeatures
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError


@pytest.fixture
def df() -> pd.DataFrame:
    ts = pd.to_datetime(["2024-01-06 13:45", "2023-12-31 00:00", None, "2024-04-01 23:59"])
    return pd.DataFrame({"ts": ts, "v": [1, 2, 3, 4]}, index=pd.RangeIndex(20, 24))


def test_default_features_by_hand(df: pd.DataFrame) -> None:
    out = DateTimeFeatures("ts").transform(df).data
    expected = df.assign(
        ts_year=pd.array([2024, 2023, None, 2024], dtype="Int64"),
        ts_month=pd.array([1, 12, None, 4], dtype="Int64"),
        ts_day=pd.array([6, 31, None, 1], dtype="Int64"),
        ts_dayofweek=pd.array([5, 6, None, 0], dtype="Int64"),  # Saturday, Sunday, Monday
        ts_hour=pd.array([13, 0, None, 23], dtype="Int64"),
        ts_is_weekend=pd.array([True, True, None, False], dtype="boolean"),
        ts_dayofyear=pd.array([6, 365, None, 92], dtype="Int64"),  # 2024 is a leap year
        ts_quarter=pd.array([1, 4, None, 2], dtype="Int64"),
    )
    assert_frame_equal(out, expected)


def test_cyclical_and_prefix(df: pd.DataFrame) -> None:
    out = DateTimeFeatures("ts", features=["hour"], cyclical=True, prefix="t_").transform(df).data
    assert list(out.columns) == [
        "ts", "v", "t_hour", "t_month_sin", "t_month_cos", "t_dayofweek_sin", "t_dayofweek_cos", "t_hour_sin",
        "t_hour_cos",
    ]  # fmt: skip
    np.testing.assert_allclose(out["t_month_sin"], [0.0, np.sin(2 * np.pi * 11 / 12), np.nan, 1.0], atol=1e-12)
    np.testing.assert_allclose(out["t_month_cos"], [1.0, np.cos(2 * np.pi * 11 / 12), np.nan, 0.0], atol=1e-12)
    np.testing.assert_allclose(
        out["t_dayofweek_sin"], [np.sin(2 * np.pi * 5 / 7), np.sin(2 * np.pi * 6 / 7), np.nan, 0]
    )
    np.testing.assert_allclose(
        out["t_hour_cos"], [np.cos(2 * np.pi * 13 / 24), 1.0, np.nan, np.cos(2 * np.pi * 23 / 24)]
    )


def test_timezone_aware_uses_local_time() -> None:
    ts = pd.Series(pd.to_datetime(["2024-03-01 23:30"]).tz_localize("UTC").tz_convert("Asia/Tokyo"))
    out = DateTimeFeatures("ts", features=["day", "hour"]).transform(pd.DataFrame({"ts": ts})).data
    assert out["ts_day"].tolist() == [2]
    assert out["ts_hour"].tolist() == [8]


def test_edge_cases_and_batch_invariance(df: pd.DataFrame) -> None:
    t = DateTimeFeatures("ts", cyclical=True)
    whole = t.transform(df).data
    parts = pd.concat([t.transform(df.iloc[:1]).data, t.transform(df.iloc[1:1]).data, t.transform(df.iloc[1:]).data])
    assert_frame_equal(parts, whole)
    empty = t.transform(df.iloc[:0]).data
    assert (empty.dtypes == whole.dtypes).all()
    nulls = pd.DataFrame({"ts": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns]")})
    out = t.transform(nulls).data
    assert out.drop(columns="ts").isna().all().all()
    assert (out.dtypes.iloc[1:] == whole.dtypes.iloc[2:]).all()


def test_errors(df: pd.DataFrame) -> None:
    with pytest.raises(DataContractError, match="expected datetimes"):
        DateTimeFeatures("v").transform(df)
    with pytest.raises(DataContractError, match="already exist"):
        DateTimeFeatures("ts", features=["year"]).transform(df.assign(ts_year=1))
    with pytest.raises(ConfigurationError, match="features"):
        DateTimeFeatures("ts", features=["century"]).check_params()
    with pytest.raises(ConfigurationError, match="column"):
        DateTimeFeatures("nope").check_params(["ts"])
    assert DateTimeFeatures("ts", features=["year"]).get_feature_names_out(["ts"]) == ["ts", "ts_year"]
