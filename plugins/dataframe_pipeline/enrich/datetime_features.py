"""Calendar features of a datetime column (stateless).

The column must have a datetime dtype (naive or time-zone aware; features are in the column's own
time zone): parse text into datetimes in the clean step, where unparseable values are quarantined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.columns import require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FEATURES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "year": lambda dt: dt.dt.year,
    "month": lambda dt: dt.dt.month,
    "day": lambda dt: dt.dt.day,
    "dayofweek": lambda dt: dt.dt.day_of_week,
    "hour": lambda dt: dt.dt.hour,
    "minute": lambda dt: dt.dt.minute,
    "dayofyear": lambda dt: dt.dt.day_of_year,
    "quarter": lambda dt: dt.dt.quarter,
    "weekofyear": lambda dt: dt.dt.isocalendar().week,
    "is_weekend": lambda dt: dt.dt.day_of_week >= 5,
    "is_month_start": lambda dt: dt.dt.is_month_start,
    "is_month_end": lambda dt: dt.dt.is_month_end,
}
DEFAULT_FEATURES = ("year", "month", "day", "dayofweek", "hour", "is_weekend", "dayofyear", "quarter")
#: cyclical features: (source, period, offset); angle = 2 pi (value - offset) / period
CYCLES = {"month": (12, 1), "dayofweek": (7, 0), "hour": (24, 0)}


class DateTimeFeatures(BatchTransformer):
    """Add ``<prefix><feature>`` columns computed from the datetime column ``column``.

    Integer features are ``Int64`` and flags ``boolean`` (nullable: a null datetime gives nulls),
    so every batch has the same dtypes. ``dayofweek`` is 0 for Monday. With ``cyclical``, the
    float64 columns ``<prefix>month_sin``/``_cos`` (angle ``2 pi (month - 1) / 12``),
    ``<prefix>dayofweek_sin``/``_cos`` (``2 pi dayofweek / 7``) and ``<prefix>hour_sin``/``_cos``
    (``2 pi hour / 24``) are added after the others.

    :param column: the datetime column (kept in the output).
    :param features: names among :data:`FEATURES`, in output order.
    :param cyclical: also add the sine and cosine of month, day of week and hour.
    :param prefix: prefix of the new columns; ``None`` means ``"<column>_"``.
    """

    def __init__(
        self,
        column: str,
        features: list[str] | None = None,
        cyclical: bool = False,
        prefix: str | None = None,
    ) -> None:
        self.column = column
        self.features = features
        self.cyclical = cyclical
        self.prefix = prefix

    def _features(self) -> list[str]:
        return list(DEFAULT_FEATURES) if self.features is None else list(self.features)

    def _prefix(self) -> str:
        return f"{self.column}_" if self.prefix is None else self.prefix

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        if not isinstance(self.column, str) or not self.column:
            raise ConfigurationError("column", self.column, "must be a column name")
        if columns is not None and self.column not in columns:
            raise ConfigurationError("column", self.column, f"not in the input columns {list(columns)}")
        features = self.features
        if features is not None and (not isinstance(features, list | tuple) or not features):
            raise ConfigurationError("features", features, "must be None or a non-empty list")
        unknown = [f for f in self._features() if f not in FEATURES]
        if unknown or len(set(self._features())) != len(self._features()):
            raise ConfigurationError("features", features, f"must be distinct names among {sorted(FEATURES)}")
        if not isinstance(self.cyclical, bool):
            raise ConfigurationError("cyclical", self.cyclical, "must be True or False")
        if self.prefix is not None and not isinstance(self.prefix, str):
            raise ConfigurationError("prefix", self.prefix, "must be a string or None")
        if not self._features() and not self.cyclical:
            raise ConfigurationError("features", features, "nothing to compute")
        if columns is not None:
            clash = [c for c in self._new_names() if c in columns]
            if clash:
                raise ConfigurationError("prefix", self.prefix, f"output column(s) {clash} already exist")

    def _new_names(self) -> list[str]:
        prefix = self._prefix()
        names = [f"{prefix}{f}" for f in self._features()]
        if self.cyclical:
            names += [f"{prefix}{src}_{fn}" for src in CYCLES for fn in ("sin", "cos")]
        return names

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        return list(input_features) + self._new_names()

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the feature columns; rows are neither removed nor reordered."""
        self.check_params()
        require_columns(batch, [self.column], self.rule_name)
        values = batch[self.column]
        if not pd.api.types.is_datetime64_any_dtype(values):
            raise DataContractError(
                f"{self.rule_name}: column {self.column!r} has dtype {values.dtype}, expected datetimes"
            )
        clash = [c for c in self._new_names() if c in batch.columns]
        if clash:
            raise DataContractError(f"{self.rule_name}: output column(s) {clash} already exist in the input")
        prefix = self._prefix()
        new: dict[str, pd.Series] = {}
        for name in self._features():
            dtype = "boolean" if name.startswith("is_") else "Int64"
            # flags of a null datetime would read False: make them null like the other features
            new[f"{prefix}{name}"] = FEATURES[name](values).astype(dtype).mask(values.isna())
        if self.cyclical:
            new.update(self._cycles(values, prefix))
        return BatchResult(data=batch.assign(**new))

    @staticmethod
    def _cycles(values: pd.Series, prefix: str) -> dict[str, pd.Series]:
        out = {}
        for src, (period, offset) in CYCLES.items():
            raw = FEATURES[src](values).to_numpy(dtype="float64", na_value=np.nan)
            angle = 2 * np.pi * (raw - offset) / period
            out[f"{prefix}{src}_sin"] = pd.Series(np.sin(angle), index=values.index)
            out[f"{prefix}{src}_cos"] = pd.Series(np.cos(angle), index=values.index)
        return out
