from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal
from sklearn.preprocessing import OneHotEncoder as SkOneHotEncoder
from sklearn.preprocessing import OrdinalEncoder as SkOrdinalEncoder

from dataframe_pipeline.core.batch import RowAccounting
from dataframe_pipeline.enrich.encoding import FrequencyEncoder, OneHotEncoder, OrdinalEncoder, safe_name
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import frame, split_batches

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def df() -> pd.DataFrame:
    return frame(
        index_start=10,
        country=["FR", "DE", None, "FR", "U.S.", "DE", "FR"],
        amount=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    )


def accounting(rows_in: int, result) -> RowAccounting:
    return RowAccounting(rows_in, len(result.data), result.n_rejected, result.dropped)


def test_fit_sorts_categories_and_ignores_nulls(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"]).fit(df)

    assert enc.categories_ == {"country": ["DE", "FR", "U.S."]}
    assert enc.infrequent_categories_ == {"country": []}
    assert enc.category_counts_ == {"country": {"DE": 2, "FR": 3, "U.S.": 1}}


def test_transform_gives_the_expected_frame(df: pd.DataFrame) -> None:
    result = OneHotEncoder(["country"]).fit(df).transform(df)

    expected = frame(
        index_start=10,
        amount=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        country_DE=[0, 1, 0, 0, 0, 1, 0],
        country_FR=[1, 0, 0, 1, 0, 0, 1],
        country_U_S_=[0, 0, 0, 0, 1, 0, 0],
    ).astype({"country_DE": "uint8", "country_FR": "uint8", "country_U_S_": "uint8"})
    assert_frame_equal(result.data, expected)
    assert result.n_rejected == 0
    assert accounting(len(df), result).balanced


def test_matches_scikit_learn_on_data_without_nulls() -> None:
    rng = np.random.default_rng(7)
    df = frame(
        city=rng.choice(["Paris", "Lyon", "Nice", "Lille"], size=200).tolist(),
        size=rng.choice(["S", "M", "L"], size=200).tolist(),
    )
    ours = OneHotEncoder(["city", "size"]).fit(df).transform(df).data
    sk = SkOneHotEncoder(sparse_output=False, dtype=np.uint8).fit(df)

    np.testing.assert_array_equal(ours.to_numpy(), sk.transform(df))
    assert list(ours.columns) == list(sk.get_feature_names_out())


def test_max_categories_keeps_the_most_frequent_ties_by_value() -> None:
    df = frame(c=["b", "a", "c", "b", "a", "c", "d", "e", "e"])
    enc = OneHotEncoder(["c"], max_categories=2).fit(df)

    # a, b, c and e all appear twice: the two smallest values win the tie
    assert enc.categories_ == {"c": ["a", "b"]}
    assert enc.infrequent_categories_ == {"c": ["c", "d", "e"]}
    out = enc.transform(frame(c=["a", "e", "b", "zz", None])).data
    expected = pd.DataFrame(
        {"c_a": [1, 0, 0, 0, 0], "c_b": [0, 0, 1, 0, 0], "c__infrequent": [0, 1, 0, 0, 0]}, dtype="uint8"
    )
    assert_frame_equal(out, expected)


def test_max_categories_keeps_the_most_frequent_like_scikit_learn() -> None:
    # no ties; scikit-learn counts the infrequent column in max_categories, we do not
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"]
    df = frame(c=values)
    ours = OneHotEncoder(["c"], max_categories=2).fit(df).transform(df).data
    sk = SkOneHotEncoder(max_categories=3, sparse_output=False, dtype=np.uint8).fit(df)

    np.testing.assert_array_equal(ours.to_numpy(), sk.transform(df))


def test_no_infrequent_column_when_max_categories_is_not_exceeded(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"], max_categories=3).fit(df)

    assert enc.get_feature_names_out(["country"]) == ["country_DE", "country_FR", "country_U_S_"]


@pytest.mark.parametrize(
    ("text", "safe"), [("U.S.", "U_S_"), ("São Paulo", "S_o_Paulo"), ("a-b/c", "a_b_c"), ("ok_9", "ok_9")]
)
def test_safe_name(text: str, safe: str) -> None:
    assert safe_name(text) == safe


def test_categories_that_give_the_same_column_name_are_an_error() -> None:
    with pytest.raises(DataContractError, match=r"\['c_a_b'\]"):
        OneHotEncoder(["c"]).fit(frame(c=["a b", "a-b"]))


def test_output_name_clashing_with_an_input_column_is_an_error(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"], drop_input=False).fit(df)

    with pytest.raises(DataContractError, match="country_FR"):
        enc.transform(df.assign(country_FR=1))


def test_unseen_category_is_all_zeros_when_ignored(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"], max_categories=1).fit(df)
    out = enc.transform(frame(index_start=3, country=["XX", "FR", "DE"])).data

    expected = pd.DataFrame(
        {"country_FR": [0, 1, 0], "country__infrequent": [0, 0, 1]}, dtype="uint8", index=pd.RangeIndex(3, 6)
    )
    assert_frame_equal(out, expected)


def test_unseen_category_is_quarantined_with_its_reason(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"], handle_unknown="quarantine").fit(df)
    batch = frame(index_start=100, country=["XX", "FR", None, "YY"], amount=[1.0, 2.0, 3.0, 4.0])

    result = enc.transform(batch)

    assert list(result.data.index) == [101, 102]
    assert result.data["country_FR"].tolist() == [1, 0]
    rejected = result.rejected
    assert list(rejected.index) == [100, 103]
    assert rejected["country"].tolist() == ["XX", "YY"]  # original values kept
    assert rejected["amount"].tolist() == [1.0, 4.0]
    assert rejected["_rule"].tolist() == ["one_hot", "one_hot"]
    assert rejected["_reason"].tolist() == ["country: unseen category 'XX'", "country: unseen category 'YY'"]
    assert accounting(len(batch), result).balanced


def test_quarantine_reason_lists_every_column_with_an_unseen_category() -> None:
    enc = OneHotEncoder(["a", "b"], handle_unknown="quarantine").fit(frame(a=["x"], b=["y"]))

    result = enc.transform(frame(a=["new", "x", "new"], b=["y", "other", "other"]))

    assert result.data.empty
    assert result.rejected["_reason"].tolist() == [
        "a: unseen category 'new'",
        "b: unseen category 'other'",
        "a: unseen category 'new'; b: unseen category 'other'",
    ]


def test_unseen_category_raises_when_handle_unknown_is_error(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"], handle_unknown="error").fit(df)

    with pytest.raises(DataContractError, match="XX"):
        enc.transform(frame(country=["FR", "XX"]))
    assert enc.transform(frame(country=["FR", None])).data["country_FR"].tolist() == [1, 0]


def test_output_columns_are_the_same_when_the_batch_lacks_categories(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"]).fit(df)

    out = enc.transform(frame(index_start=5, country=["DE"], amount=[0.5])).data

    assert list(out.columns) == ["amount", "country_DE", "country_FR", "country_U_S_"]
    assert out.iloc[0].tolist() == [0.5, 1, 0, 0]


def test_empty_input(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"]).fit(df)
    out = enc.transform(df.iloc[:0]).data

    assert list(out.columns) == ["amount", "country_DE", "country_FR", "country_U_S_"]
    assert len(out) == 0
    assert (out.dtypes.iloc[1:] == np.uint8).all()

    empty_fit = OneHotEncoder(["country"]).fit(df.iloc[:0])
    assert empty_fit.categories_ == {"country": []}
    assert_frame_equal(empty_fit.transform(df).data, df[["amount"]])


def test_all_null_column_gives_no_columns_and_keeps_the_rows() -> None:
    df = frame(c=pd.Series([None, None], dtype="str").tolist(), d=["p", "q"])
    enc = OneHotEncoder(["c", "d"]).fit(df)

    assert enc.categories_ == {"c": [], "d": ["p", "q"]}
    out = enc.transform(df).data
    assert_frame_equal(out, pd.DataFrame({"d_p": [1, 0], "d_q": [0, 1]}, dtype="uint8"))


def test_single_row_and_constant_column() -> None:
    one = frame(index_start=41, c=["only"])
    out = OneHotEncoder(["c"]).fit(one).transform(one).data
    assert_frame_equal(out, pd.DataFrame({"c_only": [1]}, dtype="uint8", index=pd.RangeIndex(41, 42)))

    constant = frame(c=["k"] * 4)
    out = OneHotEncoder(["c"]).fit(constant).transform(constant).data
    assert out["c_k"].tolist() == [1, 1, 1, 1]


def test_non_string_values_are_encoded_by_their_text() -> None:
    df = frame(n=[2, 10, 1, 2])
    enc = OneHotEncoder(["n"]).fit(df)

    assert enc.categories_ == {"n": ["1", "10", "2"]}  # sorted as text
    assert enc.transform(df).data["n_2"].tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("cuts", [[], [1], [1, 2, 3, 4, 5, 6], [3], [0, 0, 7]])
def test_batch_split_invariance(df: pd.DataFrame, cuts: list[int]) -> None:
    whole = OneHotEncoder(["country"], max_categories=2, handle_unknown="quarantine").fit(df)
    batched = OneHotEncoder(["country"], max_categories=2, handle_unknown="quarantine")
    batched.fit_batches(split_batches(df, cuts))

    assert batched.categories_ == whole.categories_
    assert batched.infrequent_categories_ == whole.infrequent_categories_
    parts = [batched.transform(b).data for b in split_batches(df, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(df).data)


def test_fit_is_deterministic_and_a_new_fit_forgets_the_previous_one(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"]).fit(frame(country=["ZZ"]))
    enc.fit(df)

    assert enc.categories_ == OneHotEncoder(["country"]).fit(df).categories_


def test_keep_input_and_bool_dtype(df: pd.DataFrame) -> None:
    out = OneHotEncoder(["country"], drop_input=False, dtype="bool").fit(df).transform(df).data

    assert list(out.columns) == ["country", "amount", "country_DE", "country_FR", "country_U_S_"]
    assert out["country_FR"].dtype == np.bool_
    assert out["country_FR"].tolist() == [True, False, False, True, False, False, True]


def test_get_feature_names_out(df: pd.DataFrame) -> None:
    enc = OneHotEncoder(["country"])
    # before the fit only the columns passed through are known
    assert enc.get_feature_names_out(["id", "country"]) == ["id"]
    assert OneHotEncoder(["country"], drop_input=False).get_feature_names_out(["country"]) == ["country"]

    enc.fit(df)
    assert enc.get_feature_names_out(["id", "country"]) == ["id", "country_DE", "country_FR", "country_U_S_"]


def test_transform_before_fit_raises(df: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        OneHotEncoder(["country"]).transform(df)


def test_missing_input_column_is_a_data_contract_error(df: pd.DataFrame) -> None:
    with pytest.raises(DataContractError, match="nope"):
        OneHotEncoder(["nope"]).fit(df)
    enc = OneHotEncoder(["country"]).fit(df)
    with pytest.raises(DataContractError, match="country"):
        enc.transform(df.drop(columns="country"))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": "country"}, "columns"),
        ({"columns": ["country", "country"]}, "columns"),
        ({"columns": ["missing"]}, "columns"),
        ({"handle_unknown": "drop"}, "handle_unknown"),
        ({"max_categories": 0}, "max_categories"),
        ({"max_categories": True}, "max_categories"),
        ({"drop_input": "yes"}, "drop_input"),
        ({"dtype": "float64"}, "dtype"),
        ({"dtype": "no-such-dtype"}, "dtype"),
    ],
)
def test_check_params_names_the_bad_field(params: dict, field: str) -> None:
    enc = OneHotEncoder(**{"columns": ["country"], **params})

    with pytest.raises(ConfigurationError) as info:
        enc.check_params(["country", "amount"])
    assert info.value.field == field


def test_check_params_accepts_good_params() -> None:
    OneHotEncoder(["country"], "quarantine", 5, False, "int32").check_params(["country"])


def test_init_stores_params_unchanged() -> None:
    enc = OneHotEncoder(("a",), handle_unknown="bogus", max_categories=-1)

    assert enc.get_params() == {
        "columns": ("a",),
        "handle_unknown": "bogus",
        "max_categories": -1,
        "drop_input": True,
        "dtype": "uint8",
    }


def test_package_exports_lazily() -> None:
    code = (
        "import sys, dataframe_pipeline.enrich as e; assert 'pandas' not in sys.modules; "
        "assert e.OneHotEncoder.__name__ == 'OneHotEncoder'; assert e.StandardScaler.rule_name"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": "plugins"}, cwd=ROOT)


@pytest.fixture
def sizes() -> pd.DataFrame:
    return frame(index_start=10, size=["M", "S", None, "L", "M", "S", "M"], x=[1, 2, 3, 4, 5, 6, 7])


# -- OrdinalEncoder -------------------------------------------------------------------------------


def test_ordinal_learns_sorted_categories_and_encodes(sizes: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"]).fit(sizes)
    assert enc.categories_ == {"size": ["L", "M", "S"]}

    out = enc.transform(sizes).data
    expected = sizes.assign(size=[1.0, 2.0, np.nan, 0.0, 1.0, 2.0, 1.0])
    assert_frame_equal(out, expected)


def test_ordinal_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    sizes = frame(a=rng.choice(["x", "y", "z"], 50).tolist(), b=rng.choice(["p", "q"], 50).tolist())
    ours = OrdinalEncoder(["a", "b"]).fit(sizes).transform(sizes).data
    np.testing.assert_array_equal(ours.to_numpy(dtype="float64"), SkOrdinalEncoder().fit_transform(sizes))


def test_ordinal_explicit_order_and_unknown_value(sizes: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"], categories={"size": ["S", "M"]}, unknown_value=-1).fit(sizes)
    assert enc.categories_ == {"size": ["S", "M"]}
    out = enc.transform(sizes).data["size"].tolist()
    assert out[:2] == [1.0, 0.0]
    assert np.isnan(out[2])
    assert out[3:] == [-1.0, 1.0, 0.0, 1.0]


def test_ordinal_unseen_quarantined_with_reason(sizes: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"], handle_unknown="quarantine").fit(sizes)
    batch = frame(index_start=50, size=["XL", "S", None], x=[1, 2, 3])
    result = enc.transform(batch)

    assert list(result.data.index) == [51, 52]
    assert result.data["size"].tolist()[0] == 2.0
    assert result.rejected["size"].tolist() == ["XL"]
    assert result.rejected["_reason"].tolist() == ["size: unseen category 'XL'"]
    assert result.rejected["_rule"].tolist() == ["ordinal"]
    assert RowAccounting(3, len(result.data), result.n_rejected).balanced


def test_ordinal_unseen_error(sizes: pd.DataFrame) -> None:
    enc = OrdinalEncoder(["size"], handle_unknown="error").fit(sizes)
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
def test_ordinal_batch_split_invariance(sizes: pd.DataFrame, cuts: list[int]) -> None:
    whole = OrdinalEncoder(["size"]).fit(sizes)
    batched = OrdinalEncoder(["size"]).fit_batches(split_batches(sizes, cuts))
    assert batched.categories_ == whole.categories_
    parts = [batched.transform(b).data for b in split_batches(sizes, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(sizes).data)


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


def test_frequency_normalized(sizes: pd.DataFrame) -> None:
    enc = FrequencyEncoder(["size"]).fit(sizes)
    assert enc.counts_ == {"size": {"L": 1, "M": 3, "S": 2}}
    assert enc.n_rows_ == 7

    out = enc.transform(frame(index_start=3, size=["M", "S", "XL", None], x=[0, 0, 0, 0])).data
    expected = pd.Series([3 / 7, 2 / 7, 0.0, np.nan], index=pd.RangeIndex(3, 7), name="size_freq")
    assert_series_equal(out["size_freq"], expected)
    assert list(out.columns) == ["size", "x", "size_freq"]


def test_frequency_counts_and_pandas_oracle(sizes: pd.DataFrame) -> None:
    out = FrequencyEncoder(["size"], normalize=False, suffix="_n").fit(sizes).transform(sizes).data
    oracle = sizes["size"].map(sizes["size"].value_counts()).astype("float64")
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
def test_frequency_batch_split_invariance(sizes: pd.DataFrame, cuts: list[int]) -> None:
    whole = FrequencyEncoder(["size"]).fit(sizes)
    batched = FrequencyEncoder(["size"]).fit_batches(split_batches(sizes, cuts))
    assert (batched.counts_, batched.n_rows_) == (whole.counts_, whole.n_rows_)
    parts = [batched.transform(b).data for b in split_batches(sizes, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(sizes).data)


def test_frequency_clash_and_config() -> None:
    with pytest.raises(ConfigurationError, match="already exist"):
        FrequencyEncoder(["a"]).check_params(["a", "a_freq"])
    with pytest.raises(ConfigurationError):
        FrequencyEncoder(["a"], normalize="yes").check_params()
    enc = FrequencyEncoder(["a"]).fit(frame(a=["x"]))
    with pytest.raises(DataContractError):
        enc.transform(frame(a=["x"], a_freq=[1]))
