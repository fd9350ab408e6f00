"""Column checks shared by the transformers: configuration (ConfigurationError, before any data is
read) and data contract (DataContractError, on a batch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd


def check_column_list(value: object, columns: Sequence[str] | None, field: str = "columns") -> None:
    """Raise ``ConfigurationError`` unless ``value`` is a non-empty list of distinct names found in ``columns``."""
    if not isinstance(value, list | tuple) or not value or not all(isinstance(c, str) for c in value):
        raise ConfigurationError(field, value, "must be a non-empty list of column names")
    if len(set(value)) != len(value):
        raise ConfigurationError(field, value, "names a column more than once")
    if columns is not None:
        missing = [c for c in value if c not in columns]
        if missing:
            raise ConfigurationError(field, value, f"not in the input columns {list(columns)}: {missing}")


def require_columns(batch: pd.DataFrame, columns: Sequence[str], who: str) -> None:
    """Raise ``DataContractError`` when ``batch`` lacks one of ``columns``."""
    missing = [c for c in columns if c not in batch.columns]
    if missing:
        raise DataContractError(f"{who}: input lacks column(s) {missing}; it has {list(batch.columns)}")


def check_names(field: str, value: object, columns: Sequence[str] | None) -> None:
    """Like :func:`check_column_list`, naming the first unknown column alone."""
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ConfigurationError(field, value, "must be a non-empty list of column names")
    check_present(field, value, columns)


def check_present(field: str, names: Sequence[str], columns: Sequence[str] | None) -> None:
    for name in names:
        if columns is not None and name not in columns:
            raise ConfigurationError(field, name, f"not a column of the input {list(columns)}")


def require(owner: str, batch: pd.DataFrame, names: Sequence[str]) -> None:
    """Raise ``DataContractError`` naming the columns of ``names`` that ``batch`` lacks."""
    absent = [c for c in names if c not in batch.columns]
    if absent:
        raise DataContractError(f"{owner}: columns {absent} are not in the batch {list(batch.columns)}")
