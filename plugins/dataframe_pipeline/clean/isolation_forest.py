"""Outliers by an isolation forest fitted on a seeded sample of complete rows.

Shares :class:`~dataframe_pipeline.clean.outliers.IQROutliers`' actions and flag columns:
``"quarantine"``, ``"drop"``, ``"cap"`` (an outlying row's values clipped into the inliers' range per
column) and ``"flag"``. The sample is chosen by a hash of each row's input position and
``random_state``, so the forest does not depend on how the input is batched.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from dataframe_pipeline.clean.outliers import (
    ACTIONS,
    FLAG_SUFFIX,
    _check_columns,
    _check_positive,
    _numeric,
)
from dataframe_pipeline.core.batch import BatchResult, drop_rows, split_rows
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self


def _row_hashes(index: pd.Index, random_state: int) -> np.ndarray:
    """A uint64 hash of each row position, salted by ``random_state``: the sample ignores batch bounds."""
    key = hashlib.sha256(str(random_state).encode()).hexdigest()[:16]
    return pd.util.hash_array(index.to_numpy(np.int64), hash_key=key).astype(np.uint64)


class IsolationForestOutliers(BatchTransformer):
    """Quarantine, drop, cap or flag rows an isolation forest finds anomalous.

    The forest is trained on a sample of at most ``sample_size`` complete rows: those with the smallest
    hash of (position, ``random_state``), so the sample is the same however the input is split, and
    memory is bounded by ``sample_size``. ``threshold_`` is the ``contamination`` quantile of the
    sample's ``score_samples``; a row scoring below it is an outlier. Rows with a null in ``columns``
    are never outliers (the forest cannot score them).

    :param columns: the numeric columns the forest sees.
    :param contamination: the expected share of outliers, in (0, 0.5).
    :param sample_size: the most rows kept to train the forest.
    :param random_state: seed of the sample and of the forest.
    :param action: ``"quarantine"``, ``"drop"`` (rule ``isolation_forest``), ``"cap"`` or ``"flag"``
        (adds the boolean column ``isolation_forest_outlier``). An outlier is a row, not a value, so
        ``"cap"`` clips each value of an outlying row into its column's range among the sample's
        inliers (``cap_bounds_``: column -> (min, max) of the sample rows scoring at or above
        ``threshold_``); the row is kept, the other rows are unchanged. Capped columns become float.
    """

    stateful: ClassVar[bool] = True

    def __init__(
        self,
        columns: list[str],
        contamination: float = 0.01,
        sample_size: int = 100_000,
        random_state: int = 0,
        action: str = "quarantine",
    ) -> None:
        self.columns = columns
        self.contamination = contamination
        self.sample_size = sample_size
        self.random_state = random_state
        self.action = action

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``contamination``, ``sample_size``, ``action``."""
        _check_columns(self.columns, columns)
        _check_positive("contamination", self.contamination, upper=0.5)
        if not isinstance(self.sample_size, int) or isinstance(self.sample_size, bool) or self.sample_size < 2:
            raise ConfigurationError("sample_size", self.sample_size, "must be an integer >= 2")
        if self.action not in ACTIONS:
            raise ConfigurationError("action", self.action, f"must be one of {list(ACTIONS)}")

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """The input columns, plus ``isolation_forest_outlier`` when ``action="flag"``."""
        names = list(input_features)
        return [*names, f"{self.rule_name}{FLAG_SUFFIX}"] if self.action == "flag" else names

    def _reset(self) -> None:
        self._hashes = np.empty(0, np.uint64)
        self._sample = np.empty((0, len(self.columns)), np.float64)
        for name in ("forest_", "threshold_", "n_sample_", "cap_bounds_"):
            self.__dict__.pop(name, None)

    def _matrix(self, batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The rows with no null as a float matrix, and the mask of those rows."""
        frame = pd.DataFrame({c: _numeric(batch, c) for c in self.columns}, index=batch.index)
        complete = frame.notna().all(axis=1).to_numpy()
        return frame[complete].to_numpy(np.float64), complete

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Keep the ``sample_size`` complete rows with the smallest hashes seen so far.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_hashes") or hasattr(self, "forest_"):
            self._reset()
        matrix, complete = self._matrix(batch)
        hashes = np.concatenate([self._hashes, _row_hashes(batch.index[complete], self.random_state)])
        sample = np.concatenate([self._sample, matrix])
        # Ties of a 64-bit hash are negligible; a stable sort keeps the choice deterministic anyway.
        keep = np.argsort(hashes, kind="stable")[: self.sample_size]
        keep.sort()
        self._hashes, self._sample = hashes[keep], sample[keep]
        return self

    def finish_fit(self) -> Self:
        """Fit ``forest_`` on the sample and set ``threshold_`` (``None`` when the sample is empty)."""
        from sklearn.ensemble import IsolationForest

        if not hasattr(self, "_hashes"):
            self._reset()
        # Sort the sample by hash so the forest sees the same row order whatever the batch split.
        sample = self._sample[np.argsort(self._hashes, kind="stable")]
        self.n_sample_ = len(sample)
        self.forest_ = None
        self.threshold_ = None
        self.cap_bounds_: dict[str, tuple[float, float]] = {}
        if len(sample):
            forest = IsolationForest(random_state=self.random_state).fit(sample)
            scores = forest.score_samples(sample)
            self.forest_ = forest
            self.threshold_ = float(np.quantile(scores, self.contamination))
            inliers = sample[scores >= self.threshold_]
            low, high = inliers.min(axis=0), inliers.max(axis=0)
            self.cap_bounds_ = {c: (float(low[j]), float(high[j])) for j, c in enumerate(self.columns)}
        self._reset_accumulators()
        return self

    def _cap(self, batch: pd.DataFrame, flags: pd.Series) -> pd.DataFrame:
        """Clip the values of the flagged rows into the inliers' range of each column."""
        out = batch.copy(deep=False)
        for column, (low, high) in self.cap_bounds_.items():
            values = _numeric(batch, column).astype("float64")
            out[column] = values.where(~flags, values.clip(low, high))
        return out

    def _reset_accumulators(self) -> None:
        self._hashes = np.empty(0, np.uint64)
        self._sample = np.empty((0, len(self.columns)), np.float64)

    def is_outlier(self, batch: pd.DataFrame) -> pd.Series:
        """Boolean Series: the row is complete and scores below ``threshold_``.

        :param batch: a batch holding ``columns``.
        """
        if not hasattr(self, "forest_"):
            raise NotFittedError("IsolationForestOutliers.transform() called before fit()/finish_fit()")
        matrix, complete = self._matrix(batch)
        flags = np.zeros(len(batch), dtype=bool)
        if self.forest_ is not None and len(matrix):
            flags[complete] = self.forest_.score_samples(matrix) < self.threshold_
        return pd.Series(flags, index=batch.index, dtype=bool)

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Apply ``action`` to the rows scoring below ``threshold_``.

        :param batch: a batch indexed by input position.
        """
        flags = self.is_outlier(batch)
        if self.action == "drop":
            return drop_rows(batch, flags, self.rule_name)
        if self.action == "cap":
            return BatchResult(data=self._cap(batch, flags))
        if self.action == "flag":
            return BatchResult(data=batch.assign(**{f"{self.rule_name}{FLAG_SUFFIX}": flags}))
        if not flags.any():
            return BatchResult(data=batch)
        return split_rows(batch, flags, self.rule_name, f"isolation forest score below {self.threshold_:.6g}")
