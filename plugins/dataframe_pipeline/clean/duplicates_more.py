"""Duplicates by key: of the rows sharing a key, keep the latest version (by a version column).

Fitted in one pass keeping, per row, a 64-bit hash of the key, the version as a number and the input
position (24 bytes per row); the positions to drop are computed at the end, so the transform pass only
tests membership. Like :class:`~dataframe_pipeline.clean.duplicates.ExactDuplicates`, the transform
drops *positions*, so it applies to the input it was fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from dataframe_pipeline.clean.duplicates import _in_sorted
from dataframe_pipeline.core.batch import drop_rows
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from typing import Self

    from dataframe_pipeline.core.batch import BatchResult

KEEP_OPTIONS = ("last", "first")


def _version_numbers(series: pd.Series) -> np.ndarray:
    """Versions as sortable numbers: datetimes as int64 nanoseconds, numbers as float64; nulls lowest."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        # NaT is the smallest int64, so a null version loses to any dated one.
        return series.astype("datetime64[ns]").to_numpy().view(np.int64)
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise DataContractError(f"KeyDuplicates: version column {series.name!r} has dtype {dtype}, not numeric/date")
    return series.to_numpy(np.float64, na_value=-np.inf)


class KeyDuplicates(BatchTransformer):
    """Drop all but one row per key (rule ``duplicate_key``).

    :param keys: the columns identifying a record.
    :param keep_latest_by: the version column (numeric or datetime) deciding which row survives.
    :param keep: ``"last"``: the greatest version survives (ties: the last in input order);
        ``"first"``: the smallest version (ties: the first in input order). Null versions rank lowest.
    """

    stateful: ClassVar[bool] = True
    rule_name: ClassVar[str] = "duplicate_key"

    def __init__(self, keys: list[str], keep_latest_by: str, keep: str = "last") -> None:
        self.keys = keys
        self.keep_latest_by = keep_latest_by
        self.keep = keep

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``keys``, ``keep_latest_by`` or ``keep``."""
        if isinstance(self.keys, str) or not isinstance(self.keys, Sequence) or not self.keys:
            raise ConfigurationError("keys", self.keys, "must be a non-empty list of column names")
        if not isinstance(self.keep_latest_by, str):
            raise ConfigurationError("keep_latest_by", self.keep_latest_by, "must be a column name")
        if self.keep not in KEEP_OPTIONS:
            raise ConfigurationError("keep", self.keep, f"must be one of {list(KEEP_OPTIONS)}")
        if columns is not None:
            for field, name in [*(("keys", k) for k in self.keys), ("keep_latest_by", self.keep_latest_by)]:
                if name not in columns:
                    raise ConfigurationError(field, name, f"not a column of the input {list(columns)}")

    def _reset(self) -> None:
        self._hashes: list[np.ndarray] = []
        self._versions: list[np.ndarray] = []
        self._positions: list[np.ndarray] = []
        for name in ("duplicate_positions_", "n_duplicates_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Record the key hash, version and position of every row.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_hashes") or hasattr(self, "duplicate_positions_"):
            self._reset()
        absent = [c for c in [*self.keys, self.keep_latest_by] if c not in batch.columns]
        if absent:
            raise DataContractError(f"KeyDuplicates: columns {absent} are not in the batch {list(batch.columns)}")
        self._hashes.append(pd.util.hash_pandas_object(batch[list(self.keys)], index=False).to_numpy(np.uint64))
        self._versions.append(_version_numbers(batch[self.keep_latest_by]))
        self._positions.append(batch.index.to_numpy(np.int64))
        return self

    def finish_fit(self) -> Self:
        """Compute ``duplicate_positions_`` (sorted int64) and ``n_duplicates_``; free the per-row arrays."""
        if not hasattr(self, "_hashes"):
            self._reset()
        hashes = np.concatenate([np.empty(0, np.uint64), *self._hashes])
        # no float seed: datetime versions stay int64 (float64 would round nanoseconds)
        versions = np.concatenate(self._versions) if self._versions else np.empty(0, np.float64)
        positions = np.concatenate([np.empty(0, np.int64), *self._positions])
        # Within a key, rows sorted by (version, position): the survivor is the last ("last") or first.
        order = np.lexsort((positions, versions, hashes))
        hashes, positions = hashes[order], positions[order]
        same_as_previous = np.zeros(len(hashes), dtype=bool)
        same_as_previous[1:] = hashes[1:] == hashes[:-1]
        if self.keep == "last":
            repeated = np.zeros(len(hashes), dtype=bool)
            repeated[:-1] = same_as_previous[1:]
        else:
            repeated = same_as_previous
        self.duplicate_positions_ = np.sort(positions[repeated]).astype(np.int64)
        self.n_duplicates_ = len(self.duplicate_positions_)
        self._hashes, self._versions, self._positions = [], [], []
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Drop the rows whose position is in ``duplicate_positions_``.

        :param batch: a batch of the input the transformer was fitted on, indexed by input position.
        """
        if not hasattr(self, "duplicate_positions_"):
            raise NotFittedError("KeyDuplicates.transform() called before fit()/finish_fit()")
        is_duplicate = _in_sorted(batch.index.to_numpy(np.int64), self.duplicate_positions_)
        return drop_rows(batch, pd.Series(is_duplicate, index=batch.index), self.rule_name)
