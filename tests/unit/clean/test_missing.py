"""Unit tests of MissingValues.

Oracles: exact rational arithmetic (``fractions.Fraction``) for the mean, pandas for the median,
plain counting for the most frequent value, hand-written frames for the row handling.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataframe_pipeline.clean.missing import GroupImputer, MissingValues
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


def exact_mean(values: list[float]) -> float:
    return float(sum((Fraction(v) for v in values), Fraction(0)) / len(values))


def assert_balanced(batch: pd.DataFrame, result) -> None:
    assert len(batch) == len(result.data) + result.n_rejected + result.n_dropped


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": pd.array([30, None, 20, None, 40], dtype="Int64"),
            "score": [1.0, 2.0, np.nan, 4.0, 10.0],
            "city": pd.array(["Oslo", "Rome", None, "Rome", "Oslo"], dtype="str"),
            "_source_line": [1, 2, 3, 4, 5],
        },
        index=pd.RangeIndex(10, 15),
    )


# -- imputation ------------------------------------------------------------------------------


def test_mean_median_most_frequent(people: pd.DataFrame) -> None:
    imputer = MissingValues({"age": "mean", "score": "median", "city": "most_frequent"}).fit(people)
    # city: Oslo and Rome tie (2 each); the smallest value wins.
    assert imputer.fill_values_ == {"age": 30.0, "score": 3.0, "city": "Oslo"}
    assert imputer.unfillable_columns_ == []
    result = imputer.transform(people)
    expected = people.assign(
        age=pd.array([30.0, 30.0, 20.0, 30.0, 40.0], dtype="Float64"),
        score=[1.0, 2.0, 3.0, 4.0, 10.0],
        city=pd.array(["Oslo", "Rome", "Oslo", "Rome", "Oslo"], dtype="str"),
    )
    pd.testing.assert_frame_equal(result.data, expected)
    assert result.rejected.empty
    assert result.dropped == Counter()


def test_median_matches_pandas() -> None:
    rng = np.random.default_rng(3)
    values = np.where(rng.random(101) < 0.3, np.nan, rng.normal(size=101))
    frame = pd.DataFrame({"v": values})
    imputer = MissingValues({"v": "median"}).fit(frame)
    assert imputer.fill_values_["v"] == frame["v"].median()
    split = MissingValues({"v": "median"}).fit_batches(chunks(frame, 10))
    assert split.fill_values_ == imputer.fill_values_


def test_int64_column_with_mean_becomes_float64_even_without_nulls() -> None:
    frame = pd.DataFrame({"n": np.array([1, 2, 4], dtype="int64")})
    imputer = MissingValues({"n": "mean"}).fit(frame)
    result = imputer.transform(frame)
    pd.testing.assert_frame_equal(result.data, pd.DataFrame({"n": [1.0, 2.0, 4.0]}))
    assert imputer.fill_values_ == {"n": 7 / 3}


def test_integer_median_becomes_float_in_every_batch() -> None:
    frame = pd.DataFrame({"n": pd.array([1, None, 2, 5], dtype="Int64")})
    imputer = MissingValues({"n": "median"}).fit(frame)
    assert imputer.fill_values_ == {"n": 2.0}
    for batch in chunks(frame, 1):
        assert imputer.transform(batch).data["n"].dtype == "Float64"


def test_mean_of_large_integers_is_exact() -> None:
    big = 2**62
    frame = pd.DataFrame({"n": np.array([big, big, big + 3], dtype="int64")})  # the int64 sum overflows
    imputer = MissingValues({"n": "mean"}).fit(frame)
    assert imputer.fill_values_["n"] == float(Fraction(3 * big + 3, 3))


@pytest.mark.parametrize("size", [1, 2, 3])
def test_mean_is_identical_whatever_the_batch_split(size: int) -> None:
    # Summed left to right, 0.1 + 0.2 + 0.3 is 0.6000000000000001; the exact sum is 0.6.
    frame = pd.DataFrame({"v": [0.1, 0.2, 0.3, np.nan]})
    imputer = MissingValues({"v": "mean"}).fit_batches(chunks(frame, size))
    assert imputer.fill_values_["v"] == exact_mean([0.1, 0.2, 0.3]) == 0.2


finite_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(finite_floats | st.floats(min_value=-1e-300, max_value=1e-300), min_size=1, max_size=40),
    split=st.integers(min_value=1, max_value=40),
)
def test_mean_is_exactly_rounded_for_any_split(values: list[float], split: int) -> None:
    frame = pd.DataFrame({"v": values})
    imputer = MissingValues({"v": "mean"}).fit_batches(chunks(frame, split))
    assert imputer.fill_values_["v"] == exact_mean(values)


def test_mean_with_infinities() -> None:
    assert MissingValues({"v": "mean"}).fit(pd.DataFrame({"v": [1.0, np.inf]})).fill_values_["v"] == np.inf
    both = MissingValues({"v": "mean"}).fit(pd.DataFrame({"v": [-np.inf, 1.0, np.inf]})).fill_values_["v"]
    assert math.isnan(both)


@pytest.mark.parametrize("size", [1, 2, 4, 100])
def test_batch_split_invariance(people: pd.DataFrame, size: int) -> None:
    config = {"age": "mean", "score": "median", "city": "most_frequent"}
    whole = MissingValues(config).fit(people)
    split = MissingValues(config).fit_batches(chunks(people, size))
    assert split.fill_values_ == whole.fill_values_
    out = pd.concat([split.transform(batch).data for batch in chunks(people, size)])
    pd.testing.assert_frame_equal(out, whole.transform(people).data)


def test_most_frequent_on_numbers_and_categories() -> None:
    frame = pd.DataFrame(
        {
            "n": [3.0, 1.0, 3.0, 1.0, np.nan],
            "c": pd.Categorical(["b", "b", None, "a", "a"], categories=["z", "a", "b"]),
        }
    )
    imputer = MissingValues({"n": "most_frequent", "c": "most_frequent"}).fit_batches(chunks(frame, 2))
    assert imputer.fill_values_ == {"n": 1.0, "c": "a"}
    assert type(imputer.fill_values_["n"]) is float  # plain Python values in the fitted state
    out = imputer.transform(frame).data
    pd.testing.assert_series_equal(out["n"], pd.Series([3.0, 1.0, 3.0, 1.0, 1.0], name="n"))
    assert out["c"].tolist() == ["b", "b", "a", "a", "a"]
    assert out["c"].dtype == frame["c"].dtype


def test_constant_fill_and_keep(people: pd.DataFrame) -> None:
    imputer = MissingValues({"city": {"constant": "unknown"}, "score": "keep", "age": {"constant": 0}})
    assert not imputer.stateful
    result = imputer.transform(people)  # stateless: no fit needed
    expected = people.assign(
        city=pd.array(["Oslo", "Rome", "unknown", "Rome", "Oslo"], dtype="str"),
        age=pd.array([30, 0, 20, 0, 40], dtype="Int64"),
    )
    pd.testing.assert_frame_equal(result.data, expected)


def test_constant_of_the_wrong_type_is_a_contract_error_even_without_nulls(people: pd.DataFrame) -> None:
    imputer = MissingValues({"age": {"constant": "none"}})
    with pytest.raises(DataContractError, match="'none' does not fit column 'age'"):
        imputer.transform(people.dropna(subset=["age"]))


def test_mean_on_text_is_a_contract_error(people: pd.DataFrame) -> None:
    with pytest.raises(DataContractError, match="'city' has dtype str"):
        MissingValues({"city": "mean"}).fit(people)


# -- dropping and quarantining ----------------------------------------------------------------


def test_drop_counts_under_the_column_rule(people: pd.DataFrame) -> None:
    result = MissingValues({"age": "drop"}).transform(people)
    pd.testing.assert_frame_equal(result.data, people.loc[[10, 12, 14]])
    assert result.dropped == Counter({"missing_values:age": 2})
    assert_balanced(people, result)


def test_quarantine_one_row_once_with_joined_reasons() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, np.nan], "b": pd.array(["x", None, "y"], dtype="str")})
    result = MissingValues({"a": "quarantine", "b": "quarantine"}).transform(frame)
    pd.testing.assert_frame_equal(result.data, frame.iloc[:1])
    expected = frame.iloc[1:].assign(_rule="missing_values", _reason=["a is missing; b is missing", "a is missing"])
    pd.testing.assert_frame_equal(result.rejected, expected)
    assert_balanced(frame, result)


def test_quarantine_comes_before_drop_and_first_drop_rule_counts() -> None:
    frame = pd.DataFrame(
        {"q": [np.nan, 1.0, 1.0, 1.0], "d1": [np.nan, np.nan, 1.0, 1.0], "d2": [np.nan, np.nan, np.nan, 1.0]}
    )
    result = MissingValues({"q": "quarantine", "d1": "drop", "d2": "drop"}).transform(frame)
    assert result.rejected.index.tolist() == [0]
    assert result.dropped == Counter({"missing_values:d1": 1, "missing_values:d2": 1})
    pd.testing.assert_frame_equal(result.data, frame.iloc[3:])
    assert_balanced(frame, result)


def test_statistics_are_fitted_on_the_rows_that_survive() -> None:
    frame = pd.DataFrame({"key": [1.0, np.nan, 1.0], "v": [1.0, 100.0, np.nan]})
    imputer = MissingValues({"key": "drop", "v": "mean"}).fit(frame)
    assert imputer.fill_values_ == {"v": 1.0}  # 100.0 sits in a dropped row
    result = imputer.transform(frame)
    pd.testing.assert_frame_equal(result.data, pd.DataFrame({"key": [1.0, 1.0], "v": [1.0, 1.0]}, index=[0, 2]))


def test_default_applies_to_other_columns_but_not_provenance() -> None:
    frame = pd.DataFrame(
        {
            "age": [np.nan, 1.0, 2.0, 3.0],
            "score": [1.0, np.nan, 2.0, np.nan],
            "city": pd.array(["a", None, None, "b"], dtype="str"),
            "_source_line": [np.nan, np.nan, np.nan, np.nan],
        }
    )
    result = MissingValues({"age": "keep"}, default="drop").transform(frame)
    # Row 1 is null in score and city: it counts under score, the first of them in column order.
    assert result.dropped == Counter({"missing_values:score": 2, "missing_values:city": 1})
    pd.testing.assert_frame_equal(result.data, frame.iloc[:1])


def test_default_statistic_makes_it_stateful(people: pd.DataFrame) -> None:
    imputer = MissingValues({"city": "keep", "age": "keep"}, default="mean")
    assert imputer.stateful
    with pytest.raises(NotFittedError):
        imputer.transform(people)
    imputer.fit(people)
    assert imputer.fill_values_ == {"score": 17.0 / 4}
    with pytest.raises(DataContractError, match="'extra' was not in the data"):
        imputer.transform(people.assign(extra=1.0))


# -- edge cases -------------------------------------------------------------------------------


def test_all_null_column_is_unfillable_not_an_error() -> None:
    frame = pd.DataFrame(
        {
            "a": pd.array([None, None], dtype="Int64"),
            "b": [np.nan, np.nan],
            "c": pd.array([None, None], dtype="str"),
        }
    )
    imputer = MissingValues({"a": "mean", "b": "median", "c": "most_frequent"}).fit(frame)
    assert imputer.unfillable_columns_ == ["a", "b", "c"]
    assert math.isnan(imputer.fill_values_["a"])
    assert math.isnan(imputer.fill_values_["b"])
    assert imputer.fill_values_["c"] is None
    result = imputer.transform(frame)
    expected = frame.assign(a=pd.array([None, None], dtype="Float64"))
    pd.testing.assert_frame_equal(result.data, expected)


def test_empty_input_keeps_columns_and_dtypes(people: pd.DataFrame) -> None:
    empty = people.iloc[:0]
    imputer = MissingValues({"age": "mean", "score": "quarantine", "city": "drop"}).fit(empty)
    assert imputer.unfillable_columns_ == ["age"]
    result = imputer.transform(empty)
    pd.testing.assert_frame_equal(result.data, empty.astype({"age": "Float64"}))
    assert result.n_rejected == 0
    assert result.n_dropped == 0


def test_single_row(people: pd.DataFrame) -> None:
    row = people.loc[[11]]
    imputer = MissingValues({"age": "median", "city": "most_frequent"}).fit(people)
    result = imputer.transform(row)
    pd.testing.assert_frame_equal(result.data, row.assign(age=pd.array([30.0], dtype="Float64")))


def test_constant_column() -> None:
    frame = pd.DataFrame({"v": [7.0, 7.0, np.nan]})
    for strategy in ("mean", "median", "most_frequent"):
        out = MissingValues({"v": strategy}).fit(frame).transform(frame).data
        pd.testing.assert_frame_equal(out, pd.DataFrame({"v": [7.0, 7.0, 7.0]}))


def test_unseen_category_is_kept_and_fill_comes_from_fit() -> None:
    train = pd.DataFrame({"c": pd.array(["a", "a", "b"], dtype="str")})
    imputer = MissingValues({"c": "most_frequent"}).fit(train)
    out = imputer.transform(pd.DataFrame({"c": pd.array(["zebra", None], dtype="str")})).data
    assert out["c"].tolist() == ["zebra", "a"]


def test_missing_column_in_batch(people: pd.DataFrame) -> None:
    with pytest.raises(DataContractError, match="zip"):
        MissingValues({"zip": "drop"}).transform(people)


def test_refit_starts_from_scratch(people: pd.DataFrame) -> None:
    imputer = MissingValues({"score": "mean"}).fit(people)
    imputer.partial_fit(people.iloc[:1]).finish_fit()
    assert imputer.fill_values_ == {"score": 1.0}


# -- configuration ----------------------------------------------------------------------------


def test_check_params_accepts_every_strategy() -> None:
    strategies = {c: c for c in ("drop", "quarantine", "mean", "median", "most_frequent", "keep")}
    MissingValues({**strategies, "x": {"constant": 0}}, default="keep").check_params([*strategies, "x"])


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"strategies": {"age": "avg"}}, "strategies.age", "avg"),
        ({"strategies": {"age": {"fill": 1}}}, "strategies.age", {"fill": 1}),
        ({"strategies": {"age": {"constant": None}}}, "strategies.age", {"constant": None}),
        ({"strategies": {"age": 3}}, "strategies.age", 3),
        ({"strategies": {"zip": "drop"}}, "strategies", "zip"),
        ({"strategies": ["age"]}, "strategies", ["age"]),
        ({"strategies": {}, "default": "avg"}, "default", "avg"),
    ],
)
def test_check_params_rejects(params: dict, field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as error:
        MissingValues(**params).check_params(["age", "city"])
    assert error.value.field == field
    assert error.value.value == value


def run(rule, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    return pd.concat([rule.transform(b).data for b in chunks(frame, size)])


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
