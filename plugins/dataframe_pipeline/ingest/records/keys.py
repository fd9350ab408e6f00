"""JSON decoding that notices a key given twice (plain ``json`` silently keeps the last value), and the
reason naming the repeated key's path.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from dataframe_pipeline.exceptions import (
    RepeatedKeyError,
)
from dataframe_pipeline.ingest.records.flatten import _json_text


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
