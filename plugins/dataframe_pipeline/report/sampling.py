"""Bounded-memory views of a dataset: a seeded uniform row sample and exact per-column null counts.

The report never loads a dataset whole: :class:`RowSample` keeps at most ``size`` rows of a stream of
batches (each row gets a seeded uniform key; the ``size`` smallest keys are kept, so the sample is
uniform and does not depend on how the stream is batched), and :class:`NullCounts` counts rows and
nulls exactly. Memory is bounded by the sample size plus one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable


class RowSample:
    """A uniform sample of at most ``size`` rows of a stream of pandas batches, seeded.

    :param size: rows kept at most.
    :param random_state: seed of the row keys.
    """

    def __init__(self, size: int = 50_000, random_state: int = 0) -> None:
        self.size = size
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self._kept: pd.DataFrame | None = None
        self._keys = np.empty(0)
        self.rows_seen = 0

    def add(self, batch: pd.DataFrame) -> RowSample:
        if batch.empty:
            if self._kept is None:
                self._kept = batch.iloc[0:0]
            return self
        keys = self._rng.random(len(batch))
        self.rows_seen += len(batch)
        frame = batch.reset_index(drop=True)
        if self._kept is None or self._kept.empty:
            merged, merged_keys = frame, keys
        else:
            merged = pd.concat([self._kept, frame], ignore_index=True)
            merged_keys = np.concatenate([self._keys, keys])
        if len(merged) > self.size:
            keep = np.sort(np.argpartition(merged_keys, self.size - 1)[: self.size])
            merged, merged_keys = merged.iloc[keep].reset_index(drop=True), merged_keys[keep]
        self._kept, self._keys = merged, merged_keys
        return self

    def extend(self, batches: Iterable[pd.DataFrame]) -> RowSample:
        for batch in batches:
            self.add(batch)
        return self

    @property
    def frame(self) -> pd.DataFrame:
        """The sample (rows in stream order); an empty frame before any batch."""
        return self._kept if self._kept is not None else pd.DataFrame()

    @property
    def exact(self) -> bool:
        """Whether the sample holds every row seen."""
        return self.rows_seen <= self.size


@dataclass
class NullCounts:
    """Exact row and null counts per column over a stream of batches."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)

    def add(self, batch: pd.DataFrame) -> NullCounts:
        self.rows += len(batch)
        for column, count in batch.isna().sum().items():
            self.nulls[str(column)] = self.nulls.get(str(column), 0) + int(count)
        return self

    def rates(self) -> dict[str, float]:
        return {c: (n / self.rows if self.rows else 0.0) for c, n in self.nulls.items()}


def profile(batches: Iterable[pd.DataFrame], size: int = 50_000, random_state: int = 0) -> tuple[NullCounts, RowSample]:
    """One pass over ``batches``: exact null counts and a seeded sample of at most ``size`` rows."""
    counts, sample = NullCounts(), RowSample(size, random_state)
    for batch in batches:
        counts.add(batch)
        sample.add(batch)
    return counts, sample
