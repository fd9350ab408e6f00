"""Unit tests of ZScoreOutliers (numpy's population std as oracle) and IsolationForestOutliers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from dataframe_pipeline.clean.outliers_more import IsolationForestOutliers, ZScoreOutliers, _row_hashes
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


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


def test_quarantine_with_reasons(scores: pd.DataFrame) -> None:
    result = ZScoreOutliers(["v"], threshold=1).fit(scores).transform(scores)
    assert result.rejected.index.tolist() == [10, 18]
    assert result.rejected["_rule"].unique().tolist() == ["zscore_outlier"]
    assert result.rejected["_reason"].tolist() == ["v=2.0 outside [3, 7] (|z| > 1)", "v=9.0 outside [3, 7] (|z| > 1)"]
    pd.testing.assert_frame_equal(result.data, scores.drop(index=[10, 18]))


def test_drop_cap_flag(scores: pd.DataFrame) -> None:
    dropped = ZScoreOutliers(["v"], threshold=1, action="drop").fit(scores).transform(scores)
    assert dropped.dropped == Counter({"zscore_outlier:v": 2})
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


@pytest.fixture
def cloud() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    points = rng.normal(0, 1, (400, 2))
    points[[17, 250]] = [[12.0, -11.0], [9.0, 10.0]]
    frame = pd.DataFrame(points, columns=["x", "y"])
    frame.loc[5, "x"] = np.nan
    return frame


def test_isolation_forest_matches_sklearn_on_the_sample(cloud: pd.DataFrame) -> None:
    rule = IsolationForestOutliers(["x", "y"], contamination=0.01, sample_size=1000).fit(cloud)
    complete = cloud.dropna()
    assert rule.n_sample_ == 399
    # the whole input fits in the sample: the forest sees it in hash order
    ordered = complete.to_numpy()[np.argsort(_row_hashes(complete.index, 0), kind="stable")]
    oracle = IsolationForest(random_state=0).fit(ordered)
    np.testing.assert_array_equal(rule.forest_.score_samples(ordered), oracle.score_samples(ordered))
    assert rule.threshold_ == np.quantile(oracle.score_samples(ordered), 0.01)
    result = rule.transform(cloud)
    assert {17, 250} <= set(result.rejected.index)
    assert 5 not in result.rejected.index  # incomplete rows are never outliers
    assert len(cloud) == len(result.data) + result.n_rejected


@pytest.mark.parametrize("size", [1, 37, 1000])
def test_isolation_forest_ignores_batch_split(cloud: pd.DataFrame, size: int) -> None:
    whole = IsolationForestOutliers(["x", "y"], sample_size=100, action="flag").fit(cloud)
    split = IsolationForestOutliers(["x", "y"], sample_size=100, action="flag").fit_batches(chunks(cloud, size))
    assert split.threshold_ == whole.threshold_
    assert split.n_sample_ == 100
    one = whole.transform(cloud).data
    parts = pd.concat([split.transform(b).data for b in chunks(cloud, size)])
    pd.testing.assert_frame_equal(parts, one)
    assert one["isolation_forest_outlier"].dtype == bool


def test_isolation_forest_edges_and_params(cloud: pd.DataFrame) -> None:
    empty = cloud.iloc[:0]
    rule = IsolationForestOutliers(["x", "y"], action="drop").fit(empty)
    assert rule.forest_ is None
    assert rule.transform(cloud).n_dropped == 0
    with pytest.raises(NotFittedError):
        IsolationForestOutliers(["x"]).transform(cloud)
    for params, field in [({"contamination": 0.6}, "contamination"), ({"sample_size": 1}, "sample_size")]:
        with pytest.raises(ConfigurationError) as error:
            IsolationForestOutliers(**{"columns": ["x"], **params}).check_params(["x"])
        assert error.value.field == field
    other = IsolationForestOutliers(["x", "y"], sample_size=50, random_state=1).fit(cloud)
    assert other.threshold_ != IsolationForestOutliers(["x", "y"], sample_size=50).fit(cloud).threshold_


def test_isolation_forest_cap_clips_outlying_rows_into_the_inliers_range(cloud: pd.DataFrame) -> None:
    rule = IsolationForestOutliers(["x", "y"], contamination=0.01, sample_size=1000, action="cap").fit(cloud)
    flags = rule.is_outlier(cloud)
    inliers = cloud.dropna()[~flags[cloud.dropna().index]]
    assert rule.cap_bounds_ == {c: (inliers[c].min(), inliers[c].max()) for c in ("x", "y")}
    result = rule.transform(cloud)
    assert len(result.data) == len(cloud) and result.n_rejected == result.n_dropped == 0  # rows are kept
    capped = result.data
    assert capped.loc[17].tolist() == [rule.cap_bounds_["x"][1], rule.cap_bounds_["y"][0]]  # (12, -11) clipped
    assert capped.loc[250].tolist() == [rule.cap_bounds_["x"][1], rule.cap_bounds_["y"][1]]
    untouched = ~flags
    pd.testing.assert_frame_equal(capped[untouched], cloud[untouched])  # other rows unchanged, the null stays
    # capping changes values only: a row flagged but already inside the range stays as it was
    assert (capped[flags] <= pd.Series({c: rule.cap_bounds_[c][1] for c in ("x", "y")})).all().all()


def test_isolation_forest_cap_on_empty_fit_changes_nothing(cloud: pd.DataFrame) -> None:
    rule = IsolationForestOutliers(["x", "y"], action="cap").fit(cloud.iloc[:0])
    assert rule.cap_bounds_ == {}
    pd.testing.assert_frame_equal(rule.transform(cloud).data, cloud)


def test_isolation_forest_cap_edges_one_row_constant_and_all_null_columns() -> None:
    one = pd.DataFrame({"x": [1.0], "y": [2.0]})
    rule = IsolationForestOutliers(["x", "y"], action="cap").fit(one)
    assert rule.cap_bounds_ == {"x": (1.0, 1.0), "y": (2.0, 2.0)}
    pd.testing.assert_frame_equal(rule.transform(one).data, one)
    constant = pd.DataFrame({"x": [5.0] * 50, "y": np.arange(50.0)})
    capped = IsolationForestOutliers(["x", "y"], action="cap").fit(constant).transform(constant).data
    assert capped["x"].unique().tolist() == [5.0]
    all_null = pd.DataFrame({"x": [np.nan] * 5, "y": np.arange(5.0)})
    rule = IsolationForestOutliers(["x", "y"], action="cap").fit(all_null)  # no complete row to learn from
    assert rule.cap_bounds_ == {}
    pd.testing.assert_frame_equal(rule.transform(all_null).data, all_null)
