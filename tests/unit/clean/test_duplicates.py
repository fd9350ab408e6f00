"""Unit tests of ExactDuplicates: pandas' ``DataFrame.duplicated`` is the oracle."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dataframe_pipeline.clean.duplicates import ExactDuplicates, KeyDuplicates, is_text, text_hashes
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


def run(transformer: ExactDuplicates, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """Fit then transform batch by batch; checks the row accounting of every batch."""
    transformer.fit_batches(chunks(frame, size))
    kept = []
    for batch in chunks(frame, size):
        result = transformer.transform(batch)
        assert len(batch) == len(result.data) + result.n_rejected + result.n_dropped
        assert result.n_rejected == 0
        assert set(result.dropped) <= {"exact_duplicates"}
        kept.append(result.data)
    return pd.concat(kept)


@pytest.fixture
def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 1, 3, 2, 1],
            "city": ["Oslo", "Rome", "Oslo", "Rome", "Rome", "Oslo"],
            "amount": [9.5, 3.0, 9.5, 3.0, 3.0, 9.0],
            "_source_file": ["a.csv", "a.csv", "b.csv", "b.csv", "b.csv", "b.csv"],
            "_source_line": [1, 2, 1, 2, 3, 4],
        },
        index=pd.RangeIndex(100, 106),
    )


def test_keep_first_drops_later_copies_ignoring_provenance(orders: pd.DataFrame) -> None:
    dedup = ExactDuplicates().fit(orders)
    np.testing.assert_array_equal(dedup.duplicate_positions_, np.array([102, 104], dtype=np.int64))
    assert dedup.duplicate_positions_.dtype == np.int64
    assert dedup.n_duplicates_ == 2
    result = dedup.transform(orders)
    pd.testing.assert_frame_equal(result.data, orders.loc[[100, 101, 103, 105]])
    assert result.dropped == Counter({"exact_duplicates": 2})
    assert result.rejected.empty


def test_keep_last(orders: pd.DataFrame) -> None:
    dedup = ExactDuplicates(keep="last").fit(orders)
    np.testing.assert_array_equal(dedup.duplicate_positions_, [100, 101])
    pd.testing.assert_frame_equal(dedup.transform(orders).data, orders.loc[[102, 103, 104, 105]])


def test_subset(orders: pd.DataFrame) -> None:
    dedup = ExactDuplicates(subset=["city"]).fit(orders)
    np.testing.assert_array_equal(dedup.duplicate_positions_, [102, 103, 104, 105])


def test_subset_may_name_a_provenance_column(orders: pd.DataFrame) -> None:
    dedup = ExactDuplicates(subset=["_source_file"]).fit(orders)
    np.testing.assert_array_equal(dedup.duplicate_positions_, [101, 103, 104, 105])


@pytest.mark.parametrize("keep", ["first", "last"])
@pytest.mark.parametrize("size", [1, 3, 7, 50, 1000])
def test_matches_pandas_duplicated_whatever_the_batch_size(keep: str, size: int) -> None:
    rng = np.random.default_rng(7)
    n = 120
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, 4, n),
            "b": pd.array(rng.choice(["x", "y", None], n), dtype="str"),
            "c": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 2, n).astype(float)),
            "_source_line": np.arange(n),
        },
        index=pd.RangeIndex(5000, 5000 + n),
    )
    expected = frame[~frame.drop(columns="_source_line").duplicated(keep=keep)]
    assert 0 < len(expected) < n  # the data does hold duplicates, and not only duplicates
    pd.testing.assert_frame_equal(run(ExactDuplicates(keep=keep), frame, size), expected)


def test_nulls_compare_equal_like_pandas() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan, 1.0], "b": pd.array([None, None, "x"], dtype="str")})
    dedup = ExactDuplicates().fit(frame)
    np.testing.assert_array_equal(dedup.duplicate_positions_, [1])


def test_empty_input_keeps_columns() -> None:
    frame = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="str")})
    dedup = ExactDuplicates().fit(frame)
    assert dedup.n_duplicates_ == 0
    assert dedup.duplicate_positions_.dtype == np.int64
    result = dedup.transform(frame)
    pd.testing.assert_frame_equal(result.data, frame)
    assert result.n_dropped == 0


def test_no_batches_at_all() -> None:
    dedup = ExactDuplicates().fit_batches([])
    assert dedup.n_duplicates_ == 0


def test_single_row_and_all_null_column() -> None:
    frame = pd.DataFrame({"a": [None], "b": [np.nan]}, index=[42]).astype({"a": "str"})
    dedup = ExactDuplicates().fit(frame)
    assert dedup.n_duplicates_ == 0
    pd.testing.assert_frame_equal(dedup.transform(frame).data, frame)


def test_all_null_column_rows_differ_elsewhere() -> None:
    frame = pd.DataFrame({"a": pd.array([None, None, None], dtype="Int64"), "b": [1, 2, 1]})
    np.testing.assert_array_equal(ExactDuplicates().fit(frame).duplicate_positions_, [2])


def test_constant_frame_keeps_one_row() -> None:
    frame = pd.DataFrame({"a": [5] * 4, "_source_line": [1, 2, 3, 4]})
    result = ExactDuplicates().fit(frame).transform(frame)
    pd.testing.assert_frame_equal(result.data, frame.iloc[:1])
    assert result.dropped == Counter({"exact_duplicates": 3})


def test_refit_starts_from_scratch(orders: pd.DataFrame) -> None:
    dedup = ExactDuplicates().fit(orders)
    dedup.partial_fit(orders.iloc[:2]).finish_fit()
    assert dedup.n_duplicates_ == 0


def test_transform_before_fit_with_keep_last() -> None:
    with pytest.raises(NotFittedError):
        ExactDuplicates(keep="last").transform(pd.DataFrame({"a": [1]}))


def stream(transformer: ExactDuplicates, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """Keep first without a fit: the streaming transform, batch by batch in input order."""
    transformer.begin_pass()
    kept = []
    for batch in chunks(frame, size):
        result = transformer.transform(batch)
        assert len(batch) == len(result.data) + result.n_dropped
        kept.append(result.data)
    return pd.concat(kept)


@pytest.mark.parametrize("size", [1, 3, 7, 50, 1000])
def test_streaming_keep_first_matches_pandas_whatever_the_batch_size(size: int) -> None:
    rng = np.random.default_rng(11)
    n = 3000  # enough batches of 1 row to merge the runs of seen hashes many times
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, 30, n),
            "b": pd.array(rng.choice(["x", "y", None], n), dtype="str"),
            "_source_line": np.arange(n),
        },
        index=pd.RangeIndex(10, 10 + n),
    )
    expected = frame[~frame.drop(columns="_source_line").duplicated(keep="first")]
    assert 0 < len(expected) < n
    dedup = ExactDuplicates()
    pd.testing.assert_frame_equal(stream(dedup, frame, size), expected)
    pd.testing.assert_frame_equal(stream(dedup, frame, size), expected)  # begin_pass() forgets the rows seen
    assert not hasattr(dedup, "duplicate_positions_")


def test_streaming_needs_the_input_in_order(orders: pd.DataFrame) -> None:
    dedup = ExactDuplicates()
    dedup.transform(orders.iloc[3:])
    with pytest.raises(DataContractError, match="in order"):
        dedup.transform(orders.iloc[:3])


def test_streaming_keep_first_through_the_engine_is_one_pass(orders: pd.DataFrame) -> None:
    from dataframe_pipeline.core.engine import run_chain

    passes, out = [], []

    def source(columns=None):
        passes.append(columns)
        return iter(chunks(orders, 2))

    accounting = run_chain([ExactDuplicates()], source, out.append, lambda r: None)
    assert passes == [None]
    pd.testing.assert_frame_equal(pd.concat(out), orders.loc[[100, 101, 103, 105]])
    assert accounting.dropped_by_rule == {"exact_duplicates": 2}


def test_only_provenance_columns_is_a_contract_error() -> None:
    with pytest.raises(DataContractError, match="no column to compare"):
        ExactDuplicates().fit(pd.DataFrame({"_source_line": [1, 2]}))


def test_subset_column_absent_from_batch() -> None:
    with pytest.raises(DataContractError, match="zip"):
        ExactDuplicates(subset=["zip"]).fit(pd.DataFrame({"a": [1]}))


def test_check_params_accepts_good_configuration() -> None:
    ExactDuplicates().check_params(["a"])
    ExactDuplicates(subset=["a"], keep="last").check_params(["a", "b"])


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"keep": "none"}, "keep", "none"),
        ({"keep": False}, "keep", False),
        ({"subset": []}, "subset", []),
        ({"subset": "a"}, "subset", "a"),
        ({"subset": ["a", "zip"]}, "subset", "zip"),
    ],
)
def test_check_params_rejects(params: dict, field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as error:
        ExactDuplicates(**params).check_params(["a", "b"])
    assert error.value.field == field
    assert error.value.value == value


def test_init_stores_params_unchanged() -> None:
    subset = ["a"]
    dedup = ExactDuplicates(subset=subset, keep="bogus")
    assert dedup.get_params() == {"subset": ["a"], "keep": "bogus"}
    assert dedup.subset is subset
    assert ExactDuplicates(keep="last").stateful
    assert not ExactDuplicates().stateful  # keep="first" streams without a fit pass


def test_a_column_that_turns_repetitive_later_is_hashed_consistently() -> None:
    """The hashing method is chosen per column on the first batch; copies in later batches still match."""
    first = pd.DataFrame({"id": pd.array([f"id{i}" for i in range(100)], dtype="str"), "v": 1.0})
    later = pd.DataFrame({"id": pd.array(["id5", None, None, "id7"], dtype="str"), "v": [1.0, np.nan, np.nan, 1.0]})
    frame = pd.concat([first, later], ignore_index=True)
    expected = frame[~frame.duplicated()]
    pd.testing.assert_frame_equal(stream(ExactDuplicates(), frame, 100), expected)
    pd.testing.assert_frame_equal(run(ExactDuplicates(), frame, 100), expected)


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
    assert result.dropped == Counter({"key_duplicates": 4})


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


# -- text columns: hashed by DuckDB, with the same equality as pandas' hashing ------------------

TRICKY_TEXT = ["", None, " ", "a", "a ", " a", "A", "é", "é", "\x00", "a\x00", "a\x00b", "🙂", "x" * 5000, "1", "1.0"]


@pytest.mark.parametrize(
    "dtype",
    ["str", pd.StringDtype("pyarrow"), pd.ArrowDtype(pa.string()), pd.ArrowDtype(pa.large_string())],
    ids=["str", "string[pyarrow]", "arrow-string", "arrow-large-string"],
)
def test_text_columns_take_duckdb_and_find_the_duplicates_pandas_finds(dtype: object) -> None:
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "t": pd.array(rng.choice(np.array(TRICKY_TEXT, dtype=object), n), dtype=dtype),
            "u": pd.array(rng.choice(np.array(["p", None, ""], dtype=object), n), dtype=dtype),
            "n": rng.integers(0, 2, n),
            "_source_line": np.arange(n),
        },
        index=pd.RangeIndex(10, 10 + n),
    )
    assert is_text(frame["t"].dtype) and not is_text(frame["n"].dtype)
    expected = frame[~frame.drop(columns="_source_line").duplicated()]
    assert 0 < len(expected) < n
    for size in (7, 1000):
        pd.testing.assert_frame_equal(stream(ExactDuplicates(), frame, size), expected)
        pd.testing.assert_frame_equal(run(ExactDuplicates(), frame, size), expected)


def test_text_differing_after_a_nul_character_is_not_a_duplicate() -> None:
    """pandas' hashing of a batch of strings holding ``pd.NA`` goes through numpy text, which drops
    trailing NULs ("a" and "a\x00" alike); DuckDB hashes the Arrow bytes."""
    values = ["a", "a\x00", None, "", "\x00", "a\x00b", "a"]
    frame = pd.DataFrame({"t": pd.array(values, dtype=pd.StringDtype("pyarrow"))})
    pd.testing.assert_frame_equal(stream(ExactDuplicates(), frame, 7), frame.iloc[:6])
    pd.testing.assert_frame_equal(run(ExactDuplicates(), frame, 3), frame.iloc[:6])


def test_text_hashes_are_equal_exactly_for_equal_values() -> None:
    values = pd.Series(TRICKY_TEXT, dtype="str")
    hashes = text_hashes(pd.DataFrame({"t": values}), ["t"])
    assert hashes.dtype == np.uint64
    distinct = {"<null>" if v is None else v for v in TRICKY_TEXT}
    assert len(set(hashes.tolist())) == len(distinct)  # "é" twice; null apart from "", "\x00" apart from ""
    # the order of columns counts: ("a", null) is not (null, "a")
    pair = pd.DataFrame({"x": pd.array(["a", None], dtype="str"), "y": pd.array([None, "a"], dtype="str")})
    first, second = text_hashes(pair, ["x", "y"])
    assert first != second
    assert len(text_hashes(pair.iloc[:0], ["x", "y"])) == 0


def test_the_duckdb_connection_is_kept_per_process() -> None:
    from dataframe_pipeline.clean import duplicates

    first = duplicates._duckdb()
    assert duplicates._duckdb() is first
    assert duplicates._duckdb_of_process(-1) is not first  # a forked child opens its own
