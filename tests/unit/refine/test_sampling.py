from __future__ import annotations

from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from dataframe_pipeline.core.batch import RowAccounting
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from dataframe_pipeline.refine.sampling import (
    Sample,
    StratifiedSplit,
    SystematicSample,
    largest_remainder,
    row_keys,
    row_uniform,
)
from tests.batching import split_batches

pytestmark = pytest.mark.unit

M64 = (1 << 64) - 1
SPLITS = {"train": 0.7, "val": 0.2, "test": 0.1}


def reference_key(position: int, seed: int) -> int:
    """Plain-Python splitmix64: output number position + 1 of the stream seeded by mix(seed)."""

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    return mix((mix(seed & M64) + (position + 1) * 0x9E3779B97F4A7C15) & M64)


def strata_frame(sizes: dict[str | None, int], seed: int = 0, start: int = 0) -> pd.DataFrame:
    """Rows of each stratum interleaved in a seeded order; index = positions from ``start``."""
    labels = [label for label, n in sizes.items() for _ in range(n)]
    order = np.random.default_rng(seed).permutation(len(labels))
    column = pd.Series([labels[i] for i in order], dtype="str")
    return pd.DataFrame(
        {"label": column.to_numpy(), "value": np.arange(len(labels), dtype=float)},
        index=pd.RangeIndex(start, start + len(labels)),
    )


def counts_by(df: pd.DataFrame, split_column: str = "split") -> dict:
    pairs = zip(df["label"].astype(object).where(df["label"].notna(), None), df[split_column], strict=True)
    return dict(Counter(pairs))


# --- the per-row random numbers ---------------------------------------------------------------


def test_row_keys_are_splitmix64() -> None:
    # published first outputs of splitmix64 seeded with 0
    assert row_keys(np.array([0, 1, 2]), 0).tolist() == [
        0xE220A8397B1DCDAF,
        0x6E789E6AA1B965F4,
        0x06C45D188009454F,
    ]
    positions = np.array([0, 5, 12345, 2**40, 2**62])
    for seed in (0, 1, 42, -7, 2**70 + 3):
        assert row_keys(positions, seed).tolist() == [reference_key(int(p), seed) for p in positions]


def test_row_keys_are_distinct_and_uniform() -> None:
    positions = np.arange(200_000)
    keys = row_keys(positions, 3)
    assert len(np.unique(keys)) == len(keys)

    u = row_uniform(positions, 3)
    assert u.min() >= 0.0 and u.max() < 1.0
    histogram = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(histogram - 20_000) < 600)  # about 4.5 standard deviations
    np.testing.assert_array_equal(u, (keys >> np.uint64(11)) * 2.0**-53)


@pytest.mark.parametrize(
    ("n", "weights", "expected"),
    [
        (10, ["0.7", "0.2", "0.1"], [7, 2, 1]),
        (7, ["0.7", "0.2", "0.1"], [5, 1, 1]),  # 4.9, 1.4, 0.7
        (3, ["0.7", "0.2", "0.1"], [2, 1, 0]),  # 2.1, 0.6, 0.3
        (1, ["0.7", "0.2", "0.1"], [1, 0, 0]),
        (0, ["0.7", "0.2", "0.1"], [0, 0, 0]),
        (5, ["0.5", "0.5"], [3, 2]),  # tie goes to the first
        (3, ["1/3", "1/3", "1/3"], [1, 1, 1]),
        (4, ["1/3", "1/3", "1/3"], [2, 1, 1]),
        (9, ["0", "1"], [0, 9]),
    ],
)
def test_largest_remainder(n: int, weights: list[str], expected: list[int]) -> None:
    assert largest_remainder(n, [Fraction(w) for w in weights]) == expected


# --- StratifiedSplit ----------------------------------------------------------------------------


