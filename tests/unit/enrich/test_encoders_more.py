from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal
from sklearn.preprocessing import OrdinalEncoder as SkOrdinalEncoder

from dataframe_pipeline.core.batch import RowAccounting
from dataframe_pipeline.enrich.encoders_more import FrequencyEncoder, OrdinalEncoder
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import frame, split_batches


@pytest.fixture
def df() -> pd.DataFrame:
    return frame(index_start=10, size=["M", "S", None, "L", "M", "S", "M"], x=[1, 2, 3, 4, 5, 6, 7])


# -- OrdinalEncoder -------------------------------------------------------------------------------


def test_ordinal_learns_sorted_categories_and_encodes(df: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"]).fit(df)
    assert enc.categories_ == {"size": ["L", "M", "S"]}

    out = enc.transform(df).data
    expected = df.assign(size=[1.0, 2.0, np.nan, 0.0, 1.0, 2.0, 1.0])
    assert_frame_equal(out, expected)


def test_ordinal_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    df = frame(a=rng.choice(["x", "y", "z"], 50).tolist(), b=rng.choice(["p", "q"], 50).tolist())
    ours = OrdinalEncoder(["a", "b"]).fit(df).transform(df).data
    np.testing.assert_array_equal(ours.to_numpy(dtype="float64"), SkOrdinalEncoder().fit_transform(df))


def test_ordinal_explicit_order_and_unknown_value(df: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"], categories={"size": ["S", "M"]}, unknown_value=-1).fit(df)
    assert enc.categories_ == {"size": ["S", "M"]}
    out = enc.transform(df).data["size"].tolist()
    assert out[:2] == [1.0, 0.0]
    assert np.isnan(out[2])
    assert out[3:] == [-1.0, 1.0, 0.0, 1.0]


def test_ordinal_unseen_quarantined_with_reason(df: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"], handle_unknown="quarantine").fit(df)
    batch = frame(index_start=50, size=["XL", "S", None], x=[1, 2, 3])
    result = enc.transform(batch)

    assert list(result.data.index) == [51, 52]
    assert result.data["size"].tolist()[0] == 2.0
    assert result.rejected["size"].tolist() == ["XL"]
    assert result.rejected["_reason"].tolist() == ["size: unseen category 'XL'"]
    assert result.rejected["_rule"].tolist() == ["ordinal"]
    assert RowAccounting(3, len(result.data), result.n_rejected).balanced


def test_ordinal_unseen_error(df: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"], handle_unknown="error").fit(df)
    with pytest.raises(DataContractError, match="XL"):
        enc.transform(frame(size=["XL"]))


def test_ordinal_edge_cases() -> None:
    empty = frame(c=pd.Series([], dtype="str").tolist())
    enc = OrdinalEncoder(["c"]).fit(empty)
    assert enc.categories_ == {"c": []}
    assert enc.transform(frame(c=["a"])).data["c"].tolist() == [-1.0]
    out = OrdinalEncoder(["c"]).fit(frame(c=["a"])).transform(empty).data
    assert out["c"].dtype == np.float64
    assert len(out) == 0

    nulls = frame(c=[None, None])
    out = OrdinalEncoder(["c"]).fit(nulls).transform(nulls).data
    assert out["c"].isna().all()

    one = frame(index_start=7, c=["k"])
    assert_frame_equal(OrdinalEncoder(["c"]).fit(one).transform(one).data, frame(index_start=7, c=[0.0]))
    const = frame(c=["k"] * 3)
    assert OrdinalEncoder(["c"]).fit(const).transform(const).data["c"].tolist() == [0.0] * 3


@pytest.mark.parametrize("cuts", [[], [1], [2, 5], [0, 0, 7]])
def test_ordinal_batch_split_invariance(df: pd.DataFrame, cuts: list[int]) -> None:
    whole = OrdinalEncoder(["size"]).fit(df)
    batched = OrdinalEncoder(["size"]).fit_batches(split_batches(df, cuts))
    assert batched.categories_ == whole.categories_
    parts = [batched.transform(b).data for b in split_batches(df, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(df).data)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": ["a"], "handle_unknown": "ignore"}, "handle_unknown"),
        ({"columns": ["a"], "unknown_value": 0}, "unknown_value"),
        ({"columns": ["a"], "unknown_value": "x"}, "unknown_value"),
        ({"columns": ["a"], "categories": {"b": ["x"]}}, "categories"),
        ({"columns": ["a"], "categories": {"a": ["x", "x"]}}, "categories['a']"),
    ],
)
def test_ordinal_bad_config(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        OrdinalEncoder(**kwargs).check_params(["a"])
    assert info.value.field == field


def test_ordinal_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        OrdinalEncoder(["a"]).transform(frame(a=["x"]))


# -- FrequencyEncoder -----------------------------------------------------------------------------


def test_frequency_normalized(df: pd.DataFrame) -> None:
    enc = FrequencyEncoder(["size"]).fit(df)
    assert enc.counts_ == {"size": {"L": 1, "M": 3, "S": 2}}
    assert enc.n_rows_ == 7

    out = enc.transform(frame(index_start=3, size=["M", "S", "XL", None], x=[0, 0, 0, 0])).data
    expected = pd.Series([3 / 7, 2 / 7, 0.0, np.nan], index=pd.RangeIndex(3, 7), name="size_freq")
    assert_series_equal(out["size_freq"], expected)
    assert list(out.columns) == ["size", "x", "size_freq"]


def test_frequency_counts_and_pandas_oracle(df: pd.DataFrame) -> None:
    out = FrequencyEncoder(["size"], normalize=False, suffix="_n").fit(df).transform(df).data
    oracle = df["size"].map(df["size"].value_counts()).astype("float64")
    assert_series_equal(out["size_n"], oracle, check_names=False)


def test_frequency_edge_cases() -> None:
    enc = FrequencyEncoder(["c"]).fit(frame(c=pd.Series([], dtype="str").tolist()))
    assert enc.n_rows_ == 0
    assert enc.transform(frame(c=["a"])).data["c_freq"].tolist() == [0.0]

    nulls = frame(c=[None, None])
    assert FrequencyEncoder(["c"]).fit(nulls).transform(nulls).data["c_freq"].isna().all()
    const = frame(c=["k"] * 4)
    assert FrequencyEncoder(["c"]).fit(const).transform(const).data["c_freq"].tolist() == [1.0] * 4
    empty_out = FrequencyEncoder(["c"]).fit(const).transform(const.iloc[:0]).data
    assert empty_out["c_freq"].dtype == np.float64


@pytest.mark.parametrize("cuts", [[], [1], [3, 4], [0, 7]])
def test_frequency_batch_split_invariance(df: pd.DataFrame, cuts: list[int]) -> None:
    whole = FrequencyEncoder(["size"]).fit(df)
    batched = FrequencyEncoder(["size"]).fit_batches(split_batches(df, cuts))
    assert (batched.counts_, batched.n_rows_) == (whole.counts_, whole.n_rows_)
    parts = [batched.transform(b).data for b in split_batches(df, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(df).data)


def test_frequency_clash_and_config() -> None:
    with pytest.raises(ConfigurationError, match="already exist"):
        FrequencyEncoder(["a"]).check_params(["a", "a_freq"])
    with pytest.raises(ConfigurationError):
        FrequencyEncoder(["a"], normalize="yes").check_params()
    enc = FrequencyEncoder(["a"]).fit(frame(a=["x"]))
    with pytest.raises(DataContractError):
        enc.transform(frame(a=["x"], a_freq=[1]))
