"""Unit tests of KeyDuplicates: pandas' sort + ``drop_duplicates`` is the oracle."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.clean.duplicates_more import KeyDuplicates
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


@pytest.fixture
def versions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 1, 3, 1, 2, 3],
            "region": ["a", "a", "a", "b", "a", "a", "c"],
            "version": [5.0, 1.0, 7.0, 2.0, 7.0, np.nan, 0.0],
            "_line": range(7),
        },
        index=pd.RangeIndex(100, 107),
    )


def test_keep_latest_by_hand(versions: pd.DataFrame) -> None:
    rule = KeyDuplicates(["id"], "version").fit(versions)
    # id 1: versions 5, 7, 7 -> the last 7 (104) survives; id 2: 1 beats null; id 3: 2 beats 0
    np.testing.assert_array_equal(rule.duplicate_positions_, np.array([100, 102, 105, 106], dtype=np.int64))
    assert rule.duplicate_positions_.dtype == np.int64
    result = rule.transform(versions)
    pd.testing.assert_frame_equal(result.data, versions.loc[[101, 103, 104]])
    assert result.dropped == Counter({"duplicate_key": 4})


def test_keep_first_and_two_keys(versions: pd.DataFrame) -> None:
    first = KeyDuplicates(["id"], "version", keep="first").fit(versions)
    # id 1: smallest 5 (100); id 2: null ranks lowest (105); id 3: 0 (106)
    assert first.transform(versions).data.index.tolist() == [100, 105, 106]
    two = KeyDuplicates(["id", "region"], "version").fit(versions)
    assert two.transform(versions).data.index.tolist() == [101, 103, 104, 106]


def test_matches_pandas_oracle_for_any_split() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"k": rng.integers(0, 30, 300), "v": rng.integers(0, 5, 300)})
    oracle = frame.reset_index().sort_values(["v", "index"], kind="stable").drop_duplicates("k", keep="last")
    expected = np.sort(np.setdiff1d(frame.index.to_numpy(), oracle["index"].to_numpy()))
    for size in (1, 17, 1000):
        rule = KeyDuplicates(["k"], "v").fit_batches(chunks(frame, size))
        np.testing.assert_array_equal(rule.duplicate_positions_, expected)
        kept = pd.concat([rule.transform(b).data for b in chunks(frame, size)])
        pd.testing.assert_frame_equal(kept, frame.drop(index=expected))


def test_datetime_versions_keep_nanoseconds() -> None:
    stamps = pd.to_datetime(["2024-01-01 00:00:00.000000001", "2024-01-01", None], format="ISO8601").tz_localize("UTC")
    frame = pd.DataFrame({"k": [1, 1, 1], "t": stamps})
    rule = KeyDuplicates(["k"], "t").fit_batches(chunks(frame, 1))
    assert rule.duplicate_positions_.tolist() == [1, 2]


def test_edges() -> None:
    empty = pd.DataFrame({"k": pd.Series([], dtype="int64"), "v": pd.Series([], dtype="float64")})
    assert KeyDuplicates(["k"], "v").fit(empty).transform(empty).data.empty
    one = pd.DataFrame({"k": [None], "v": [np.nan]}, index=[3])
    pd.testing.assert_frame_equal(KeyDuplicates(["k"], "v").fit(one).transform(one).data, one)
    nulls = pd.DataFrame({"k": [None, None], "v": [1.0, 1.0]})
    assert KeyDuplicates(["k"], "v").fit(nulls).duplicate_positions_.tolist() == [0]  # null keys are equal
    with pytest.raises(NotFittedError):
        KeyDuplicates(["k"], "v").transform(one)
    with pytest.raises(DataContractError, match="not numeric/date"):
        KeyDuplicates(["k"], "v").fit(pd.DataFrame({"k": [1], "v": ["x"]}))
    with pytest.raises(DataContractError, match=r"\['w'\]"):
        KeyDuplicates(["w"], "v").fit(one)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"keys": "id"}, "keys"),
        ({"keys": ["zz"]}, "keys"),
        ({"keep_latest_by": "zz"}, "keep_latest_by"),
        ({"keep": "max"}, "keep"),
    ],
)
def test_check_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        KeyDuplicates(**{"keys": ["id"], "keep_latest_by": "version", **params}).check_params(["id", "version"])
    assert error.value.field == field
    KeyDuplicates(["id"], "version").check_params(["id", "version"])