def test_split_counts_are_exact_per_stratum() -> None:
    df = strata_frame({"a": 100, "b": 37, "c": 1, None: 5})
    split = StratifiedSplit(SPLITS, stratify_by="label", random_state=11).fit(df)

    out = split.transform(df).data

    assert counts_by(out) == {
        ("a", "train"): 70,
        ("a", "val"): 20,
        ("a", "test"): 10,
        ("b", "train"): 26,  # 25.9, 7.4, 3.7 -> 25 + 7 + 3 = 35, the two largest remainders get one more
        ("b", "val"): 7,
        ("b", "test"): 4,
        ("c", "train"): 1,
        (None, "train"): 4,  # 3.5, 1.0, 0.5: the tie goes to the split listed first
        (None, "val"): 1,
    }
    assert split.counts_ == {"a": [70, 20, 10], "b": [26, 7, 4], "c": [1, 0, 0], None: [4, 1, 0]}
    assert_frame_equal(out[["label", "value"]], df)


def test_split_follows_the_order_of_the_row_keys() -> None:
    df = strata_frame({"a": 60, "b": 23}, seed=1, start=1000)
    out = StratifiedSplit(SPLITS, stratify_by="label", random_state=5).fit(df).transform(df).data

    for label, counts in (("a", [42, 12, 6]), ("b", [16, 5, 2])):  # b: 16.1, 4.6, 2.3
        rows = out[out["label"] == label]
        keys = [reference_key(int(p), 5) for p in rows.index]
        ranked = rows["split"].to_numpy()[np.argsort(keys)].tolist()
        assert ranked == ["train"] * counts[0] + ["val"] * counts[1] + ["test"] * counts[2]


def test_large_stratum_keeps_the_proportions_exactly() -> None:
    df = strata_frame({"x": 10_000})
    out = StratifiedSplit(SPLITS).fit(df).transform(df).data

    assert out["split"].value_counts().to_dict() == {"train": 7000, "val": 2000, "test": 1000}


def test_split_column_is_categorical_in_the_order_of_fractions() -> None:
    df = strata_frame({"a": 9})
    out = StratifiedSplit({"b": 0.5, "a": 0.5}, column="fold").fit(df).transform(df).data

    assert list(out.columns) == ["label", "value", "fold"]
    assert isinstance(out["fold"].dtype, pd.CategoricalDtype)
    assert out["fold"].cat.categories.tolist() == ["b", "a"]
    assert out["fold"].value_counts().to_dict() == {"b": 5, "a": 4}


@pytest.mark.parametrize("cuts", [[1], [50], [10, 11, 12, 90], list(range(3, 143, 4)), [0, 0, 143]])
def test_split_is_batch_split_invariant(cuts: list[int]) -> None:
    df = strata_frame({"a": 100, "b": 37, "c": 1, None: 5})
    whole = StratifiedSplit(SPLITS, stratify_by="label", random_state=3).fit(df)
    batched = StratifiedSplit(SPLITS, stratify_by="label", random_state=3)
    batched.fit_batches(split_batches(df, cuts))

    assert batched.thresholds_ == whole.thresholds_
    assert list(batched.thresholds_) == list(whole.thresholds_)  # same order too
    parts = [batched.transform(b).data for b in split_batches(df, cuts)]
    assert_frame_equal(pd.concat(parts), whole.transform(df).data)


@settings(max_examples=40, deadline=None, database=None)
@given(
    n=st.integers(0, 300),
    n_strata=st.integers(1, 4),
    seed=st.integers(0, 2**64 - 1),
    cut_fractions=st.lists(st.floats(0, 1), max_size=6),
)
def test_split_invariance_property(n: int, n_strata: int, seed: int, cut_fractions: list[float]) -> None:
    rng = np.random.default_rng(n)
    df = pd.DataFrame({"label": rng.integers(0, n_strata, size=n)})
    cuts = sorted(int(f * n) for f in cut_fractions)

    whole = StratifiedSplit(SPLITS, stratify_by="label", random_state=seed).fit(df)
    batched = StratifiedSplit(SPLITS, stratify_by="label", random_state=seed).fit_batches(split_batches(df, cuts))

    out = pd.concat([batched.transform(b).data for b in split_batches(df, cuts)])
    assert_frame_equal(out, whole.transform(df).data)
    for label, size in df["label"].value_counts().items():
        got = out.loc[out["label"] == label, "split"].value_counts()
        assert [got[s] for s in SPLITS] == largest_remainder(size, [Fraction(7, 10), Fraction(1, 5), Fraction(1, 10)])


