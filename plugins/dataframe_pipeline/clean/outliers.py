"""Outliers by Tukey's rule (:class:`IQROutliers`: values outside ``[Q1 - factor * IQR, Q3 + factor * IQR]``)
and by z-score (:class:`ZScoreOutliers`, from exact mergeable moments).

The quartiles are those of ``pandas.Series.quantile`` (linear interpolation) over the non-null values
of the whole input, computed exactly from the collected values (value/count pairs while fitting,
see ``core/quantiles.py``), so they do not depend on how the input is split into batches. Nulls are
never outliers; a column with no non-null value gets no bounds and flags nothing.

Actions:

- ``"quarantine"``: reject the row (rule ``iqr_outliers``; ``zscore_outliers`` for z-scores), reason like
  ``"amount=98123.5 outside [12.3, 456.7] (1.5 x IQR)"``; a row outside in several columns is rejected
  once, its reasons joined with ``"; "``;
- ``"drop"``: drop the row, counted under ``iqr_outliers:<col>`` (the first such column, in ``columns``
  order);
- ``"cap"``: clip to the bounds (integer columns to the integers inside the bounds, so they stay
  integer);
- ``"flag"``: add a boolean column ``<col>_outlier``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, split_rows
from dataframe_pipeline.core.quantiles import ExactQuantiles
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from typing import Self
from fractions import Fraction
from typing import TYPE_CHECKING

from dataframe_pipeline.clean.missing import _EXACT_SCALE_BITS, _exact_scaled_float_sum

if TYPE_CHECKING:
    from typing import Self

ACTIONS = ("quarantine", "drop", "cap", "flag")
SCALES = ("linear", "log")
FLAG_SUFFIX = "_outlier"


class IQROutliers(BatchTransformer):
    """Quarantine, drop, cap or flag values outside the interquartile fences.

    :param columns: the numeric columns to check.
    :param factor: the fence distance, in interquartile ranges (Tukey: 1.5; "far out": 3).
    :param action: ``"quarantine"``, ``"drop"``, ``"cap"`` or ``"flag"``.
    :param scale: ``"linear"``, or ``"log"`` for right-skewed positive quantities (prices, amounts,
        durations): the fences are computed on the logarithm of the positive values and mapped back,
        so ``bounds_`` are always in the column's own units; zero and negative values fall below
        the lower bound.
    """

    stateful: ClassVar[bool] = True

    def __init__(
        self, columns: list[str], factor: float = 1.5, action: str = "quarantine", scale: str = "linear"
    ) -> None:
        self.columns = columns
        self.factor = factor
        self.action = action
        self.scale = scale

    def columns_read(self) -> list[str] | None:
        return list(self.columns)

    def writes_column(self, name: str) -> bool:
        if self.action == "cap":
            return name in self.columns
        return self.action == "flag" and name in {f"{c}{FLAG_SUFFIX}" for c in self.columns}

    def may_remove_rows(self) -> bool:
        return self.action in ("quarantine", "drop")

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``factor`` or ``action``."""
        if isinstance(self.columns, str) or not isinstance(self.columns, Sequence) or not self.columns:
            raise ConfigurationError("columns", self.columns, "must be a non-empty list of column names")
        for name in self.columns:
            if columns is not None and name not in columns:
                raise ConfigurationError("columns", name, f"not a column of the input {list(columns)}")
        factor_ok = isinstance(self.factor, int | float) and not isinstance(self.factor, bool)
        if not factor_ok or not math.isfinite(self.factor) or self.factor < 0:
            raise ConfigurationError("factor", self.factor, "must be a finite number >= 0")
        if self.action not in ACTIONS:
            raise ConfigurationError("action", self.action, f"must be one of {list(ACTIONS)}")
        if self.scale not in SCALES:
            raise ConfigurationError("scale", self.scale, f"must be one of {list(SCALES)}")

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """The input columns, plus ``<col>_outlier`` for each checked column when ``action="flag"``."""
        names = list(input_features)
        if self.action == "flag":
            names += [f"{c}{FLAG_SUFFIX}" for c in self.columns]
        return names

    # -- fitting -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._values: dict[str, ExactQuantiles] = {c: ExactQuantiles() for c in self.columns}
        self.__dict__.pop("bounds_", None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Collect the non-null values of the checked columns.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_values") or hasattr(self, "bounds_"):
            # First call, or first call after finish_fit(): a new fit starts.
            self._reset()
        for column in self.columns:
            values = _numeric(batch, column).dropna().to_numpy(np.float64)
            if self.scale == "log":
                values = np.log(values[values > 0])
            self._values[column].add(values)
        return self

    def finish_fit(self) -> Self:
        """Compute ``bounds_``: column -> ``(low, high)``, for the columns with a non-null value."""
        if not hasattr(self, "_values"):
            self._reset()
        bounds: dict[str, tuple[float, float]] = {}
        for column in self.columns:
            values = self._values[column]
            if values.n:
                # np.quantile's default (linear) is what Series.quantile calls on the non-null values.
                q1, q3 = values.quantiles([0.25, 0.75])
                spread = self.factor * (q3 - q1)
                low, high = q1 - spread, q3 + spread
                bounds[column] = (math.exp(low), math.exp(high)) if self.scale == "log" else (low, high)
        self.bounds_ = bounds
        # The collected values are not part of the fitted state (which is saved with the run).
        del self._values
        return self

    # -- transforming --------------------------------------------------------------------------

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Apply ``action`` to the values outside ``bounds_``.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "bounds_"):
            raise NotFittedError("IQROutliers.transform() called before fit()/finish_fit()")
        if self.action == "quarantine":
            return self._quarantine(batch)
        if self.action == "drop":
            return self._drop(batch)
        out = batch.copy(deep=False)
        for column in self.columns:
            if self.action == "cap":
                out[column] = self._cap(column, _numeric(batch, column))
            else:
                out[f"{column}{FLAG_SUFFIX}"] = self.is_outlier(batch, column)
        return BatchResult(data=out)

    def is_outlier(self, batch: pd.DataFrame, column: str) -> pd.Series:
        """Boolean Series: ``column`` is non-null and outside its bounds (all False without bounds).

        :param batch: a batch holding ``column``.
        :param column: one of ``columns``.
        """
        values = _numeric(batch, column)
        if column not in self.bounds_:
            return pd.Series(False, index=batch.index, dtype=bool)
        low, high = self.bounds_[column]
        outside = (values < low) | (values > high)
        return outside.fillna(False).astype(bool)

    def _quarantine(self, batch: pd.DataFrame) -> BatchResult:
        flags = pd.DataFrame({c: self.is_outlier(batch, c) for c in self.columns}, index=batch.index)
        bad = flags.any(axis=1)
        if not bad.any():
            return BatchResult(data=batch)
        reasons = pd.Series(
            ["; ".join(self._reason(batch, c, i) for c in self.columns if flags.at[i, c]) for i in flags.index[bad]],
            index=flags.index[bad],
            dtype="str",
        )
        return split_rows(batch, bad, self.rule_name, reasons)

    def _reason(self, batch: pd.DataFrame, column: str, position: int) -> str:
        low, high = self.bounds_[column]
        # 15 significant digits hide the rounding noise of q1 - factor * IQR (-0.19999999999999998).
        of_log = " of log" if self.scale == "log" else ""
        return f"{column}={batch.at[position, column]} outside [{low:.15g}, {high:.15g}] ({self.factor} x IQR{of_log})"

    def _drop(self, batch: pd.DataFrame) -> BatchResult:
        """One filter of the batch for all the columns (each copies every column); a row outside in
        several columns counts under the first."""
        dropped: Counter[str] = Counter()
        drop = np.zeros(len(batch), dtype=bool)
        for column in self.columns:
            outside = self.is_outlier(batch, column).to_numpy(dtype=bool) & ~drop
            if outside.any():
                dropped[f"{self.rule_name}:{column}"] = int(outside.sum())
                drop |= outside
        if not drop.any():
            return BatchResult(data=batch)
        return BatchResult(data=batch[~drop], dropped=dropped)

    def _cap(self, column: str, values: pd.Series) -> pd.Series:
        if column not in self.bounds_:
            return values
        low, high = self.bounds_[column]
        if pd.api.types.is_integer_dtype(values.dtype):
            int_low, int_high = math.ceil(low), math.floor(high)
            if int_low <= int_high:
                # Every integer inside [low, high] is inside [int_low, int_high]: the dtype can stay.
                return values.clip(int_low, int_high)
            values = values.astype(
                "Float64" if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) else "float64"
            )
        return values.clip(low, high)


