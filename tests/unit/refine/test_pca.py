from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.decomposition import PCA

from dataframe_pipeline.core.batch import RowAccounting
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from dataframe_pipeline.refine.pca import PCAProjection, project
from tests.batching import split_batches

pytestmark = pytest.mark.unit

COLUMNS = ["a", "b", "c", "d", "e"]
ROOT = Path(__file__).resolve().parents[3]


def correlated(n: int, seed: int = 0, rank: int | None = None) -> pd.DataFrame:
    """Rows with distinct variances along random directions (exactly rank ``rank`` when given)."""
    rng = np.random.default_rng(seed)
    k = rank or len(COLUMNS)
    latent = rng.normal(size=(n, k)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5])[:k]
    mixing = np.linalg.qr(rng.normal(size=(len(COLUMNS), len(COLUMNS))))[0][:k]
    data = pd.DataFrame(latent @ mixing + np.array([10.0, -3.0, 0.0, 2.5, 100.0]), columns=COLUMNS)
    data.insert(0, "id", np.arange(n))
    return data


def signs_fixed(components: np.ndarray) -> np.ndarray:
    """Independent sign convention: largest-magnitude loading of each row positive."""
    out = components.copy()
    for i in range(len(out)):
        if out[i, np.argmax(np.abs(out[i]))] < 0:
            out[i] = -out[i]
    return out


def test_matches_exact_pca_when_fitted_in_one_chunk() -> None:
    df = correlated(300)
    ours = PCAProjection(COLUMNS, n_components=3).fit(df)
    sk = PCA(n_components=3, svd_solver="full").fit(df[COLUMNS])

    np.testing.assert_allclose(ours.components_, signs_fixed(sk.components_), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.mean_, sk.mean_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_, sk.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_ratio_, sk.explained_variance_ratio_, rtol=1e-8)
    np.testing.assert_allclose(ours.singular_values_, sk.singular_values_, rtol=1e-8)
    assert ours.n_samples_seen_ == 300
    flip = np.sign(np.sum(signs_fixed(sk.components_) * sk.components_, axis=1))
    scores = ours.transform(df).data[["pc1", "pc2", "pc3"]].to_numpy()
    np.testing.assert_allclose(scores, sk.transform(df[COLUMNS]) * flip, rtol=0, atol=1e-8)


def test_matches_exact_pca_over_many_chunks_on_low_rank_data() -> None:
    # with rank == n_components nothing is lost by IncrementalPCA's truncation after each chunk
    df = correlated(400, seed=3, rank=2)
    ours = PCAProjection(COLUMNS, n_components=2, batch_size=37).fit_batches(split_batches(df, [50, 51, 333]))
    sk = PCA(n_components=2, svd_solver="full").fit(df[COLUMNS])

    np.testing.assert_allclose(ours.components_, signs_fixed(sk.components_), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_ratio_, sk.explained_variance_ratio_, rtol=1e-8)


