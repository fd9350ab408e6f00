from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler
from sklearn.preprocessing import RobustScaler as SkRobustScaler
from sklearn.preprocessing import StandardScaler as SkStandardScaler

from dataframe_pipeline.enrich.scaling import MinMaxScaler, Moments, RobustScaler, StandardScaler
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import frame, split_batches

pytestmark = pytest.mark.unit

COLUMNS = ["a", "b", "c"]


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    data = pd.DataFrame(
        {
            "id": np.arange(500),
            "a": rng.normal(1000.0, 3.0, size=500),
            "b": rng.exponential(2.0, size=500),
            "c": rng.integers(-5, 5, size=500).astype(float),
        }
    )
    data.loc[rng.choice(500, size=40, replace=False), "a"] = np.nan
    data.loc[rng.choice(500, size=7, replace=False), "c"] = np.nan
    return data


def assert_matches_sklearn(ours: StandardScaler, sk: SkStandardScaler, rtol: float = 1e-12) -> None:
    def values(attr: dict) -> np.ndarray:
        return np.array([attr[c] for c in ours.columns])

    np.testing.assert_allclose(values(ours.mean_), sk.mean_, rtol=rtol)
    np.testing.assert_allclose(values(ours.var_), sk.var_, rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(values(ours.scale_), sk.scale_, rtol=rtol)
    np.testing.assert_array_equal(values(ours.n_samples_seen_), sk.n_samples_seen_)


def test_small_example_by_hand() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}, index=pd.RangeIndex(7, 11))
    scaler = StandardScaler(["x"]).fit(df)

    assert scaler.mean_ == {"x": 2.5}
    assert scaler.var_ == {"x": 1.25}
    assert scaler.scale_ == {"x": math.sqrt(1.25)}
    assert scaler.n_samples_seen_ == {"x": 4}
    expected = pd.DataFrame({"x": [(v - 2.5) / math.sqrt(1.25) for v in (1, 2, 3, 4)]}, index=df.index)
    assert_frame_equal(scaler.transform(df).data, expected)


def test_matches_scikit_learn(df: pd.DataFrame) -> None:
    ours = StandardScaler(COLUMNS).fit(df)
    sk = SkStandardScaler().fit(df[COLUMNS])

    assert_matches_sklearn(ours, sk)
    out = ours.transform(df).data
    np.testing.assert_allclose(out[COLUMNS].to_numpy(), sk.transform(df[COLUMNS]), rtol=1e-12, atol=1e-12)
    assert out["a"].isna().sum() == 40  # nulls stay null
    assert_frame_equal(out[["id"]], df[["id"]])
    assert list(out.columns) == ["id", *COLUMNS]
    assert (out[COLUMNS].dtypes == np.float64).all()


@pytest.mark.parametrize(("with_mean", "with_std"), [(False, True), (True, False), (False, False)])
def test_options_match_scikit_learn(df: pd.DataFrame, with_mean: bool, with_std: bool) -> None:
    ours = StandardScaler(COLUMNS, with_mean=with_mean, with_std=with_std).fit(df)
    sk = SkStandardScaler(with_mean=with_mean, with_std=with_std).fit(df[COLUMNS])

    out = ours.transform(df).data[COLUMNS].to_numpy()
    np.testing.assert_allclose(out, sk.transform(df[COLUMNS]), rtol=1e-12, atol=1e-12)
    if not with_std:
        assert ours.scale_ == {c: 1.0 for c in COLUMNS}


@pytest.mark.parametrize("cuts", [[1], [250], [3, 77, 78, 401], list(range(10, 500, 10)), [0, 0, 499]])
def test_fit_on_batches_matches_scikit_learn(df: pd.DataFrame, cuts: list[int]) -> None:
    ours = StandardScaler(COLUMNS).fit_batches(split_batches(df, cuts))

    assert_matches_sklearn(ours, SkStandardScaler().fit(df[COLUMNS]))


