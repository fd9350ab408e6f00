from __future__ import annotations

from collections import Counter
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dataframe_pipeline.core.engine import run_chain
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from dataframe_pipeline.refine.balance import ClassBalancer
from dataframe_pipeline.refine.sampling import row_keys

pytestmark = pytest.mark.unit


def labelled(sizes: dict[str | None, int], seed: int = 0) -> pd.DataFrame:
    labels = [label for label, n in sizes.items() for _ in range(n)]
    order = np.random.default_rng(seed).permutation(len(labels))
    return pd.DataFrame(
        {
            "y": pd.Series([labels[i] for i in order], dtype="str"),
            "x": np.arange(len(labels), dtype=float),
        }
    )


def expected_kept(df: pd.DataFrame, per_class: int, seed: int = 0) -> list[int]:
    """Oracle: in each class, the ``per_class`` positions with the smallest keys."""
    keys = row_keys(df.index.to_numpy(), seed)
    kept: list[int] = []
    for _, rows in df.groupby("y", dropna=True).groups.items():
        positions = np.asarray(rows)
        kept += positions[np.argsort(keys[positions])[:per_class]].tolist()
    return sorted(kept)


def batches_of(df: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    bounds = [0, *cuts, len(df)]
    return [df.iloc[a:b] for a, b in pairwise(bounds)]


def test_undersample_keeps_exactly_the_minority_count_per_class() -> None:
    df = labelled({"a": 40, "b": 15, "c": 6})
    balancer = ClassBalancer("y").fit(df)
    assert balancer.class_counts_ == {"a": 40, "b": 15, "c": 6}
    assert balancer.target_counts_ == {"a": 6.0, "b": 6.0, "c": 6.0}
    assert balancer.weights_ == {}
    result = balancer.transform(df)
    assert result.data["y"].value_counts().to_dict() == {"a": 6, "b": 6, "c": 6}
    assert result.data.index.tolist() == expected_kept(df, 6)
    assert result.dropped == Counter({"balance_classes": 43})
    assert len(result.data) + result.n_dropped == len(df)


def test_undersample_ratio_rounds_half_up() -> None:
    df = labelled({"a": 20, "b": 3, "c": 4})
    balancer = ClassBalancer("y", ratio=1.5).fit(df)  # 1.5 * 3 = 4.5 -> 5
    counts = balancer.transform(df).data["y"].value_counts().to_dict()
    assert counts == {"a": 5, "b": 3, "c": 4}
    assert balancer.counts_ == {"a": [5, 15], "b": [3, 0], "c": [4, 0]}


@pytest.mark.parametrize("cuts", [[1], [10, 11, 30], list(range(5, 60, 5))])
def test_undersample_batch_split_invariance(cuts: list[int]) -> None:
    df = labelled({"a": 33, "b": 17, "c": 11}, seed=3)
    whole = ClassBalancer("y", random_state=5).fit(df)
    streamed = ClassBalancer("y", random_state=5).fit_batches(batches_of(df, cuts))
    assert streamed.thresholds_ == whole.thresholds_
    parts = [streamed.transform(b) for b in batches_of(df, cuts)]
    assert_frame_equal(pd.concat([p.data for p in parts]), whole.transform(df).data)
    assert sum(p.n_dropped for p in parts) == 61 - 33
    assert pd.concat([p.data for p in parts]).index.tolist() == expected_kept(df, 11, seed=5)


def test_nulls_and_unseen_classes_are_kept() -> None:
    df = labelled({"a": 10, "b": 2, None: 3})
    balancer = ClassBalancer("y").fit(df)
    assert balancer.class_counts_ == {"a": 10, "b": 2}
    out = balancer.transform(df).data
    assert out["y"].isna().sum() == 3
    assert out["y"].value_counts().to_dict() == {"a": 2, "b": 2}
    new = pd.DataFrame({"y": pd.Series(["zzz", "zzz"], dtype="str"), "x": [1.0, 2.0]}, index=[100, 101])
    assert balancer.transform(new).data.index.tolist() == [100, 101]


def test_oversample_adds_exact_weights_and_removes_nothing() -> None:
    df = labelled({"p": 6, "q": 3, "r": 2})
    balancer = ClassBalancer("y", strategy="oversample").fit(df)
    assert balancer.weights_ == {"p": 1.0, "q": 2.0, "r": 3.0}
    result = balancer.transform(df)
    assert result.n_dropped == 0 and result.n_rejected == 0
    assert result.data.index.tolist() == list(range(11))
    assert result.data["sample_weight"].dtype == np.float64
    expected = df["y"].map({"p": 1.0, "q": 2.0, "r": 3.0})
    assert result.data["sample_weight"].tolist() == expected.tolist()
    assert result.data.groupby("y")["sample_weight"].sum().to_dict() == {"p": 6.0, "q": 6.0, "r": 6.0}
    assert balancer.get_feature_names_out(["y", "x"]) == ["y", "x", "sample_weight"]


def test_oversample_ratio_and_unseen_or_null_weight_one() -> None:
    df = labelled({"p": 6, "q": 3, "r": 2, None: 1})
    balancer = ClassBalancer("y", strategy="oversample", ratio=2, weight_column="w").fit(df)
    assert balancer.weights_ == {"p": 1.0, "q": 1.0, "r": 1.5}
    assert balancer.target_counts_ == {"p": 6.0, "q": 3.0, "r": 3.0}
    out = balancer.transform(df).data
    assert out.loc[out["y"].isna(), "w"].tolist() == [1.0]
    new = pd.DataFrame({"y": pd.Series(["new"], dtype="str"), "x": [0.0]}, index=[50])
    assert balancer.transform(new).data["w"].tolist() == [1.0]


def test_oversample_batch_split_invariance_and_empty_batch_dtype() -> None:
    df = labelled({"p": 9, "q": 4}, seed=2)
    whole = ClassBalancer("y", strategy="oversample").fit(df)
    batches = batches_of(df, [3, 4, 10])
    streamed = ClassBalancer("y", strategy="oversample").fit_batches(batches)
    assert streamed.weights_ == whole.weights_ == {"p": 1.0, "q": 2.25}
    assert_frame_equal(pd.concat([streamed.transform(b).data for b in batches]), whole.transform(df).data)
    empty = whole.transform(df.iloc[:0]).data
    assert list(empty.columns) == ["y", "x", "sample_weight"]
    assert empty["sample_weight"].dtype == np.float64


def test_empty_input_and_one_row() -> None:
    empty = labelled({})
    for strategy in ("undersample", "oversample"):
        balancer = ClassBalancer("y", strategy=strategy).fit(empty)
        assert balancer.class_counts_ == {}
        assert balancer.transform(empty).data.empty
    one = labelled({"a": 1})
    assert ClassBalancer("y").fit(one).transform(one).data.index.tolist() == [0]


def test_all_null_target_is_left_alone() -> None:
    df = pd.DataFrame({"y": pd.Series([None, None], dtype="str"), "x": [1.0, 2.0]})
    balancer = ClassBalancer("y").fit(df)
    assert balancer.class_counts_ == {}
    assert balancer.transform(df).data.index.tolist() == [0, 1]


def test_integer_classes() -> None:
    df = pd.DataFrame({"y": [0, 1, 0, 0, 1, 0, 0], "x": np.arange(7.0)})
    balancer = ClassBalancer("y").fit(df)
    assert balancer.class_counts_ == {0: 5, 1: 2}
    assert balancer.transform(df).data["y"].value_counts().to_dict() == {0: 2, 1: 2}


def test_row_accounting_through_the_engine() -> None:
    df = labelled({"a": 30, "b": 10}, seed=4)
    out: list[pd.DataFrame] = []
    accounting = run_chain(
        [ClassBalancer("y")], lambda columns=None: iter(batches_of(df, [7, 19])), out.append, lambda _: None
    )
    assert accounting.balanced
    assert accounting.dropped_by_rule == {"balance_classes": 20}
    assert len(pd.concat(out)) == 20


def test_not_fitted_and_contract_errors() -> None:
    df = labelled({"a": 3})
    with pytest.raises(NotFittedError):
        ClassBalancer("y").transform(df)
    with pytest.raises(DataContractError, match="lacks"):
        ClassBalancer("nope").fit(df)
    fitted = ClassBalancer("y", strategy="oversample").fit(df)
    with pytest.raises(DataContractError, match="already exists"):
        fitted.transform(df.assign(sample_weight=1.0))
    with pytest.raises(DataContractError, match="positions"):
        ClassBalancer("y").fit(df.set_index(pd.Index(["a", "b", "c"])))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"target": "nope"}, "target"),
        ({"target": "y", "strategy": "smote"}, "strategy"),
        ({"target": "y", "ratio": 0.5}, "ratio"),
        ({"target": "y", "ratio": float("inf")}, "ratio"),
        ({"target": "y", "ratio": True}, "ratio"),
        ({"target": "y", "random_state": 1.5}, "random_state"),
        ({"target": "y", "weight_column": ""}, "weight_column"),
        ({"target": "y", "strategy": "oversample", "weight_column": "x"}, "weight_column"),
    ],
)
def test_check_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        ClassBalancer(**params).check_params(["y", "x"])
    assert err.value.field == field
