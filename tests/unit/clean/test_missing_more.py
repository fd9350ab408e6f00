"""Unit tests of the missing_more rules; pandas' groupby/ffill/bfill/interpolate are the oracles."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.clean.missing_more import (
    DropSparseColumns,
    DropSparseRows,
    FillByKey,
    GroupImputer,
    InterpolateTimeSeries,
)
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


def run(rule, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    return pd.concat([rule.transform(b).data for b in chunks(frame, size)])


# -- DropSparseColumns ---------------------------------------------------------------------------


@pytest.fixture
def sparse() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0, 4.0],  # 0.25 null
            "b": [np.nan, np.nan, np.nan, 1.0],  # 0.75
            "c": [None, None, None, None],  # 1.0
            "_src": [None, None, None, None],  # provenance: kept
        },
        index=pd.RangeIndex(10, 14),
    )


@pytest.mark.parametrize("size", [1, 3, 10])
def test_drop_sparse_columns(sparse: pd.DataFrame, size: int) -> None:
    rule = DropSparseColumns(0.5).fit_batches(chunks(sparse, size))
    assert rule.null_fraction_ == {"a": 0.25, "b": 0.75, "c": 1.0, "_src": 1.0}
    assert rule.dropped_columns_ == ["b", "c"]
    assert rule.get_feature_names_out(list(sparse.columns)) == ["a", "_src"]
    pd.testing.assert_frame_equal(run(rule, sparse, size), sparse[["a", "_src"]])
    assert DropSparseColumns(0.75).fit(sparse).dropped_columns_ == ["c"]


def test_drop_sparse_columns_edges(sparse: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        DropSparseColumns(0.5).get_feature_names_out(["a"])
    empty = DropSparseColumns(0.5).fit(sparse.iloc[:0])
    assert empty.dropped_columns_ == []
    assert np.isnan(empty.null_fraction_["a"])
    assert DropSparseColumns(0.0).fit(sparse.iloc[:1]).dropped_columns_ == ["b", "c"]
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ConfigurationError):
            DropSparseColumns(bad).check_params()


# -- DropSparseRows ------------------------------------------------------------------------------


def test_drop_sparse_rows_count_and_fraction(sparse: pd.DataFrame) -> None:
    # nulls per row in a, b, c: 2, 3, 2, 1
    count = DropSparseRows(1).transform(sparse)
    assert count.data.index.tolist() == [13]
    assert count.dropped == Counter({"sparse_row": 3})
    fraction = DropSparseRows(0.7).transform(sparse)  # more than 2.1 of 3 -> row 11
    assert fraction.data.index.tolist() == [10, 12, 13]
    assert DropSparseRows(0, columns=["a"]).transform(sparse).data.index.tolist() == [10, 12, 13]
    assert DropSparseRows(0).transform(sparse.iloc[:0]).data.empty
    with pytest.raises(DataContractError):
        DropSparseRows(0, columns=["z"]).transform(sparse)
    for bad in (-1, 1.0, True, "2"):
        with pytest.raises(ConfigurationError):
            DropSparseRows(bad).check_params()
    with pytest.raises(ConfigurationError) as error:
        DropSparseRows(1, columns=["z"]).check_params(["a"])
    assert error.value.field == "columns"


# -- GroupImputer --------------------------------------------------------------------------------


@pytest.fixture
def shops() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "shop": ["x", "x", "y", "y", "x", "z", None, "z"],
            "price": pd.array([1, 3, 10, None, None, None, 7, None], dtype="Int64"),
            "kind": ["a", "b", "b", None, "b", None, "c", None],
        }
    )


@pytest.mark.parametrize("size", [1, 3, 8])
def test_group_mean_with_global_fallback(shops: pd.DataFrame, size: int) -> None:
    rule = GroupImputer(["price"], by="shop").fit_batches(chunks(shops, size))
    assert rule.global_values_ == {"price": 21 / 4}
    out = run(rule, shops, size)
    # x: mean 2; y: 10; z: no value -> global 5.25; the null shop is a group of its own (7)
    expected = pd.array([1, 3, 10, 10, 2, 5.25, 7, 5.25], dtype="Float64")
    pd.testing.assert_series_equal(out["price"], pd.Series(expected, name="price"))
    unseen = pd.DataFrame({"shop": ["w"], "price": pd.array([None], dtype="Int64"), "kind": ["a"]})
    assert rule.transform(unseen).data["price"].tolist() == [5.25]


def test_group_median_most_frequent_and_no_fallback(shops: pd.DataFrame) -> None:
    oracle = shops.groupby("shop")["price"].median()
    median = GroupImputer(["price"], "shop", strategy="median").fit(shops)
    assert median.transform(shops).data["price"][4] == oracle["x"]
    frequent = GroupImputer(["kind"], ["shop"], strategy="most_frequent", fallback=None).fit(shops)
    out = frequent.transform(shops).data["kind"]
    assert out.tolist()[:5] == ["a", "b", "b", "b", "b"]
    assert out.isna().tolist() == [False] * 5 + [True, False, True]  # z has no kind and no fallback
    assert out.dtype == shops["kind"].dtype


def test_group_imputer_edges(shops: pd.DataFrame) -> None:
    empty = GroupImputer(["price"], "shop").fit(shops.iloc[:0])
    assert empty.group_keys_ == []
    assert empty.transform(shops).data["price"].isna().sum() == 4
    with pytest.raises(NotFittedError):
        GroupImputer(["price"], "shop").transform(shops)
    with pytest.raises(DataContractError):
        GroupImputer(["kind"], "shop").fit(shops)  # mean of text
    for params, field in [({"strategy": "max"}, "strategy"), ({"fallback": "zero"}, "fallback"), ({"by": "q"}, "by")]:
        with pytest.raises(ConfigurationError) as error:
            GroupImputer(**{"columns": ["price"], "by": "shop", **params}).check_params(list(shops.columns))
        assert error.value.field == field


# -- FillByKey -----------------------------------------------------------------------------------


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


# -- InterpolateTimeSeries -----------------------------------------------------------------------


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
