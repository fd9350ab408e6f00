"""Seeded, exact-size splitting and sampling that do not depend on batch boundaries, and systematic
sampling (every ``step``-th row by position).

Every row gets a 64-bit key from its input position (the DataFrame index) and ``random_state``:
output number ``position + 1`` of a splitmix64 stream seeded with ``random_state``. Every step of
that function is a bijection of 64-bit integers, so distinct positions always get distinct keys
(no ties); ``u = key / 2**64`` is the row's uniform number in [0, 1).

The fit collects the keys per stratum (8 bytes per row) and cuts each stratum at exact order
statistics, so a stratum of ``n`` rows gives each split its largest-remainder share of ``n``.
Thresholds are the cut keys (integers in [0, 2**64)): a row goes to split ``i`` when exactly ``i``
cut points are ``<=`` its key. Cut points past the last key are left out, so a stratum's list
may be shorter than ``len(splits) - 1``. A stratum not seen in the fit is cut at the fractions
themselves (``floor(F * 2**64)`` for each cumulative fraction ``F``), which keeps the proportions
only in expectation.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import accumulate
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, drop_rows
from dataframe_pipeline.core.columns import require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterator, Sequence
    from typing import Self
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

_V = TypeVar("_V")
_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_FITTED = ("thresholds_", "counts_", "default_thresholds_")


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 (numpy wraps the products modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_keys(positions: np.ndarray, random_state: int) -> np.ndarray:
    """64-bit key of each row position: distinct positions give distinct keys for one ``random_state``."""
    seed = _mix64(np.array([random_state & _MASK64], dtype=np.uint64))
    return _mix64((positions.astype(np.uint64) + np.uint64(1)) * _GOLDEN + seed)


def row_uniform(positions: np.ndarray, random_state: int) -> np.ndarray:
    """The row's uniform number ``u`` in [0, 1) (the key's top 53 bits)."""
    return (row_keys(positions, random_state) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def largest_remainder(n: int, weights: Sequence[Fraction]) -> list[int]:
    """Split ``n`` into integer shares of ``weights`` (summing to 1); ties go to the earlier share."""
    quotas = [n * w for w in weights]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - quotas[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _exact(value: float) -> Fraction:
    """The decimal the user wrote (``0.1`` -> 1/10), so shares like 0.3 * 10 are exactly 3."""
    return Fraction(repr(float(value)))


def _is_fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


class _KeyedAssigner(BatchTransformer):
    """Shared fit and assignment of rows to weighted parts by key order within each stratum."""

    stateful = True
    stratify_by: str | None
    random_state: int

    def _weights(self) -> list[Fraction]:
        raise NotImplementedError

    def _check_common(self, columns: Sequence[str] | None) -> None:
        by = self.stratify_by
        if by is not None and (not isinstance(by, str) or (columns is not None and by not in columns)):
            raise ConfigurationError("stratify_by", by, "must be None or an input column name")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ConfigurationError("random_state", self.random_state, "must be an integer")

    def columns_read(self) -> list[str] | None:
        """Only the stratum column: the rest is decided by the rows' positions."""
        return [] if self.stratify_by is None else [self.stratify_by]

    def _reset(self) -> None:
        self._keys: dict[Hashable, list[np.ndarray]] | None = None
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def _accumulator(self) -> dict[Hashable, list[np.ndarray]]:
        keys = getattr(self, "_keys", None)
        if keys is None:
            keys = self._keys = {}
            self._last_position = -1
        return keys

    def _positions(self, batch: pd.DataFrame) -> np.ndarray:
        index = batch.index
        if len(index) and (
            not pd.api.types.is_integer_dtype(index)
            or index.min() < 0
            or not (index.is_monotonic_increasing and index.is_unique)
        ):
            raise DataContractError(
                f"{self.rule_name}: the index must hold the rows' input positions (distinct integers >= 0, increasing)"
            )
        return index.to_numpy(dtype=np.int64)

    def _groups(self, batch: pd.DataFrame, keys: np.ndarray) -> Iterator[tuple[Hashable, np.ndarray]]:
        """(stratum value, row numbers in the batch) per stratum; nulls form the stratum ``None``."""
        if not len(keys):
            return
        if self.stratify_by is None:
            yield None, np.arange(len(keys))
            return
        codes, uniques = pd.factorize(batch[self.stratify_by], use_na_sentinel=True)
        values: list[Any] = [*uniques.tolist(), None]
        order = np.argsort(codes, kind="stable")
        found, starts = np.unique(codes[order], return_index=True)
        for code, rows in zip(found, np.split(order, starts[1:]), strict=True):
            yield values[code], rows

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Collect each row's key under its stratum (8 bytes per row)."""
        self.check_params()
        require_columns(batch, [] if self.stratify_by is None else [self.stratify_by], self.rule_name)
        collected = self._accumulator()
        positions = self._positions(batch)
        if len(positions) and positions[0] <= self._last_position:
            raise DataContractError(f"{self.rule_name}: batch positions must increase across batches")
        keys = row_keys(positions, self.random_state)
        for stratum, rows in self._groups(batch, keys):
            collected.setdefault(stratum, []).append(keys[rows])
        self._last_position = int(positions[-1]) if len(positions) else self._last_position
        return self

    def finish_fit(self) -> Self:
        """Set ``thresholds_``, ``counts_`` and ``default_thresholds_``; the collected keys are released."""
        collected = self._accumulator()
        weights = self._weights()
        self.thresholds_: dict[Hashable, list[int]] = {}
        self.counts_: dict[Hashable, list[int]] = {}
        for stratum, parts in _in_order(collected):
            keys = np.concatenate(parts)
            self.counts_[stratum] = largest_remainder(len(keys), weights)
            self.thresholds_[stratum] = _cut_points(keys, self.counts_[stratum])
        cumulative = list(accumulate(weights[:-1]))
        self.default_thresholds_ = [math.floor(f * 2**64) for f in cumulative if f < 1]
        self._keys = None
        return self

    def _assign(self, batch: pd.DataFrame) -> np.ndarray:
        """Part number of every row of the batch."""
        if not hasattr(self, "thresholds_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        require_columns(batch, [] if self.stratify_by is None else [self.stratify_by], self.rule_name)
        keys = row_keys(self._positions(batch), self.random_state)
        parts = np.zeros(len(keys), dtype=np.int64)
        for stratum, rows in self._groups(batch, keys):
            cuts = np.array(self.thresholds_.get(stratum, self.default_thresholds_), dtype=np.uint64)
            parts[rows] = np.searchsorted(cuts, keys[rows], side="right")
        return parts


def _stratum_order(item: tuple[Hashable, Any]) -> tuple[bool, str, Any]:
    value = item[0]
    return (value is None, type(value).__name__, 0 if value is None else value)


def _in_order(collected: dict[Hashable, _V]) -> list[tuple[Hashable, _V]]:
    """Strata sorted by value (None last), so the fitted dicts do not depend on batch boundaries."""
    items = list(collected.items())
    try:
        return sorted(items, key=_stratum_order)
    except TypeError:  # values of one type that do not compare: keep the order they were met in
        return items


def _cut_points(keys: np.ndarray, counts: list[int]) -> list[int]:
    """The keys at ranks ``counts[0]``, ``counts[0] + counts[1]``, ... (ranks past the end left out)."""
    ranks = [r for r in np.cumsum(counts[:-1]).tolist() if r < len(keys)]
    if not ranks:
        return []
    return [int(k) for k in np.partition(keys, ranks)[ranks]]


class StratifiedSplit(_KeyedAssigner):
    """Add a ``column`` naming each row's split (train/validation/test ...), exact in each stratum.

    A stratum of ``n`` rows in the fit gives split ``s`` exactly its largest-remainder share of
    ``n * fractions[s]`` rows (ties to the split listed first); which rows is decided by
    ``random_state`` and the rows' positions only. Fitted: ``thresholds_`` (stratum -> sorted cut
    keys), ``counts_`` (stratum -> rows per split in the fit), ``default_thresholds_`` (for strata
    not seen in the fit). The stratum key is the value, ``None`` for nulls (and for the single
    stratum when ``stratify_by`` is None). The new column is categorical with the split names as
    categories in the order of ``fractions``.

    :param fractions: split name -> fraction of the rows; fractions sum to 1.
    :param stratify_by: column whose values define the strata, or None for one stratum.
    :param random_state: seed of the assignment.
    :param column: name of the new column.
    """

    def __init__(
        self,
        fractions: dict[str, float],
        stratify_by: str | None = None,
        random_state: int = 0,
        column: str = "split",
    ) -> None:
        self.fractions = fractions
        self.stratify_by = stratify_by
        self.random_state = random_state
        self.column = column

    def writes_column(self, name: str) -> bool:
        return name == self.column

    def may_remove_rows(self) -> bool:
        return False

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        fractions = self.fractions
        if (
            not isinstance(fractions, dict)
            or not fractions
            or not all(isinstance(k, str) and _is_fraction(v) for k, v in fractions.items())
        ):
            raise ConfigurationError("fractions", fractions, "must map split names to fractions in [0, 1]")
        if abs(math.fsum(fractions.values()) - 1) > 1e-9:
            raise ConfigurationError("fractions", fractions, "must sum to 1")
        self._check_common(columns)
        if not isinstance(self.column, str) or not self.column or (columns is not None and self.column in columns):
            raise ConfigurationError("column", self.column, "must be a non-empty name not already in the input")

    def _weights(self) -> list[Fraction]:
        exact = [_exact(v) for v in self.fractions.values()]
        total = sum(exact)
        return [w / total for w in exact]

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """The input columns followed by ``column``."""
        return [*input_features, self.column]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the split column; no row is removed."""
        if self.column in batch.columns:
            raise DataContractError(f"{self.rule_name}: column {self.column!r} already exists in the input")
        codes = self._assign(batch)
        names = pd.Categorical.from_codes(codes, categories=pd.Index(list(self.fractions), dtype="str"))
        return BatchResult(data=batch.assign(**{self.column: pd.Series(names, index=batch.index)}))


class Sample(_KeyedAssigner):
    """Keep a seeded sample of exactly ``round(n * fraction)`` rows per stratum (or overall).

    Halves round up. The other rows are dropped under the rule ``sample``. Fitted as
    :class:`StratifiedSplit` with the two parts (kept, dropped): ``thresholds_``, ``counts_``,
    ``default_thresholds_``.

    :param fraction: share of the rows to keep, in [0, 1].
    :param stratify_by: column whose values define the strata, or None to sample overall.
    :param random_state: seed of the choice.
    """

    def __init__(self, fraction: float, stratify_by: str | None = None, random_state: int = 0) -> None:
        self.fraction = fraction
        self.stratify_by = stratify_by
        self.random_state = random_state

    def writes_column(self, name: str) -> bool:
        return False

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        if not _is_fraction(self.fraction):
            raise ConfigurationError("fraction", self.fraction, "must be a number in [0, 1]")
        self._check_common(columns)

    def _weights(self) -> list[Fraction]:
        keep = _exact(self.fraction)
        return [keep, 1 - keep]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Keep the sampled rows; count the others as dropped by ``"sample"``."""
        dropped = self._assign(batch) == 1
        return drop_rows(batch, pd.Series(dropped, index=batch.index), self.rule_name)


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class SystematicSample(BatchTransformer):
    """Keep the rows at positions ``start``, ``start + step``, ``start + 2 * step``, ...

    The other rows (including those before ``start``) are dropped under the rule
    ``"systematic_sample"``. Of ``n`` input rows, ``max(0, ceil((n - start) / step))`` are kept.

    :param step: keep one row in ``step`` (1 keeps every row from ``start`` on).
    :param start: position of the first kept row.
    """

    def __init__(self, step: int, start: int = 0) -> None:
        self.step = step
        self.start = start

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value."""
        if not _is_count(self.step, 1):
            raise ConfigurationError("step", self.step, "must be an integer >= 1")
        if not _is_count(self.start, 0):
            raise ConfigurationError("start", self.start, "must be an integer >= 0")

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Keep every ``step``-th row from ``start`` on; count the others as dropped."""
        self.check_params()
        index = batch.index
        if len(index) and (not pd.api.types.is_integer_dtype(index) or index.min() < 0):
            raise DataContractError(f"{self.rule_name}: the index must hold the rows' input positions (integers >= 0)")
        offset = index.to_numpy(dtype=np.int64) - self.start
        keep = (offset >= 0) & (offset % self.step == 0)
        return drop_rows(batch, pd.Series(~keep, index=index), self.rule_name)
