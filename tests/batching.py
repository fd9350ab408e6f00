"""Ways to cut a frame into batches, shared by the transformers' tests (batch-split invariance)."""

from __future__ import annotations

from itertools import pairwise

import pandas as pd


def chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """Batches of ``size`` rows (one empty batch for an empty frame)."""
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)] or [frame]


def split_batches(df: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    """Batches cut before the row numbers in ``cuts``."""
    bounds = [0, *cuts, len(df)]
    return [df.iloc[a:b] for a, b in pairwise(bounds)]


def frame(index_start: int = 0, **columns: list) -> pd.DataFrame:
    """A frame of ``columns`` indexed by position from ``index_start``."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.RangeIndex(index_start, index_start + n))
