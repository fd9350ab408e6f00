"""Duplicates: exact duplicate rows, and the older versions of a row sharing a key.

:class:`ExactDuplicates` drops exact duplicate rows by rule without holding the input in memory.

``keep="first"`` needs no fit pass: the transform streams, remembering the 64-bit hash of every row
it has let through (8 bytes per row, in sorted runs merged like a log-structured merge tree, so a
batch costs O(rows log rows)); a row is a duplicate when its hash was seen at an earlier position.
The engine calls :meth:`ExactDuplicates.begin_pass` before each pass, and batches must arrive in
input order (checked). ``keep="last"`` needs the whole input first: a fit pass keeps hashes and
positions (16 bytes per row) and the transform drops the positions found. Calling :meth:`fit`
explicitly also works for ``"first"`` (the transform then drops the fitted positions).

Columns whose name starts with ``_`` (``_source_file``, ``_source_line``, ...) carry provenance,
which differs between copies of the same record, so they are never compared.

Rows are compared on their values *as typed*: ``1`` in an ``int64`` column and ``1.0`` in a ``float64``
column hash differently, so run this after :class:`~dataframe_pipeline.clean.coercion.TypeCoercion`,
which gives every batch the same dtypes. Two different rows collide with probability about
``n**2 / 2**65`` (64-bit hashes), negligible below a billion rows.

Text columns (pandas' ``str`` dtype, Arrow strings) are hashed by DuckDB's vectorised, multi-threaded
``hash()`` straight from their Arrow buffers; pandas would first turn every value into a Python
object and hash it one at a time (5x slower on the pipeline benchmark's orders), and through numpy
text when the batch holds ``pd.NA``, which drops trailing NUL characters (``"a"`` and ``"a\\x00"``
would be duplicates). Equal strings hash the same, and a null differs from ``""``. Other dtypes keep
pandas' hashing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from dataframe_pipeline.core.batch import drop_rows
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from typing import Self

    from dataframe_pipeline.core.batch import BatchResult
KEEP_OPTIONS = ("first", "last")


class ExactDuplicates(BatchTransformer):
    """Drop rows whose compared values repeat another row of the input (counted under the rule ``exact_duplicates``).

    The transform drops *positions* found during the fit, so it must be applied to the same input
    (same row positions) it was fitted on; it is not meant to be re-applied to other data.

    :param subset: the columns to compare; ``None`` compares every column not starting with ``_``.
    :param keep: which copy survives: ``"first"`` (lowest position) or ``"last"`` (highest).
    """

    def __init__(self, subset: list[str] | None = None, keep: str = "first") -> None:
        self.subset = subset
        self.keep = keep

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        """Only ``keep="last"`` needs a fit pass; ``"first"`` streams (see the module docstring)."""
        return self.keep == "last"

    def begin_pass(self) -> None:
        """Forget the rows seen by the streaming transform: a new pass over the input starts."""
        self._seen = _SeenHashes()

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
        self._distinct_columns: frozenset[str] | None = None
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
        if self._distinct_columns is None:  # decided on the first batch, kept for the whole fit
            self._distinct_columns = mostly_distinct(keys)
        self._hashes.append(row_hashes(keys, self._distinct_columns))
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
        self._hashes, self._positions, self._distinct_columns = [], [], None
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Drop the rows of ``batch`` whose position is in ``duplicate_positions_`` (after a fit), or,
        unfitted with ``keep="first"``, the rows equal to a row seen earlier in this pass.

        :param batch: a batch of the input the transformer was fitted on, indexed by input position.
        """
        if hasattr(self, "duplicate_positions_"):
            is_duplicate = _in_sorted(batch.index.to_numpy(np.int64), self.duplicate_positions_)
        elif self.keep == "first":
            is_duplicate = self._stream(batch)
        else:
            raise NotFittedError("ExactDuplicates(keep='last').transform() called before fit()/finish_fit()")
        return drop_rows(batch, pd.Series(is_duplicate, index=batch.index), self.rule_name)

    def _stream(self, batch: pd.DataFrame) -> np.ndarray:
        seen = self.__dict__.setdefault("_seen", _SeenHashes())
        positions = batch.index.to_numpy(np.int64)
        if len(positions):
            if seen.last_position is not None and positions[0] <= seen.last_position:
                raise DataContractError(
                    f"ExactDuplicates: batch starting at position {positions[0]} arrives after position "
                    f"{seen.last_position}; the streaming transform needs the input in order (begin_pass() "
                    "starts a new pass)"
                )
            seen.last_position = int(positions[-1])
        keys = batch[self._key_columns(batch)]
        if seen.distinct_columns is None:
            seen.distinct_columns = mostly_distinct(keys)
        hashes = row_hashes(keys, seen.distinct_columns)
        # sorted distinct hashes, the first row of each, and each row's hash as an index into them
        distinct, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        seen_before = seen.contains(distinct)  # sorted needles: cache-friendly searches
        is_duplicate = np.ones(len(hashes), dtype=bool)
        is_duplicate[first] = False
        is_duplicate |= seen_before[inverse.ravel()]
        seen.add(distinct[~seen_before])
        return is_duplicate


#: the largest run _SeenHashes merges into (64 MiB of hashes): a merge holds both runs and the result at
#: once, so unbounded runs doubled the set at each power of two (52M hashes, a 416 MB set: peak +832 MB
#: unbounded, +501 MB with this cap, measured)
MAX_RUN = 1 << 23


