"""High-water marks of incremental reads, kept in one JSON file on an fsspec filesystem, rewritten atomically."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from numbers import Integral
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.dataset import write_atomic
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fsspec import AbstractFileSystem


class WatermarkStore:
    """High-water marks of incremental reads, kept in one JSON file on an fsspec filesystem.

    Values keep their type through the file: ints, floats, strings, Decimals, dates and datetimes
    (naive or aware) come back as they were saved. Every :meth:`set` rewrites the file atomically,
    so a reader sees the old or the new marks, never a mix. Concurrent writers of *different* keys
    of one file can overwrite each other's update: give each DAG its own file.

    :param fs: fsspec filesystem.
    :param path: the JSON file (as ``fs`` expects it, without protocol).
    """

    def __init__(self, fs: AbstractFileSystem, path: str) -> None:
        self.fs = fs
        self.path = path

    def get(self, key: str) -> Any | None:
        """The mark saved under ``key``; None if there is none yet."""
        entry = self._load().get(key)
        return None if entry is None else decode_watermark(entry)

    def set(self, key: str, value: Any) -> None:
        """Save ``value`` under ``key`` (call it only once the data read up to it is committed)."""
        if not isinstance(key, str) or not key:
            raise ConfigurationError("key", key, "must be a non-empty string")
        marks = self._load()
        marks[key] = encode_watermark(value)
        document = {"version": 1, "watermarks": dict(sorted(marks.items()))}
        parent = self.path.rsplit("/", 1)[0] if "/" in self.path else ""
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        write_atomic(self.fs, self.path, json.dumps(document, indent=2).encode("utf-8"))

    def _load(self) -> dict[str, Any]:
        if not self.fs.exists(self.path):
            return {}
        document = json.loads(self.fs.cat_file(self.path))
        return dict(document.get("watermarks") or {})


def encode_watermark(value: Any) -> dict[str, Any]:
    """A watermark as a JSON-safe ``{"type": ..., "value": ...}`` that :func:`decode_watermark` reverses."""
    if isinstance(value, bool) or value is None:
        raise ConfigurationError("value", value, "a watermark is a number, string, date or datetime")
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, Integral):
        return {"type": "int", "value": int(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError("value", value, "a watermark must be finite")
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise ConfigurationError("value", value, "a watermark is a number, string, date or datetime")


def decode_watermark(entry: dict[str, Any]) -> Any:
    """The value :func:`encode_watermark` encoded, with its type."""
    kind, value = entry["type"], entry["value"]
    decoders: dict[str, Callable[[Any], Any]] = {
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "decimal": Decimal,
        "int": int,
        "float": float,
        "str": str,
    }
    if kind not in decoders:
        raise ValueError(f"unknown watermark type {kind!r}")
    return decoders[kind](value)
