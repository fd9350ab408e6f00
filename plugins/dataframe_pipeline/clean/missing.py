"""Missing values: drop, quarantine or impute them, one strategy per column.

Strategies, applied in this order within a batch:

1. ``"quarantine"``: rows where the column is null are rejected (rule ``missing_values``, reason
   ``"<col> is missing"``; one row is rejected once, its reasons joined with ``"; "``);
2. ``"drop"``: rows where the column is null are dropped, counted under ``missing_values:<col>`` (a row null in
   several ``drop`` columns counts under the first one in ``strategies`` order);
3. ``"mean"`` / ``"median"`` / ``"most_frequent"`` / ``{"constant": value}``: nulls are filled;
   ``"keep"`` leaves them.

The statistics of ``mean``, ``median`` and ``most_frequent`` are fitted on the rows that survive steps
1 and 2, i.e. on the rows the fill is applied to. They are exact and independent of how the input is
split into batches: the mean is an exact (integer) sum divided by the count, the median is taken
from the collected non-null values (value/count pairs, see ``core/quantiles.py``), the most frequent
value comes from merged value counts with ties broken by the smallest value. Integer columns imputed
with a mean or a median become float (``Int64`` -> ``Float64``, ``int64`` -> ``float64``) in every
batch, so batches concatenate cleanly.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, drop_rows, split_rows
from dataframe_pipeline.core.quantiles import ExactQuantiles
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self
from typing import TYPE_CHECKING, ClassVar

from dataframe_pipeline.core.columns import check_names as _check_names
from dataframe_pipeline.core.columns import check_present as _check_present
from dataframe_pipeline.core.columns import require as _require

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

NAMED_STRATEGIES = ("drop", "quarantine", "mean", "median", "most_frequent", "keep")
FITTED_STRATEGIES = ("mean", "median", "most_frequent")
REMOVING_STRATEGIES = ("drop", "quarantine")

#: every finite float64 is an integer multiple of 2**-1126 (frexp mantissa of 53 bits, exponent >= -1073)
_EXACT_SCALE_BITS = 1126


def strategy_kind(strategy: str | Mapping[str, Any]) -> str:
    """The strategy's name: the string itself, or ``"constant"`` for ``{"constant": value}``."""
    return "constant" if isinstance(strategy, Mapping) else strategy


