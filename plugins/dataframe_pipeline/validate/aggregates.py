"""Expectations that need the whole column or table, computed from streaming state in bounded memory.

GX evaluates these on one batch at a time, and a batch's verdict says nothing about the dataset (two
batches can each be unique and hold the same id), so they are computed here, with GX's semantics on
one frame:

- uniqueness (one column, or compound over several) and distinct-value counts: 64-bit hashes of the
  values in the project's sorted hash runs (``clean/duplicates.py``: 8 bytes per *distinct* value); a
  value is counted as unexpected on every row holding it once it is seen twice, as GX counts ``~
  duplicated(keep=False)``;
- distinct value sets: the set of distinct values (for categorical columns, which these are about);
- min/max/sum/mean/stdev: running sums (Chan's parallel update for the variance; mean and stdev agree
  with pandas to about 1e-12 relative, pandas' own pairwise sums differ from any other order by that);
- median and quantiles: the project's exact quantiles (``core/quantiles.py``), bit-identical to pandas;
- row and column counts, column existence, order and types: from the batches' schema and lengths.

Integral floats are hashed as the integers they are, so a column read as ``int64`` in one batch and
``float64`` in another (a batch with a null) compares the same values equal.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.clean.duplicates import _SeenHashes
from dataframe_pipeline.core.quantiles import ExactQuantiles
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.validate.expectations import MAX_PARTIAL
from dataframe_pipeline.validate.results import Outcome

if TYPE_CHECKING:
    from dataframe_pipeline.validate.suite import Check

_BETWEEN = {
    "expect_column_min_to_be_between": "min",
    "expect_column_max_to_be_between": "max",
    "expect_column_mean_to_be_between": "mean",
    "expect_column_sum_to_be_between": "sum",
    "expect_column_stdev_to_be_between": "stdev",
    "expect_column_median_to_be_between": "median",
    "expect_column_unique_value_count_to_be_between": "unique_count",
    "expect_table_row_count_to_be_between": "row_count",
    "expect_table_column_count_to_be_between": "column_count",
}
_TABLE = frozenset(
    {
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_row_count_to_be_between",
        "expect_compound_columns_to_be_unique",
    }
)
_REQUIRED = {
    "expect_table_columns_to_match_ordered_list": "column_list",
    "expect_table_columns_to_match_set": "column_set",
    "expect_table_column_count_to_equal": "value",
    "expect_table_row_count_to_equal": "value",
    "expect_column_values_to_be_of_type": "type_",
    "expect_column_values_to_be_in_type_list": "type_list",
    "expect_compound_columns_to_be_unique": "column_list",
    "expect_column_distinct_values_to_be_in_set": "value_set",
    "expect_column_distinct_values_to_contain_set": "value_set",
    "expect_column_distinct_values_to_equal_set": "value_set",
    "expect_column_quantile_values_to_be_between": "quantile_ranges",
}


def check_aggregate(check: Check) -> None:
    """Raise ConfigurationError for missing or malformed arguments of an aggregate expectation."""
    where = f"expectations[{check.index}].kwargs ({check.type})"
    kwargs = check.kwargs
    if check.type not in _TABLE and not isinstance(kwargs.get("column"), str):
        raise ConfigurationError(f"{where}.column", kwargs.get("column"), "must be a column name")
    required = _REQUIRED.get(check.type)
    if required and kwargs.get(required) is None:
        raise ConfigurationError(f"{where}.{required}", None, "is required")
    if check.type in _BETWEEN and kwargs.get("min_value") is None and kwargs.get("max_value") is None:
        raise ConfigurationError(f"{where}.min_value", None, "give min_value, max_value or both")
    if check.type == "expect_column_quantile_values_to_be_between":
        ranges = kwargs["quantile_ranges"]
        if (
            not isinstance(ranges, dict)
            or not isinstance(ranges.get("quantiles"), list)
            or not isinstance(ranges.get("value_ranges"), list)
            or len(ranges["quantiles"]) != len(ranges["value_ranges"])
        ):
            raise ConfigurationError(
                f"{where}.quantile_ranges", ranges, "must be {quantiles: [...], value_ranges: [[lo, hi], ...]}"
            )
        if kwargs.get("allow_relative_error") not in (None, False, "nearest", "linear", "lower", "higher", "midpoint"):
            raise ConfigurationError(f"{where}.allow_relative_error", kwargs["allow_relative_error"], "not supported")


def hashable(series: pd.Series) -> pd.Series:
    """The series' values in a form whose hash is the same whatever dtype the batch has: integral floats
    as int64, everything else as is (nulls must be removed first)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(np.float64)
        integral = len(values) and np.all(np.isfinite(values)) and np.all(values == np.round(values))
        if integral and np.all(np.abs(values) < 2**63):
            return pd.Series(values.astype(np.int64), index=series.index)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object)
    return series


