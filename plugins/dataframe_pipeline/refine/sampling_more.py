"""Systematic sampling: keep every ``step``-th row by input position.

The choice depends only on the rows' positions (the batch index), so it is the same however the
input is batched, and needs no fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, drop_rows
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Sequence


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class SystematicSample(BatchTransformer):
    """Keep the rows at positions ``start``, ``start + step``, ``start + 2 * step``, ...

    The other rows (including those before ``start``) are dropped under the rule
    ``"systematic_sample"``. Of ``n`` input rows, ``max(0, ceil((n - start) / step))`` are kept.

    :param step: keep one row in ``step`` (1 keeps every row from ``start`` on).
    :param start: position of the first kept row.
    """

    rule_name = "systematic_sample"

    def __init__(self, step: int, start: int = 0) -> None:
        self.step = step
        self.start = start

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value."""
        if not _is_count(self.step, 1):
            raise ConfigurationError("step", self.step, "must be an integer >= 1")
        if not _is_count(self.start, 0):
            raise ConfigurationError("start", self.start, "must be an integer >= 0")

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Keep every ``step``-th row from ``start`` on; count the others as dropped."""
        self.check_params()
        index = batch.index
        if len(index) and (not pd.api.types.is_integer_dtype(index) or index.min() < 0):
            raise DataContractError(f"{self.rule_name}: the index must hold the rows' input positions (integers >= 0)")
        offset = index.to_numpy(dtype=np.int64) - self.start
        keep = (offset >= 0) & (offset % self.step == 0)
        return drop_rows(batch, pd.Series(~keep, index=index), self.rule_name)
