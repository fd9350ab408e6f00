"""The shared record layer of ingest: records (JSON objects from files and API pages, XML elements,
table rows) become typed Arrow batches the same way for files, HTTP and SQL, and the ones that
cannot are rejected with the same rules, the same reasons and the same quarantine layout.

**Flattening.** Nested objects become columns joined with ``flatten_sep`` (``{"a": {"b": 1}}`` gives
``a.b``); lists, and objects when ``flatten_sep`` is None, are values, stored as compact JSON text.
An empty object has no fields, so it adds no columns (as ``pandas.json_normalize`` does), except
under a name that already is a column of its own (decided from a record where it was a value):
there an object, empty or not, is that column's value (JSON text in a string column; in another
type it is a type mismatch).

**Schema.** The columns and types of a source are decided by its first group holding a good record
(a file's first such batch, an API's first such page), or by declared ``columns``, and kept, so a
source never changes schema: bool, int64, double (ints and floats mixed) or string (text, lists,
objects, mixed kinds, ints beyond int64, and columns null throughout that group); ``column_types``
converts any column to an Arrow type. Ints become doubles only when exact (``|n| <= 2**53``).

**Later records.** A record with a non-null key outside the columns is rejected; a key whose value
is null carries nothing and is not a rejection (the row has no such column to put it in, and
nothing is lost). A value that does not fit its column's type is rejected; string columns take
any value (non-strings as JSON text).

**Rules** (the ``_rule`` of a quarantined record): :data:`NOT_AN_OBJECT_RULE`,
:data:`DUPLICATE_KEY_RULE`, :data:`DUPLICATE_COLUMN_RULE`, :data:`UNEXPECTED_COLUMN_RULE`,
:data:`TYPE_MISMATCH_RULE`, :data:`MALFORMED_RECORD_RULE`; blank JSON Lines lines are dropped by
:data:`JSONL_BLANK_LINE_RULE`. A rejected record's row is ``_source_file``, ``_source_line``, its
raw text in :data:`RAW_LINE_COLUMN` (a file's line or record text, an API record as compact JSON,
a typed row as a JSON object), ``_rule`` and ``_reason``, indexed by ``_source_line``.

**Repeated keys.** JSON objects are decoded with an ``object_pairs_hook`` (:data:`UNIQUE_KEYS`)
that notices a key given twice, which plain ``json`` would silently resolve to the last value. A
record holding one at any depth is rejected under :data:`DUPLICATE_KEY_RULE` naming the key's
path; a repeated key outside the records is the reader's to fail on (:func:`_repeated_key`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    DataContractError,
    KeyCollisionError,
    RepeatedKeyError,
)
from dataframe_pipeline.ingest.base import (
    RESERVED_COLUMNS,
    SOURCE_FILE_COLUMN,
    SOURCE_LINE_COLUMN,
    SourceBatch,
    check_source_columns,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from dataframe_pipeline.ingest.files.format import FileFormat


#: the column of a rejected record's raw text (the line, or the record's JSON or XML)
RAW_LINE_COLUMN = "_raw_line"
#: a JSON Lines line or XML record that cannot be read
MALFORMED_RECORD_RULE = "malformed_record"
#: a JSON record that is not an object (e.g. a number in the array)
NOT_AN_OBJECT_RULE = "not_an_object"
#: a JSON object of the record holds the same key twice (``{"id": 2, "id": 3}``), at any depth
DUPLICATE_KEY_RULE = "duplicate_key"
#: two values of a record map to the same column name (``"a.b"`` and ``a`` > ``b``; an XML attribute and child)
DUPLICATE_COLUMN_RULE = "duplicate_column"
#: a record with a non-null key outside the source's columns
UNEXPECTED_COLUMN_RULE = "unexpected_column"
#: a value that does not fit its column's type
TYPE_MISMATCH_RULE = "type_mismatch"
#: blank lines of a JSON Lines file (dropped, not quarantined)
JSONL_BLANK_LINE_RULE = "jsonl_blank_line"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# integers beyond this do not convert to double exactly
_DOUBLE_EXACT = 2**53


_REASON_VALUE_CHARS = 200


_NONE = type(None)


class _Options(Protocol):
    """What the record layer reads from a source's configuration (:class:`FileFormat` has it)."""

    @property
    def columns(self) -> Sequence[str] | None: ...

    @property
    def flatten_sep(self) -> str | None: ...

    def arrow_types(self) -> dict[str, pa.DataType]: ...


