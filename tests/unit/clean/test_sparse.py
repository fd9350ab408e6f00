"""Dropping sparse columns and rows; pandas is the oracle."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.clean.sparse import DropSparseColumns, DropSparseRows
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


def run(rule, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    return pd.concat([rule.transform(b).data for b in chunks(frame, size)])


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


def test_drop_sparse_rows_count_and_fraction(sparse: pd.DataFrame) -> None:
    # nulls per row in a, b, c: 2, 3, 2, 1
    count = DropSparseRows(1).transform(sparse)
    assert count.data.index.tolist() == [13]
    assert count.dropped == Counter({"drop_sparse_rows": 3})
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
