"""Class balancing for a classification target: exact seeded undersampling, or oversampling weights.

After balancing, the largest class is at most ``ratio`` times the smallest (``ratio = 1``: equal):

- ``"undersample"`` keeps, of every class with more rows than ``round(ratio * minority count)``
  (halves round up), exactly that many rows and drops the others under the rule ``balance_classes``.
  Which rows is decided as in :class:`~dataframe_pipeline.refine.sampling.Sample`: each row's
  64-bit key ``row_keys(position, random_state)`` (the integer form of ``row_uniform``, free of
  ties) is compared with a per-class threshold, the key at the exact rank fitted on the whole
  input (8 bytes per row during the fit), so the result does not depend on batch boundaries.
- ``"oversample"`` removes nothing. Duplicating rows would break the row accounting (rows in =
  out + quarantined + dropped) and the positional index, so the replication is expressed as a
  float column ``weight_column`` (default ``sample_weight``): rows of class ``c`` with ``n_c`` rows
  get ``max(1, majority count / (ratio * n_c))``, so the weights of a class sum to
  ``max(n_c, majority / ratio)``. Pass it to the estimator's ``fit(X, y, sample_weight=...)``
  (most scikit-learn estimators accept it). The fit only counts classes (memory O(classes)).

Rows whose target is null are not a class: they are kept (weight 1). So are rows of a class not
seen in the fit. The state is positional (tied to the rows' input positions): it is not meant to be
re-applied to other data.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, drop_rows
from dataframe_pipeline.core.columns import require_columns
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from dataframe_pipeline.refine.sampling import _cut_points, _in_order, _KeyedAssigner

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence
    from fractions import Fraction as FractionType
    from typing import Self

STRATEGIES = ("undersample", "oversample")
_OWN_FITTED = ("class_counts_", "target_counts_", "weights_")


class ClassBalancer(_KeyedAssigner):
    """Balance the classes of ``target`` by seeded exact undersampling or by oversampling weights.

    Fitted attributes: ``class_counts_`` (class -> rows in the fit, nulls excluded, sorted by
    class), ``target_counts_`` (class -> rows after balancing: kept rows for undersampling,
    summed weight for oversampling), ``weights_`` (class -> weight; oversampling only, else empty)
    and, for undersampling, ``thresholds_`` / ``counts_`` / ``default_thresholds_`` as in
    :class:`~dataframe_pipeline.refine.sampling.Sample` (parts: kept, dropped).

    :param target: the class column.
    :param strategy: ``"undersample"`` or ``"oversample"``.
    :param ratio: largest class / smallest class after balancing, a number >= 1.
    :param random_state: seed of the undersampling choice.
    :param weight_column: name of the weight column added by ``"oversample"``.
    """

    def __init__(
        self,
        target: str,
        strategy: str = "undersample",
        ratio: float = 1.0,
        random_state: int = 0,
        weight_column: str = "sample_weight",
    ) -> None:
        self.target = target
        self.strategy = strategy
        self.ratio = ratio
        self.random_state = random_state
        self.weight_column = weight_column

    @property
    def stratify_by(self) -> str:  # type: ignore[override]
        """The strata of the shared keyed fit are the target's classes."""
        return self.target

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        if not isinstance(self.target, str) or (columns is not None and self.target not in columns):
            raise ConfigurationError("target", self.target, "must be an input column name")
        if self.strategy not in STRATEGIES:
            raise ConfigurationError("strategy", self.strategy, f"must be one of {STRATEGIES}")
        ratio = self.ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not (1 <= ratio < math.inf):
            raise ConfigurationError("ratio", ratio, "must be a finite number >= 1")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ConfigurationError("random_state", self.random_state, "must be an integer")
        column = self.weight_column
        if not isinstance(column, str) or not column or column == self.target:
            raise ConfigurationError("weight_column", column, "must be a non-empty name other than target")
        if self.strategy == "oversample" and columns is not None and column in columns:
            raise ConfigurationError("weight_column", column, "already a column of the input")

    def _weights(self) -> list[FractionType]:
        """Not used: :meth:`finish_fit` computes per-class shares itself."""
        raise NotImplementedError

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """The input columns, followed by ``weight_column`` when oversampling."""
        extra = [self.weight_column] if self.strategy == "oversample" else []
        return [*input_features, *extra]

    # -- fitting -------------------------------------------------------------------------------

    def _reset(self) -> None:
        super()._reset()
        self._class_counter: Counter[Hashable] | None = None
        for name in _OWN_FITTED:
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Undersample: collect each row's key per class; oversample: count rows per class."""
        if self.strategy == "undersample":
            return super().partial_fit(batch)
        self.check_params()
        require_columns(batch, [self.target], self.rule_name)
        counter = getattr(self, "_class_counter", None)
        if counter is None:
            counter = self._class_counter = Counter()
        positions = self._positions(batch)
        for value, rows in self._groups(batch, positions):
            counter[value] += len(rows)
        return self

    def finish_fit(self) -> Self:
        """Compute the per-class thresholds (undersample) or weights (oversample); free the statistics."""
        self.check_params()
        if self.strategy == "undersample":
            keys = {value: np.concatenate(parts) for value, parts in _in_order(self._accumulator())}
            counts = {value: len(k) for value, k in keys.items()}
        else:
            keys = {}
            counts = dict(_in_order(dict(getattr(self, "_class_counter", None) or {})))
        counts.pop(None, None)
        self.class_counts_: dict[Any, int] = counts
        self.weights_: dict[Any, float] = {}
        self.thresholds_: dict[Any, list[int]] = {}
        self.counts_: dict[Any, list[int]] = {}
        self.default_thresholds_: list[int] = []
        if self.strategy == "undersample":
            self._fit_undersample(keys)
        else:
            self._fit_oversample()
        self._keys, self._class_counter = None, None
        return self

    def _fit_undersample(self, keys: dict[Any, np.ndarray]) -> None:
        minority = min(self.class_counts_.values(), default=0)
        limit = math.floor(Fraction(repr(float(self.ratio))) * minority + Fraction(1, 2))
        self.target_counts_: dict[Any, float] = {}
        for value, n in self.class_counts_.items():
            kept = min(n, limit)
            self.counts_[value] = [kept, n - kept]
            self.thresholds_[value] = _cut_points(keys[value], self.counts_[value])
            self.target_counts_[value] = float(kept)

    def _fit_oversample(self) -> None:
        majority = max(self.class_counts_.values(), default=0)
        self.weights_ = {v: max(1.0, majority / (float(self.ratio) * n)) for v, n in self.class_counts_.items()}
        self.target_counts_ = {v: n * self.weights_[v] for v, n in self.class_counts_.items()}

    # -- transforming --------------------------------------------------------------------------

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Undersample: drop the rows past their class's threshold; oversample: add the weights."""
        if not hasattr(self, "class_counts_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        if self.strategy == "undersample":
            dropped = self._assign(batch) == 1
            return drop_rows(batch, pd.Series(dropped, index=batch.index), self.rule_name)
        require_columns(batch, [self.target], self.rule_name)
        if self.weight_column in batch.columns:
            raise DataContractError(f"{self.rule_name}: column {self.weight_column!r} already exists in the input")
        weights = np.ones(len(batch), dtype=np.float64)
        for value, rows in self._groups(batch, self._positions(batch)):
            weights[rows] = self.weights_.get(value, 1.0)
        return BatchResult(data=batch.assign(**{self.weight_column: pd.Series(weights, index=batch.index)}))