def test_random_state_changes_the_assignment_only_when_it_changes() -> None:
    df = strata_frame({"a": 200, "b": 100})

    def assign(seed: int) -> pd.Series:
        return StratifiedSplit(SPLITS, stratify_by="label", random_state=seed).fit(df).transform(df).data["split"]

    first = assign(1)
    pd.testing.assert_series_equal(assign(1), first)
    other = assign(2)
    assert (other != first).sum() > 50
    assert other.value_counts().to_dict() == first.value_counts().to_dict()


def test_unseen_stratum_is_cut_at_the_fractions() -> None:
    split = StratifiedSplit({"x": 0.25, "y": 0.75}, stratify_by="label", random_state=9)
    split.fit(strata_frame({"a": 10}))
    new = pd.DataFrame({"label": ["zz"] * 400}, index=pd.RangeIndex(500, 900))

    out = split.transform(new).data

    u = row_uniform(new.index.to_numpy(), 9)
    expected = np.where(u < 0.25, "x", "y")
    assert out["split"].astype(str).tolist() == expected.tolist()
    assert split.default_thresholds_ == [2**62]


def test_empty_input_single_row_and_constant_stratum() -> None:
    df = strata_frame({"a": 4})
    split = StratifiedSplit(SPLITS, stratify_by="label").fit(df)

    empty = split.transform(df.iloc[:0]).data
    assert list(empty.columns) == ["label", "value", "split"]
    assert len(empty) == 0 and isinstance(empty["split"].dtype, pd.CategoricalDtype)

    nothing = StratifiedSplit(SPLITS).fit(df.iloc[:0])
    assert nothing.thresholds_ == {} and nothing.counts_ == {}

    one = strata_frame({"a": 1}, start=77)
    out = StratifiedSplit(SPLITS, stratify_by="label").fit(one).transform(one).data
    assert out["split"].tolist() == ["train"]
    assert out.index.tolist() == [77]

    # one value everywhere: same as no stratification
    by_label = StratifiedSplit(SPLITS, stratify_by="label").fit(df).transform(df).data
    overall = StratifiedSplit(SPLITS).fit(df).transform(df).data
    assert_frame_equal(by_label, overall)


def test_all_null_stratum_column_is_one_stratum() -> None:
    df = pd.DataFrame({"label": pd.Series([None] * 10, dtype="str")})
    split = StratifiedSplit(SPLITS, stratify_by="label").fit(df)

    assert split.counts_ == {None: [7, 2, 1]}
    assert split.transform(df).data["split"].value_counts().to_dict() == {"train": 7, "val": 2, "test": 1}


def test_transform_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        StratifiedSplit(SPLITS).transform(strata_frame({"a": 2}))


def test_index_must_be_increasing_positions() -> None:
    df = strata_frame({"a": 5})
    with pytest.raises(DataContractError, match="positions"):
        StratifiedSplit(SPLITS).fit(df.iloc[::-1])
    with pytest.raises(DataContractError, match="positions"):
        StratifiedSplit(SPLITS).fit(df.set_index("label"))
    with pytest.raises(DataContractError, match="increase across batches"):
        StratifiedSplit(SPLITS).fit_batches([df, df])


