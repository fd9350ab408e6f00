"""Every reusable transformer added for issue 4 round-trips through skops and transforms new data alike."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dataframe_pipeline.clean.missing_more import DropSparseColumns, GroupImputer
from dataframe_pipeline.clean.outliers_more import IsolationForestOutliers, ZScoreOutliers
from dataframe_pipeline.core.artifacts import load_fitted, save_fitted
from dataframe_pipeline.enrich.encoders_more import FrequencyEncoder, OrdinalEncoder
from dataframe_pipeline.enrich.scalers_more import MinMaxScaler, RobustScaler
from dataframe_pipeline.enrich.text import TextFeatures

TRAIN = pd.DataFrame(
    {
        "g": ["a", "a", "b", "b", "c"],
        "x": [1.0, 2.0, np.nan, 4.0, 50.0],
        "txt": ["red apples", "green apples", "red wine", None, "apple pie"],
        "sparse": [None, None, None, None, 1.0],
    }
)
NEW = pd.DataFrame(
    {"g": ["b", "d", "a"], "x": [np.nan, 3.0, 7.0], "txt": ["apple wine", "pie", ""], "sparse": [None, 2.0, None]},
    index=[10, 11, 12],
)

CASES = [
    ZScoreOutliers(["x"], threshold=1.5, action="flag"),
    IsolationForestOutliers(["x"], contamination=0.3, action="cap"),  # the forest's trees go through skops
    GroupImputer(["x"], by="g", strategy="median"),
    DropSparseColumns(threshold=0.5),
    OrdinalEncoder(["g"]),
    FrequencyEncoder(["g"]),
    MinMaxScaler(["x"], suffix="_mm"),
    RobustScaler(["x"], suffix="_rb"),
    TextFeatures("txt", method="tfidf", max_features=4),
]


@pytest.mark.parametrize("transformer", CASES, ids=lambda t: type(t).__name__)
def test_round_trip(transformer) -> None:
    fitted = transformer.fit(TRAIN)
    before = fitted.transform(NEW)
    buffer = io.BytesIO()
    save_fitted([fitted], buffer)
    (loaded,) = load_fitted(io.BytesIO(buffer.getvalue()))
    after = loaded.transform(NEW)
    assert_frame_equal(after.data, before.data)
    assert len(after.rejected) == len(before.rejected)
