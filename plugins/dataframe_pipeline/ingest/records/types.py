"""Arrow types of record values: inferred from the first good records, values fitted to their column's
type exactly (never truncated or rounded), and columns cast to ``column_types`` with the failing rows found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.exceptions import (
    DataContractError,
)
from dataframe_pipeline.ingest.records.flatten import _json_text, _shown

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# integers beyond this do not convert to double exactly
_DOUBLE_EXACT = 2**53


_NONE = type(None)


def _fit_string(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, str):
        return True, value
    return True, _json_text(value)


def _fit_bool(value: Any) -> tuple[bool, Any]:
    return value is None or isinstance(value, bool), value


def _fit_int64(value: Any) -> tuple[bool, Any]:
    if value is None:
        return True, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 2.0 is 2 exactly
    ok = isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX
    return ok, value


def _fit_double(value: Any) -> tuple[bool, Any]:
    """A float, or an int only when the double holds it exactly (``|n| <= 2**53``)."""
    if value is None or (isinstance(value, float)):
        return True, value
    ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _DOUBLE_EXACT
    return ok, float(value) if ok else None


_FITTERS: dict[pa.DataType, Callable[[Any], tuple[bool, Any]]] = {
    pa.string(): _fit_string,
    pa.bool_(): _fit_bool,
    pa.int64(): _fit_int64,
    pa.float64(): _fit_double,
}


# the Python types Arrow converts to each type exactly as the fitters would (Arrow truncates 3.5 to
# an int64 and takes True as a double: those go through the fitters); int -> double is checked by
# Arrow against the same 2**53 bound
_ARROW_EXACT: dict[pa.DataType, frozenset[type]] = {
    pa.string(): frozenset({str, _NONE}),
    pa.bool_(): frozenset({bool, _NONE}),
    pa.int64(): frozenset({int, _NONE}),
    pa.float64(): frozenset({int, float, _NONE}),
}


def _safe_array(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array | None:
    """``values`` as an Arrow array when Arrow converts every one of them exactly; None when some
    value must be checked on its own (the fast path: one pass in C for a clean column)."""
    kinds = _ARROW_EXACT.get(arrow_type)
    if kinds is None or not kinds.issuperset(map(type, values)):
        return None
    try:
        return pa.array(values, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None  # an int beyond int64, or not exact as a double


def _infer_type(values: Iterable[Any]) -> pa.DataType:
    """The Arrow type of a JSON column from its values in the group that decides the schema."""
    present = [value for value in values if value is not None]
    kinds = set(map(type, present))
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        # integers beyond int64 are kept exactly, as text
        return pa.int64() if min(present) >= _INT64_MIN and max(present) <= _INT64_MAX else pa.string()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _cast_columns(table: pa.Table, types: Mapping[str, pa.DataType], source: str) -> tuple[pa.Table, dict[int, str]]:
    """Convert columns to ``types``; rows with a value that does not convert are removed.

    :returns: the converted table, and row index (in ``table``) -> reason for the removed rows.
    :raises DataContractError: a column's type has no conversion to the target at all.
    """
    failures: dict[int, str] = {}
    converted: dict[str, pa.ChunkedArray] = {}
    for name, target in types.items():
        column = table.column(name)
        if column.type == target:
            continue
        result = _try_cast(column, target, name, source)
        if result is None:
            for index, reason in _cast_failures(column, name, target).items():
                failures.setdefault(index, reason)
        else:
            converted[name] = result
    if failures:
        table = table.filter(pa.array([i not in failures for i in range(table.num_rows)], pa.bool_()))
        converted = {name: pc.cast(table.column(name), target) for name, target in types.items()}
    for name, column in converted.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table, failures


def _try_cast(column: pa.ChunkedArray, target: pa.DataType, name: str, source: str) -> pa.ChunkedArray | None:
    """``column`` converted, or None when some value does not convert."""
    try:
        return pc.cast(column, target)
    except pa.ArrowNotImplementedError as exc:
        raise DataContractError(
            f"{source}: column {name!r} of type {column.type} cannot be converted to {target}"
        ) from exc
    except pa.ArrowInvalid:
        return None


def _cast_failures(column: pa.ChunkedArray | pa.Array, name: str, target: pa.DataType) -> dict[int, str]:
    """Row index -> reason for the values that do not convert (only run when a conversion failed)."""
    values = column.to_pylist()
    failures: dict[int, str] = {}
    verdicts: dict[Any, bool] = {}
    for index, value in enumerate(values):
        if value is None:
            continue
        key = repr(value) if isinstance(value, dict | list) else value
        if key not in verdicts:
            verdicts[key] = _scalar_casts(value, column.type, target)
        if not verdicts[key]:
            failures[index] = f"column {name!r}: cannot convert {_shown(value)} to {target}"
    return failures


def _scalar_casts(value: Any, source_type: pa.DataType, target: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], source_type), target)
    except pa.ArrowInvalid:
        return False
    return True
