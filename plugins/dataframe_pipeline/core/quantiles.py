"""Exact quantiles of a stream of numbers, in memory that follows the distinct values, not the rows.

Quantile fences (IQR), medians and robust scaling need order statistics of a whole column, which no
fixed-size summary gives exactly. :class:`ExactQuantiles` keeps the values as (value, count) pairs,
folding raw values in every ``BUFFER`` values (a hash count, then a merge with the pairs), so a
column with few distinct values (quantities, prices in cents, codes, dates) costs memory for its
distinct values only. When the pairs grow past ``COMPRESSIBLE`` of the values seen (nearly all
values distinct), folding would cost more than it saves: the pairs are expanded once and the rest is
kept raw, 8 bytes per value, as a plain concatenation would.

Results are bit-identical to numpy on the concatenated values: numpy's linear quantile is an
interpolation between the two order statistics around ``(n - 1) * q`` with weight ``gamma``; the
pairs give those two values, and numpy itself interpolates them (``np.quantile([lo, hi], gamma)``
is that same interpolation). The median of an even count is ``np.median`` of the two middle values,
as numpy computes it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence


class ExactQuantiles:
    """Accumulate float64 values (no NaN) batch by batch; then :meth:`quantiles` or :meth:`median`."""

    #: raw values buffered before they are folded into (value, count) pairs
    BUFFER = 1 << 20
    #: keep pairs while the distinct values are at most this share of the values seen
    COMPRESSIBLE = 0.25

    def __init__(self) -> None:
        self.n = 0
        self._raw: list[np.ndarray] = []
        self._raw_size = 0
        self._values = np.empty(0, np.float64)
        self._counts = np.empty(0, np.int64)
        self.compressed = True  # False once the values proved mostly distinct

    @property
    def nbytes(self) -> int:
        """Memory held by the accumulated values."""
        return sum(part.nbytes for part in self._raw) + self._values.nbytes + self._counts.nbytes

    def add(self, values: np.ndarray) -> None:
        """Add a batch of values (float64, without NaN)."""
        if not len(values):
            return
        self.n += len(values)
        self._raw.append(np.asarray(values, dtype=np.float64))
        self._raw_size += len(values)
        if self.compressed and self._raw_size >= self.BUFFER:
            self._fold()

    def _fold(self) -> None:
        if not self._raw:
            return
        counts = pd.Series(np.concatenate(self._raw)).value_counts(sort=False)  # hashing: O(values)
        self._raw, self._raw_size = [], 0
        values = np.concatenate([self._values, counts.index.to_numpy(np.float64)])
        weights = np.concatenate([self._counts, counts.to_numpy(np.int64)])
        if not len(values):
            return
        order = np.argsort(values, kind="stable")
        values, weights = values[order], weights[order]
        starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
        self._values, self._counts = values[starts], np.add.reduceat(weights, starts)
        if len(self._values) > self.COMPRESSIBLE * self.n:
            self._raw = [np.repeat(self._values, self._counts)]
            self._raw_size = len(self._raw[0])
            self._values, self._counts = np.empty(0, np.float64), np.empty(0, np.int64)
            self.compressed = False

    def _order_statistics(self, ranks: np.ndarray) -> np.ndarray:
        """The values at 0-based ``ranks`` of the sorted data (pairs mode)."""
        ends = np.cumsum(self._counts)
        return self._values[np.searchsorted(ends, ranks, side="right")]

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """``np.quantile(all values, qs)`` (linear); NaN for each q when no value was added."""
        if not self.n:
            return [math.nan] * len(qs)
        if not self.compressed:
            return [float(v) for v in np.quantile(np.concatenate(self._raw), list(qs))]
        self._fold()
        if not self.compressed:  # the last fold found the values mostly distinct
            return self.quantiles(qs)
        out = []
        for q in qs:
            virtual = (self.n - 1) * q  # numpy's virtual index for "linear"
            low = math.floor(virtual)
            high = min(low + 1, self.n - 1)
            below, above = self._order_statistics(np.array([low, high]))
            out.append(float(np.quantile(np.array([below, above]), virtual - low)))
        return out

    def percentiles(self, ps: Sequence[float]) -> list[float]:
        """``np.percentile(all values, ps)``."""
        return self.quantiles(list(np.true_divide(np.asarray(ps, dtype=np.float64), 100)))

    def median(self) -> float:
        """``np.median(all values)``; NaN when no value was added."""
        if not self.n:
            return math.nan
        if not self.compressed:
            return float(np.median(np.concatenate(self._raw)))
        self._fold()
        if not self.compressed:
            return self.median()
        if self.n % 2:
            return float(self._order_statistics(np.array([self.n // 2]))[0])
        return float(np.median(self._order_statistics(np.array([self.n // 2 - 1, self.n // 2]))))
