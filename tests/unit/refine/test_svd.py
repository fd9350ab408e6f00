from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pandas.testing import assert_frame_equal
from sklearn.decomposition import TruncatedSVD

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from dataframe_pipeline.refine.pca import _fix_signs
from dataframe_pipeline.refine.sampling import row_keys
from dataframe_pipeline.refine.svd import TruncatedSVDProjection

pytestmark = pytest.mark.unit

COLS = ["h0", "h1", "h2", "h3"]


def sparse_frame(n: int = 60, seed: int = 1) -> pd.DataFrame:
    """Hashed-count-like features: mostly zeros, small integer counts."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(0.7, size=(n, len(COLS))) * (rng.random((n, len(COLS))) < 0.5)
    df = pd.DataFrame(counts.astype(float), columns=COLS)
    df["label"] = pd.Series([f"r{i}" for i in range(n)], dtype="str")
    return df


def oracle_components(matrix: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=seed).fit(matrix)
    return _fix_signs(svd.components_)


def test_fit_on_all_rows_matches_sklearn_and_projects_without_centring() -> None:
    df = sparse_frame()
    svd = TruncatedSVDProjection(COLS, n_components=2).fit(df)
    expected = oracle_components(df[COLS].to_numpy(), 2)
    assert_allclose(svd.components_, expected, rtol=1e-12, atol=1e-12)
    assert svd.n_samples_fit_ == 60
    sk = TruncatedSVD(n_components=2, algorithm="randomized", random_state=0).fit(df[COLS].to_numpy())
    assert_allclose(svd.singular_values_, sk.singular_values_, rtol=1e-12)
    assert_allclose(svd.explained_variance_ratio_, sk.explained_variance_ratio_, rtol=1e-12)
    out = svd.transform(df).data
    assert list(out.columns) == [*COLS, "label", "svd1", "svd2"]
    assert_allclose(out[["svd1", "svd2"]].to_numpy(), df[COLS].to_numpy() @ expected.T, atol=1e-12)
    # each component's largest-magnitude loading is positive
    pivots = svd.components_[np.arange(2), np.abs(svd.components_).argmax(axis=1)]
    assert (pivots > 0).all()


def test_sample_is_the_rows_with_the_smallest_keys() -> None:
    df = sparse_frame(n=80)
    svd = TruncatedSVDProjection(COLS, n_components=2, sample_size=25, random_state=7).fit(df)
    keys = row_keys(np.arange(80), 7)
    chosen = np.sort(np.argsort(keys)[:25])
    expected = oracle_components(df[COLS].to_numpy()[chosen], 2, seed=7)
    assert svd.n_samples_fit_ == 25
    assert_allclose(svd.components_, expected, rtol=1e-12, atol=1e-12)
    other_seed = TruncatedSVDProjection(COLS, n_components=2, sample_size=25, random_state=8).fit(df)
    assert not np.allclose(other_seed.components_, svd.components_)


@pytest.mark.parametrize("cuts", [[1], [7, 8, 40], [13, 26, 39, 52, 65, 78]])
def test_batch_split_invariance(cuts: list[int]) -> None:
    df = sparse_frame(n=80)
    whole = TruncatedSVDProjection(COLS, n_components=3, sample_size=30).fit(df)
    bounds = [0, *cuts, 80]
    batches = [df.iloc[a:b] for a, b in pairwise(bounds)]
    streamed = TruncatedSVDProjection(COLS, n_components=3, sample_size=30).fit_batches(batches)
    assert_array_equal(streamed.components_, whole.components_)
    assert_frame_equal(pd.concat([streamed.transform(b).data for b in batches]), whole.transform(df).data)


def test_rows_with_nulls_are_skipped_by_the_fit_and_quarantined() -> None:
    df = sparse_frame(n=30)
    df.loc[[3, 10], "h1"] = np.nan
    df.loc[10, "h2"] = np.inf
    svd = TruncatedSVDProjection(COLS, n_components=2).fit(df)
    complete = df.drop(index=[3, 10])
    assert svd.n_samples_fit_ == 28
    assert_allclose(svd.components_, oracle_components(complete[COLS].to_numpy(), 2), atol=1e-12)
    result = svd.transform(df)
    assert result.rejected.index.tolist() == [3, 10]
    assert result.rejected["_rule"].tolist() == ["truncated_svd", "truncated_svd"]
    assert result.rejected["_reason"].tolist() == [
        "truncated_svd: null in h1",
        "truncated_svd: null in h1; infinite value in h2",
    ]
    assert len(result.data) + result.n_rejected == len(df)


def test_keep_input_false_drops_the_wide_columns() -> None:
    df = sparse_frame(n=20)
    svd = TruncatedSVDProjection(COLS, n_components=1, prefix="t", keep_input=False).fit(df)
    assert list(svd.transform(df).data.columns) == ["label", "t1"]
    assert svd.get_feature_names_out([*COLS, "label"]) == ["label", "t1"]


def test_constant_column_and_one_row() -> None:
    df = pd.DataFrame({"a": [2.0, 2.0, 2.0], "b": [1.0, 2.0, 3.0]})
    svd = TruncatedSVDProjection(["a", "b"], n_components=1).fit(df)
    assert_allclose(svd.components_, oracle_components(df.to_numpy(), 1), atol=1e-12)
    one = TruncatedSVDProjection(["a", "b"], n_components=1).fit(df.iloc[:1])
    # one row [2, 1]: the single direction is that row, normalised
    assert_allclose(one.components_, [[2 / np.sqrt(5), 1 / np.sqrt(5)]], atol=1e-12)
    assert_allclose(one.transform(df.iloc[:1]).data["svd1"], [np.sqrt(5)], atol=1e-12)
    assert np.isnan(one.explained_variance_ratio_).all()


def test_empty_or_all_null_input_cannot_be_fitted() -> None:
    empty = sparse_frame(n=0)
    with pytest.raises(DataContractError, match="0 rows without nulls"):
        TruncatedSVDProjection(COLS).fit(empty)
    nulls = pd.DataFrame({"a": [None, None, None], "b": [1.0, 2.0, 3.0]}, dtype="Float64")
    with pytest.raises(DataContractError, match="0 rows without nulls"):
        TruncatedSVDProjection(["a", "b"], n_components=1).fit(nulls)


def test_empty_batch_keeps_the_output_columns_and_dtypes() -> None:
    df = sparse_frame(n=20)
    svd = TruncatedSVDProjection(COLS).fit(df)
    empty = svd.transform(df.iloc[:0]).data
    full = svd.transform(df).data
    assert list(empty.columns) == list(full.columns)
    assert (empty.dtypes == full.dtypes).all()


def test_not_fitted_and_contract_errors() -> None:
    df = sparse_frame(n=10)
    with pytest.raises(NotFittedError):
        TruncatedSVDProjection(COLS).transform(df)
    with pytest.raises(DataContractError, match="lacks"):
        TruncatedSVDProjection(["nope"], n_components=1).fit(df)
    with pytest.raises(DataContractError, match="expected numbers"):
        TruncatedSVDProjection(["label"], n_components=1).fit(df)
    fitted = TruncatedSVDProjection(COLS).fit(df)
    with pytest.raises(DataContractError, match="already exist"):
        fitted.transform(df.assign(svd1=1.0))


def test_fit_frees_the_sample() -> None:
    svd = TruncatedSVDProjection(COLS).fit(sparse_frame(n=50))
    assert svd._keys is None
    assert svd._rows.shape == (0, 4)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": COLS, "n_components": 5}, "n_components"),
        ({"columns": COLS, "n_components": 0}, "n_components"),
        ({"columns": COLS, "prefix": ""}, "prefix"),
        ({"columns": COLS, "n_components": 3, "sample_size": 2}, "sample_size"),
        ({"columns": COLS, "random_state": -1}, "random_state"),
        ({"columns": COLS, "keep_input": "yes"}, "keep_input"),
        ({"columns": COLS, "prefix": "h"}, "prefix"),
    ],
)
def test_check_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        TruncatedSVDProjection(**params).check_params([*COLS, "h1x", "h2"])
    assert err.value.field == field
