"""The isolation forest outlier rule: scikit-learn on the seeded sample is the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from dataframe_pipeline.clean.isolation_forest import IsolationForestOutliers, _row_hashes
from dataframe_pipeline.exceptions import ConfigurationError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit


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
