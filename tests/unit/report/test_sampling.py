"""The bounded sample and the exact null counts of a stream of batches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataframe_pipeline.report.sampling import RowSample, profile


def _batches(frame: pd.DataFrame, size: int):
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def test_the_sample_is_bounded_uniform_and_independent_of_batching() -> None:
    frame = pd.DataFrame({"x": np.arange(100_000)})
    small = RowSample(1000, random_state=5).extend(_batches(frame, 7_000))
    large = RowSample(1000, random_state=5).extend(_batches(frame, 7_000))
    assert len(small.frame) == 1000 and not small.exact and small.rows_seen == 100_000
    assert small.frame["x"].tolist() == large.frame["x"].tolist()  # seeded
    assert abs(small.frame["x"].mean() - 50_000) < 3_000  # uniform over the whole stream
    assert small.frame["x"].is_monotonic_increasing  # stream order kept


def test_null_counts_are_exact() -> None:
    frame = pd.DataFrame({"a": [1.0, None, 3.0, None] * 250, "b": ["x"] * 1000})
    counts, sample = profile(_batches(frame, 64), size=10)
    assert counts.rows == 1000 and counts.nulls == {"a": 500, "b": 0}
    assert counts.rates()["a"] == 0.5
    assert len(sample.frame) == 10
