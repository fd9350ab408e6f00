"""Drift numbers against independent computations (scipy, numpy) on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dataframe_pipeline.report.drift import bin_shares, column_drift, compare, ks_statistic, psi, quantile_edges


def _psi_by_hand(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> float:
    """PSI with decile bins of the reference, written out independently of the module."""
    cuts = np.unique(np.percentile(ref, [100 * k / bins for k in range(1, bins)]))
    ref_counts = pd.Series(np.digitize(ref, cuts)).value_counts().reindex(range(cuts.size + 1), fill_value=0)
    cur_counts = pd.Series(np.digitize(cur, cuts)).value_counts().reindex(range(cuts.size + 1), fill_value=0)
    e = np.maximum(ref_counts.to_numpy() / ref.size, 1e-4)
    a = np.maximum(cur_counts.to_numpy() / cur.size, 1e-4)
    return float(((a - e) * np.log(a / e)).sum())


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5, 2.0])
def test_numeric_psi_and_ks_match_independent_computations(shift: float) -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 5000), rng.normal(shift, 1, 3000)
    result = column_drift("x", pd.Series(ref), pd.Series(cur))
    assert result.kind == "numeric"
    assert result.psi == pytest.approx(_psi_by_hand(ref, cur), rel=1e-9, abs=1e-12)
    assert result.ks == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)
    assert result.drifted == (result.psi > 0.2)


def test_a_large_shift_drifts_and_the_same_distribution_does_not() -> None:
    rng = np.random.default_rng(2)
    ref = pd.Series(rng.normal(0, 1, 4000))
    assert not column_drift("x", ref, pd.Series(rng.normal(0, 1, 4000))).drifted
    assert column_drift("x", ref, pd.Series(rng.normal(1.0, 1, 4000))).drifted


def test_categorical_psi_matches_the_formula() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    cur = pd.Series(["a"] * 20 + ["b"] * 30 + ["c"] * 40 + ["d"] * 10)
    e = np.array([0.5, 0.3, 0.2, 1e-4])
    a = np.array([0.2, 0.3, 0.4, 0.1])
    result = column_drift("c", ref, cur)
    assert result.kind == "categorical"
    assert result.psi == pytest.approx(float(((a - e) * np.log(a / e)).sum()), rel=1e-12)
    assert result.drifted


def test_psi_of_identical_shares_is_zero_and_edges_of_a_binary_column() -> None:
    assert psi([0.25, 0.75], [0.25, 0.75]) == 0.0
    binary = np.array([0, 0, 0, 1, 1, 0, 1, 0, 0, 0.0])
    shares = bin_shares(binary, quantile_edges(binary))
    assert sorted(shares[shares > 0].tolist()) == [0.3, 0.7]  # the 0s and the 1s in bins of their own
    assert ks_statistic(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 0.0


def test_missingness_counts_as_drift() -> None:
    ref = pd.Series(np.arange(1000, dtype=float))
    cur = ref.copy()
    cur[:400] = np.nan
    assert column_drift("x", ref, cur).drifted


def test_threshold_is_configurable_and_identifiers_are_not_compared() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 2000), "id": [f"i{i}" for i in range(2000)]})
    cur = pd.DataFrame({"x": rng.normal(0.3, 1, 2000), "id": [f"j{i}" for i in range(2000)], "new": 1})
    loose = {d.column: d for d in compare(ref, cur, threshold=5.0)}
    strict = {d.column: d for d in compare(ref, cur, threshold=0.01)}
    assert not loose["x"].drifted and strict["x"].drifted
    assert loose["x"].psi == strict["x"].psi
    assert loose["id"].kind == "not compared" and "identifier" in loose["id"].note
    assert loose["new"].note == "added column"


def test_a_discrete_column_gets_one_bin_per_value() -> None:
    # a weekday constant within each daily partition: the shift from Thursday to Friday is a drift
    thursday, friday = pd.Series([3] * 300), pd.Series([4] * 200)
    result = column_drift("dayofweek", thursday, friday)
    assert result.kind == "numeric (discrete)" and result.drifted and result.ks == 1.0
    e, a = np.array([1.0, 1e-4]), np.array([1e-4, 1.0])
    assert result.psi == pytest.approx(float(((a - e) * np.log(a / e)).sum()))
    flags = column_drift("flag", pd.Series([0, 1] * 500), pd.Series([0, 1, 1, 1] * 250))
    assert flags.kind == "numeric (discrete)"
    assert flags.psi == pytest.approx(psi([0.5, 0.5], [0.25, 0.75]))