def test_existing_split_column_and_missing_stratum_column_are_errors() -> None:
    df = strata_frame({"a": 5})
    with pytest.raises(DataContractError, match="'value' already exists"):
        StratifiedSplit(SPLITS, column="value").fit(df).transform(df)
    with pytest.raises(DataContractError, match="nope"):
        StratifiedSplit(SPLITS, stratify_by="nope").fit(df)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fractions": {}}, "fractions"),
        ({"fractions": {"a": 0.5, "b": 0.4}}, "fractions"),
        ({"fractions": {"a": 1.2, "b": -0.2}}, "fractions"),
        ({"fractions": {"a": 0.5, 1: 0.5}}, "fractions"),
        ({"fractions": {"a": True}}, "fractions"),
        ({"fractions": [("a", 1.0)]}, "fractions"),
        ({"stratify_by": "missing"}, "stratify_by"),
        ({"random_state": 1.5}, "random_state"),
        ({"random_state": None}, "random_state"),
        ({"column": "label"}, "column"),
        ({"column": ""}, "column"),
    ],
)
def test_split_check_params_names_the_bad_field(params: dict, field: str) -> None:
    split = StratifiedSplit(**{"fractions": SPLITS, **params})

    with pytest.raises(ConfigurationError) as info:
        split.check_params(["label", "value"])
    assert info.value.field == field


def test_fractions_may_miss_one_by_rounding() -> None:
    StratifiedSplit({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, "label", 0, "fold").check_params(["label"])


# --- Sample --------------------------------------------------------------------------------------


def test_sample_keeps_round_n_times_fraction_per_stratum() -> None:
    df = strata_frame({"a": 100, "b": 37, "c": 1, None: 5})
    sample = Sample(0.3, stratify_by="label", random_state=4).fit(df)

    result = sample.transform(df)

    kept = result.data["label"].astype(object).where(result.data["label"].notna(), None)
    assert dict(Counter(kept)) == {"a": 30, "b": 11, None: 2}  # 11.1, 0.3 -> 0, 1.5 -> 2 (halves up)
    assert result.dropped == Counter({"sample": 143 - 43})
    assert result.n_rejected == 0
    assert RowAccounting(len(df), len(result.data), result.n_rejected, result.dropped).balanced
    assert_frame_equal(result.data, df.loc[result.data.index])


def test_sample_overall_and_by_key_order() -> None:
    df = strata_frame({"a": 50, "b": 50}, start=10)
    result = Sample(0.25, random_state=8).fit(df).transform(df)

    assert len(result.data) == 25  # 25 exactly, not 25 of each label
    keys = sorted((reference_key(int(p), 8), int(p)) for p in df.index)
    assert sorted(result.data.index.tolist()) == sorted(p for _, p in keys[:25])


@pytest.mark.parametrize(("fraction", "kept"), [(0.0, 0), (1.0, 11), (0.5, 6), (0.04, 0), (0.05, 1)])
def test_sample_edge_fractions(fraction: float, kept: int) -> None:
    df = strata_frame({"a": 11})
    result = Sample(fraction).fit(df).transform(df)

    assert len(result.data) == kept
    assert result.n_dropped == 11 - kept


@pytest.mark.parametrize("cuts", [[1], [7, 8, 9, 100], list(range(2, 143, 3))])
def test_sample_is_batch_split_invariant(cuts: list[int]) -> None:
    df = strata_frame({"a": 100, "b": 37, "c": 1, None: 5})
    whole = Sample(0.4, stratify_by="label", random_state=2).fit(df)
    batched = Sample(0.4, stratify_by="label", random_state=2).fit_batches(split_batches(df, cuts))

    results = [batched.transform(b) for b in split_batches(df, cuts)]
    expected = whole.transform(df)
    assert_frame_equal(pd.concat([r.data for r in results]), expected.data)
    assert sum((r.dropped for r in results), Counter()) == expected.dropped


def test_sample_seeds() -> None:
    df = strata_frame({"a": 300})
    same = [Sample(0.5, random_state=6).fit(df).transform(df).data.index.tolist() for _ in range(2)]
    other = Sample(0.5, random_state=7).fit(df).transform(df).data.index.tolist()

    assert same[0] == same[1]
    assert len(other) == len(same[0]) == 150
    assert len(set(other) ^ set(same[0])) > 50


def test_sample_empty_input() -> None:
    df = strata_frame({"a": 3})
    result = Sample(0.5).fit(df).transform(df.iloc[:0])

    assert_frame_equal(result.data, df.iloc[:0])
    assert result.n_dropped == 0


def test_sample_get_feature_names_out_is_unchanged() -> None:
    assert Sample(0.5).get_feature_names_out(["a"]) == ["a"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fraction": 1.5}, "fraction"),
        ({"fraction": -0.1}, "fraction"),
        ({"fraction": float("nan")}, "fraction"),
        ({"fraction": "half"}, "fraction"),
        ({"stratify_by": 3}, "stratify_by"),
        ({"random_state": True}, "random_state"),
    ],
)
def test_sample_check_params_names_the_bad_field(params: dict, field: str) -> None:
    sample = Sample(**{"fraction": 0.5, **params})

    with pytest.raises(ConfigurationError) as info:
        sample.check_params(["label"])
    assert info.value.field == field