@dataclass(frozen=True)
class RecordOptions:
    """The record layer's settings for a source without a :class:`FileFormat` (an API).

    :param columns: the expected columns, or None to take them from the first good records.
    :param column_types: Arrow type per column name.
    :param flatten_sep: separator of flattened nested keys; None keeps objects as JSON text.
    """

    columns: Sequence[str] | None = None
    column_types: Mapping[str, pa.DataType] | None = None
    flatten_sep: str | None = "."

    def arrow_types(self) -> dict[str, pa.DataType]:
        return dict(self.column_types or {})


# --- JSON objects holding a key twice -----------------------------------------------------------


class _RepeatedKeys(dict[str, Any]):
    """A decoded JSON object that holds a key more than once: the last values (what ``json`` keeps),
    and every ``(key, value)`` pair as it came, for the reason and the quarantined text."""

    __slots__ = ("pairs",)
    pairs: list[tuple[str, Any]]


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise RepeatedKeyError
    return obj


def _marked_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _RepeatedKeys(obj)
    marked.pairs = pairs
    return marked


#: decodes JSON, raising :class:`RepeatedKeyError` at an object holding a key twice (the fast path:
#: one length comparison per object)
UNIQUE_KEYS = json.JSONDecoder(object_pairs_hook=_unique_pairs)
#: decodes JSON keeping the evidence: an object holding a key twice becomes a ``_RepeatedKeys``
MARKED_KEYS = json.JSONDecoder(object_pairs_hook=_marked_pairs)


def decode_json(text: str) -> tuple[Any, bool]:
    """The JSON value of ``text``, and whether some object in it holds a key twice.

    :raises json.JSONDecodeError: ``text`` is not one JSON value.
    """
    try:
        return UNIQUE_KEYS.decode(text), False
    except RepeatedKeyError:
        return MARKED_KEYS.decode(text), True


def _repeated_key(value: Any, skip: Any = None, path: str = "") -> tuple[str, str, int] | None:
    """The first object in ``value`` (document order, ``skip`` and what is under it left out) that
    holds a key twice: (the key's path such as ``customer.id`` or ``items[0].sku``, starting at
    ``path``, the key, how many times it occurs); None when there is none. Iterative: a value
    decoded can be deeper than Python's recursion limit."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        path, item = stack.pop()
        if item is skip:
            continue
        if isinstance(item, _RepeatedKeys):
            counts = Counter(key for key, _ in item.pairs)
            key = next(key for key, count in counts.items() if count > 1)
            return (f"{path}.{key}" if path else key), key, counts[key]
        if isinstance(item, dict):
            children = [(f"{path}.{key}" if path else key, child) for key, child in item.items()]
        elif isinstance(item, list):
            children = [(f"{path}[{i}]", child) for i, child in enumerate(item)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _repeated_reason(found: tuple[str, str, int]) -> str:
    path, key, count = found
    return f"key {path!r} is repeated ({count} values for {key!r} in one object): which one holds is ambiguous"


def _raw_json(value: Any) -> str:
    """Compact JSON text of a decoded value, repeated keys written out as they came (the evidence)."""
    if isinstance(value, _RepeatedKeys):
        return "{" + ",".join(f"{_json_text(key)}:{_raw_json(item)}" for key, item in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_text(key)}:{_raw_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_raw_json(item) for item in value) + "]"
    return _json_text(value)


# --- records and flattening ---------------------------------------------------------------------


@dataclass(slots=True)
class _Record:
    """One source record: its values (flattened), or why it was rejected, or a blank line.

    ``raw`` is the record's text; None for a record decoded from a larger document (an API page),
    whose text is then its ``data`` as compact JSON, made only if the record is rejected.
    ``source`` is the record's own ``_source_file`` (an API page), None for the tabulator's.
    """

    position: int
    raw: str | None
    values: dict[str, Any] | None = None
    rule: str | None = None
    reason: str | None = None
    blank: bool = False
    data: Any = None
    source: str | None = None
    # flattened before the columns were known, leaving out an empty object: see _Tabulator.learn
    unsettled: bool = False

    def text(self) -> str:
        return self.raw if self.raw is not None else _json_text(self.data)


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if key in out:
        raise KeyCollisionError(f"two values for column {key!r} (after flattening)")
    out[key] = value


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten_record(record: Mapping[str, Any], sep: str | None, leaves: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Flatten a JSON object into columns: ``{"a": {"b": 1}, "l": [1]}`` -> ``{"a.b": 1, "l": [1]}``.

    Nested objects become columns joined with ``sep``; an empty one adds none. Lists, every object
    when ``sep`` is None, and an object under a name in ``leaves`` (a column of its own) are values.

    :raises KeyCollisionError: two keys flatten to the same name (``"a.b"`` and ``a`` > ``b``).
    """
    return _flatten(record, sep, leaves)[0]


