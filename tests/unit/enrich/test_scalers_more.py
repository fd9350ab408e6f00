from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler
from sklearn.preprocessing import RobustScaler as SkRobustScaler

from dataframe_pipeline.enrich.scalers_more import MinMaxScaler, RobustScaler
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import frame, split_batches


@pytest.fixture
def df() -> pd.DataFrame:
    return frame(index_start=5, a=[1.0, 5.0, np.nan, 3.0, 9.0], b=[2, 2, 2, 2, 2], c=["x", "y", "z", "w", "v"])


def test_minmax_by_hand(df: pd.DataFrame) -> None:
    out = MinMaxScaler(["a", "b"]).fit(df).transform(df).data
    expected = df.assign(a=[0.0, 0.5, np.nan, 0.25, 1.0], b=[0.0] * 5)
    assert_frame_equal(out, expected)


def test_minmax_feature_range_suffix_and_constant(df: pd.DataFrame) -> None:
    scaler = MinMaxScaler(["a", "b"], feature_range=(-1, 1), suffix="_mm").fit(df)
    assert scaler.data_min_ == {"a": 1.0, "b": 2.0}
    assert scaler.data_max_ == {"a": 9.0, "b": 2.0}
    out = scaler.transform(df).data
    assert out["a_mm"].tolist()[:2] == [-1.0, 0.0]
    assert out["b_mm"].tolist() == [-1.0] * 5  # constant column -> lower bound
    assert out["a"].equals(df["a"])


@pytest.mark.parametrize("feature_range", [(0, 1), (-3, 7.5)])
def test_minmax_matches_scikit_learn(feature_range: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=300) * 100, "y": rng.exponential(size=300), "k": 4.0})
    ours = MinMaxScaler(["x", "y", "k"], feature_range=feature_range).fit_batches(split_batches(df, [10, 200]))
    sk = SkMinMaxScaler(feature_range=feature_range).fit(df)
    np.testing.assert_allclose(ours.transform(df).data.to_numpy(), sk.transform(df), rtol=1e-12, atol=1e-12)
    new = pd.DataFrame({"x": [1000.0, -1000.0], "y": [0.5, 99.0], "k": [4.0, 5.0]})
    np.testing.assert_allclose(ours.transform(new).data.to_numpy(), sk.transform(new), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("quantile_range", [(25, 75), (10, 90), (0, 100)])
def test_robust_matches_scikit_learn(quantile_range: tuple[float, float]) -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=301) * 10, "y": rng.integers(0, 5, size=301).astype(float), "k": 3.0})
    ours = RobustScaler(["x", "y", "k"], quantile_range=quantile_range).fit_batches(split_batches(df, [1, 150]))
    sk = SkRobustScaler(quantile_range=quantile_range).fit(df)
    np.testing.assert_allclose(list(ours.center_.values()), sk.center_, rtol=1e-12)
    np.testing.assert_allclose(list(ours.scale_.values()), sk.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.transform(df).data.to_numpy(), sk.transform(df), rtol=1e-12, atol=1e-12)


def test_robust_by_hand_with_nulls(df: pd.DataFrame) -> None:
    scaler = RobustScaler(["a", "b"]).fit(df)
    # a: 1, 3, 5, 9 -> median 4, q25 2.5, q75 6 -> IQR 3.5; b constant -> scale 1
    assert scaler.center_ == {"a": 4.0, "b": 2.0}
    assert scaler.scale_ == {"a": 3.5, "b": 1.0}
    assert scaler.n_samples_seen_ == {"a": 4, "b": 5}
    out = scaler.transform(df).data
    np.testing.assert_allclose(out["a"], [-3 / 3.5, 1 / 3.5, np.nan, -1 / 3.5, 5 / 3.5])
    assert out["b"].tolist() == [0.0] * 5


@pytest.mark.parametrize("cls", [MinMaxScaler, RobustScaler])
def test_edge_cases(cls: type, df: pd.DataFrame) -> None:
    fitted = cls(["a"]).fit(df)
    empty = fitted.transform(df.iloc[:0]).data
    assert len(empty) == 0
    assert empty["a"].dtype == np.float64

    nothing = cls(["a"]).fit(df.iloc[:0])
    assert nothing.n_samples_seen_ == {"a": 0}
    assert np.isnan(nothing.scale_["a"])
    with pytest.raises(DataContractError, match="no non-null values"):
        nothing.transform(df)

    nulls = frame(a=[np.nan, np.nan])
    assert cls(["a"]).fit(nulls).transform(nulls).data["a"].isna().all()

    one = frame(index_start=3, a=[7.0])
    assert_frame_equal(cls(["a"]).fit(one).transform(one).data, frame(index_start=3, a=[0.0]))

    with pytest.raises(DataContractError, match="expected numbers"):
        cls(["c"]).fit(df)
    with pytest.raises(DataContractError, match="infinite"):
        cls(["a"]).fit(frame(a=[1.0, np.inf]))
    with pytest.raises(NotFittedError):
        cls(["a"]).transform(df)


@pytest.mark.parametrize("cls", [MinMaxScaler, RobustScaler])
@pytest.mark.parametrize("cuts", [[], [1], [2, 3], [0, 5]])
def test_batch_split_invariance(cls: type, df: pd.DataFrame, cuts: list[int]) -> None:
    whole = cls(["a", "b"]).fit(df)
    batched = cls(["a", "b"]).fit_batches(split_batches(df, cuts))
    assert batched.scale_ == whole.scale_
    parts = [batched.transform(b).data for b in split_batches(df, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(df).data)


@pytest.mark.parametrize(
    ("scaler", "field"),
    [
        (MinMaxScaler(["a"], feature_range=(1, 1)), "feature_range"),
        (MinMaxScaler(["a"], feature_range=(0,)), "feature_range"),
        (MinMaxScaler(["a"], suffix=""), "suffix"),
        (RobustScaler(["a"], quantile_range=(50, 120)), "quantile_range"),
        (RobustScaler(["zz"]), "columns"),
    ],
)
def test_bad_config(scaler, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        scaler.check_params(["a"])
    assert info.value.field == field