pytestmark = pytest.mark.unit


def frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype=float) * 10}, index=pd.RangeIndex(start, start + n))


def test_keeps_every_step_th_row_from_start() -> None:
    result = SystematicSample(step=3, start=1).transform(frame(10))
    assert result.data.index.tolist() == [1, 4, 7]
    assert result.data["x"].tolist() == [10.0, 40.0, 70.0]
    assert result.dropped == Counter({"systematic_sample": 7})
    assert result.n_rejected == 0


def test_step_one_keeps_all_rows_from_start() -> None:
    result = SystematicSample(step=1, start=2).transform(frame(5))
    assert result.data.index.tolist() == [2, 3, 4]
    assert result.dropped == Counter({"systematic_sample": 2})


def test_batch_split_invariance_and_accounting() -> None:
    df = frame(23)
    sampler = SystematicSample(step=4, start=2)
    whole = sampler.transform(df)
    parts = [sampler.transform(df.iloc[a:b]) for a, b in [(0, 5), (5, 6), (6, 17), (17, 23)]]
    assert_frame_equal(pd.concat([p.data for p in parts]), whole.data)
    assert whole.data.index.tolist() == [2, 6, 10, 14, 18, 22]
    assert sum(p.n_dropped for p in parts) == whole.n_dropped == 17
    assert len(whole.data) + whole.n_dropped == len(df)


def test_positions_not_starting_at_zero() -> None:
    # a later batch of a stream: positions 100..104; position 100 = start + 50 * step
    result = SystematicSample(step=2).transform(frame(5, start=100))
    assert result.data.index.tolist() == [100, 102, 104]


def test_start_past_the_end_drops_everything() -> None:
    result = SystematicSample(step=2, start=50).transform(frame(5))
    assert result.data.empty
    assert list(result.data.columns) == ["x"]
    assert result.dropped == Counter({"systematic_sample": 5})


def test_empty_and_one_row() -> None:
    empty = SystematicSample(step=2).transform(frame(0))
    assert empty.data.empty and empty.n_dropped == 0
    one = SystematicSample(step=2).transform(frame(1))
    assert one.data.index.tolist() == [0]


def test_all_null_column_is_sampled_like_any_other() -> None:
    df = pd.DataFrame({"x": [None, None, None]}, dtype="Float64")
    assert SystematicSample(step=2).transform(df).data.index.tolist() == [0, 2]


def test_non_positional_index_is_a_contract_error() -> None:
    df = pd.DataFrame({"x": [1, 2]}, index=["a", "b"])
    with pytest.raises(DataContractError, match="positions"):
        SystematicSample(step=2).transform(df)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"step": 0}, "step"), ({"step": 1.5}, "step"), ({"step": True}, "step"), ({"step": 2, "start": -1}, "start")],
)
def test_check_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        SystematicSample(**params).check_params(["x"])
    assert err.value.field == field


def test_stateless() -> None:
    assert SystematicSample(step=2).stateful is False
    assert SystematicSample(step=2).get_feature_names_out(["x", "y"]) == ["x", "y"]