class MissingValues(BatchTransformer):
    """Handle nulls column by column: drop, quarantine, impute or keep.

    :param strategies: column -> ``"drop"``, ``"quarantine"``, ``"mean"``, ``"median"``,
        ``"most_frequent"``, ``"keep"`` or ``{"constant": value}``.
    :param default: strategy for the columns not named in ``strategies`` (columns starting with ``_``
        carry provenance and are never touched); ``None`` leaves them alone.
    """

    def __init__(self, strategies: dict[str, str | dict], default: str | None = None) -> None:
        self.strategies = strategies
        self.default = default

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        """True when a strategy needs statistics of the whole input (mean, median, most_frequent)."""
        kinds = {strategy_kind(s) for s in self.strategies.values()} | {self.default}
        return any(kind in FITTED_STRATEGIES for kind in kinds)

    # -- configuration -------------------------------------------------------------------------

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for an unknown strategy or a column not in ``columns``."""
        if not isinstance(self.strategies, Mapping):
            raise ConfigurationError("strategies", self.strategies, "must be a mapping column -> strategy")
        for column, strategy in self.strategies.items():
            _check_strategy(f"strategies.{column}", strategy)
            if columns is not None and column not in columns:
                raise ConfigurationError("strategies", column, f"not a column of the input {list(columns)}")
        if self.default is not None and self.default not in NAMED_STRATEGIES:
            raise ConfigurationError("default", self.default, f"must be None or one of {NAMED_STRATEGIES}")

    def columns_read(self) -> list[str] | None:
        """The ``strategies`` columns; None (every column) with a ``default`` strategy."""
        return list(self.strategies) if self.default is None else None

    def writes_column(self, name: str) -> bool:
        return self.default is not None or name in self.strategies

    def may_remove_rows(self) -> bool:
        kinds = {strategy_kind(s) for s in self.strategies.values()} | {self.default}
        return any(kind in REMOVING_STRATEGIES for kind in kinds)

    def _plan(self, columns: Sequence[str]) -> dict[str, str | Mapping[str, Any]]:
        """The strategy of every column handled in a batch with ``columns``."""
        absent = [c for c in self.strategies if c not in columns]
        if absent:
            raise DataContractError(f"MissingValues: columns {absent} are not in the batch {list(columns)}")
        plan: dict[str, str | Mapping[str, Any]] = dict(self.strategies)
        if self.default is not None:
            for column in columns:
                if column not in plan and not str(column).startswith("_"):
                    plan[column] = self.default
        return plan

    # -- fitting -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._stats: dict[str, _Accumulator] = {}
        for name in ("fill_values_", "unfillable_columns_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Accumulate the statistics of the fitted columns over the rows the fill will apply to.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_stats") or hasattr(self, "fill_values_"):
            # First call, or first call after finish_fit(): a new fit starts.
            self._reset()
        plan = self._plan(list(batch.columns))
        removed = _null_in_any(batch, [c for c, s in plan.items() if s in REMOVING_STRATEGIES])
        kept = batch[~removed]
        for column, strategy in plan.items():
            if strategy in FITTED_STRATEGIES:
                accumulator = self._stats.setdefault(column, _new_accumulator(str(strategy)))
                accumulator.add(column, kept[column])
        return self

    def finish_fit(self) -> Self:
        """Compute ``fill_values_`` (column -> value) and ``unfillable_columns_`` (all-null columns)."""
        if not hasattr(self, "_stats"):
            self._reset()
        fill_values: dict[str, Any] = {c: acc.result() for c, acc in self._stats.items()}
        self.unfillable_columns_ = [c for c, value in fill_values.items() if _is_null(value)]
        for column, strategy in self.strategies.items():
            if isinstance(strategy, Mapping):
                fill_values[column] = strategy["constant"]
        self.fill_values_ = fill_values
        # The collected values are not part of the fitted state (which is saved with the run).
        self._stats = {}
        return self

    # -- transforming --------------------------------------------------------------------------

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Quarantine, drop, then fill, as configured.

        :param batch: a batch indexed by input position.
        """
        if self.stateful and not hasattr(self, "fill_values_"):
            raise NotFittedError("MissingValues.transform() called before fit()/finish_fit()")
        plan = self._plan(list(batch.columns))
        result = _quarantine(batch, [c for c, s in plan.items() if s == "quarantine"], self.rule_name)
        for column in (c for c, s in plan.items() if s == "drop"):
            result = result.then(drop_rows(result.data, result.data[column].isna(), f"{self.rule_name}:{column}"))
        filled = self._fill(result.data, plan)
        return BatchResult(data=filled, rejected=result.rejected, dropped=result.dropped)

    def _fill(self, data: pd.DataFrame, plan: Mapping[str, str | Mapping[str, Any]]) -> pd.DataFrame:
        out = data.copy(deep=False)
        for column, strategy in plan.items():
            kind = strategy_kind(strategy)
            if kind in ("mean", "median"):
                out[column] = _fill_nulls(column, _as_float(column, data[column]), self._fitted_value(column))
            elif kind == "most_frequent":
                out[column] = _fill_nulls(column, data[column], self._fitted_value(column))
            elif kind == "constant":
                out[column] = _fill_nulls(column, data[column], strategy["constant"])  # type: ignore[index]
        return out

    def _fitted_value(self, column: str) -> Any:
        if column not in self.fill_values_:
            raise DataContractError(f"MissingValues: column {column!r} was not in the data it was fitted on")
        return self.fill_values_[column]


def _check_strategy(field: str, strategy: object) -> None:
    if isinstance(strategy, str):
        if strategy not in NAMED_STRATEGIES:
            raise ConfigurationError(field, strategy, f"unknown strategy, expected one of {NAMED_STRATEGIES}")
        return
    if not isinstance(strategy, Mapping) or set(strategy) != {"constant"}:
        raise ConfigurationError(field, strategy, 'expected a strategy name or {"constant": value}')
    if _is_null(strategy["constant"]):
        raise ConfigurationError(field, strategy, "the constant must not be null")


