"""Unit tests of RowNormalizer: scikit-learn's ``normalize`` is the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import normalize

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.refine.normalize import RowNormalizer

pytestmark = pytest.mark.unit


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {"a": rng.normal(size=20), "b": rng.integers(-5, 5, 20), "c": rng.normal(size=20), "k": list("xy") * 10},
        index=pd.RangeIndex(100, 120),
    )


@pytest.mark.parametrize("norm", ["l2", "l1", "max"])
def test_matches_scikit_learn(frame: pd.DataFrame, norm: str) -> None:
    out = RowNormalizer(["a", "b", "c"], norm=norm).transform(frame).data
    expected = normalize(frame[["a", "b", "c"]].to_numpy(float), norm=norm)
    np.testing.assert_allclose(out[["a", "b", "c"]].to_numpy(), expected, rtol=1e-12)
    assert out["k"].tolist() == frame["k"].tolist()


def test_suffix_keeps_the_inputs_and_batches_do_not_matter(frame: pd.DataFrame) -> None:
    rule = RowNormalizer(["a", "c"], suffix="_n")
    whole = rule.transform(frame).data
    parts = pd.concat([rule.transform(frame.iloc[i : i + 7]).data for i in range(0, 20, 7)])
    pd.testing.assert_frame_equal(parts, whole)
    assert whole.columns.tolist() == ["a", "b", "c", "k", "a_n", "c_n"]
    np.testing.assert_allclose(np.hypot(whole["a_n"], whole["c_n"]), 1.0)


def test_zero_rows_stay_zero_and_rows_without_a_norm_are_quarantined() -> None:
    frame = pd.DataFrame({"a": [0.0, 3.0, np.nan, 1.0], "b": [0.0, 4.0, 1.0, np.inf]})
    result = RowNormalizer(["a", "b"]).transform(frame)
    assert result.data[["a", "b"]].to_numpy().tolist() == [[0.0, 0.0], [0.6, 0.8]]
    assert result.rejected["_reason"].tolist() == ["normalize: null in a", "normalize: infinite value in b"]
    assert len(frame) == len(result.data) + result.n_rejected


def test_empty_one_row_and_constant_column() -> None:
    empty = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=float)})
    assert RowNormalizer(["a", "b"]).transform(empty).data.empty
    one = pd.DataFrame({"a": [2.0], "b": [0.0]})
    assert RowNormalizer(["a", "b"], norm="max").transform(one).data.iloc[0].tolist() == [1.0, 0.0]
    constant = pd.DataFrame({"a": [5.0] * 3, "b": [0.0] * 3})
    assert RowNormalizer(["a", "b"], norm="l1").transform(constant).data["a"].tolist() == [1.0] * 3


def test_configuration_and_contract_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigurationError) as error:
        RowNormalizer(["a"], norm="l3").check_params(["a"])
    assert error.value.field == "norm"
    with pytest.raises(ConfigurationError):
        RowNormalizer(["zz"]).check_params(list(frame.columns))
    with pytest.raises(DataContractError, match="expected numbers"):
        RowNormalizer(["k"]).transform(frame)
