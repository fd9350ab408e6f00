"""What an API read is configured with (:class:`HttpSource`) and what it did (:class:`HttpStats`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.http.auth import ApiKeyAuth, HttpAuth
from dataframe_pipeline.ingest.http.checks import (
    _check_http_url,
    _check_int,
    _check_number,
    _check_path,
    _check_text,
    _redacted_mapping,
)
from dataframe_pipeline.ingest.http.pagination import Pagination
from dataframe_pipeline.ingest.http.redaction import SECRET_HEADER_NAMES, SECRET_QUERY_NAMES, _strip_userinfo


@dataclass(frozen=True, repr=False)
class HttpSource:
    """A JSON API endpoint to read.

    :param base_url: scheme, host, port and base path (``https://api.example.com/v1``); next links
        must stay on its scheme, host and port.
    :param endpoint: path appended to ``base_url`` ("airports").
    :param method: "GET" or "POST" (parameters go in the query string either way; no body is sent).
    :param params: query parameters of every request (not re-added to next links, which carry theirs).
    :param headers: headers of every request.
    :param auth: how to authenticate, or None.
    :param pagination: how to reach the next page, or None for a single page.
    :param records_path: dotted path of the records list in the body; None: the body is the list.
    :param flatten_sep: separator of flattened nested field names.
    :param max_pages: most pages read; hitting it stops the read (``stats.hit_max_pages``).
    :param rate_limit_per_second: most requests per second to this host, shared by every reader of
        the process; None: no limit.
    :param max_retries: retries of a request after 429, 5xx or a connection error.
    :param backoff_seconds: base of the exponential backoff (attempt n waits up to base * 2**n).
    :param max_backoff_seconds: cap of one wait, including a server's ``Retry-After``.
    :param timeout_seconds: connect/read/write timeout of one request.
    :param batch_rows: most records in one batch.
    """

    base_url: str
    endpoint: str = ""
    method: str = "GET"
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    auth: HttpAuth | None = None
    pagination: Pagination | None = None
    records_path: str | None = None
    flatten_sep: str = "."
    max_pages: int = 1000
    rate_limit_per_second: float | None = None
    max_retries: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30
    timeout_seconds: float = 30
    batch_rows: int = 100_000

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value (secrets as ``***``)."""
        _check_http_url("base_url", self.base_url)
        if not isinstance(self.endpoint, str) or "://" in self.endpoint or "#" in self.endpoint:
            raise ConfigurationError("endpoint", self.endpoint, "must be a path relative to base_url")
        if self.method not in ("GET", "POST"):
            raise ConfigurationError("method", self.method, "must be 'GET' or 'POST'")
        self._validate_mappings()
        self._validate_parts()
        if self.records_path is not None:
            _check_path("records_path", self.records_path)
        _check_text("flatten_sep", self.flatten_sep)
        self._validate_numbers()

    def _validate_mappings(self) -> None:
        params = _redacted_mapping(self.params, self.secret_query_names())
        if self.params is not None and (
            not isinstance(self.params, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str | int | float) for k, v in self.params.items())
        ):
            raise ConfigurationError("params", params, "must map names to strings or numbers")
        headers = _redacted_mapping(self.headers, self.secret_header_names())
        if self.headers is not None and (
            not isinstance(self.headers, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items())
        ):
            raise ConfigurationError("headers", headers, "must map header names to strings")

    def _validate_parts(self) -> None:
        if self.auth is not None:
            if not isinstance(self.auth, HttpAuth):
                raise ConfigurationError("auth", type(self.auth).__name__, "must be an HttpAuth (BasicAuth, ...)")
            self.auth.validate()
        if self.pagination is not None:
            if not isinstance(self.pagination, Pagination):
                raise ConfigurationError("pagination", self.pagination, "must be a Pagination style")
            self.pagination.validate()

    def _validate_numbers(self) -> None:
        _check_int("max_pages", self.max_pages, 1)
        if self.rate_limit_per_second is not None:
            _check_number("rate_limit_per_second", self.rate_limit_per_second, positive=True)
        _check_int("max_retries", self.max_retries, 0)
        _check_number("backoff_seconds", self.backoff_seconds, positive=False)
        _check_number("max_backoff_seconds", self.max_backoff_seconds, positive=False)
        _check_number("timeout_seconds", self.timeout_seconds, positive=True)
        _check_int("batch_rows", self.batch_rows, 1)

    def url(self) -> str:
        """The endpoint's URL: ``base_url`` and ``endpoint`` joined with one slash."""
        if not self.endpoint:
            return self.base_url
        return self.base_url.rstrip("/") + "/" + self.endpoint.lstrip("/")

    def secret_query_names(self) -> frozenset[str]:
        """Lower-cased names of the query parameters whose values are redacted."""
        if isinstance(self.auth, ApiKeyAuth) and self.auth.location == "query":
            return SECRET_QUERY_NAMES | {str(self.auth.name).lower()}
        return SECRET_QUERY_NAMES

    def secret_header_names(self) -> frozenset[str]:
        """Lower-cased names of the headers whose values are redacted."""
        if isinstance(self.auth, ApiKeyAuth) and self.auth.location == "header":
            return SECRET_HEADER_NAMES | {str(self.auth.name).lower()}
        return SECRET_HEADER_NAMES

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["base_url"] = _strip_userinfo(str(self.base_url))
        shown["params"] = _redacted_mapping(self.params, self.secret_query_names())
        shown["headers"] = _redacted_mapping(self.headers, self.secret_header_names())
        return "HttpSource(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


@dataclass
class HttpStats:
    """What a read did. ``requests`` counts every attempt, token requests included; ``bytes`` the bodies."""

    pages: int = 0
    records: int = 0
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    hit_max_pages: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
