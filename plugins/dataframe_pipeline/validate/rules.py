"""This project's row-level expectations: a referential check and custom business rules.

Each gives, per batch, a mask of the rows that fail it, so its counts add up like a column-map
expectation's and its failing rows can be quarantined (``on_failure: "quarantine"``).

``expect_column_values_to_be_in_dataset`` (kwargs ``column``, ``dataset``, ``dataset_column``, default
the same name): every non-missing value of ``column`` must be a value of ``dataset_column`` in another
dataset, a committed dataset of the lake (its URI) or a Parquet file or folder (a path or URI). The other
dataset's keys are streamed once, at the first batch, into a sorted array of 64-bit hashes (8 bytes per
distinct key); missing values are not checked (as GX's column-map expectations).

``expect_rows_to_pass_rule`` (kwargs ``rule: "package.module:ClassName"``, optional ``params``): a class
with the protocol of :class:`RowRule`: built with ``params`` as keyword arguments, its ``mask(batch)``
returns a boolean Series aligned on the batch, True where the row passes. A row rule sees one batch at
a time, so it must decide each row on that row alone.

``expect_rows_to_pass_expression`` (kwargs ``expression``, optional ``name``): a pandas expression
evaluated with ``DataFrame.eval`` on each batch, e.g. ``"amount >= 0 or returned == 1"``; a row fails
where it is False or missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.validate.aggregates import value_hashes
from dataframe_pipeline.validate.results import MapCounts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataframe_pipeline.validate.suite import Check

#: rows per batch when streaming the keys of a referenced dataset
KEY_BATCH_ROWS = 500_000


class RowRule(Protocol):
    """A custom business rule: ``mask(batch)`` is True where a row passes (index aligned on ``batch``)."""

    def mask(self, batch: pd.DataFrame) -> pd.Series: ...


def _import_rule(target: str) -> type:
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def check_row(check: Check) -> None:
    """Raise ConfigurationError for a row check whose arguments are missing or wrong."""
    where = f"expectations[{check.index}].kwargs ({check.type})"
    kwargs = check.kwargs
    if check.type == "expect_column_values_to_be_in_dataset":
        for name in ("column", "dataset"):
            if not isinstance(kwargs.get(name), str) or not kwargs[name]:
                raise ConfigurationError(f"{where}.{name}", kwargs.get(name), "must be a non-empty string")
    elif check.type == "expect_rows_to_pass_rule":
        _check_rule_class(where, kwargs)
    else:
        expression = kwargs.get("expression")
        if not isinstance(expression, str) or not expression.strip():
            raise ConfigurationError(f"{where}.expression", expression, "must be a non-empty string")
        try:
            compile(expression, "<expression>", "eval")
        except SyntaxError as err:
            raise ConfigurationError(f"{where}.expression", expression, f"not an expression: {err.msg}") from err


def _check_rule_class(where: str, kwargs: Mapping[str, Any]) -> None:
    target = kwargs.get("rule")
    if not isinstance(target, str) or ":" not in target:
        raise ConfigurationError(f"{where}.rule", target, "must be 'package.module:ClassName'")
    try:
        cls = _import_rule(target)
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(f"{where}.rule", target, f"cannot import it: {err}") from err
    if not callable(getattr(cls, "mask", None)):
        raise ConfigurationError(f"{where}.rule", target, "has no mask(batch) method (see RowRule)")
    if not isinstance(kwargs.get("params", {}), dict):
        raise ConfigurationError(f"{where}.params", kwargs.get("params"), "must be a mapping")


def _read_keys(dataset: str, column: str) -> np.ndarray:
    """Sorted distinct hashes of the non-missing values of ``column`` in ``dataset``."""
    import fsspec
    import pyarrow.dataset as ds

    from dataframe_pipeline.core.dataset import MANIFEST, DatasetReader

    fs, path = fsspec.core.url_to_fs(dataset)
    runs: list[np.ndarray] = []
    if fs.exists(f"{path.rstrip('/')}/{MANIFEST}"):
        frames = DatasetReader(fs, path, uri=dataset).iter_batches(KEY_BATCH_ROWS, [column])
    else:
        source = ds.dataset(path, filesystem=fs, format="parquet")
        if column not in source.schema.names:
            raise DataContractError(f"{dataset} has no column {column!r} (columns: {source.schema.names})")
        frames = (b.to_pandas() for b in source.to_batches(columns=[column], batch_size=KEY_BATCH_ROWS))
    for frame in frames:
        values = frame[column].dropna()
        if len(values):
            runs.append(np.unique(value_hashes(values.to_frame())))
    return np.unique(np.concatenate(runs)) if runs else np.empty(0, np.uint64)


class RowCheck:
    """The per-batch failing-row mask of a row check, and its counts."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.counts = MapCounts(has_missing=check.type == "expect_column_values_to_be_in_dataset")
        self._keys: np.ndarray | None = None
        self._rule: Any = None

    def failing(self, batch: pd.DataFrame) -> tuple[pd.Series, pd.Series | None]:
        """The rows that fail (bool Series) and the values to name in their reason (or None)."""
        kwargs = self.check.kwargs
        if self.check.type == "expect_column_values_to_be_in_dataset":
            column = kwargs["column"]
            if column not in batch.columns:
                raise DataContractError(f"column {column!r} is not in the data")
            if self._keys is None:
                self._keys = _read_keys(kwargs["dataset"], kwargs.get("dataset_column") or column)
            values = batch[column]
            present = values.notna().to_numpy()
            bad = np.zeros(len(batch), dtype=bool)
            if present.any():
                hashes = value_hashes(values[present].to_frame())
                where = np.minimum(np.searchsorted(self._keys, hashes), max(len(self._keys) - 1, 0))
                found = self._keys[where] == hashes if len(self._keys) else np.zeros(len(hashes), bool)
                bad[np.flatnonzero(present)] = ~found
            return pd.Series(bad, index=batch.index), values
        if self.check.type == "expect_rows_to_pass_rule":
            if self._rule is None:
                self._rule = _import_rule(kwargs["rule"])(**dict(kwargs.get("params") or {}))
            passed = pd.Series(self._rule.mask(batch), index=batch.index)
        else:
            passed = pd.Series(batch.eval(kwargs["expression"]), index=batch.index)
        return ~passed.fillna(False).astype(bool), None

    def update(self, batch: pd.DataFrame) -> pd.Series:
        """Count one batch; returns the failing-row mask (all False when the check could not run)."""
        try:
            bad, values = self.failing(batch)
        except (DataContractError, KeyError, ValueError, TypeError, NameError, SyntaxError) as err:
            self.counts.exception = self.counts.exception or f"{type(err).__name__}: {err}"
            return pd.Series(False, index=batch.index)
        missing = int(values.isna().sum()) if values is not None else 0
        examples = values[bad].head(10).tolist() if values is not None else batch[bad].head(10).to_dict("records")
        self.counts.add(len(batch), int(bad.sum()), missing, examples)
        return bad

    def reasons(self, batch: pd.DataFrame, bad: pd.Series) -> pd.Series | str:
        """The quarantine reason of each failing row, with the value when there is one."""
        column = self.check.column
        if column is not None and column in batch.columns:
            return f"{self.check.type}: {column}=" + batch.loc[bad, column].astype(str)
        text = self.check.kwargs.get("expression") or self.check.kwargs.get("rule")
        return f"{self.check.type}: {text}"