@pytest.mark.parametrize("cuts", [[1], [3, 77, 78, 401], [0, 0, 499]])
def test_transform_is_batch_split_invariant(df: pd.DataFrame, cuts: list[int]) -> None:
    scaler = StandardScaler(COLUMNS).fit(df)

    parts = [scaler.transform(b).data for b in split_batches(df, cuts)]

    assert_frame_equal(pd.concat(parts), scaler.transform(df).data)


def test_moments_merge_like_the_whole() -> None:
    values = np.array([3.0, 1.5, -2.0, 8.25, 0.0, 4.0])
    merged = Moments.of(values[:2]).merge(Moments.of(values[2:]))

    assert merged.n == 6
    assert merged.mean == pytest.approx(values.mean(), rel=1e-15)
    assert merged.m2 == pytest.approx(((values - values.mean()) ** 2).sum(), rel=1e-14)
    assert Moments.of(values[:0]).merge(Moments.of(values)) == Moments.of(values)
    assert Moments.of(values).merge(Moments.of(values[:0])) == Moments.of(values)


def test_constant_column_gets_scale_one() -> None:
    df = pd.DataFrame({"k": [5.0, 5.0, 5.0], "near": [0.1, 0.1, 0.1]})
    scaler = StandardScaler(["k", "near"]).fit(df)

    assert scaler.scale_ == {"k": 1.0, "near": 1.0}
    out = scaler.transform(df).data
    assert out["k"].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(out["near"], 0.0, atol=1e-15)
    np.testing.assert_allclose(out.to_numpy(), SkStandardScaler().fit_transform(df), atol=1e-15)


def test_rounding_noise_on_a_constant_column_fed_in_batches_still_gives_scale_one() -> None:
    df = pd.DataFrame({"near": [0.1] * 10})
    scaler = StandardScaler(["near"]).fit_batches(split_batches(df, [1, 3]))

    assert 0.0 < scaler.var_["near"] < 1e-30  # the merged batch means differ in the last bit
    assert scaler.scale_ == {"near": 1.0}
    np.testing.assert_allclose(scaler.transform(df).data["near"], 0.0, atol=1e-15)


def test_single_row() -> None:
    df = pd.DataFrame({"x": [3.5]}, index=pd.RangeIndex(9, 10))
    scaler = StandardScaler(["x"]).fit(df)

    assert (scaler.mean_, scaler.var_, scaler.scale_) == ({"x": 3.5}, {"x": 0.0}, {"x": 1.0})
    assert_frame_equal(scaler.transform(df).data, pd.DataFrame({"x": [0.0]}, index=df.index))


def test_nullable_integers_become_float64_with_nulls_kept() -> None:
    df = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")})
    out = StandardScaler(["n"]).fit(df).transform(df).data

    assert_frame_equal(out, pd.DataFrame({"n": [-1.0, np.nan, 1.0]}))


def test_all_null_column() -> None:
    df = pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 3.0]})
    scaler = StandardScaler(["x", "y"]).fit(df)

    assert scaler.n_samples_seen_ == {"x": 0, "y": 2}
    assert math.isnan(scaler.mean_["x"]) and math.isnan(scaler.var_["x"]) and math.isnan(scaler.scale_["x"])
    assert_frame_equal(scaler.transform(df).data, pd.DataFrame({"x": [np.nan, np.nan], "y": [-1.0, 1.0]}))
    with pytest.raises(DataContractError, match="no non-null values"):
        scaler.transform(pd.DataFrame({"x": [1.0], "y": [2.0]}))


def test_empty_input() -> None:
    empty = pd.DataFrame({"x": pd.Series([], dtype="float64"), "s": pd.Series([], dtype="str")})
    data = pd.DataFrame({"x": [1.0, 3.0], "s": ["p", "q"]})

    out = StandardScaler(["x"]).fit(data).transform(empty).data
    assert_frame_equal(out, empty)

    scaler = StandardScaler(["x"]).fit_batches([empty, data, empty])
    assert scaler.mean_ == {"x": 2.0}
    assert scaler.n_samples_seen_ == {"x": 2}