def _is_null(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _null_in_any(batch: pd.DataFrame, columns: list[str]) -> pd.Series:
    if not columns:
        return pd.Series(False, index=batch.index)
    return batch[columns].isna().any(axis=1)


def _quarantine(batch: pd.DataFrame, columns: list[str], rule: str) -> BatchResult:
    bad = _null_in_any(batch, columns)
    if not bad.any():
        return BatchResult(data=batch)
    missing = batch.loc[bad, columns].isna()
    reasons = missing.apply(lambda row: "; ".join(f"{c} is missing" for c in columns if row[c]), axis=1)
    return split_rows(batch, bad, rule, reasons.astype("str"))


def _numeric_values(column: str, series: pd.Series) -> pd.Series:
    """``series`` if it holds numbers (not booleans), else ``DataContractError``."""
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataContractError(f"MissingValues: column {column!r} has dtype {series.dtype}, not numeric")
    return series


def _as_float(column: str, series: pd.Series) -> pd.Series:
    """Integer columns as float (nullable stays nullable), whatever the batch holds."""
    dtype = _numeric_values(column, series).dtype
    if pd.api.types.is_float_dtype(dtype):
        return series
    return series.astype("Float64" if isinstance(dtype, pd.api.extensions.ExtensionDtype) else "float64")


def _fill_nulls(column: str, series: pd.Series, value: Any) -> pd.Series:
    if _is_null(value):
        return series
    # Probe on a one-null Series so the check does not depend on whether this batch has nulls.
    probe = pd.Series([None], dtype=series.dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compatible = probe.fillna(value).dtype == series.dtype
    except (TypeError, ValueError, Warning):
        compatible = False
    if not compatible:
        raise DataContractError(
            f"MissingValues: fill value {value!r} does not fit column {column!r} of dtype {series.dtype}"
        )
    return series.fillna(value)


# -- accumulators: mergeable statistics, independent of the batch split --------------------------


class _Accumulator:
    def add(self, column: str, series: pd.Series) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError


class _MeanAccumulator(_Accumulator):
    """Exact sum (an integer scaled by 2**1126) and count; the mean is rounded once, at the end."""

    def __init__(self) -> None:
        self.scaled_sum = 0
        self.count = 0
        self.non_finite = 0.0  # inf + inf, inf - inf: the result does not depend on the order

    def add(self, column: str, series: pd.Series) -> None:
        values = _numeric_values(column, series).dropna().to_numpy()
        self.count += len(values)
        if values.dtype.kind in "iu":
            self.scaled_sum += _exact_int_sum(values) << _EXACT_SCALE_BITS
            return
        values = values.astype(np.float64)
        finite = np.isfinite(values)
        with np.errstate(invalid="ignore"):  # inf - inf is nan, as it should be
            self.non_finite += float(values[~finite].sum())
        self.scaled_sum += _exact_scaled_float_sum(values[finite])

    def result(self) -> float:
        if self.count == 0:
            return math.nan
        if self.non_finite != 0.0 or math.isnan(self.non_finite):
            return self.non_finite
        # int / int is correctly rounded in Python, however large the operands.
        return self.scaled_sum / (self.count << _EXACT_SCALE_BITS)


class _MedianAccumulator(_Accumulator):
    """Exact median; memory follows the distinct values (see :mod:`dataframe_pipeline.core.quantiles`)."""

    def __init__(self) -> None:
        self.values = ExactQuantiles()

    def add(self, column: str, series: pd.Series) -> None:
        self.values.add(_numeric_values(column, series).dropna().to_numpy(np.float64))

    def result(self) -> float:
        return self.values.median()


class _MostFrequentAccumulator(_Accumulator):
    def __init__(self) -> None:
        self.counts: Counter[Any] = Counter()

    def add(self, column: str, series: pd.Series) -> None:
        counts = series.value_counts(dropna=True)
        # Categorical columns list unused categories with a count of 0.
        self.counts.update({_python_scalar(k): int(n) for k, n in counts.items() if n > 0})

    def result(self) -> Any:
        if not self.counts:
            return None
        top = max(self.counts.values())
        candidates = [value for value, n in self.counts.items() if n == top]
        try:
            return min(candidates)
        except TypeError:  # values of mixed types in an object column
            return min(candidates, key=lambda v: (type(v).__name__, repr(v)))


def _new_accumulator(strategy: str) -> _Accumulator:
    return {"mean": _MeanAccumulator, "median": _MedianAccumulator}.get(strategy, _MostFrequentAccumulator)()


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _exact_int_sum(values: np.ndarray) -> int:
    """Sum of integers without int64 overflow: 32-bit halves summed separately."""
    values = values.astype(np.uint64 if values.dtype.kind == "u" else np.int64)
    high, low = values >> 32, values & 0xFFFFFFFF
    return (int(high.sum()) << 32) + int(low.sum())


def _exact_scaled_float_sum(values: np.ndarray) -> int:
    """Exact sum of finite float64 values, times 2**1126, as a Python int.

    Each value is ``mantissa * 2**exponent`` with an integer mantissa below 2**53; mantissas sharing an
    exponent are summed in int64 (as 26/27-bit halves, so no overflow), then shifted into place.
    """
    if not len(values):
        return 0
    fraction, exponent = np.frexp(values)
    mantissa = (fraction * 2.0**53).astype(np.int64)
    exponent = exponent.astype(np.int64) - 53 + _EXACT_SCALE_BITS
    order = np.argsort(exponent, kind="stable")
    mantissa, exponent = mantissa[order], exponent[order]
    starts = np.flatnonzero(np.r_[True, exponent[1:] != exponent[:-1]])
    high = np.add.reduceat(mantissa >> 26, starts)
    low = np.add.reduceat(mantissa & ((1 << 26) - 1), starts)
    return sum(((int(h) << 26) + int(lo)) << int(e) for h, lo, e in zip(high, low, exponent[starts], strict=True))


GROUP_STRATEGIES = ("mean", "median", "most_frequent")


FALLBACKS = ("global", None)


def _key_tuples(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """One tuple per row, nulls as ``None`` (NaN is not equal to itself, so it cannot be a dict key)."""
    columns = [[None if pd.isna(v) else _python_scalar(v) for v in frame[c].tolist()] for c in frame.columns]
    return list(zip(*columns, strict=True)) if columns else []


class GroupImputer(BatchTransformer):
    """Fill nulls with the mean, median or most frequent value of the row's group.

    Statistics as in :class:`~dataframe_pipeline.clean.missing.MissingValues` (exact mean, median of
    the collected values, most frequent with ties to the smallest). A group seen in the fit with no
    non-null value, or not seen at all, gets the global statistic (``fallback="global"``) or stays
    null (``fallback=None``). Integer columns become float for ``mean``/``median``.

    :param columns: the columns to fill.
    :param by: the grouping column(s).
    :param strategy: ``"mean"``, ``"median"`` or ``"most_frequent"``.
    :param fallback: ``"global"`` or ``None``.
    """

    stateful: ClassVar[bool] = True

    def __init__(
        self, columns: list[str], by: str | list[str], strategy: str = "mean", fallback: str | None = "global"
    ) -> None:
        self.columns = columns
        self.by = by
        self.strategy = strategy
        self.fallback = fallback

    @property
    def _by(self) -> list[str]:
        return [self.by] if isinstance(self.by, str) else list(self.by)

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``by``, ``strategy`` or ``fallback``."""
        _check_names("columns", self.columns, columns)
        if not isinstance(self.by, str):
            _check_names("by", self.by, columns)
        _check_present("by", self._by, columns)
        if self.strategy not in GROUP_STRATEGIES:
            raise ConfigurationError("strategy", self.strategy, f"must be one of {list(GROUP_STRATEGIES)}")
        if self.fallback not in FALLBACKS:
            raise ConfigurationError("fallback", self.fallback, f"must be one of {list(FALLBACKS)}")

    def _reset(self) -> None:
        self._groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._global: dict[str, Any] = {}
        for name in ("group_keys_", "group_values_", "global_values_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Accumulate the statistics per group and overall.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_groups") or hasattr(self, "group_values_"):
            self._reset()
        _require("GroupImputer", batch, [*self.columns, *self._by])
        for column in self.columns:
            self._global.setdefault(column, _new_accumulator(self.strategy)).add(column, batch[column])
        keys = pd.Series(_key_tuples(batch[self._by]), index=batch.index, dtype=object)
        for key, rows in keys.groupby(keys, sort=False).groups.items():
            stats = self._groups.setdefault(key, {})
            for column in self.columns:
                stats.setdefault(column, _new_accumulator(self.strategy)).add(column, batch.loc[rows, column])
        return self

    def finish_fit(self) -> Self:
        """Compute ``group_keys_`` (list of key lists), ``group_values_`` and ``global_values_``.

        ``group_values_[column][i]`` is the statistic of the group ``group_keys_[i]`` (NaN/None when
        the group had no value); ``global_values_[column]`` the statistic over all rows.
        """
        if not hasattr(self, "_groups"):
            self._reset()
        self.group_keys_ = [list(key) for key in self._groups]
        self.group_values_ = {c: [stats[c].result() for stats in self._groups.values()] for c in self.columns}
        self.global_values_ = {
            c: self._global[c].result() if c in self._global else _new_accumulator(self.strategy).result()
            for c in self.columns
        }
        self._groups, self._global = {}, {}
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Fill the nulls of ``columns`` from the row's group statistic, else the fallback.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "group_values_"):
            raise NotFittedError("GroupImputer.transform() called before fit()/finish_fit()")
        _require("GroupImputer", batch, [*self.columns, *self._by])
        where = {tuple(key): i for i, key in enumerate(self.group_keys_)}
        rows = [where.get(key) for key in _key_tuples(batch[self._by])]
        out = batch.copy(deep=False)
        for column in self.columns:
            series = batch[column]
            if self.strategy != "most_frequent":
                series = _as_float(column, series)
            fills = pd.Series([self._value(column, i) for i in rows], index=batch.index, dtype=object)
            out[column] = self._fill(column, series, fills)
        return BatchResult(data=out)

    def _value(self, column: str, group: int | None) -> Any:
        value = None if group is None else self.group_values_[column][group]
        if (value is None or (isinstance(value, float) and math.isnan(value))) and self.fallback == "global":
            value = self.global_values_[column]
        return value

    @staticmethod
    def _fill(column: str, series: pd.Series, fills: pd.Series) -> pd.Series:
        try:
            typed = fills.astype(series.dtype)
        except (TypeError, ValueError) as error:
            raise DataContractError(
                f"GroupImputer: fill values do not fit column {column!r} of dtype {series.dtype}: {error}"
            ) from error
        return series.fillna(typed)
