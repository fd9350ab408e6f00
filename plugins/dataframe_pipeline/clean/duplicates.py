"""Exact duplicate rows: found in a fit pass over the whole input, dropped by rule in the transform pass.

Only hashes and positions are kept while fitting (16 bytes per row), so the whole input never has to
be in memory. Columns whose name starts with ``_`` (``_source_file``, ``_source_line``, ...) carry
provenance, which differs between copies of the same record, so they are never compared.

Rows are compared on their values *as typed*: ``1`` in an ``int64`` column and ``1.0`` in a ``float64``
column hash differently, so run this after :class:`~dataframe_pipeline.clean.coercion.TypeCoercion`,
which gives every batch the same dtypes. Two different rows collide with probability about
``n**2 / 2**65`` (64-bit hashes), negligible below a billion rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import drop_rows
from dataframe_pipeline.core.transform import BatchTransformer, NotFittedError
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from typing import Self

    from dataframe_pipeline.core.batch import BatchResult

KEEP_OPTIONS = ("first", "last")


class ExactDuplicates(BatchTransformer):
    """Drop rows whose compared values repeat another row of the input (rule ``exact_duplicate``).

    The transform drops *positions* found during the fit, so it must be applied to the same input
    (same row positions) it was fitted on; it is not meant to be re-applied to other data.

    :param subset: the columns to compare; ``None`` compares every column not starting with ``_``.
    :param keep: which copy survives: ``"first"`` (lowest position) or ``"last"`` (highest).
    """

    stateful: ClassVar[bool] = True
    rule_name: ClassVar[str] = "exact_duplicate"

    def __init__(self, subset: list[str] | None = None, keep: str = "first") -> None:
        self.subset = subset
        self.keep = keep

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for an unknown ``keep`` or a bad or absent ``subset`` column."""
        if self.keep not in KEEP_OPTIONS:
            raise ConfigurationError("keep", self.keep, f"must be one of {list(KEEP_OPTIONS)}")
        if self.subset is None:
            return
        if isinstance(self.subset, str) or not isinstance(self.subset, Sequence) or not self.subset:
            raise ConfigurationError("subset", self.subset, "must be a non-empty list of column names")
        for name in self.subset:
            if columns is not None and name not in columns:
                raise ConfigurationError("subset", name, f"not a column of the input {list(columns)}")

    def columns_read(self) -> list[str] | None:
        """The ``subset``; None (every column) without one."""
        return list(self.subset) if self.subset is not None else None

    def writes_column(self, name: str) -> bool:
        return False

    def _reset(self) -> None:
        self._hashes: list[np.ndarray] = []
        self._positions: list[np.ndarray] = []
        for name in ("duplicate_positions_", "n_duplicates_"):
            self.__dict__.pop(name, None)

    def _key_columns(self, batch: pd.DataFrame) -> list[str]:
        if self.subset is not None:
            absent = [c for c in self.subset if c not in batch.columns]
            if absent:
                raise DataContractError(f"ExactDuplicates: subset columns {absent} are not in the batch")
            return list(self.subset)
        columns = [c for c in batch.columns if not str(c).startswith("_")]
        if not columns:
            raise DataContractError(
                f"ExactDuplicates: no column to compare in {list(batch.columns)} (all are provenance)"
            )
        return columns

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Record the hash and the input position of every row of ``batch``.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_hashes") or hasattr(self, "duplicate_positions_"):
            # First call, or first call after finish_fit(): a new fit starts.
            self._reset()
        keys = batch[self._key_columns(batch)]
        self._hashes.append(pd.util.hash_pandas_object(keys, index=False).to_numpy(np.uint64))
        self._positions.append(batch.index.to_numpy(np.int64))
        return self

    def finish_fit(self) -> Self:
        """Compute ``duplicate_positions_`` (sorted int64 positions to drop) and ``n_duplicates_``.

        The per-row hashes are released; a later ``partial_fit`` starts a new fit.
        """
        if not hasattr(self, "_hashes"):
            self._reset()
        hashes = np.concatenate([np.empty(0, np.uint64), *self._hashes])
        positions = np.concatenate([np.empty(0, np.int64), *self._positions])
        # Sorting by (hash, position) puts every group of copies together, oldest first.
        order = np.lexsort((positions, hashes))
        hashes, positions = hashes[order], positions[order]
        same_as_previous = np.zeros(len(hashes), dtype=bool)
        same_as_previous[1:] = hashes[1:] == hashes[:-1]
        if self.keep == "last":
            # A row is a duplicate when a later copy exists, i.e. the next row in sort order matches.
            repeated = np.roll(same_as_previous, -1)
            if len(repeated):
                repeated[-1] = False
        else:
            repeated = same_as_previous
        self.duplicate_positions_ = np.sort(positions[repeated]).astype(np.int64)
        self.n_duplicates_ = len(self.duplicate_positions_)
        # The per-row arrays are not part of the fitted state (which is saved with the run).
        self._hashes, self._positions = [], []
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Drop the rows of ``batch`` whose position is in ``duplicate_positions_``.

        :param batch: a batch of the input the transformer was fitted on, indexed by input position.
        """
        if not hasattr(self, "duplicate_positions_"):
            raise NotFittedError("ExactDuplicates.transform() called before fit()/finish_fit()")
        is_duplicate = _in_sorted(batch.index.to_numpy(np.int64), self.duplicate_positions_)
        return drop_rows(batch, pd.Series(is_duplicate, index=batch.index), self.rule_name)


def _in_sorted(values: np.ndarray, sorted_array: np.ndarray) -> np.ndarray:
    """Membership test against a sorted array in O(len(values) log len(sorted_array)).

    ``np.isin`` would re-sort ``sorted_array`` for every batch.
    """
    if not len(sorted_array):
        return np.zeros(len(values), dtype=bool)
    where = np.minimum(np.searchsorted(sorted_array, values), len(sorted_array) - 1)
    return sorted_array[where] == values