def test_a_new_fit_forgets_the_previous_one() -> None:
    scaler = StandardScaler(["x"]).fit(pd.DataFrame({"x": [100.0, 200.0]}))
    scaler.fit(pd.DataFrame({"x": [1.0, 3.0]}))

    assert scaler.mean_ == {"x": 2.0}
    assert scaler.n_samples_seen_ == {"x": 2}


def test_get_feature_names_out_is_unchanged() -> None:
    assert StandardScaler(["a"]).get_feature_names_out(["a", "b"]) == ["a", "b"]


def test_transform_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        StandardScaler(["x"]).transform(pd.DataFrame({"x": [1.0]}))


@pytest.mark.parametrize(
    ("df", "match"),
    [
        (pd.DataFrame({"x": ["a", "b"]}), "dtype"),
        (pd.DataFrame({"x": [1.0, np.inf]}), "infinite"),
        (pd.DataFrame({"y": [1.0]}), "lacks"),
    ],
)
def test_bad_data_is_a_data_contract_error(df: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataContractError, match=match):
        StandardScaler(["x"]).fit(df)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": ["x", "x"]}, "columns"),
        ({"columns": ["missing"]}, "columns"),
        ({"with_mean": 1}, "with_mean"),
        ({"with_std": None}, "with_std"),
    ],
)
def test_check_params_names_the_bad_field(params: dict, field: str) -> None:
    scaler = StandardScaler(**{"columns": ["x"], **params})

    with pytest.raises(ConfigurationError) as info:
        scaler.check_params(["x"])
    assert info.value.field == field


def test_suffix_writes_new_columns_and_keeps_the_raw_values() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10, 10, 40]})
    scaler = StandardScaler(["a", "b"], suffix="_scaled").fit(df)
    out = scaler.transform(df).data
    assert list(out.columns) == ["a", "b", "a_scaled", "b_scaled"]
    assert_frame_equal(out[["a", "b"]], df)
    expected = SkStandardScaler().fit_transform(df[["a", "b"]].astype(float))
    np.testing.assert_allclose(out[["a_scaled", "b_scaled"]].to_numpy(), expected, rtol=1e-12)
    assert scaler.get_feature_names_out(["a", "b", "c"]) == ["a", "b", "c", "a_scaled", "b_scaled"]
    with pytest.raises(ConfigurationError, match="suffix"):
        StandardScaler(["a"], suffix="").check_params(["a"])


@pytest.fixture
def numbers() -> pd.DataFrame:
    return frame(index_start=5, a=[1.0, 5.0, np.nan, 3.0, 9.0], b=[2, 2, 2, 2, 2], c=["x", "y", "z", "w", "v"])


def test_minmax_by_hand(numbers: pd.DataFrame) -> None:
    out = MinMaxScaler(["a", "b"]).fit(numbers).transform(numbers).data
    expected = numbers.assign(a=[0.0, 0.5, np.nan, 0.25, 1.0], b=[0.0] * 5)
    assert_frame_equal(out, expected)


def test_minmax_feature_range_suffix_and_constant(numbers: pd.DataFrame) -> None:
    scaler = MinMaxScaler(["a", "b"], feature_range=(-1, 1), suffix="_mm").fit(numbers)
    assert scaler.data_min_ == {"a": 1.0, "b": 2.0}
    assert scaler.data_max_ == {"a": 9.0, "b": 2.0}
    out = scaler.transform(numbers).data
    assert out["a_mm"].tolist()[:2] == [-1.0, 0.0]
    assert out["b_mm"].tolist() == [-1.0] * 5  # constant column -> lower bound
    assert out["a"].equals(numbers["a"])


