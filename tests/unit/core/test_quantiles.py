"""ExactQuantiles gives numpy's results bit for bit, from batches, with or without folding into pairs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataframe_pipeline.core.quantiles import ExactQuantiles

pytestmark = pytest.mark.unit

QS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


def accumulate(batches: list[np.ndarray], buffer: int, compressible: float = 0.25) -> ExactQuantiles:
    acc = ExactQuantiles()
    acc.BUFFER = buffer  # fold often, so the pairs are merged many times
    acc.COMPRESSIBLE = compressible  # 1.0: always pairs; 0.0: raw after the first fold
    for batch in batches:
        acc.add(batch)
    return acc


values_lists = st.lists(
    st.lists(
        st.one_of(
            st.integers(-5, 5).map(float),  # repeated values: pairs
            st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12),
        ),
        max_size=30,
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(values_lists, st.sampled_from([1, 3, 16, 1 << 20]), st.sampled_from([0.0, 0.25, 1.0]))
def test_matches_numpy_bit_for_bit(batches: list[list[float]], buffer: int, compressible: float) -> None:
    arrays = [np.array(b, dtype=np.float64) for b in batches]
    whole = np.concatenate(arrays)
    acc = accumulate(arrays, buffer, compressible)
    if not len(whole):
        assert all(np.isnan(acc.quantiles(QS))) and np.isnan(acc.median())
        return
    assert acc.quantiles(QS) == [float(v) for v in np.quantile(whole, QS)]
    assert acc.median() == float(np.median(whole))
    assert acc.percentiles([25.0, 50.0, 75.0]) == [float(v) for v in np.percentile(whole, [25.0, 50.0, 75.0])]


def test_repeated_values_stay_pairs_and_distinct_values_go_raw() -> None:
    rng = np.random.default_rng(0)
    few = accumulate([rng.integers(1, 6, 100_000).astype(float) for _ in range(30)], buffer=200_000)
    assert few.compressed and few.nbytes < 10_000  # 3M values held as 5 pairs (+ the unfolded rest)
    assert few.quantiles([0.25, 0.75]) == [2.0, 4.0]
    distinct = accumulate([rng.normal(size=100_000) for _ in range(5)], buffer=200_000)
    assert not distinct.compressed
    assert distinct.nbytes == 500_000 * 8