def test_transform_is_the_centred_projection() -> None:
    df = correlated(120, seed=5)
    pca = PCAProjection(COLUMNS, n_components=2, prefix="f", keep_input=False).fit(df)

    out = pca.transform(df).data

    expected = (df[COLUMNS].to_numpy() - pca.mean_) @ pca.components_.T
    assert list(out.columns) == ["id", "f1", "f2"]
    assert (out.dtypes[["f1", "f2"]] == np.float64).all()
    np.testing.assert_allclose(out[["f1", "f2"]].to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert_frame_equal(out[["id"]], df[["id"]])


def test_project_helper_equals_the_matrix_product() -> None:
    rng = np.random.default_rng(1)
    matrix, mean, components = rng.normal(size=(9, 4)), rng.normal(size=4), rng.normal(size=(2, 4))

    np.testing.assert_allclose(project(matrix, mean, components), (matrix - mean) @ components.T, rtol=1e-13)


def test_sign_convention_makes_the_largest_loading_positive() -> None:
    for seed in range(5):
        components = PCAProjection(COLUMNS, n_components=4).fit(correlated(80, seed=seed)).components_
        pivots = components[np.arange(4), np.abs(components).argmax(axis=1)]
        assert (pivots > 0).all()


@pytest.mark.parametrize("cuts", [[1], [7, 8, 9], list(range(5, 200, 5)), [0, 0, 199]])
def test_transform_is_batch_split_invariant(cuts: list[int]) -> None:
    df = correlated(200, seed=2)
    df.loc[[4, 50, 51], "b"] = np.nan
    pca = PCAProjection(COLUMNS, n_components=3).fit(df)

    parts = [pca.transform(b) for b in split_batches(df, cuts)]
    whole = pca.transform(df)

    assert_frame_equal(pd.concat([p.data for p in parts]), whole.data)
    assert_frame_equal(pd.concat([p.rejected for p in parts if len(p.rejected)]), whole.rejected)


@pytest.mark.parametrize("cuts", [[1], [16, 17], [10, 100, 101, 102], list(range(3, 250, 7))])
def test_incremental_fit_is_batch_split_invariant(cuts: list[int]) -> None:
    df = correlated(250, seed=4)
    df.loc[[0, 17, 101], "c"] = np.nan
    whole = PCAProjection(COLUMNS, n_components=2, batch_size=16, solver="incremental").fit(df)
    batched = PCAProjection(COLUMNS, n_components=2, batch_size=16, solver="incremental").fit_batches(
        split_batches(df, cuts)
    )

    for attr in ("components_", "mean_", "explained_variance_", "explained_variance_ratio_"):
        np.testing.assert_array_equal(getattr(batched, attr), getattr(whole, attr))
    assert batched.n_samples_seen_ == whole.n_samples_seen_ == 247


@pytest.mark.parametrize("cuts", [[1], [16, 17], [10, 100, 101, 102], list(range(3, 250, 7))])
def test_covariance_fit_is_exact_pca_whatever_the_batches(cuts: list[int]) -> None:
    from sklearn.decomposition import PCA

    df = correlated(250, seed=4)
    df.loc[[0, 17, 101], "c"] = np.nan
    batched = PCAProjection(COLUMNS, n_components=2).fit_batches(split_batches(df, cuts))
    oracle = PCA(n_components=2).fit(df[COLUMNS].dropna().to_numpy())
    # merged scatter matrices differ from one pass only by float rounding; signs are fixed by convention
    np.testing.assert_allclose(np.abs(batched.components_), np.abs(oracle.components_), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(batched.mean_, oracle.mean_, rtol=1e-12)
    np.testing.assert_allclose(batched.explained_variance_, oracle.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(batched.explained_variance_ratio_, oracle.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(batched.singular_values_, oracle.singular_values_, rtol=1e-9)
    assert batched.n_samples_seen_ == 247


def test_bad_solver_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="solver='svd'"):
        PCAProjection(COLUMNS, solver="svd").check_params(COLUMNS)


def test_rows_with_nulls_are_skipped_in_fit_and_quarantined_in_transform() -> None:
    df = correlated(60, seed=6)
    df.loc[3, "b"] = np.nan
    df.loc[8, ["a", "c"]] = np.nan
    df.loc[9, "e"] = np.inf
    pca = PCAProjection(COLUMNS, n_components=2).fit(df)
    clean = PCAProjection(COLUMNS, n_components=2).fit(df.drop(index=[3, 8, 9]))

    np.testing.assert_array_equal(pca.components_, clean.components_)
    result = pca.transform(df)
    assert list(result.rejected.index) == [3, 8, 9]
    assert result.rejected["_rule"].tolist() == ["pca"] * 3
    assert result.rejected["_reason"].tolist() == [
        "pca: null in b",
        "pca: null in a, c",
        "pca: infinite value in e",
    ]
    assert_frame_equal(result.rejected[df.columns], df.loc[[3, 8, 9]])
    assert 3 not in result.data.index
    accounting = RowAccounting(len(df), len(result.data), result.n_rejected, result.dropped)
    assert accounting.balanced


def test_nullable_input_is_quarantined_with_its_reason() -> None:
    df = pd.DataFrame({"x": pd.array([1, None, 3, 4], dtype="Int64"), "y": [2.0, 1.0, 0.0, 5.0]})
    pca = PCAProjection(["x", "y"], n_components=1).fit(df)

    result = pca.transform(df)
    assert result.rejected["_reason"].tolist() == ["pca: null in x"]
    assert pca.n_samples_seen_ == 3


def test_too_few_complete_rows_is_a_data_contract_error() -> None:
    df = correlated(5)
    df.loc[[0, 1, 2], "a"] = np.nan

    with pytest.raises(DataContractError, match=r"2 rows without nulls .* n_components=3"):
        PCAProjection(COLUMNS, n_components=3).fit(df)


def test_all_null_column_leaves_nothing_to_fit() -> None:
    df = correlated(20).assign(a=np.nan)

    with pytest.raises(DataContractError, match="0 rows without nulls"):
        PCAProjection(COLUMNS, n_components=2).fit(df)


def test_empty_input_and_single_row() -> None:
    df = correlated(50)
    pca = PCAProjection(COLUMNS, n_components=2).fit(df)

    empty = pca.transform(df.iloc[:0]).data
    assert list(empty.columns) == ["id", *COLUMNS, "pc1", "pc2"]
    assert len(empty) == 0
    assert (empty.dtypes[["pc1", "pc2"]] == np.float64).all()

    one = pca.transform(df.iloc[[7]]).data
    expected = (df[COLUMNS].to_numpy()[7] - pca.mean_) @ pca.components_.T
    assert list(one.index) == [7]
    np.testing.assert_allclose(one[["pc1", "pc2"]].to_numpy()[0], expected, rtol=1e-12)

    with pytest.raises(DataContractError):
        PCAProjection(COLUMNS, n_components=2).fit(df.iloc[:0])


def test_constant_column_gets_no_weight() -> None:
    df = correlated(100, seed=8).assign(c=4.0)
    ours = PCAProjection(COLUMNS, n_components=2).fit(df)
    sk = PCA(n_components=2, svd_solver="full").fit(df[COLUMNS])

    np.testing.assert_allclose(ours.components_[:, 2], 0.0, atol=1e-12)
    np.testing.assert_allclose(ours.components_, signs_fixed(sk.components_), atol=1e-8)


def test_fit_is_deterministic_and_refit_forgets() -> None:
    df = correlated(90, seed=9)
    pca = PCAProjection(COLUMNS, n_components=2).fit(correlated(30, seed=1))
    pca.fit(df)

    np.testing.assert_array_equal(pca.components_, PCAProjection(COLUMNS, n_components=2).fit(df).components_)


def test_output_column_clash_is_an_error() -> None:
    df = correlated(20).assign(pc1=0.0)
    pca = PCAProjection(COLUMNS, n_components=2).fit(df)

    with pytest.raises(DataContractError, match="pc1"):
        pca.transform(df)


def test_get_feature_names_out() -> None:
    assert PCAProjection(["a", "b"], n_components=2).get_feature_names_out(["id", "a", "b"]) == [
        "id",
        "a",
        "b",
        "pc1",
        "pc2",
    ]
    assert PCAProjection(["a", "b"], 1, "z", keep_input=False).get_feature_names_out(["a", "id", "b"]) == [
        "id",
        "z1",
    ]


def test_transform_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        PCAProjection(COLUMNS).transform(correlated(3))


def test_non_numeric_input_is_a_data_contract_error() -> None:
    df = pd.DataFrame({"a": ["x", "y", "z"], "b": [1.0, 2.0, 3.0]})

    with pytest.raises(DataContractError, match="'a'"):
        PCAProjection(["a", "b"], n_components=1).fit(df)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"columns": []}, "columns"),
        ({"columns": ["a", "zz"]}, "columns"),
        ({"n_components": 0}, "n_components"),
        ({"n_components": 3}, "n_components"),
        ({"n_components": 1.0}, "n_components"),
        ({"prefix": ""}, "prefix"),
        ({"prefix": "b"}, "prefix"),  # "b1" already exists
        ({"keep_input": "no"}, "keep_input"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
    ],
)
def test_check_params_names_the_bad_field(params: dict, field: str) -> None:
    pca = PCAProjection(**{"columns": ["a", "b"], "n_components": 2, **params})

    with pytest.raises(ConfigurationError) as info:
        pca.check_params(["a", "b", "b1"])
    assert info.value.field == field


def test_check_params_allows_reusing_a_dropped_input_name() -> None:
    PCAProjection(["pc1", "b"], n_components=1, keep_input=False).check_params(["pc1", "b"])


def test_package_exports_lazily() -> None:
    code = (
        "import sys, dataframe_pipeline.refine as r; "
        "assert 'pandas' not in sys.modules and 'sklearn' not in sys.modules; "
        "assert r.PCAProjection.rule_name == 'pca'; assert r.StratifiedSplit and r.Sample; "
        "assert 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": "plugins"}, cwd=ROOT)
