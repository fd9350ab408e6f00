"""Sparse data: columns mostly null over the whole input, rows with too many nulls.

- :class:`DropSparseColumns` drops the columns whose share of nulls over the whole input is above
  ``threshold`` (fitted: the share needs every row);
- :class:`DropSparseRows` drops the rows with more missing values than allowed, counted by rule.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, ClassVar

from dataframe_pipeline.core.batch import BatchResult, drop_rows
from dataframe_pipeline.core.columns import check_names as _check_names
from dataframe_pipeline.core.columns import require as _require
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    import pandas as pd


class DropSparseColumns(BatchTransformer):
    """Drop the columns whose null fraction over the whole input exceeds ``threshold``.

    Provenance columns (names starting with ``_``) are never dropped. An empty input drops nothing.

    :param threshold: the largest accepted null fraction, in [0, 1].
    """

    stateful: ClassVar[bool] = True
    dynamic_features: ClassVar[bool] = True

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` unless ``threshold`` is a number in [0, 1]."""
        ok = isinstance(self.threshold, int | float) and not isinstance(self.threshold, bool)
        if not ok or not 0 <= self.threshold <= 1:
            raise ConfigurationError("threshold", self.threshold, "must be a number in [0, 1]")

    def _reset(self) -> None:
        self._rows = 0
        self._nulls: Counter[str] = Counter()
        self._columns: list[str] = []
        for name in ("null_fraction_", "dropped_columns_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Count rows and nulls per column.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_nulls") or hasattr(self, "dropped_columns_"):
            self._reset()
        self._rows += len(batch)
        self._columns += [c for c in batch.columns if c not in self._columns]
        self._nulls.update({c: int(n) for c, n in batch.isna().sum().items()})
        return self

    def finish_fit(self) -> Self:
        """Compute ``null_fraction_`` (column -> fraction, NaN on empty input) and ``dropped_columns_``."""
        if not hasattr(self, "_nulls"):
            self._reset()
        rows = self._rows
        self.null_fraction_ = {c: self._nulls[c] / rows if rows else math.nan for c in self._columns}
        self.dropped_columns_ = [
            c for c, f in self.null_fraction_.items() if f > self.threshold and not str(c).startswith("_")
        ]
        self._reset_accumulators()
        return self

    def _reset_accumulators(self) -> None:
        self._rows, self._nulls, self._columns = 0, Counter(), []

    def _fitted(self) -> list[str]:
        if not hasattr(self, "dropped_columns_"):
            raise NotFittedError("DropSparseColumns used before fit()/finish_fit()")
        return self.dropped_columns_

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """The input columns minus ``dropped_columns_`` (needs the fit)."""
        dropped = set(self._fitted())
        return [c for c in input_features if c not in dropped]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Remove ``dropped_columns_`` from the batch (rows are untouched).

        :param batch: a batch indexed by input position.
        """
        dropped = set(self._fitted())
        return BatchResult(data=batch[[c for c in batch.columns if c not in dropped]])


class DropSparseRows(BatchTransformer):
    """Drop rows with more than ``max_missing`` nulls (counted under the rule ``drop_sparse_rows``).

    :param max_missing: a float in [0, 1): the largest accepted null *fraction* of the checked
        columns; an int >= 0: the largest accepted null *count*.
    :param columns: the columns checked; ``None``: every column not starting with ``_``.
    """

    def __init__(self, max_missing: float | int, columns: list[str] | None = None) -> None:
        self.max_missing = max_missing
        self.columns = columns

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for a bad ``max_missing`` or ``columns``."""
        value = self.max_missing
        is_count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        is_fraction = isinstance(value, float) and 0 <= value < 1
        if not (is_count or is_fraction):
            raise ConfigurationError("max_missing", value, "must be a float in [0, 1) or an int >= 0")
        if self.columns is not None:
            _check_names("columns", self.columns, columns)

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Drop the rows with too many nulls in the checked columns.

        :param batch: a batch indexed by input position.
        """
        if self.columns is not None:
            _require("DropSparseRows", batch, self.columns)
        checked = list(self.columns) if self.columns is not None else [c for c in batch.columns if c[:1] != "_"]
        nulls = batch[checked].isna().sum(axis=1)
        if isinstance(self.max_missing, float):
            too_many = nulls > self.max_missing * len(checked)
        else:
            too_many = nulls > self.max_missing
        return drop_rows(batch, too_many, self.rule_name)