def value_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row of ``frame`` (no nulls), columns combined."""
    hashes = np.zeros(len(frame), dtype=np.uint64)
    for name in frame.columns:
        part = pd.util.hash_pandas_object(hashable(frame[name]), index=False, categorize=True)
        hashes = hashes * np.uint64(0x9E3779B97F4A7C15) + part.to_numpy(np.uint64)
    return hashes


def _between(check: Check, observed: Any) -> bool:
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        return False
    low, high = check.kwargs.get("min_value"), check.kwargs.get("max_value")
    if low is not None and (observed <= low if check.kwargs.get("strict_min") else observed < low):
        return False
    return not (high is not None and (observed >= high if check.kwargs.get("strict_max") else observed > high))


class _Uniqueness:
    """Rows whose (non-missing) value or combination of values appears more than once."""

    def __init__(self, check: Check, columns: list[str]) -> None:
        self.check, self.columns = check, columns
        self.seen, self.repeated = _SeenHashes(), _SeenHashes()
        self.rows = self.missing = self.repeats = self.repeated_values = 0
        self.examples: list[Any] = []

    def update(self, batch: pd.DataFrame) -> None:
        keys = batch[self.columns]
        nulls = keys.isna()
        # a column: nulls are missing; compound (GX's default ignore_row_if): rows with every value missing
        missing = nulls.all(axis=1) if len(self.columns) > 1 else nulls.iloc[:, 0]
        self.rows += len(keys)
        self.missing += int(missing.sum())
        keys = keys[~missing.to_numpy()]
        if not len(keys):
            return
        hashes = value_hashes(keys.fillna(np.nan) if len(self.columns) > 1 else keys)
        distinct, inverse = np.unique(hashes, return_inverse=True)
        inverse = inverse.ravel()
        counts = np.bincount(inverse, minlength=len(distinct))
        before = self.seen.contains(distinct)
        # a value is unexpected on every row that holds it. A value seen in earlier batches but not
        # repeated yet was seen exactly once: that row is counted when it first repeats
        new_repeat = (before | (counts > 1)) & ~self.repeated.contains(distinct)
        earlier = before & new_repeat  # value seen in earlier batches, repeating now for the first time
        self.repeats += int(counts[before].sum() + counts[~before & (counts > 1)].sum())
        self.repeated_values += int(earlier.sum())  # their first (earlier) row, once per value
        self.seen.add(distinct[~before])
        self.repeated.add(distinct[new_repeat])
        if len(self.examples) < MAX_PARTIAL:
            is_dup = (before | (counts > 1))[inverse]
            rows = keys[is_dup].head(MAX_PARTIAL - len(self.examples))
            values = rows.iloc[:, 0].tolist() if len(self.columns) == 1 else rows.to_dict("records")
            self.examples.extend(values)

    def outcome(self) -> Outcome:
        unexpected = self.repeats + self.repeated_values
        nonmissing = self.rows - self.missing
        mostly = self.check.kwargs.get("mostly")
        mostly = 1.0 if mostly is None else float(mostly)
        success = True if nonmissing == 0 else (nonmissing - unexpected) / nonmissing >= mostly
        return Outcome(
            check=self.check,
            success=success,
            element_count=self.rows,
            unexpected_count=unexpected,
            unexpected_percent=unexpected / nonmissing * 100 if nonmissing else None,
            missing_count=self.missing,
            examples=self.examples,
        )


class _Moments:
    """min, max, sum, mean, stdev, median and quantiles of the non-missing values of a column."""

    def __init__(self, check: Check, statistic: str) -> None:
        self.check, self.statistic = check, statistic
        self.n, self.total, self.mean, self.m2 = 0, 0.0, 0.0, 0.0
        self.low: Any = None
        self.high: Any = None
        self.quantiles = ExactQuantiles() if statistic in ("median", "quantiles") else None

    def update(self, batch: pd.DataFrame) -> None:
        values = batch[self.check.column].dropna()
        if not len(values):
            return
        if self.statistic in ("min", "max"):
            low, high = values.min(), values.max()
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)
            return
        numbers = values.to_numpy(np.float64)
        if self.quantiles is not None:
            self.quantiles.add(numbers)
            return
        n, mean = len(numbers), float(numbers.mean())
        m2 = float(((numbers - mean) ** 2).sum())
        delta, total = mean - self.mean, self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.total += float(numbers.sum())

    def observed(self) -> Any:
        if self.statistic == "min":
            return self.low
        if self.statistic == "max":
            return self.high
        if self.quantiles is not None:  # kept for the median and the quantiles only
            if self.statistic == "median":
                value = self.quantiles.median()
                return None if math.isnan(value) else value
            return self._quantiles(self.quantiles)
        if not self.n:
            return 0.0 if self.statistic == "sum" else None
        if self.statistic == "sum":
            return self.total
        if self.statistic == "mean":
            return self.mean
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None

    def _quantiles(self, state: ExactQuantiles) -> dict[str, Any]:
        ranges = self.check.kwargs["quantile_ranges"]
        qs = [float(q) for q in ranges["quantiles"]]
        method = self.check.kwargs.get("allow_relative_error") or "nearest"
        return {"quantiles": qs, "values": _order_quantiles(state, qs, method)}

    def outcome(self) -> Outcome:
        observed = self.observed()
        if self.statistic == "quantiles":
            ranges = self.check.kwargs["quantile_ranges"]["value_ranges"]
            values = observed["values"]
            success = all(
                v is not None and (lo is None or v >= lo) and (hi is None or v <= hi)
                for v, (lo, hi) in zip(values, ranges, strict=True)
            )
        else:
            success = _between(self.check, observed)
        return Outcome(check=self.check, success=success, observed_value=observed)


def _at_ranks(state: ExactQuantiles, ranks: np.ndarray) -> np.ndarray:
    """The values at ``ranks`` (0-based, in sorted order) of exact quantiles: numpy's other interpolation
    methods need them (GX's pandas default is ``nearest``)."""
    if not state.compressed:
        data = np.concatenate(state._raw)
        return np.partition(data, ranks)[ranks]
    state._fold()
    if not state.compressed:
        return _at_ranks(state, ranks)
    return state._order_statistics(ranks)


def _order_quantiles(state: ExactQuantiles, qs: list[float], method: str) -> list[float] | list[None]:
    if not state.n:
        return [None] * len(qs)
    if method == "linear":
        return state.quantiles(qs)
    out: list[float] = []
    for q in qs:
        virtual = (state.n - 1) * q
        low, high = math.floor(virtual), min(math.floor(virtual) + 1, state.n - 1)
        below, above = (float(v) for v in _at_ranks(state, np.array([low, high])))
        frac = virtual - low
        if method == "lower":
            out.append(below)
        elif method == "higher":
            out.append(above if frac > 0 else below)
        elif method == "midpoint":
            out.append((below + above) / 2 if frac > 0 else below)
        else:  # nearest: numpy rounds half to even
            out.append(float(_at_ranks(state, np.array([int(np.around(virtual))]))[0]))
    return out


class _Distinct:
    """The set of distinct non-missing values of a column (and their count)."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.values: set[Any] = set()
        self.seen = _SeenHashes()
        self.count = 0

    def update(self, batch: pd.DataFrame) -> None:
        values = batch[self.check.column].dropna()
        if self.check.type == "expect_column_unique_value_count_to_be_between":
            if len(values):
                distinct = np.unique(value_hashes(values.to_frame()))
                new = ~self.seen.contains(distinct)
                self.count += int(new.sum())
                self.seen.add(distinct[new])
            return
        self.values.update(hashable(values).unique().tolist())

    def outcome(self) -> Outcome:
        if self.check.type == "expect_column_unique_value_count_to_be_between":
            return Outcome(check=self.check, success=_between(self.check, self.count), observed_value=self.count)
        # GX 1.24's shape: no observed value; the distinct values outside the set are "unexpected", the
        # values of the set absent from the column "missing" (both counted as distinct values)
        expected = list(self.check.kwargs.get("value_set") or [])
        unexpected = _sorted([v for v in self.values if v not in set(expected)])
        missing = _sorted([v for v in set(expected) if v not in self.values])
        kind = self.check.type
        outcome = Outcome(check=self.check, success=True, examples=unexpected)
        if kind in ("expect_column_distinct_values_to_be_in_set", "expect_column_distinct_values_to_equal_set"):
            outcome.unexpected_count = len(unexpected)
        if kind in ("expect_column_distinct_values_to_contain_set", "expect_column_distinct_values_to_equal_set"):
            outcome.missing_count = len(missing)
            if kind.endswith("contain_set"):
                outcome.examples = missing
        outcome.success = not (outcome.unexpected_count or outcome.missing_count)
        return outcome


def _sorted(values: list[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (str(type(v)), v))


class _Table:
    """Row count, columns (names, order, count) and column dtypes."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.rows = 0
        self.columns: list[str] | None = None
        self.dtype: Any = None

    def update(self, batch: pd.DataFrame) -> None:
        self.rows += len(batch)
        if self.columns is None:
            self.columns = [str(c) for c in batch.columns]
        column = self.check.column
        if column in batch.columns and (self.dtype is None or batch[column].dtype != self.dtype):
            # a float batch of an int column (a null in it): the wider type is the column's
            self.dtype = batch[column].dtype if self.dtype is None else np.result_type(self.dtype, batch[column].dtype)

    def outcome(self) -> Outcome:
        kwargs, kind, columns = self.check.kwargs, self.check.type, self.columns or []
        missing_column = self.check.column is not None and self.check.column not in columns
        if missing_column and kind != "expect_column_to_exist":
            return Outcome(
                check=self.check, success=False, exception=f"column {self.check.column!r} is not in the data"
            )
        if kind == "expect_column_to_exist":
            index = kwargs.get("column_index")
            ok = not missing_column and (
                index is None or (index < len(columns) and columns[index] == self.check.column)
            )
            return Outcome(check=self.check, success=ok)
        if kind == "expect_table_columns_to_match_ordered_list":
            return Outcome(check=self.check, success=columns == list(kwargs["column_list"]), observed_value=columns)
        if kind == "expect_table_columns_to_match_set":
            expected = set(kwargs["column_set"])
            exact = kwargs.get("exact_match", True)
            ok = set(columns) == expected if exact in (True, None) else expected <= set(columns)
            return Outcome(check=self.check, success=ok, observed_value=sorted(columns))
        if kind in ("expect_table_column_count_to_equal", "expect_table_column_count_to_be_between"):
            count = len(columns)
            ok = count == kwargs["value"] if kind.endswith("_equal") else _between(self.check, count)
            return Outcome(check=self.check, success=ok, observed_value=count)
        if kind in ("expect_table_row_count_to_equal", "expect_table_row_count_to_be_between"):
            ok = self.rows == kwargs["value"] if kind.endswith("_equal") else _between(self.check, self.rows)
            return Outcome(check=self.check, success=ok, observed_value=self.rows)
        observed = str(self.dtype)
        types = [kwargs["type_"]] if kind == "expect_column_values_to_be_of_type" else list(kwargs["type_list"])
        return Outcome(check=self.check, success=any(_dtype_is(self.dtype, t) for t in types), observed_value=observed)


def _dtype_is(dtype: Any, name: str) -> bool:
    if str(dtype) == name or type(dtype).__name__ == name:
        return True
    try:
        return np.dtype(name) == dtype
    except TypeError:
        return False


def _column_of(check: Check) -> str:
    """The column a column expectation reads (:func:`check_aggregate` made sure it names one)."""
    if check.column is None:
        raise ConfigurationError(
            f"expectations[{check.index}].kwargs ({check.type}).column", None, "must be a column name"
        )
    return check.column


def aggregate_state(check: Check) -> Any:
    """The streaming state of an aggregate expectation: ``update(batch)`` each batch, then ``outcome()``."""
    kind = check.type
    if kind == "expect_column_values_to_be_unique":
        return _Uniqueness(check, [_column_of(check)])
    if kind == "expect_compound_columns_to_be_unique":
        return _Uniqueness(check, list(check.kwargs["column_list"]))
    if kind.startswith("expect_column_distinct_values") or kind == "expect_column_unique_value_count_to_be_between":
        return _Distinct(check)
    if kind == "expect_column_quantile_values_to_be_between":
        return _Moments(check, "quantiles")
    statistic = _BETWEEN.get(kind)
    if statistic in ("min", "max", "sum", "mean", "stdev", "median"):
        return _Moments(check, statistic)
    return _Table(check)


class GuardedState:
    """An aggregate state whose errors (a missing column, a type it cannot add up) become the outcome's
    ``exception`` instead of failing the step: the expectation failed, the others are still reported."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.state = aggregate_state(check)
        self.exception: str | None = None

    def update(self, batch: pd.DataFrame) -> None:
        if self.exception is not None:
            return
        needed = (
            list(self.check.kwargs.get("column_list") or [])
            if self.check.type == "expect_compound_columns_to_be_unique"
            else ([self.check.column] if self.check.column and not isinstance(self.state, _Table) else [])
        )
        absent = [c for c in needed if c not in batch.columns]
        if absent:
            self.exception = f"columns {absent} are not in the data"
            return
        try:
            self.state.update(batch)
        except (TypeError, ValueError) as err:
            self.exception = f"{type(err).__name__}: {err}"

    def outcome(self) -> Outcome:
        if self.exception is not None:
            return Outcome(check=self.check, success=False, exception=self.exception)
        return self.state.outcome()
