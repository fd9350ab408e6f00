"""A record as flat values: nested objects become columns joined with ``flatten_sep``, lists (and objects
without a separator) compact JSON text; two values for one column are a collision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import (
    KeyCollisionError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


_REASON_VALUE_CHARS = 200


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