class _SeenHashes:
    """A set of uint64 hashes as sorted runs of decreasing size: adding merges the new run with the
    last ones while they are no larger (a binary counter), so there are O(log n) runs to search and
    each hash is merged O(log n) times. Runs stop growing at :data:`MAX_RUN` hashes, so a merge's
    transient memory is bounded (a few runs of that size), not proportional to the whole set; past
    that, each further :data:`MAX_RUN` hashes add one run to search."""

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []
        self.last_position: int | None = None
        self.distinct_columns: frozenset[str] | None = None

    def contains(self, values: np.ndarray) -> np.ndarray:
        found = np.zeros(len(values), dtype=bool)
        for run in self.runs:
            found |= _in_sorted(values, run)
        return found

    def add(self, distinct_sorted: np.ndarray) -> None:
        run = distinct_sorted
        if not len(run):
            return
        while self.runs and len(self.runs[-1]) <= len(run) and len(self.runs[-1]) + len(run) <= MAX_RUN:
            run = np.concatenate([self.runs.pop(), run])  # the two runs are released here
            run.sort(kind="stable")  # timsort: two sorted runs merge in linear time
            repeated = np.flatnonzero(run[1:] == run[:-1])
            if len(repeated):  # only a hash added twice (not possible from add's callers): no copy otherwise
                run = np.delete(run, repeated + 1)
        self.runs.append(run)


def mostly_distinct(keys: pd.DataFrame, sample: int = 2000) -> frozenset[str]:
    """The columns whose first ``sample`` values are mostly distinct (ids, timestamps, e-mails).

    pandas hashes a column either through its distinct values (``categorize=True``: fast when values
    repeat) or value by value (fast when they do not, 2-4x here on ids); the two give different
    hashes for nulls, so a pass decides once, on its first batch, and keeps the choice.
    """
    head = keys.iloc[:sample]
    return frozenset(c for c in keys.columns if len(head) and head[c].nunique(dropna=False) > len(head) // 10)


def row_hashes(keys: pd.DataFrame, distinct_columns: frozenset[str]) -> np.ndarray:
    """One uint64 hash per row of ``keys``, each column hashed the way that suits it (see above)."""
    text = [c for c in keys.columns if is_text(keys[c].dtype)]
    distinct = [c for c in keys.columns if c in distinct_columns and c not in text]
    repeated = [c for c in keys.columns if c not in distinct_columns and c not in text]
    hashes = text_hashes(keys, text) if text else np.zeros(len(keys), dtype=np.uint64)
    for columns, categorize in ((repeated, True), (distinct, False)):
        if columns:
            part = pd.util.hash_pandas_object(keys[columns], index=False, categorize=categorize)
            # an odd multiplier mixes the parts; uint64 arithmetic wraps around
            hashes = hashes * np.uint64(0x9E3779B97F4A7C15) + part.to_numpy(np.uint64)
    return hashes


def is_text(dtype: Any) -> bool:
    """Whether a column of ``dtype`` holds strings in Arrow memory (pandas' ``str``, ``string[pyarrow]``,
    ``ArrowDtype(pa.string())``): those are hashed by :func:`text_hashes`."""
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    if isinstance(dtype, pd.ArrowDtype):
        return bool(pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype))
    return False


def text_hashes(keys: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One uint64 hash per row of the text ``columns`` of ``keys`` (DuckDB's ``hash(c0, c1, ...)``: equal
    rows hash the same; nulls hash as a constant unlike any string)."""
    table = pa.Table.from_arrays(
        [pa.array(keys[c].array) for c in columns], names=[f"c{i}" for i in range(len(columns))]
    )
    connection, lock = _duckdb()
    with lock:  # one connection, used by one thread at a time
        connection.register("text_keys", table)
        try:
            # the names are ours (c0, c1, ...), never the data's
            hashes = connection.execute(f"SELECT hash({', '.join(table.column_names)}) AS h FROM text_keys")  # noqa: S608
            result = hashes.fetchnumpy()["h"]
        finally:
            connection.unregister("text_keys")
    return np.asarray(result, dtype=np.uint64)


def _duckdb() -> tuple[Any, threading.Lock]:
    """An in-memory DuckDB connection for :func:`text_hashes`, kept (opening one costs ~20 ms) per
    process: a connection does not survive a fork (workers fork task processes)."""
    return _duckdb_of_process(os.getpid())


@cache
def _duckdb_of_process(pid: int) -> tuple[Any, threading.Lock]:
    import duckdb

    return duckdb.connect(), threading.Lock()


def _in_sorted(values: np.ndarray, sorted_array: np.ndarray) -> np.ndarray:
    """Membership test against a sorted array in O(len(values) log len(sorted_array)).

    ``np.isin`` would re-sort ``sorted_array`` for every batch.
    """
    if not len(sorted_array):
        return np.zeros(len(values), dtype=bool)
    where = np.minimum(np.searchsorted(sorted_array, values), len(sorted_array) - 1)
    return sorted_array[where] == values


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
    """Drop all but one row per key (counted under the rule ``key_duplicates``).

    :param keys: the columns identifying a record.
    :param keep_latest_by: the version column (numeric or datetime) deciding which row survives.
    :param keep: ``"last"``: the greatest version survives (ties: the last in input order);
        ``"first"``: the smallest version (ties: the first in input order). Null versions rank lowest.
    """

    stateful: ClassVar[bool] = True

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