def _flatten(record: Mapping[str, Any], sep: str | None, leaves: frozenset[str]) -> tuple[dict[str, Any], bool]:
    """The flattened record, and whether an empty object was left out of it."""
    # most records hold no nested object: they are their own flat form (no copy, no loop in Python)
    if sep is None or dict not in map(type, record.values()):
        return record if type(record) is dict else dict(record), False
    out: dict[str, Any] = {}
    return out, _flatten_into(out, "", record, sep, leaves)


def _flatten_into(
    out: dict[str, Any], prefix: str, record: Mapping[str, Any], sep: str, leaves: frozenset[str]
) -> bool:
    left_out = False
    for key, value in record.items():
        name = f"{prefix}{sep}{key}" if prefix else key
        if isinstance(value, dict) and name not in leaves:
            # an empty object has no fields: it adds no column
            left_out = _flatten_into(out, name, value, sep, leaves) or left_out if value else True
        else:
            _put(out, name, value)
    return left_out


def _leaf_columns(columns: Iterable[str], sep: str | None) -> frozenset[str]:
    """The columns that are not the prefix of another: an object under such a name is its value."""
    names = list(columns)
    if sep is None:
        return frozenset(names)
    prefixes = {sep.join(parts[:i]) for parts in (name.split(sep) for name in names) for i in range(1, len(parts))}
    return frozenset(name for name in names if name not in prefixes)


def _json_type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def _shown(value: Any) -> str:
    # quotes tell the string "5" from the number 5
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _REASON_VALUE_CHARS else text[:_REASON_VALUE_CHARS] + "..."


# --- types --------------------------------------------------------------------------------------


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


_Reject = tuple[int, str, str, str]  # position, raw text, rule, reason