@pytest.mark.parametrize("feature_range", [(0, 1), (-3, 7.5)])
def test_minmax_matches_scikit_learn(feature_range: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    numbers = pd.DataFrame({"x": rng.normal(size=300) * 100, "y": rng.exponential(size=300), "k": 4.0})
    ours = MinMaxScaler(["x", "y", "k"], feature_range=feature_range).fit_batches(split_batches(numbers, [10, 200]))
    sk = SkMinMaxScaler(feature_range=feature_range).fit(numbers)
    np.testing.assert_allclose(ours.transform(numbers).data.to_numpy(), sk.transform(numbers), rtol=1e-12, atol=1e-12)
    new = pd.DataFrame({"x": [1000.0, -1000.0], "y": [0.5, 99.0], "k": [4.0, 5.0]})
    np.testing.assert_allclose(ours.transform(new).data.to_numpy(), sk.transform(new), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("quantile_range", [(25, 75), (10, 90), (0, 100)])
def test_robust_matches_scikit_learn(quantile_range: tuple[float, float]) -> None:
    rng = np.random.default_rng(2)
    numbers = pd.DataFrame({"x": rng.normal(size=301) * 10, "y": rng.integers(0, 5, size=301).astype(float), "k": 3.0})
    ours = RobustScaler(["x", "y", "k"], quantile_range=quantile_range).fit_batches(split_batches(numbers, [1, 150]))
    sk = SkRobustScaler(quantile_range=quantile_range).fit(numbers)
    np.testing.assert_allclose(list(ours.center_.values()), sk.center_, rtol=1e-12)
    np.testing.assert_allclose(list(ours.scale_.values()), sk.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.transform(numbers).data.to_numpy(), sk.transform(numbers), rtol=1e-12, atol=1e-12)


def test_robust_by_hand_with_nulls(numbers: pd.DataFrame) -> None:
    scaler = RobustScaler(["a", "b"]).fit(numbers)
    # a: 1, 3, 5, 9 -> median 4, q25 2.5, q75 6 -> IQR 3.5; b constant -> scale 1
    assert scaler.center_ == {"a": 4.0, "b": 2.0}
    assert scaler.scale_ == {"a": 3.5, "b": 1.0}
    assert scaler.n_samples_seen_ == {"a": 4, "b": 5}
    out = scaler.transform(numbers).data
    np.testing.assert_allclose(out["a"], [-3 / 3.5, 1 / 3.5, np.nan, -1 / 3.5, 5 / 3.5])
    assert out["b"].tolist() == [0.0] * 5


@pytest.mark.parametrize("cls", [MinMaxScaler, RobustScaler])
def test_edge_cases(cls: type, numbers: pd.DataFrame) -> None:
    fitted = cls(["a"]).fit(numbers)
    empty = fitted.transform(numbers.iloc[:0]).data
    assert len(empty) == 0
    assert empty["a"].dtype == np.float64

    nothing = cls(["a"]).fit(numbers.iloc[:0])
    assert nothing.n_samples_seen_ == {"a": 0}
    assert np.isnan(nothing.scale_["a"])
    with pytest.raises(DataContractError, match="no non-null values"):
        nothing.transform(numbers)

    nulls = frame(a=[np.nan, np.nan])
    assert cls(["a"]).fit(nulls).transform(nulls).data["a"].isna().all()

    one = frame(index_start=3, a=[7.0])
    assert_frame_equal(cls(["a"]).fit(one).transform(one).data, frame(index_start=3, a=[0.0]))

    with pytest.raises(DataContractError, match="expected numbers"):
        cls(["c"]).fit(numbers)
    with pytest.raises(DataContractError, match="infinite"):
        cls(["a"]).fit(frame(a=[1.0, np.inf]))
    with pytest.raises(NotFittedError):
        cls(["a"]).transform(numbers)


@pytest.mark.parametrize("cls", [MinMaxScaler, RobustScaler])
@pytest.mark.parametrize("cuts", [[], [1], [2, 3], [0, 5]])
def test_batch_split_invariance(cls: type, numbers: pd.DataFrame, cuts: list[int]) -> None:
    whole = cls(["a", "b"]).fit(numbers)
    batched = cls(["a", "b"]).fit_batches(split_batches(numbers, cuts))
    assert batched.scale_ == whole.scale_
    parts = [batched.transform(b).data for b in split_batches(numbers, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(numbers).data)


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
