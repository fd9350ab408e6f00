"""Unit tests of IQROutliers: ``pandas.Series.quantile`` is the oracle for the bounds."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.clean.outliers import IQROutliers, ZScoreOutliers
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


def assert_balanced(batch: pd.DataFrame, result) -> None:
    assert len(batch) == len(result.data) + result.n_rejected + result.n_dropped


@pytest.fixture
def sales() -> pd.DataFrame:
    # amount: sorted -50, 2, 3, 4, 100: Q1 = 2, Q3 = 4, IQR = 2 -> bounds [-1, 7]
    # qty: sorted 10, 11, 12, 14, 50: Q1 = 11, Q3 = 14, IQR = 3 -> bounds [6.5, 18.5]
    return pd.DataFrame(
        {
            "amount": [2.0, 3.0, 4.0, 100.0, np.nan, -50.0, np.nan],
            "qty": pd.array([10, 11, 12, None, 14, 50, None], dtype="Int64"),
            "_source_line": [1, 2, 3, 4, 5, 6, 7],
        },
        index=pd.RangeIndex(20, 27),
    )


def test_bounds_by_hand(sales: pd.DataFrame) -> None:
    detector = IQROutliers(["amount", "qty"]).fit(sales)
    assert detector.bounds_ == {"amount": (-1.0, 7.0), "qty": (6.5, 18.5)}


def test_bounds_match_pandas_quantile_for_any_split() -> None:
    rng = np.random.default_rng(11)
    values = np.where(rng.random(257) < 0.1, np.nan, rng.lognormal(size=257))
    frame = pd.DataFrame({"v": values})
    q1, q3 = frame["v"].quantile(0.25), frame["v"].quantile(0.75)
    expected = (q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1))
    for size in (1, 10, 256, 1000):
        assert IQROutliers(["v"], factor=3).fit_batches(chunks(frame, size)).bounds_ == {"v": expected}


def test_quarantine_with_reasons(sales: pd.DataFrame) -> None:
    detector = IQROutliers(["amount", "qty"]).fit(sales)
    result = detector.transform(sales)
    pd.testing.assert_frame_equal(result.data, sales.loc[[20, 21, 22, 24, 26]])
    expected = sales.loc[[23, 25]].assign(
        _rule="iqr_outliers",
        _reason=[
            "amount=100.0 outside [-1, 7] (1.5 x IQR)",
            "amount=-50.0 outside [-1, 7] (1.5 x IQR); qty=50 outside [6.5, 18.5] (1.5 x IQR)",
        ],
    )
    pd.testing.assert_frame_equal(result.rejected, expected)
    assert_balanced(sales, result)


def test_one_row_outside_in_two_columns_is_rejected_once() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 50.0], "b": [1.0, 2.0, 3.0, 4.0, -50.0]})
    result = IQROutliers(["a", "b"], factor=1).fit(frame).transform(frame)
    assert result.rejected["_reason"].tolist() == ["a=50.0 outside [0, 6] (1 x IQR); b=-50.0 outside [-1, 5] (1 x IQR)"]


def test_reason_hides_rounding_noise() -> None:
    frame = pd.DataFrame({"v": [0.1, 0.2, 0.3, 0.4, 9.0]})
    detector = IQROutliers(["v"]).fit(frame)
    low, high = detector.bounds_["v"]
    assert (low, high) == (0.2 - 1.5 * (0.4 - 0.2), 0.4 + 1.5 * (0.4 - 0.2))
    assert (low, high) != (-0.1, 0.7)  # the rounding noise is really there
    assert detector.transform(frame).rejected["_reason"].tolist() == ["v=9.0 outside [-0.1, 0.7] (1.5 x IQR)"]


def test_drop_counts_under_the_first_column(sales: pd.DataFrame) -> None:
    # row 21 is outside in qty only; row 25 in both columns counts under amount
    both = sales.assign(qty=pd.array([10, 40, 12, None, 14, 50, None], dtype="Int64"))
    result = IQROutliers(["amount", "qty"], action="drop").fit(sales).transform(both)
    assert result.dropped == Counter({"iqr_outliers:amount": 2, "iqr_outliers:qty": 1})
    pd.testing.assert_frame_equal(result.data, both.loc[[20, 22, 24, 26]])
    assert result.rejected.empty


def test_cap_keeps_integer_dtype(sales: pd.DataFrame) -> None:
    result = IQROutliers(["amount", "qty"], action="cap").fit(sales).transform(sales)
    expected = sales.assign(
        amount=[2.0, 3.0, 4.0, 7.0, np.nan, -1.0, np.nan],
        qty=pd.array([10, 11, 12, None, 14, 18, None], dtype="Int64"),  # 18 = floor(18.5)
    )
    pd.testing.assert_frame_equal(result.data, expected)


def test_cap_integers_to_the_integers_inside_fractional_bounds() -> None:
    # sorted -100, 0, 1, ..., 8, 100: Q1 = 1.5, Q3 = 6.5, IQR = 5 -> factor 0.2: bounds [0.5, 7.5]
    frame = pd.DataFrame({"n": np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 100, -100], dtype="int64")})
    detector = IQROutliers(["n"], factor=0.2, action="cap").fit(frame)
    assert detector.bounds_ == {"n": (0.5, 7.5)}
    out = detector.transform(frame).data["n"]
    assert out.dtype == "int64"
    assert out.tolist() == [1, 1, 2, 3, 4, 5, 6, 7, 7, 7, 1]


def test_cap_integers_with_no_integer_inside_the_bounds_becomes_float() -> None:
    frame = pd.DataFrame({"n": [1, 2]})  # Q1 = 1.25, Q3 = 1.75; factor 0 -> [1.25, 1.75]
    out = IQROutliers(["n"], factor=0, action="cap").fit(frame).transform(frame).data
    pd.testing.assert_frame_equal(out, pd.DataFrame({"n": [1.25, 1.75]}))


def test_flag_adds_bool_columns(sales: pd.DataFrame) -> None:
    detector = IQROutliers(["amount", "qty"], action="flag").fit(sales)
    result = detector.transform(sales)
    expected = sales.assign(
        amount_outlier=[False, False, False, True, False, True, False],
        qty_outlier=[False, False, False, False, False, True, False],
    )
    pd.testing.assert_frame_equal(result.data, expected)
    assert detector.get_feature_names_out(list(sales.columns)) == list(expected.columns)
    assert IQROutliers(["amount"]).get_feature_names_out(["amount"]) == ["amount"]


@pytest.mark.parametrize("action", ["quarantine", "drop", "cap", "flag"])
@pytest.mark.parametrize("size", [1, 3, 100])
def test_batch_split_invariance(sales: pd.DataFrame, action: str, size: int) -> None:
    whole = IQROutliers(["amount", "qty"], action=action).fit(sales)
    split = IQROutliers(["amount", "qty"], action=action).fit_batches(chunks(sales, size))
    assert split.bounds_ == whole.bounds_
    one = whole.transform(sales)
    parts = [split.transform(batch) for batch in chunks(sales, size)]
    pd.testing.assert_frame_equal(pd.concat([p.data for p in parts]), one.data)
    rejected = [p.rejected for p in parts if len(p.rejected)]
    if len(one.rejected):
        pd.testing.assert_frame_equal(pd.concat(rejected), one.rejected)
    assert sum((p.dropped for p in parts), Counter()) == one.dropped


def test_nulls_and_all_null_column_are_never_outliers() -> None:
    frame = pd.DataFrame({"empty": [np.nan, np.nan, np.nan], "v": [1.0, np.nan, 1.0]})
    detector = IQROutliers(["empty", "v"], action="flag").fit(frame)
    assert detector.bounds_ == {"v": (1.0, 1.0)}
    out = detector.transform(frame).data
    assert out["empty_outlier"].tolist() == [False, False, False]
    assert out["v_outlier"].tolist() == [False, False, False]
    for action in ("quarantine", "drop", "cap"):
        result = IQROutliers(["empty", "v"], action=action).fit(frame).transform(frame)
        pd.testing.assert_frame_equal(result.data, frame)


def test_constant_column_flags_any_other_value() -> None:
    frame = pd.DataFrame({"v": [5.0, 5.0, 5.0, 5.0]})
    detector = IQROutliers(["v"]).fit(frame)
    assert detector.bounds_ == {"v": (5.0, 5.0)}
    result = detector.transform(pd.DataFrame({"v": [5.0, 5.0001]}, index=[4, 5]))
    assert result.rejected.index.tolist() == [5]


def test_empty_input() -> None:
    empty = pd.DataFrame({"v": pd.Series([], dtype="float64")})
    detector = IQROutliers(["v"], action="flag").fit(empty)
    assert detector.bounds_ == {}
    expected = empty.assign(v_outlier=pd.Series([], dtype=bool))
    pd.testing.assert_frame_equal(detector.transform(empty).data, expected)
    assert IQROutliers(["v"]).fit(empty).transform(empty).n_rejected == 0


def test_single_row() -> None:
    row = pd.DataFrame({"v": [3.0]}, index=[9])
    detector = IQROutliers(["v"]).fit(row)
    assert detector.bounds_ == {"v": (3.0, 3.0)}
    pd.testing.assert_frame_equal(detector.transform(row).data, row)


def test_text_column_is_a_contract_error() -> None:
    frame = pd.DataFrame({"v": pd.array(["1", "2"], dtype="str")})
    with pytest.raises(DataContractError, match="'v' has dtype str"):
        IQROutliers(["v"]).fit(frame)
    with pytest.raises(DataContractError, match="'w' is not in the batch"):
        IQROutliers(["w"]).fit(frame)


def test_transform_before_fit_and_refit(sales: pd.DataFrame) -> None:
    detector = IQROutliers(["amount"])
    with pytest.raises(NotFittedError):
        detector.transform(sales)
    detector.fit(sales).partial_fit(sales.iloc[:2]).finish_fit()
    assert detector.bounds_ == {"amount": (1.5, 3.5)}  # 2, 3: Q1 = 2.25, Q3 = 2.75


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"columns": []}, "columns", []),
        ({"columns": "amount"}, "columns", "amount"),
        ({"columns": ["zip"]}, "columns", "zip"),
        ({"columns": ["amount"], "factor": -1}, "factor", -1),
        ({"columns": ["amount"], "factor": float("inf")}, "factor", float("inf")),
        ({"columns": ["amount"], "factor": "1.5"}, "factor", "1.5"),
        ({"columns": ["amount"], "factor": True}, "factor", True),
        ({"columns": ["amount"], "action": "remove"}, "action", "remove"),
    ],
)
def test_check_params_rejects(params: dict, field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as error:
        IQROutliers(**params).check_params(["amount", "qty"])
    assert error.value.field == field
    assert error.value.value == value


def test_check_params_accepts() -> None:
    for action in ("quarantine", "drop", "cap", "flag"):
        IQROutliers(["amount"], factor=3, action=action).check_params(["amount"])


def test_log_scale_fences_for_right_skewed_amounts() -> None:
    values = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 5000.0, 0.0, -3.0, None]
    df = pd.DataFrame({"amount": values})
    rule = IQROutliers(["amount"], factor=1.5, scale="log").fit(df)
    logs = np.log(np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 5000.0]))
    q1, q3 = np.quantile(logs, [0.25, 0.75])
    low, high = math.exp(q1 - 1.5 * (q3 - q1)), math.exp(q3 + 1.5 * (q3 - q1))
    assert rule.bounds_["amount"] == pytest.approx((low, high), rel=1e-12)
    result = rule.transform(df)
    assert result.rejected.index.tolist() == [6, 7, 8]  # 5000, and the non-positive values
    assert "(1.5 x IQR of log)" in result.rejected["_reason"].iloc[0]
    # the same data on a linear scale flags only the big value
    assert IQROutliers(["amount"], factor=1.5).fit(df).transform(df).rejected.index.tolist() == [6]


def test_bad_scale_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="scale='ln'"):
        IQROutliers(["a"], scale="ln").check_params(["a"])


@pytest.fixture
def scores() -> pd.DataFrame:
    # v: 2, 4, 4, 4, 5, 5, 7, 9 -> mean 5, population std 2 -> threshold 1: bounds [3, 7]
    return pd.DataFrame(
        {"v": [2.0, 4.0, 4.0, np.nan, 4.0, 5.0, 5.0, 7.0, 9.0], "_line": range(9)},
        index=pd.RangeIndex(10, 19),
    )


def test_moments_by_hand(scores: pd.DataFrame) -> None:
    rule = ZScoreOutliers(["v"], threshold=1).fit(scores)
    assert rule.mean_ == {"v": 5.0}
    assert rule.std_ == {"v": 2.0}
    assert rule.bounds_ == {"v": (3.0, 7.0)}


def test_moments_match_numpy_for_any_split() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"v": rng.normal(1e6, 3.0, 301)})
    values = frame["v"].to_numpy()
    whole = ZScoreOutliers(["v"]).fit(frame)
    assert whole.mean_["v"] == pytest.approx(values.mean(), rel=1e-15)
    assert whole.std_["v"] == pytest.approx(values.std(), rel=1e-12)
    for size in (1, 7, 300):
        split = ZScoreOutliers(["v"]).fit_batches(chunks(frame, size))
        assert (split.mean_, split.std_) == (whole.mean_, whole.std_)  # exact sums: bit for bit


def test_zscore_quarantine_with_reasons(scores: pd.DataFrame) -> None:
    result = ZScoreOutliers(["v"], threshold=1).fit(scores).transform(scores)
    assert result.rejected.index.tolist() == [10, 18]
    assert result.rejected["_rule"].unique().tolist() == ["zscore_outliers"]
    assert result.rejected["_reason"].tolist() == ["v=2.0 outside [3, 7] (|z| > 1)", "v=9.0 outside [3, 7] (|z| > 1)"]
    pd.testing.assert_frame_equal(result.data, scores.drop(index=[10, 18]))


def test_drop_cap_flag(scores: pd.DataFrame) -> None:
    dropped = ZScoreOutliers(["v"], threshold=1, action="drop").fit(scores).transform(scores)
    assert dropped.dropped == Counter({"zscore_outliers:v": 2})
    capped = ZScoreOutliers(["v"], threshold=1, action="cap").fit(scores).transform(scores).data
    assert capped["v"].tolist()[:3] == [3.0, 4.0, 4.0]
    assert capped["v"].iloc[-1] == 7.0
    rule = ZScoreOutliers(["v"], threshold=1, action="flag").fit(scores)
    flagged = rule.transform(scores).data
    assert flagged["v_outlier"].tolist() == [True, False, False, False, False, False, False, False, True]
    assert rule.get_feature_names_out(["v", "_line"]) == ["v", "_line", "v_outlier"]


@pytest.mark.parametrize("size", [1, 4])
def test_transform_split_invariance(scores: pd.DataFrame, size: int) -> None:
    rule = ZScoreOutliers(["v"], threshold=1).fit(scores)
    parts = [rule.transform(b) for b in chunks(scores, size)]
    one = rule.transform(scores)
    pd.testing.assert_frame_equal(pd.concat([p.data for p in parts]), one.data)
    pd.testing.assert_frame_equal(pd.concat([p.rejected for p in parts if len(p.rejected)]), one.rejected)


def test_edge_cases() -> None:
    empty = pd.DataFrame({"v": pd.Series([], dtype="float64")})
    assert ZScoreOutliers(["v"]).fit(empty).bounds_ == {}
    assert ZScoreOutliers(["v"]).fit(empty).transform(empty).data.empty
    nulls = pd.DataFrame({"v": [np.nan, np.nan]})
    pd.testing.assert_frame_equal(ZScoreOutliers(["v"]).fit(nulls).transform(nulls).data, nulls)
    constant = pd.DataFrame({"v": [5.0, 5.0, 5.0]})
    rule = ZScoreOutliers(["v"]).fit(constant)
    assert rule.bounds_ == {"v": (5.0, 5.0)}
    assert rule.transform(pd.DataFrame({"v": [5.0, 6.0]})).rejected.index.tolist() == [1]
    one = pd.DataFrame({"v": [3.0]}, index=[4])
    pd.testing.assert_frame_equal(ZScoreOutliers(["v"]).fit(one).transform(one).data, one)


def test_zscore_errors(scores: pd.DataFrame) -> None:
    with pytest.raises(NotFittedError):
        ZScoreOutliers(["v"]).transform(scores)
    with pytest.raises(DataContractError, match="'w' is not in the batch"):
        ZScoreOutliers(["w"]).fit(scores)
    for params, field in [({"columns": "v"}, "columns"), ({"threshold": 0}, "threshold"), ({"action": "x"}, "action")]:
        with pytest.raises(ConfigurationError) as error:
            ZScoreOutliers(**{"columns": ["v"], **params}).check_params(["v"])
        assert error.value.field == field
