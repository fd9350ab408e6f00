"""Scalers of numeric columns (standard, min-max, robust), each fitted in one streaming pass; the enrich and
refine steps offer the same classes.

:class:`StandardScaler` (zero mean, unit variance): each batch contributes its count, mean and sum of
squared deviations (M2); batches are merged with the parallel formula of Chan, Golub and LeVeque, so
memory does not grow with the row count. The fitted statistics match
:class:`sklearn.preprocessing.StandardScaler` (population variance) up to floating-point rounding;
how the rows are split into batches changes them only in the last bits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.columns import check_column_list, require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self
from typing import TYPE_CHECKING

from dataframe_pipeline.core.quantiles import ExactQuantiles

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

_FITTED = ("mean_", "var_", "scale_", "n_samples_seen_")
_EPS = float(np.finfo(np.float64).eps)


class Moments(NamedTuple):
    """Count, mean and sum of squared deviations from the mean of a set of numbers."""

    n: int
    mean: float
    m2: float

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """Moments of ``values`` (finite floats) by the corrected two-pass algorithm."""
        n = int(values.size)
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = float(values.mean())
        dev = values - mean
        # the correction term cancels the rounding error of the mean (as scikit-learn does)
        m2 = float(np.dot(dev, dev)) - float(dev.sum()) ** 2 / n
        return cls(n, mean, max(m2, 0.0))

    def merge(self, other: Moments) -> Moments:
        """Moments of the union of both sets (Chan et al.'s parallel combination)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)


def _as_float(values: pd.Series, who: str) -> np.ndarray:
    """Numeric (or bool) column as float64 with NaN for nulls; anything else breaks the data contract."""
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise DataContractError(f"{who}: column {values.name!r} has dtype {values.dtype}, expected numbers")
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _is_constant(var: float, mean: float, n: int) -> bool:
    """Whether ``var`` is indistinguishable from 0 given rounding (scikit-learn's error bound)."""
    return var <= n * _EPS * var + (n * mean * _EPS) ** 2


class SuffixedOutput:
    """Scalers that write ``<column><suffix>`` next to the input, or replace it without a suffix."""

    columns: list[str]
    suffix: str | None

    def _check_suffix(self) -> None:
        if self.suffix is not None and (not isinstance(self.suffix, str) or not self.suffix):
            raise ConfigurationError("suffix", self.suffix, "must be a non-empty string or None")

    def _output_name(self, col: str) -> str:
        return f"{col}{self.suffix}" if self.suffix else col

    def columns_read(self) -> list[str] | None:
        return list(self.columns)

    def writes_column(self, name: str) -> bool:
        return name in {self._output_name(c) for c in self.columns}

    def may_remove_rows(self) -> bool:
        return False

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        names = list(input_features)
        return names + [self._output_name(c) for c in self.columns if self._output_name(c) not in names]


class StandardScaler(SuffixedOutput, BatchTransformer):
    """Scale each column of ``columns`` to ``(x - mean_) / scale_`` as float64.

    The result replaces the column, or, with ``suffix``, goes to a new column ``<column><suffix>``
    (keeping the raw value next to the feature).

    Nulls are ignored by the fit and stay null. A constant column gets ``scale_ = 1`` (as in
    scikit-learn), so it becomes all zeros. Fitted attributes are dicts keyed by column:
    ``mean_``, ``var_`` (population variance, ddof=0), ``scale_`` (the divisor applied: the
    standard deviation, 1 for a constant column or when ``with_std`` is False, NaN for a column
    with no values in the fit) and ``n_samples_seen_`` (non-null values per column).

    :param columns: the numeric columns to scale.
    :param with_mean: subtract the mean.
    :param with_std: divide by the standard deviation.
    :param suffix: write ``<column><suffix>`` instead of replacing the column (e.g. ``"_scaled"``).
    """

    stateful = True

    def __init__(
        self, columns: list[str], with_mean: bool = True, with_std: bool = True, suffix: str | None = None
    ) -> None:
        self.columns = columns
        self.with_mean = with_mean
        self.with_std = with_std
        self.suffix = suffix

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        check_column_list(self.columns, columns)
        for field in ("with_mean", "with_std"):
            if not isinstance(getattr(self, field), bool):
                raise ConfigurationError(field, getattr(self, field), "must be True or False")
        self._check_suffix()

    def _reset(self) -> None:
        self._moments: dict[str, Moments] | None = None
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def _accumulator(self) -> dict[str, Moments]:
        moments = getattr(self, "_moments", None)
        if moments is None:
            moments = self._moments = {col: Moments(0, 0.0, 0.0) for col in self.columns}
        return moments

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Merge the batch's count, mean and M2 per column into the running statistics."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        moments = self._accumulator()
        for col in self.columns:
            values = _as_float(batch[col], self.rule_name)
            values = values[~np.isnan(values)]
            if np.isinf(values).any():
                raise DataContractError(f"{self.rule_name}: column {col!r} holds infinite values")
            moments[col] = moments[col].merge(Moments.of(values))
        return self

    def finish_fit(self) -> Self:
        """Set ``mean_``, ``var_``, ``scale_`` and ``n_samples_seen_``; a later partial_fit starts afresh."""
        moments = self._accumulator()
        self.n_samples_seen_ = {col: moments[col].n for col in self.columns}
        self.mean_ = {col: moments[col].mean if moments[col].n else math.nan for col in self.columns}
        self.var_ = {col: moments[col].m2 / moments[col].n if moments[col].n else math.nan for col in self.columns}
        self.scale_ = {col: self._scale(col) for col in self.columns}
        self._moments = None
        return self

    def _scale(self, col: str) -> float:
        var, n = self.var_[col], self.n_samples_seen_[col]
        if not self.with_std:
            return 1.0
        if n == 0:
            return math.nan
        return 1.0 if _is_constant(var, self.mean_[col], n) else math.sqrt(var)

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Scale the columns; rows are neither removed nor reordered."""
        if not hasattr(self, "scale_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        require_columns(batch, self.columns, self.rule_name)
        scaled = {
            self._output_name(col): pd.Series(self._apply(col, batch[col]), index=batch.index) for col in self.columns
        }
        return BatchResult(data=batch.assign(**scaled))

    def _apply(self, col: str, column: pd.Series) -> np.ndarray:
        values = _as_float(column, self.rule_name)
        if self.n_samples_seen_[col] == 0 and not np.isnan(values).all():
            # scaling with unknown statistics would turn every value into null without a trace
            raise DataContractError(
                f"{self.rule_name}: column {col!r} had no non-null values when fitted, cannot scale new values"
            )
        if self.with_mean:
            values = values - self.mean_[col]
        if self.with_std:
            values = values / self.scale_[col]
        return values


_EPS = float(np.finfo(np.float64).eps)


def _safe_scale(value: float) -> float:
    """scikit-learn's ``_handle_zeros_in_scale``: a (near) zero range or IQR becomes 1."""
    return 1.0 if value < 10 * _EPS else value


def _check_pair(field: str, value: object, low: float, high: float) -> tuple[float, float]:
    """``value`` as an increasing pair of numbers within ``[low, high]``, or ConfigurationError."""
    items = list(value) if isinstance(value, list | tuple) else []
    numbers = [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(items) != 2 or len(numbers) != 2 or not low <= numbers[0] < numbers[1] <= high:
        raise ConfigurationError(field, value, f"must be two increasing numbers within [{low}, {high}]")
    return float(numbers[0]), float(numbers[1])


class _ColumnScaler(SuffixedOutput, BatchTransformer):
    """Shared parts: params ``columns`` and ``suffix``, output names, finite float input."""

    stateful = True
    _fitted: tuple[str, ...] = ()

    columns: list[str]
    suffix: str | None
    n_samples_seen_: dict[str, int]  # fitted by each subclass: the non-null values per column

    def _check_columns_and_suffix(self, columns: Sequence[str] | None) -> None:
        check_column_list(self.columns, columns)
        self._check_suffix()

    def _forget(self) -> None:
        for name in self._fitted:
            self.__dict__.pop(name, None)

    def _finite(self, batch: pd.DataFrame, col: str) -> np.ndarray:
        values = _as_float(batch[col], self.rule_name)
        values = values[~np.isnan(values)]
        if np.isinf(values).any():
            raise DataContractError(f"{self.rule_name}: column {col!r} holds infinite values")
        return values

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Scale the columns (in place, or into ``<col><suffix>``); rows are neither removed nor reordered."""
        if not hasattr(self, self._fitted[0]):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        require_columns(batch, self.columns, self.rule_name)
        out = {}
        for col in self.columns:
            values = _as_float(batch[col], self.rule_name)
            if self.n_samples_seen_[col] == 0 and not np.isnan(values).all():
                raise DataContractError(
                    f"{self.rule_name}: column {col!r} had no non-null values when fitted, cannot scale new values"
                )
            out[self._output_name(col)] = pd.Series(self._apply(col, values), index=batch.index)
        return BatchResult(data=batch.assign(**out))

    def _apply(self, col: str, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class MinMaxScaler(_ColumnScaler):
    """Scale each column to ``feature_range``: ``x * scale_ + min_`` as float64 (scikit-learn's formula).

    A constant column maps to the lower bound of ``feature_range`` (its range counts as 1). Values
    outside the fitted range are not clipped. Fitted attributes (dicts keyed by column):
    ``data_min_``, ``data_max_``, ``scale_``, ``min_`` and ``n_samples_seen_`` (non-null values);
    the statistics of a column with no value in the fit are NaN.

    :param columns: the numeric columns to scale.
    :param feature_range: (low, high) of the output.
    :param suffix: write ``<column><suffix>`` instead of replacing the column.
    """

    _fitted = ("scale_", "min_", "data_min_", "data_max_", "n_samples_seen_")

    def __init__(
        self, columns: list[str], feature_range: tuple[float, float] = (0, 1), suffix: str | None = None
    ) -> None:
        self.columns = columns
        self.feature_range = feature_range
        self.suffix = suffix

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        self._check_columns_and_suffix(columns)
        _check_pair("feature_range", self.feature_range, -math.inf, math.inf)

    def _reset(self) -> None:
        self._stats: dict[str, list[float]] | None = None
        self._forget()

    def _accumulator(self) -> dict[str, list[float]]:
        stats = getattr(self, "_stats", None)
        if stats is None:
            stats = self._stats = {col: [math.inf, -math.inf, 0] for col in self.columns}
        return stats

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Merge the batch's minimum, maximum and count per column."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        stats = self._accumulator()
        for col in self.columns:
            values = self._finite(batch, col)
            if values.size:
                low, high, n = stats[col]
                stats[col] = [min(low, float(values.min())), max(high, float(values.max())), n + int(values.size)]
        return self

    def finish_fit(self) -> Self:
        """Set the fitted attributes; a later partial_fit starts afresh."""
        low, high = _check_pair("feature_range", self.feature_range, -math.inf, math.inf)
        stats = self._accumulator()
        self.n_samples_seen_ = {col: int(stats[col][2]) for col in self.columns}
        seen = self.n_samples_seen_
        self.data_min_ = {col: float(stats[col][0]) if seen[col] else math.nan for col in self.columns}
        self.data_max_ = {col: float(stats[col][1]) if seen[col] else math.nan for col in self.columns}
        self.scale_ = {}
        self.min_ = {}
        for col in self.columns:
            scale = (high - low) / _safe_scale(self.data_max_[col] - self.data_min_[col])
            self.scale_[col] = scale if seen[col] else math.nan
            self.min_[col] = low - self.data_min_[col] * scale if seen[col] else math.nan
        self._stats = None
        return self

    def _apply(self, col: str, values: np.ndarray) -> np.ndarray:
        return values * self.scale_[col] + self.min_[col]


class RobustScaler(_ColumnScaler):
    """Scale each column to ``(x - center_) / scale_`` as float64, with the median and the IQR.

    Quantiles are exact (numpy's linear interpolation, as scikit-learn uses), computed on all the
    non-null values collected during the fit. A zero IQR counts as 1. Fitted attributes (dicts
    keyed by column): ``center_`` (median), ``scale_`` and ``n_samples_seen_``.

    :param columns: the numeric columns to scale.
    :param quantile_range: (low, high) percentiles of the range, within [0, 100].
    :param suffix: write ``<column><suffix>`` instead of replacing the column.
    """

    _fitted = ("scale_", "center_", "n_samples_seen_")

    def __init__(
        self, columns: list[str], quantile_range: tuple[float, float] = (25, 75), suffix: str | None = None
    ) -> None:
        self.columns = columns
        self.quantile_range = quantile_range
        self.suffix = suffix

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        self._check_columns_and_suffix(columns)
        _check_pair("quantile_range", self.quantile_range, 0.0, 100.0)

    def _reset(self) -> None:
        self._values: dict[str, ExactQuantiles] | None = None
        self._forget()

    def _accumulator(self) -> dict[str, ExactQuantiles]:
        values = getattr(self, "_values", None)
        if values is None:
            values = self._values = {col: ExactQuantiles() for col in self.columns}
        return values

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Collect the batch's non-null values per column (exact; see :mod:`dataframe_pipeline.core.quantiles`)."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        collected = self._accumulator()
        for col in self.columns:
            collected[col].add(self._finite(batch, col))
        return self

    def finish_fit(self) -> Self:
        """Set ``center_``, ``scale_`` and ``n_samples_seen_``; the collected values are released."""
        q_low, q_high = _check_pair("quantile_range", self.quantile_range, 0.0, 100.0)
        collected = self._accumulator()
        self.center_, self.scale_, self.n_samples_seen_ = {}, {}, {}
        for col in self.columns:
            values = collected[col]
            self.n_samples_seen_[col] = int(values.n)
            if not values.n:
                self.center_[col] = self.scale_[col] = math.nan
                continue
            low, median, high = values.percentiles([q_low, 50.0, q_high])
            self.center_[col] = float(median)
            self.scale_[col] = _safe_scale(float(high - low))
        self._values = None
        return self

    def _apply(self, col: str, values: np.ndarray) -> np.ndarray:
        return (values - self.center_[col]) / self.scale_[col]
