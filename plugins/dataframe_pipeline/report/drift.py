"""Drift of every column against the previous published version: PSI and the KS statistic.

- **PSI** (population stability index) of a numeric column with at most ``bins`` distinct values
  (flags, small counts, a weekday) uses one bin per value; of another numeric column, ``bins`` quantile
  bins of the *reference* (interior edges ``np.quantile(reference, [1/bins, ..., (bins-1)/bins])``, duplicates
  merged, so a 0/1 column gets two bins), plus one bin for nulls so a change in missingness shows; of a
  categorical column, one bin per category (and nulls). ``PSI = sum((a - e) * ln(a / e))`` over the
  bins, with the shares ``e`` (reference) and ``a`` (current) clipped to ``EPSILON`` so an empty bin
  does not give infinity. PSI above the threshold (default 0.2, the usual "significant shift") flags
  the column.
- **KS** (numeric columns): the two-sample Kolmogorov-Smirnov statistic, ``max |F_ref(x) - F_cur(x)|``
  over the non-null values (``scipy.stats.ks_2samp``'s statistic, computed with numpy).

Both are computed on the seeded samples of :mod:`.sampling` (exact below the sample size). Text columns
with more than ``max_categories`` distinct values (identifiers, e-mails) and timestamps (which move with
the partition by construction) are listed as not compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

EPSILON = 1e-4
DEFAULT_THRESHOLD = 0.2
DEFAULT_BINS = 10
MAX_CATEGORIES = 50


@dataclass(frozen=True)
class ColumnDrift:
    """The drift of one column; ``psi``/``ks`` are None when not computed (``note`` says why)."""

    column: str
    kind: str  # "numeric", "categorical" or "not compared"
    psi: float | None
    ks: float | None
    drifted: bool
    reference_values: int
    current_values: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(expected: ArrayLike, actual: ArrayLike, epsilon: float = EPSILON) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    e = np.clip(np.asarray(expected, dtype=float), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=float), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def quantile_edges(reference: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Interior bin edges: the reference's quantiles at ``1/bins .. (bins-1)/bins``, duplicates merged."""
    if reference.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_shares(values: np.ndarray, edges: np.ndarray, nulls: int = 0) -> np.ndarray:
    """Shares of ``values`` in the bins ``(-inf, e0), [e0, e1), ..., [e_last, inf)`` and, last, of nulls."""
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1).astype(float)
    counts = np.append(counts, nulls)
    total = counts.sum()
    return counts / total if total else counts


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sample KS statistic: the largest distance between the two empirical CDFs."""
    if reference.size == 0 or current.size == 0:
        return float("nan")
    ref, cur = np.sort(reference), np.sort(current)
    points = np.concatenate([ref, cur])
    cdf_ref = np.searchsorted(ref, points, side="right") / ref.size
    cdf_cur = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(cdf_ref - cdf_cur)))


def numeric_values(series: pd.Series) -> np.ndarray:
    """The non-null values of a numeric, boolean or datetime column as floats (datetimes in ns)."""
    values = series.dropna()
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)


def is_numeric(series: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(series)
        or pd.api.types.is_bool_dtype(series)
        or pd.api.types.is_datetime64_any_dtype(series)
    )


def numeric_drift(column: str, reference: pd.Series, current: pd.Series, threshold: float, bins: int) -> ColumnDrift:
    ref, cur = numeric_values(reference), numeric_values(current)
    ks = ks_statistic(ref, cur)
    ks_value = None if np.isnan(ks) else ks
    if np.unique(np.concatenate([ref, cur])).size <= bins:
        # few distinct values (flags, counts, a day's constant weekday): one bin per value, or a
        # constant reference would put any other value in its own last bin and hide the shift
        value = _shares_psi(reference.astype("Float64"), current.astype("Float64"))
        return ColumnDrift(
            column, "numeric (discrete)", value, ks_value, value > threshold, len(reference), len(current)
        )
    edges = quantile_edges(ref, bins)
    value = psi(
        bin_shares(ref, edges, len(reference) - ref.size),
        bin_shares(cur, edges, len(current) - cur.size),
    )
    return ColumnDrift(column, "numeric", value, ks_value, value > threshold, len(reference), len(current))


def _shares_psi(reference: pd.Series, current: pd.Series) -> float:
    """PSI with one bin per distinct value (nulls included as a value)."""
    ref, cur = reference.astype("string").fillna("<null>"), current.astype("string").fillna("<null>")
    categories = sorted(set(ref.unique()) | set(cur.unique()))
    expected = ref.value_counts(normalize=True).reindex(categories, fill_value=0.0)
    actual = cur.value_counts(normalize=True).reindex(categories, fill_value=0.0)
    return psi(expected.to_numpy(), actual.to_numpy())


def categorical_drift(column: str, reference: pd.Series, current: pd.Series, threshold: float) -> ColumnDrift:
    value = _shares_psi(reference, current)
    return ColumnDrift(column, "categorical", value, None, value > threshold, len(reference), len(current))


def column_drift(
    column: str,
    reference: pd.Series,
    current: pd.Series,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    bins: int = DEFAULT_BINS,
    max_categories: int = MAX_CATEGORIES,
) -> ColumnDrift:
    """The drift of one column (numeric or categorical by the reference's type)."""
    if reference.dropna().empty and current.dropna().empty:
        return ColumnDrift(column, "not compared", None, None, False, len(reference), len(current), "no values")
    if pd.api.types.is_datetime64_any_dtype(reference):
        note = "timestamps move with the partition: compared through their derived features, not as such"
        return ColumnDrift(column, "not compared", None, None, False, len(reference), len(current), note)
    if is_numeric(reference) and (is_numeric(current) or current.dropna().empty):
        return numeric_drift(column, reference, current, threshold, bins)
    distinct = reference.nunique(dropna=True)
    if distinct > max_categories:
        note = f"{distinct} distinct values in the reference (identifier-like): not compared"
        return ColumnDrift(column, "not compared", None, None, False, len(reference), len(current), note)
    return categorical_drift(column, reference, current, threshold)


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    bins: int = DEFAULT_BINS,
    skip: Sequence[str] = (),
) -> list[ColumnDrift]:
    """The drift of every column of ``current`` against ``reference`` (columns only on one side are
    listed as added or missing)."""
    out = []
    for column in current.columns:
        if column in skip:
            continue
        if column not in reference.columns:
            out.append(ColumnDrift(column, "not compared", None, None, False, 0, len(current), "added column"))
            continue
        out.append(column_drift(column, reference[column], current[column], threshold=threshold, bins=bins))
    for column in reference.columns:
        if column not in current.columns and column not in skip:
            out.append(ColumnDrift(column, "not compared", None, None, False, len(reference), 0, "missing column"))
    return out