def _numeric(batch: pd.DataFrame, column: str) -> pd.Series:
    if column not in batch.columns:
        raise DataContractError(f"IQROutliers: column {column!r} is not in the batch {list(batch.columns)}")
    series = batch[column]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataContractError(f"IQROutliers: column {column!r} has dtype {series.dtype}, not numeric")
    return series


#: Veltkamp's constant: splits a float64 into two halves whose products are exact
_SPLITTER = 134217729.0


def _check_columns(value: object, columns: Sequence[str] | None) -> None:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigurationError("columns", value, "must be a non-empty list of column names")
    for name in value:
        if columns is not None and name not in columns:
            raise ConfigurationError("columns", name, f"not a column of the input {list(columns)}")


def _check_positive(field: str, value: object, *, upper: float = math.inf) -> None:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or not 0 < number < upper:
        raise ConfigurationError(field, value, f"must be a finite number in (0, {upper})")


def _exact_squares(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values**2`` as ``high + low`` exactly (Dekker's product), for ``|values| < 1e150``."""
    scaled = _SPLITTER * values
    hi = scaled - (scaled - values)
    lo = values - hi
    high = values * values
    low = ((hi * hi - high) + 2 * hi * lo) + lo * lo
    return high, low


class _Moments:
    """Count, sum and sum of squares of the finite values, exact (Python ints scaled by 2**1126)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.squares = 0

    def add(self, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        high, low = _exact_squares(values)
        self.count += len(values)
        self.total += _exact_scaled_float_sum(values)
        self.squares += _exact_scaled_float_sum(high) + _exact_scaled_float_sum(low)

    def mean_std(self) -> tuple[float, float]:
        """Mean and population standard deviation, each rounded once from the exact values."""
        scale = 1 << _EXACT_SCALE_BITS
        mean = Fraction(self.total, self.count * scale)
        variance = Fraction(self.squares, self.count * scale) - mean * mean
        return float(mean), math.sqrt(float(variance))


class ZScoreOutliers(IQROutliers):
    """Quarantine, drop, cap or flag values whose z-score ``(x - mean) / std`` exceeds ``threshold``.

    ``mean_`` and ``std_`` (population) come from exact sums of the finite non-null values, so they do
    not depend on how the input is split. The rule is applied as ``bounds_`` =
    ``mean -/+ threshold * std``; a constant column (std 0) flags every other value.

    :param columns: the numeric columns to check.
    :param threshold: the largest accepted ``|z|``.
    :param action: ``"quarantine"``, ``"drop"``, ``"cap"`` or ``"flag"``.
    """

    def __init__(self, columns: list[str], threshold: float = 3.0, action: str = "quarantine") -> None:
        self.columns = columns
        self.threshold = threshold
        self.action = action

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``threshold`` or ``action``."""
        _check_columns(self.columns, columns)
        _check_positive("threshold", self.threshold)
        if self.action not in ACTIONS:
            raise ConfigurationError("action", self.action, f"must be one of {list(ACTIONS)}")

    def _reset(self) -> None:
        self._moments = {c: _Moments() for c in self.columns}
        for name in ("bounds_", "mean_", "std_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Add the batch's values to the exact moments.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_moments") or hasattr(self, "bounds_"):
            self._reset()
        for column in self.columns:
            self._moments[column].add(_numeric(batch, column).dropna().to_numpy(np.float64))
        return self

    def finish_fit(self) -> Self:
        """Compute ``mean_``, ``std_`` and ``bounds_`` for the columns with a finite value."""
        if not hasattr(self, "_moments"):
            self._reset()
        self.mean_, self.std_, self.bounds_ = {}, {}, {}
        for column, moments in self._moments.items():
            if moments.count:
                mean, std = moments.mean_std()
                self.mean_[column], self.std_[column] = mean, std
                self.bounds_[column] = (mean - self.threshold * std, mean + self.threshold * std)
        self._moments = {}
        return self

    def _reason(self, batch: pd.DataFrame, column: str, position: int) -> str:
        low, high = self.bounds_[column]
        return f"{column}={batch.at[position, column]} outside [{low:.15g}, {high:.15g}] (|z| > {self.threshold})"