class _Tabulator:
    """Turns batches of records into tables with the same columns and types for the whole source.

    The columns and types are decided by the first batch (or the group given to :meth:`learn`)
    with a good record, or by ``columns``, and kept: later records that do not fit are rejected,
    so a source never changes schema.

    :param source: the ``_source_file`` of every record; None: each record's own ``source``.
    :param options: ``columns``, ``flatten_sep`` and ``arrow_types()`` (a :class:`FileFormat`).
    :param typed_values: JSON values keep their types; False (XML): every inferred column is a string.
    """

    def __init__(self, source: str | None, options: _Options, typed_values: bool) -> None:
        self.source = source
        self.options = options
        self.typed_values = typed_values
        self.columns_: list[str] | None = None
        self.types_: dict[str, pa.DataType] = {}
        self.explicit_: frozenset[str] = frozenset()
        self.allowed_: frozenset[str] = frozenset()
        self.leaves_: frozenset[str] = frozenset()

    def json_record(
        self, position: int, value: Any, raw: str | None, *, repeated: bool = False, source: str | None = None
    ) -> _Record:
        """A decoded JSON value as a record, flattened against the columns decided so far, or rejected.

        :param raw: its text; None: its compact JSON (made if it is rejected).
        :param repeated: some object in the decoded text holds a key twice (it may be outside ``value``).
        """
        found = _repeated_key(value) if repeated else None
        if found is not None:
            text = raw if raw is not None else _raw_json(value)
            return _Record(position, text, rule=DUPLICATE_KEY_RULE, reason=_repeated_reason(found), source=source)
        if not isinstance(value, dict):
            reason = f"the record is a JSON {_json_type_name(value)}, not an object"
            return _Record(position, raw, rule=NOT_AN_OBJECT_RULE, reason=reason, data=value, source=source)
        try:
            values, left_out = _flatten(value, self.options.flatten_sep, self.leaves_)
        except KeyCollisionError as exc:
            return _Record(position, raw, rule=DUPLICATE_COLUMN_RULE, reason=str(exc), data=value, source=source)
        except RecursionError:
            reason = "objects nested too deeply to flatten"
            return _Record(position, raw, rule=MALFORMED_RECORD_RULE, reason=reason, data=value, source=source)
        unsettled = left_out and self.columns_ is None
        # the decoded value is kept only where it is still needed: to make the text, or to flatten again
        data = value if raw is None or unsettled else None
        return _Record(position, raw, values, data=data, source=source, unsettled=unsettled)

    def learn(self, records: Sequence[_Record]) -> None:
        """Decide the columns and types from ``records`` if not decided yet and they hold a good one."""
        if self.columns_ is not None:
            return
        good = [record for record in records if record.values is not None]
        if good or self.options.columns is not None:
            self._decide(good)
            self._settle(good)

    def batch(self, records: list[_Record]) -> SourceBatch:
        self.learn(records)
        good = [record for record in records if record.values is not None]
        rejects = [(r.position, r.text(), r.rule, r.reason) for r in records if r.rule is not None]
        blank = sum(1 for record in records if record.blank)
        if self.columns_ is None:
            table = _table_with_provenance({}, self.source or "", [])
        else:
            good = self._keep_known_keys(good, rejects)
            table = self._table(good, rejects)
        rejects.sort(key=lambda item: item[0])
        dropped = {JSONL_BLANK_LINE_RULE: blank} if blank else {}
        return SourceBatch(
            table, _rejected_frame(self._reject_sources(records, rejects), rejects), len(records), dropped
        )

    def _reject_sources(self, records: list[_Record], rejects: list[_Reject]) -> str | list[str]:
        if self.source is not None or not rejects:
            return self.source or ""
        by_position = {record.position: record.source or "" for record in records}
        return [by_position[item[0]] for item in rejects]

    def _decide(self, good: list[_Record]) -> None:
        explicit = self.options.arrow_types()
        if self.options.columns is not None:
            columns = list(self.options.columns)
        else:
            seen = dict.fromkeys(key for record in good for key in record.values or {} if key not in RESERVED_COLUMNS)
            columns = list(seen) + [name for name in explicit if name not in seen]
        self.types_ = {
            name: explicit.get(name) or self._inferred(name, good) for name in columns if name not in RESERVED_COLUMNS
        }
        self.columns_ = columns
        self.explicit_ = frozenset(explicit)
        self.allowed_ = frozenset(columns)
        self.leaves_ = _leaf_columns(columns, self.options.flatten_sep)

    def _settle(self, good: list[_Record]) -> None:
        """Flatten again, now that the columns are known, the records that left out an empty object:
        under a column of its own name it is that column's value, as in every later record."""
        for record in good:
            if not record.unsettled:
                continue
            record.unsettled = False
            try:
                record.values = flatten_record(record.data, self.options.flatten_sep, self.leaves_)
            except KeyCollisionError as exc:
                record.values, record.rule, record.reason = None, DUPLICATE_COLUMN_RULE, str(exc)

    def _inferred(self, name: str, good: list[_Record]) -> pa.DataType:
        if not self.typed_values:
            return pa.string()
        return _infer_type((record.values or {}).get(name) for record in good)

    def _keep_known_keys(self, good: list[_Record], rejects: list[_Reject]) -> list[_Record]:
        allowed = self.allowed_
        kept = []
        for record in good:
            values = record.values or {}
            if values.keys() <= allowed:
                kept.append(record)
                continue
            # a key whose value is null carries nothing: leaving it out loses nothing
            extra = [key for key, value in values.items() if key not in allowed and value is not None]
            if not extra:
                kept.append(record)
                continue
            reserved = sorted(RESERVED_COLUMNS.intersection(extra))
            if reserved:
                reason = f"keys {reserved} are reserved for provenance"
            elif self.options.columns is not None:
                reason = f"keys {extra} are not among the declared columns (columns=)"
            else:
                reason = f"keys {extra} are not among the columns decided by the first good records"
            rejects.append((record.position, record.text(), UNEXPECTED_COLUMN_RULE, reason))
        return kept

    def _table(self, good: list[_Record], rejects: list[_Reject]) -> pa.Table:
        columns, good = self._fitted_columns(good, rejects)
        sources = self.source if self.source is not None else [record.source or "" for record in good]
        table = _table_with_provenance(columns, sources, [record.position for record in good])
        table, failures = _cast_columns(table, self.types_, self.source or "")
        rejects.extend((good[i].position, good[i].text(), TYPE_MISMATCH_RULE, reason) for i, reason in failures.items())
        return table

    def _fitted_columns(self, good: list[_Record], rejects: list[_Reject]) -> tuple[dict[str, pa.Array], list[_Record]]:
        """Each column's values converted to its type (text for types Arrow converts later)."""
        rows = [record.values for record in good]
        failures: dict[int, str] = {}
        columns = {name: self._fitted(name, rows, failures) for name in self.columns_ or []}
        if failures:
            rejects.extend(
                (good[i].position, good[i].text(), TYPE_MISMATCH_RULE, failures[i]) for i in sorted(failures)
            )
            keep = [i not in failures for i in range(len(good))]
            columns = {name: _kept(column, keep) for name, column in columns.items()}
            good = [record for record, kept in zip(good, keep, strict=True) if kept]
        arrays = {
            name: column if isinstance(column, pa.Array) else pa.array(column, self._storage_type(name))
            for name, column in columns.items()
        }
        return arrays, good

    def _fitted(self, name: str, rows: list[Any], failures: dict[int, str]) -> pa.Array | list[Any]:
        """A column as an Arrow array (the fast path), or its values fitted one by one."""
        storage = self._storage_type(name)
        column = list(map(dict.get, rows, repeat(name)))
        array = _safe_array(column, storage)
        return array if array is not None else _fit_column(name, column, storage, failures)

    def _storage_type(self, name: str) -> pa.DataType:
        """Inferred types are collected as such; ``column_types`` from text, converted by Arrow later."""
        return pa.string() if name in self.explicit_ else self.types_[name]


