"""Basic transformations at ingestion, for every connector: renames, dtype mapping, filters, column
selection. Applied to each :class:`~dataframe_pipeline.ingest.base.SourceBatch` in that order, so
dtypes and filters name the columns as renamed, and filters compare typed values.

- ``rename``: ``{"old": "new"}``;
- ``dtypes``: ``{"amount": "double", "ts": "timestamp[us, tz=UTC]"}`` (Arrow type names); a row whose
  value does not convert is quarantined with the column, the value and the type;
- ``filters``: ``[["country", "in", ["DE", "FR"]], ["amount", ">", 0], ["email", "is not null"]]``;
  rows failing a filter are dropped by the named rule ``filter:<column> <op> <value>`` (counted, not
  quarantined: they are not bad, just not wanted);
- ``columns``: the columns to keep (the provenance columns are always kept).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN, concat_rejected
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.ingest.base import SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, SourceBatch

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

OPERATORS = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}
SET_OPERATORS = ("in", "not in")
NULL_OPERATORS = ("is null", "is not null")
PROVENANCE = (SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN)
CAST_RULE = "ingest_dtype"


def _type(column: str, name: str) -> pa.DataType:
    try:
        return pa.type_for_alias(name)
    except ValueError:
        pass
    if name.startswith("timestamp[") and "tz=" in name:
        unit, tz = name[len("timestamp[") : -1].split(",", 1)
        return pa.timestamp(unit.strip(), tz=tz.split("=", 1)[1].strip())
    raise ConfigurationError(f"dtypes.{column}", name, "is not an Arrow type name (e.g. int64, double, string)")


@dataclass(frozen=True)
class Shaping:
    """What to do to every batch at ingestion. Validate with :meth:`validate`."""

    filters: Sequence[Sequence[Any]] | None = None
    columns: Sequence[str] | None = None
    rename: Mapping[str, str] | None = None
    dtypes: Mapping[str, str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.filters or self.columns or self.rename or self.dtypes)

    def validate(self) -> None:
        for i, spec in enumerate(self.filters or []):
            _check_filter(i, spec)
        if self.columns is not None and (
            isinstance(self.columns, str) or not all(isinstance(c, str) for c in self.columns)
        ):
            raise ConfigurationError("columns", self.columns, "must be a list of column names")
        if self.rename is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.rename.items()
        ):
            raise ConfigurationError("rename", self.rename, "must map column names to new names")
        for column, name in (self.dtypes or {}).items():
            _type(column, name)

    def check_columns(self, available: Sequence[str]) -> None:
        """Raise DataContractError naming the configured columns the source does not have."""
        missing = sorted(set(self.rename or {}) - set(available))
        renamed = [(self.rename or {}).get(c, c) for c in available]
        wanted = {f[0] for f in self.filters or []} | set(self.columns or []) | set(self.dtypes or {})
        missing += sorted(wanted - set(renamed))
        if missing:
            raise DataContractError(f"ingest columns {missing} are not in the source's columns {renamed}")


def _check_filter(i: int, spec: Any) -> None:
    if not isinstance(spec, list | tuple) or len(spec) not in (2, 3) or not isinstance(spec[0], str):
        raise ConfigurationError(f"filters[{i}]", spec, "must be [column, operator, value] or [column, 'is null']")
    op = spec[1]
    if op in NULL_OPERATORS:
        if len(spec) != 2:
            raise ConfigurationError(f"filters[{i}]", spec, f"'{op}' takes no value")
        return
    if len(spec) != 3 or (op not in OPERATORS and op not in SET_OPERATORS):
        known = sorted([*OPERATORS, *SET_OPERATORS, *NULL_OPERATORS])
        raise ConfigurationError(f"filters[{i}].operator", op, f"must be one of {known}")
    if op in SET_OPERATORS and not isinstance(spec[2], list | tuple):
        raise ConfigurationError(f"filters[{i}].value", spec[2], f"'{op}' needs a list")


def _rule(spec: Sequence[Any]) -> str:
    return "filter:" + " ".join(json.dumps(p) if i == 2 else str(p) for i, p in enumerate(spec))


def _keep_mask(table: pa.Table, spec: Sequence[Any]) -> pa.ChunkedArray:
    column, op = table[spec[0]], spec[1]
    if op == "is null":
        return pc.is_null(column)
    if op == "is not null":
        return pc.is_valid(column)
    value = spec[2]
    if op in SET_OPERATORS:
        values = pa.array(list(value)).cast(column.type) if len(value) else pa.array([], column.type)
        mask = pc.is_in(column, value_set=values)
        return pc.invert(mask) if op == "not in" else mask
    try:
        scalar = pa.scalar(value).cast(column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise DataContractError(f"filter {list(spec)}: {value!r} does not compare with {column.type} ({err})") from err
    return pc.fill_null(OPERATORS[op](column, scalar), False)


def _apply_filters(table: pa.Table, filters: Sequence[Sequence[Any]]) -> tuple[pa.Table, Counter[str]]:
    dropped: Counter[str] = Counter()
    for spec in filters:
        mask = _keep_mask(table, spec)
        kept = table.filter(mask)
        if kept.num_rows != table.num_rows:
            dropped[_rule(spec)] += table.num_rows - kept.num_rows
        table = kept
    return table, dropped


def _rename(table: pa.Table, rename: Mapping[str, str] | None) -> pa.Table:
    return table.rename_columns([rename.get(c, c) for c in table.column_names]) if rename else table


def _select(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    if columns is None:
        return table
    return table.select([*columns, *(c for c in PROVENANCE if c in table.column_names and c not in columns)])


def _cast(table: pa.Table, dtypes: Mapping[str, str]) -> tuple[pa.Table, pd.DataFrame]:
    """Cast columns; rows with a value that does not convert are taken out (returned as rejected)."""
    bad = pa.array([False] * table.num_rows)
    reasons: dict[int, list[str]] = {}
    casted = {}
    for column, name in dtypes.items():
        target = _type(column, name)
        values = table[column]
        try:
            casted[column] = values.cast(target)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        converted = []
        for i, value in enumerate(values.to_pylist()):
            try:
                converted.append(pa.scalar(value).cast(target).as_py() if value is not None else None)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                converted.append(None)
                reasons.setdefault(i, []).append(f"{column}: cannot convert {value!r} to {target}")
        casted[column] = pa.array(converted, target)
    if reasons:
        bad = pa.array([i in reasons for i in range(table.num_rows)])
    for column, array in casted.items():
        table = table.set_column(table.column_names.index(column), column, array)
    if not reasons:
        return table, pd.DataFrame()
    rejected = table.filter(bad).to_pandas()
    rejected.index = rejected[SOURCE_LINE_COLUMN].to_numpy() if SOURCE_LINE_COLUMN in rejected else rejected.index
    rejected[RULE_COLUMN] = CAST_RULE
    rejected[REASON_COLUMN] = ["; ".join(reasons[i]) for i in sorted(reasons)]
    return table.filter(pc.invert(bad)), rejected


def shape_batch(batch: SourceBatch, shaping: Shaping) -> SourceBatch:
    """Renames, dtypes, filters, selection; the row accounting stays exact."""
    table = batch.table
    if shaping.empty or (table.num_rows == 0 and set(table.column_names) <= set(PROVENANCE)):
        return batch  # nothing to shape (a connector's schema-less empty batch)
    shaping.check_columns(table.column_names)
    table = _rename(table, shaping.rename)
    rejected = pd.DataFrame()
    if shaping.dtypes:
        table, rejected = _cast(table, shaping.dtypes)
    table, dropped = _apply_filters(table, shaping.filters or [])
    return replace(
        batch,
        table=_select(table, shaping.columns),
        rejected=concat_rejected([batch.rejected, rejected]),
        rows_in=batch.accounting().rows_in,
        dropped=dict(Counter(batch.dropped) + dropped),
    )


def shape_batches(batches: Iterable[SourceBatch], shaping: Shaping | None) -> Iterator[SourceBatch]:
    for batch in batches:
        yield shape_batch(batch, shaping) if shaping is not None else batch
