"""Fills along a key: the previous or next value of the same entity, or an interpolation in time.

- :class:`FillByKey` fills nulls from the previous (``ffill``, streamed) or next (``bfill``, fitted)
  non-null value of the same key;
- :class:`InterpolateTimeSeries` interpolates nulls between the fitted non-null points of a key.

Fitted attributes are plain Python values, lists and numpy arrays (no tuple-keyed dicts), so skops can
save them. Entity keys hold ``None`` for a null key value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from dataframe_pipeline.clean.missing import _python_scalar
from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.columns import check_names as _check_names
from dataframe_pipeline.core.columns import check_present as _check_present
from dataframe_pipeline.core.columns import require as _require
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self


FILL_METHODS = ("ffill", "bfill")


INTERPOLATION_METHODS = ("linear", "time")


class FillByKey(BatchTransformer):
    """Fill nulls from the previous (``ffill``) or next (``bfill``) non-null value of the same key.

    The input must be sorted by ``order_by`` within each key (checked: ``DataContractError``), so
    "previous" is "earlier position". ``ffill`` streams: the transform keeps the last non-null value
    and the last ``order_by`` per key (O(keys)) from one batch to the next, and starts afresh when a
    batch does not follow the previous one (a new pass over the input). ``bfill`` is fitted: the fit
    pass collects, per key and column, the positions and values of the non-null cells (16 bytes per
    non-null cell), so it applies to the input it was fitted on. Rows with a null key are left as
    they are.

    :param columns: the columns to fill.
    :param key: the entity column.
    :param order_by: the column the input is sorted by within a key (checked, not sorted).
    :param method: ``"ffill"`` or ``"bfill"``.
    """

    def __init__(self, columns: list[str], key: str, order_by: str, method: str = "ffill") -> None:
        self.columns = columns
        self.key = key
        self.order_by = order_by
        self.method = method

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        """``bfill`` needs a fit pass; ``ffill`` streams."""
        return self.method == "bfill"

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``key``, ``order_by`` or ``method``."""
        _check_names("columns", self.columns, columns)
        for field in ("key", "order_by"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise ConfigurationError(field, value, "must be a column name")
            _check_present(field, [value], columns)
        if self.method not in FILL_METHODS:
            raise ConfigurationError("method", self.method, f"must be one of {list(FILL_METHODS)}")

    def _reset(self) -> None:
        self._stream_reset()
        self._cells: dict[str, list[pd.DataFrame]] = {c: [] for c in self.columns}
        for name in ("fill_keys_", "fill_positions_", "fill_values_"):
            self.__dict__.pop(name, None)

    def _stream_reset(self) -> None:
        self._last_position = -1
        self._last_order: dict[Any, Any] = {}
        self._last_value: dict[str, dict[Any, Any]] = {c: {} for c in self.columns}

    def _check_sorted(self, batch: pd.DataFrame) -> None:
        """``DataContractError`` unless ``order_by`` never decreases within a key (across batches too)."""
        keyed = batch[batch[self.key].notna() & batch[self.order_by].notna()]
        order, groups = keyed[self.order_by], keyed[self.key]
        first = order.groupby(groups, sort=False).cumcount() == 0
        previous = order.groupby(groups, sort=False).shift().astype(object)
        previous[first] = groups[first].map(self._last_order.get).astype(object)
        bad = [(i, p, o) for i, p, o in zip(keyed.index, previous, order, strict=True) if not pd.isna(p) and o < p]
        if bad:
            i, p, o = bad[0]
            raise DataContractError(
                f"FillByKey: {self.order_by} decreases within {self.key}={keyed.at[i, self.key]!r} at position "
                f"{i} ({p!r} then {o!r}); sort the input by ({self.key}, {self.order_by}) first"
            )
        self._last_order.update(order.groupby(keyed[self.key], sort=False).last().to_dict())

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """For ``bfill``: collect the positions and values of the non-null cells per column.

        :param batch: a batch indexed by input position.
        """
        if not self.stateful:
            return self
        if not hasattr(self, "_cells") or hasattr(self, "fill_keys_"):
            self._reset()
        _require("FillByKey", batch, [*self.columns, self.key, self.order_by])
        self._check_sorted(batch)
        for column in self.columns:
            cells = batch.loc[batch[column].notna() & batch[self.key].notna(), [self.key, column]]
            self._cells[column].append(cells)
        return self

    def finish_fit(self) -> Self:
        """For ``bfill``: per column, ``fill_keys_`` and aligned arrays of positions and values."""
        if not self.stateful:
            return self
        if not hasattr(self, "_cells"):
            self._reset()
        self.fill_keys_, self.fill_positions_, self.fill_values_ = {}, {}, {}
        for column in self.columns:
            cells = pd.concat(self._cells[column]) if self._cells[column] else pd.DataFrame(columns=[self.key, column])
            groups = cells.groupby(self.key, sort=False)
            self.fill_keys_[column] = [_python_scalar(k) for k in groups.groups]
            self.fill_positions_[column] = [g.index.to_numpy(np.int64) for _, g in groups]
            self.fill_values_[column] = [g[column].to_numpy() for _, g in groups]
        self._cells = {c: [] for c in self.columns}
        self._stream_reset()
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Fill the nulls of ``columns`` along the key.

        :param batch: a batch indexed by input position (batches in input order for ``ffill``).
        """
        _require("FillByKey", batch, [*self.columns, self.key, self.order_by])
        if self.method == "bfill":
            return BatchResult(data=self._bfill(batch))
        if not hasattr(self, "_last_value") or (len(batch) and batch.index[0] <= self._last_position):
            self._stream_reset()
        self._check_sorted(batch)
        if len(batch):
            self._last_position = int(batch.index[-1])
        return BatchResult(data=self._ffill(batch))

    def _ffill(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = batch.copy(deep=False)
        keys = batch[self.key]
        for column in self.columns:
            filled = batch[column].groupby(keys, sort=False).ffill()
            carried = keys.map(lambda k, c=column: self._last_value[c].get(k))
            filled = filled.where(filled.notna() | carried.isna(), carried.astype(object))
            out[column] = batch[column].where(keys.isna(), filled).astype(batch[column].dtype)
            last = batch[column].groupby(keys, sort=False).last().dropna()
            self._last_value[column].update(last.to_dict())
        return out

    def _bfill(self, batch: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "fill_keys_"):
            raise NotFittedError("FillByKey(method='bfill').transform() called before fit()/finish_fit()")
        out = batch.copy(deep=False)
        for column in self.columns:
            where = {k: i for i, k in enumerate(self.fill_keys_[column])}
            series = batch[column].copy()
            for position, key in zip(batch.index[series.isna()], batch[self.key][series.isna()], strict=True):
                group = where.get(None if pd.isna(key) else _python_scalar(key))
                if group is None:
                    continue
                positions = self.fill_positions_[column][group]
                after = int(np.searchsorted(positions, position, side="right"))
                if after < len(positions):
                    series.at[position] = self.fill_values_[column][group][after]
            out[column] = series
        return out


def _as_x(series: pd.Series) -> np.ndarray:
    """Time as float64 nanoseconds (or the numbers themselves); nulls as NaN."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        values = series.astype("datetime64[ns]").to_numpy().view(np.int64).astype(np.float64)
        return np.where(series.isna().to_numpy(), np.nan, values)
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataContractError(f"InterpolateTimeSeries: time column {series.name!r} has dtype {series.dtype}")
    return series.to_numpy(np.float64, na_value=np.nan)


class InterpolateTimeSeries(BatchTransformer):
    """Fill nulls by linear interpolation between the fitted non-null points of the same key.

    The fit collects, per key and column, the ``(x, value)`` of the non-null cells (16 bytes each);
    the transform interpolates with ``np.interp``. Nulls before the first or after the last point of
    their key, rows with a null time or key, and keys unseen in the fit stay null. Columns become
    float64 (nullable ``Float64`` if they were nullable). Several points at the same x: the value of
    the last one in input order wins.

    :param columns: the numeric columns to fill.
    :param time_column: the time (datetime or numeric) column.
    :param key: the entity column, or ``None`` for one series.
    :param method: ``"time"``: x is the time; ``"linear"``: x is the row's input position (rows equally
        spaced, as pandas' ``"linear"`` on an input sorted by time within a key, when keys do not
        interleave).
    """

    stateful: ClassVar[bool] = True

    def __init__(self, columns: list[str], time_column: str, key: str | None = None, method: str = "linear") -> None:
        self.columns = columns
        self.time_column = time_column
        self.key = key
        self.method = method

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``time_column``, ``key`` or ``method``."""
        _check_names("columns", self.columns, columns)
        _check_present("time_column", [self.time_column], columns)
        if self.key is not None:
            _check_present("key", [self.key], columns)
        if self.method not in INTERPOLATION_METHODS:
            raise ConfigurationError("method", self.method, f"must be one of {list(INTERPOLATION_METHODS)}")

    def _reset(self) -> None:
        self._points: dict[str, list[pd.DataFrame]] = {c: [] for c in self.columns}
        for name in ("point_keys_", "point_x_", "point_values_"):
            self.__dict__.pop(name, None)

    def _frame(self, batch: pd.DataFrame, column: str) -> pd.DataFrame:
        """Columns ``key``, ``x``, ``y`` of the batch (key 0 when there is no key column)."""
        _require("InterpolateTimeSeries", batch, [*self.columns, self.time_column, *([self.key] if self.key else [])])
        values = batch[column]
        if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
            raise DataContractError(f"InterpolateTimeSeries: column {column!r} has dtype {values.dtype}")
        x = _as_x(batch[self.time_column]) if self.method == "time" else batch.index.to_numpy(np.float64)
        key = batch[self.key] if self.key else pd.Series(0, index=batch.index)
        return pd.DataFrame({"key": key, "x": x, "y": values.to_numpy(np.float64, na_value=np.nan)}, index=batch.index)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Collect the non-null ``(key, x, value)`` points of each column.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_points") or hasattr(self, "point_keys_"):
            self._reset()
        for column in self.columns:
            frame = self._frame(batch, column)
            self._points[column].append(frame.dropna())
        return self

    def finish_fit(self) -> Self:
        """Per column: ``point_keys_``, and aligned sorted ``point_x_`` / ``point_values_`` arrays."""
        if not hasattr(self, "_points"):
            self._reset()
        self.point_keys_, self.point_x_, self.point_values_ = {}, {}, {}
        for column in self.columns:
            parts = self._points[column]
            points = pd.concat(parts) if parts else pd.DataFrame({"key": [], "x": [], "y": []})
            # the last point of an x wins; sorting by x keeps np.interp's xp increasing
            points = points[~points[["key", "x"]].duplicated(keep="last")].sort_values("x", kind="stable")
            groups = points.groupby("key", sort=False)
            self.point_keys_[column] = [_python_scalar(k) for k in groups.groups]
            self.point_x_[column] = [g["x"].to_numpy(np.float64) for _, g in groups]
            self.point_values_[column] = [g["y"].to_numpy(np.float64) for _, g in groups]
        self._points = {c: [] for c in self.columns}
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Interpolate the nulls of ``columns`` inside their key's fitted points.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "point_keys_"):
            raise NotFittedError("InterpolateTimeSeries.transform() called before fit()/finish_fit()")
        out = batch.copy(deep=False)
        for column in self.columns:
            out[column] = self._interpolate(column, batch)
        return BatchResult(data=out)

    def _interpolate(self, column: str, batch: pd.DataFrame) -> pd.Series:
        frame = self._frame(batch, column)
        where = {k: i for i, k in enumerate(self.point_keys_[column])}
        y = frame["y"].to_numpy(copy=True)
        todo = frame[frame["y"].isna() & frame["x"].notna() & frame["key"].notna()]
        for key, rows in todo.groupby("key", sort=False):
            group = where.get(_python_scalar(key))
            if group is not None:
                xp, fp = self.point_x_[column][group], self.point_values_[column][group]
                filled = np.interp(rows["x"].to_numpy(), xp, fp, left=np.nan, right=np.nan)
                y[batch.index.get_indexer(rows.index)] = filled
        nullable = isinstance(batch[column].dtype, pd.api.extensions.ExtensionDtype)
        result = pd.Series(y, index=batch.index, name=column)
        return result.astype("Float64") if nullable else result