def _fit_column(name: str, column: list[Any], storage: pa.DataType, failures: dict[int, str]) -> list[Any]:
    """The values of a column fitted one by one; those that do not fit are noted in ``failures``."""
    fit = _FITTERS[storage]
    fitted = []
    for i, value in enumerate(column):
        ok, converted = fit(value)
        if not ok:
            failures.setdefault(i, f"column {name!r}: {_shown(value)} does not fit {storage}")
        fitted.append(converted)
    return fitted


def _kept(column: pa.Array | list[Any], keep: list[bool]) -> pa.Array | list[Any]:
    if isinstance(column, pa.Array):
        return column.filter(pa.array(keep, pa.bool_()))
    return [value for value, kept in zip(column, keep, strict=True) if kept]


def _batches_of(records: Iterator[_Record], tabulator: _Tabulator, batch_rows: int) -> Iterator[SourceBatch]:
    yielded = False
    while True:
        chunk = list(islice(records, batch_rows))
        if not chunk and yielded:
            return
        batch = tabulator.batch(chunk)
        # the records go before the next batch is read: one batch of records in memory, not two
        del chunk
        yield batch
        yielded = True


def _table_with_provenance(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], source: str | Sequence[str], positions: list[int]
) -> pa.Table:
    """``columns`` with ``_source_file`` (one source, or one per row) and ``_source_line``."""
    data: dict[str, Any] = dict(columns)
    sources = [source] * len(positions) if isinstance(source, str) else source
    data[SOURCE_FILE_COLUMN] = pa.array(sources, pa.string())
    data[SOURCE_LINE_COLUMN] = pa.array(positions, pa.int64())
    return pa.table(data)


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


def _rejected_frame(source: str | Sequence[str], rejects: Sequence[_Reject]) -> pd.DataFrame:
    """The quarantined records (index: their ``_source_line``), or an empty frame when there are none.

    :param source: the ``_source_file`` of every reject, or one per reject.
    """
    if not rejects:
        return pd.DataFrame()
    positions = [item[0] for item in rejects]
    sources = [source] * len(rejects) if isinstance(source, str) else source
    table = pa.table(
        {
            SOURCE_FILE_COLUMN: pa.array(sources, pa.string()),
            SOURCE_LINE_COLUMN: pa.array(positions, pa.int64()),
            RAW_LINE_COLUMN: pa.array([item[1] for item in rejects], pa.string()),
            RULE_COLUMN: pa.array([item[2] for item in rejects], pa.string()),
            REASON_COLUMN: pa.array([item[3] for item in rejects], pa.string()),
        }
    )
    frame = table.to_pandas()
    frame.index = pd.Index(positions, dtype="int64")
    return frame


def _values_text(names: Sequence[str], values: Iterable[Any]) -> str:
    """A typed row (Parquet, HTML, SQL) as the raw text of its quarantine record: a JSON object."""
    return json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=str)


def _row_text(table: pa.Table, index: int) -> str:
    return _values_text(table.column_names, (column[index].as_py() for column in table.columns))


def _typed_batch(table: pa.Table, source: str, first_position: int, types: Mapping[str, pa.DataType]) -> SourceBatch:
    """A batch of a typed table (Parquet, HTML): provenance added, ``column_types`` applied."""
    positions = list(range(first_position, first_position + table.num_rows))
    full = _table_with_provenance({name: table.column(name) for name in table.column_names}, source, positions)
    converted, failures = _cast_columns(full, types, source)
    rejects = [
        (positions[i], _row_text(table, i), TYPE_MISMATCH_RULE, reason) for i, reason in sorted(failures.items())
    ]
    return SourceBatch(converted, _rejected_frame(source, rejects), table.num_rows)


def _check_file_columns(names: list[str], fmt: FileFormat, source: str) -> list[str]:
    """The output columns of a file with a schema (Parquet, HTML), checked against ``fmt``."""
    expected = list(fmt.columns) if fmt.columns is not None else None
    check_source_columns(names, expected, fmt.arrow_types(), source, "the file")
    return list(fmt.columns) if fmt.columns is not None else names
