"""Checks of HTTP source settings (named :class:`ConfigurationError` s) and lookups of dotted paths in JSON bodies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.http.redaction import REDACTED, SECRET_QUERY_NAMES, _Redactor

_DEFAULT_PORTS = {"http": 80, "https": 443}


_MISSING = object()


def _check_text(name: str, value: object, *, secret: bool = False) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(name, REDACTED if secret and value else value, "must be a non-empty string")


def _check_http_url(name: str, value: object) -> None:
    _check_text(name, value)
    parts = urlsplit(str(value))
    shown = _Redactor(SECRET_QUERY_NAMES).url(str(value))
    if "@" in parts.netloc:
        raise ConfigurationError(name, shown, "must not hold credentials: use auth")
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigurationError(name, shown, "must be an absolute http:// or https:// URL")
    if parts.fragment:
        raise ConfigurationError(name, shown, "must not have a #fragment")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(name, value, f"must be an integer >= {minimum}")


def _check_path(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or "" in value.split("."):
        raise ConfigurationError(name, value, "must be a dotted path into the JSON body, e.g. 'meta.next'")


def _body_number(body: Any, path: str | None) -> int | None:
    """An integer found at ``path`` (totals); None when absent or not a number (then ignored)."""
    if path is None:
        return None
    value = _get_path(body, path)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _check_number(name: str, value: object, *, positive: bool) -> None:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ConfigurationError(name, value, "must be a number > 0" if positive else "must be a number >= 0")


def _redacted_mapping(values: Mapping[str, Any] | None, secret_names: frozenset[str]) -> dict[str, Any] | None:
    if values is None or not isinstance(values, Mapping):
        return values
    return {k: REDACTED if str(k).lower() in secret_names else v for k, v in values.items()}


def _get_path(body: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(body, dict) or key not in body:
            return _MISSING
        body = body[key]
    return body
