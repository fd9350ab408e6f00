"""Paginated JSON APIs as an ingest source.

:class:`HttpReader` reads the records of a JSON API page by page (httpx, synchronous) and yields
:class:`~dataframe_pipeline.ingest.base.SourceBatch` blocks of at most ``batch_rows`` records, each
record tagged with the page URL (``_source_file``, secrets redacted) and its 1-based record number
across all pages (``_source_line``). Configuration is a frozen :class:`HttpSource`, with an
:class:`HttpAuth` (basic, bearer, API key, OAuth2 client credentials) and a :class:`Pagination`
style (page number, offset/limit, cursor, ``Link`` header, next URL in the body).

**Records.** ``records_path`` ("data.items") finds the list of records in the body (``None``: the
body is the list). Nested objects are flattened with ``flatten_sep`` ("location.lat"); lists are
kept as JSON text. The columns and their Arrow types are decided from the first page holding an
object record: bool, int64, double (ints and floats mixed) or string (strings, lists, mixed kinds,
and columns that are null throughout that page). Every batch then has exactly those columns and
types. A later record is quarantined (with its raw JSON and the reason) when it is not an object,
when a value does not fit its column (``"abc"`` or ``2.5`` in an int64 column), or when it has a
non-null field the first page did not have. String columns accept any value (non-strings as JSON
text), so a column that was null throughout the first page never rejects anything.

**Failures.** 429, 5xx and connection errors are retried ``max_retries`` times with exponential
backoff and full jitter (``Retry-After`` in seconds or as an HTTP date is honoured; a server asking
for more than ``max_backoff_seconds`` fails at once); other statuses fail at once. Both raise
:class:`HttpSourceError` with the status and the server's message. Redirects are not followed. A
next-page link off the base URL's scheme, host and port raises :class:`UnsafeUrlError`; a cursor or
next URL that was fetched before raises :class:`PaginationLoopError`; ``max_pages`` bounds the rest
(reported in :attr:`HttpReader.stats` and logged as a warning).

**Secrets** (passwords, tokens, API keys, client secrets, the OAuth2 access token) are added to
requests by the transport, after httpx logs the request, and are replaced by ``***`` in every log
line, exception message and ``_source_file`` this module writes. Secrets shorter than 4 characters
are not scrubbed from free text (they would mangle every message); query parameters named like a
secret are always redacted.

**Memory** is bounded by one page plus one batch (and the URLs of the pages fetched, kept to spot
loops, at most ``max_pages``): pages are read whole (a JSON body cannot be consumed record by record
without a streaming parser), so a single huge page is held in memory.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal, NamedTuple, Protocol
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

import httpx
import pandas as pd
import pyarrow as pa

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, PipelineError
from dataframe_pipeline.ingest.base import RESERVED_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, SourceBatch

log = logging.getLogger(__name__)

RAW_RECORD_COLUMN = "_raw_record"
#: rule of the records that are not JSON objects
NOT_OBJECT_RULE = "http_record_not_object"
#: rule of the objects that do not fit the schema decided from the first page
SCHEMA_MISMATCH_RULE = "http_record_schema_mismatch"

REDACTED = "***"
#: query parameters whose values are always redacted, whatever the auth
SECRET_QUERY_NAMES = frozenset({"access_token", "api_key", "apikey", "api-key", "client_secret", "password", "token"})
#: headers whose values are always redacted
SECRET_HEADER_NAMES = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
_MIN_SCRUBBED_SECRET = 4
_MESSAGE_CHARS = 500
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MISSING = object()


# --- errors -------------------------------------------------------------------------------------


class HttpSourceError(PipelineError):
    """An HTTP request failed: a status that is not retried, or retries exhausted."""

    def __init__(self, url: str, status: int | None, message: str, *, retryable: bool) -> None:
        #: the request URL, secrets redacted
        self.url = url
        #: the last HTTP status, or None when no response came (connection error, timeout)
        self.status = status
        #: the server's message (redacted, at most ~500 characters) or the connection error
        self.message = message
        #: whether trying again later may succeed (429, 5xx, connection errors)
        self.retryable = retryable
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{url}: {where}: {message}")


class PaginationLoopError(DataContractError):
    """The API sent a cursor or next URL that was fetched before: following it would never end."""


class UnsafeUrlError(DataContractError):
    """A next-page link points off the base URL's scheme, host and port (refused: SSRF)."""


# --- configuration ------------------------------------------------------------------------------


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


class HttpAuth:
    """Base class of the ways to authenticate; secret fields are kept out of ``repr``."""

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the bad field (secret values shown as ``***``)."""

    def secrets(self) -> list[str]:
        """The secret values, to scrub from messages."""
        return []


@dataclass(frozen=True)
class BasicAuth(HttpAuth):
    """HTTP basic authentication (an Airflow HTTP connection's login and password)."""

    login: str
    password: str = field(repr=False)

    def validate(self) -> None:
        _check_text("auth.login", self.login)
        _check_text("auth.password", self.password, secret=True)

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode("ascii")

    def secrets(self) -> list[str]:
        return [self.password, self.header().removeprefix("Basic ")]


@dataclass(frozen=True)
class BearerAuth(HttpAuth):
    """A static bearer token, sent as ``Authorization: Bearer <token>``."""

    token: str = field(repr=False)

    def validate(self) -> None:
        _check_text("auth.token", self.token, secret=True)

    def secrets(self) -> list[str]:
        return [self.token]


@dataclass(frozen=True)
class ApiKeyAuth(HttpAuth):
    """An API key sent in a header or in a query parameter.

    :param key: the secret key.
    :param name: the header or query parameter name.
    :param location: ``"header"`` or ``"query"``.
    """

    key: str = field(repr=False)
    name: str = "X-API-Key"
    location: Literal["header", "query"] = "header"

    def validate(self) -> None:
        _check_text("auth.key", self.key, secret=True)
        _check_text("auth.name", self.name)
        if self.location not in ("header", "query"):
            raise ConfigurationError("auth.location", self.location, "must be 'header' or 'query'")

    def secrets(self) -> list[str]:
        return [self.key]


@dataclass(frozen=True)
class OAuth2ClientCredentials(HttpAuth):
    """OAuth2 client credentials grant: a token is fetched, cached until it expires, refreshed once on 401.

    :param token_url: the token endpoint.
    :param client_id: the client id.
    :param client_secret: the client secret.
    :param scope: space-separated scopes, or None.
    :param credentials_in_body: send client id and secret in the form body instead of basic auth.
    """

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    credentials_in_body: bool = False

    def validate(self) -> None:
        _check_http_url("auth.token_url", self.token_url)
        _check_text("auth.client_id", self.client_id)
        _check_text("auth.client_secret", self.client_secret, secret=True)
        if self.scope is not None:
            _check_text("auth.scope", self.scope)
        if not isinstance(self.credentials_in_body, bool):
            raise ConfigurationError("auth.credentials_in_body", self.credentials_in_body, "must be True or False")

    def secrets(self) -> list[str]:
        return [self.client_secret, base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()]


class _PageResponse(NamedTuple):
    """One fetched page, as pagination styles see it."""

    url: httpx.URL  # as requested, without credentials
    params: Mapping[str, str]  # the pagination parameters of this request (empty after a next link)
    response: httpx.Response
    body: Any
    n_records: int


class _NextRequest(NamedTuple):
    """Where the next page is: pagination parameters for the endpoint, or a next link to follow."""

    params: Mapping[str, str] = {}
    url: httpx.URL | None = None


class Pagination:
    """Base class of the pagination styles. Without one, the source is a single page."""

    #: short name used in messages
    style = "pagination"

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the bad field."""

    def start_params(self) -> dict[str, str]:
        """Query parameters of the first request."""
        return {}

    def follow(self, page: _PageResponse) -> _NextRequest | None:
        """The next request after ``page``, or None when it was the last page."""
        raise NotImplementedError


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


@dataclass(frozen=True)
class PageNumberPagination(Pagination):
    """``?page=1``, ``?page=2``, ...: stops on an empty page, or after the total pages the body announces.

    :param page_param: the page number parameter.
    :param start_page: the first page's number (usually 1 or 0).
    :param page_size_param: parameter sending ``page_size``, or None.
    :param page_size: records per page to ask for.
    :param total_pages_path: dotted path of the total page count in the body, or None.
    """

    page_param: str = "page"
    start_page: int = 1
    page_size_param: str | None = None
    page_size: int | None = None
    total_pages_path: str | None = None
    style = "page number"

    def validate(self) -> None:
        _check_text("pagination.page_param", self.page_param)
        _check_int("pagination.start_page", self.start_page, 0)
        if (self.page_size_param is None) != (self.page_size is None):
            raise ConfigurationError(
                "pagination.page_size", self.page_size, "set page_size_param and page_size together"
            )
        if self.page_size_param is not None:
            _check_text("pagination.page_size_param", self.page_size_param)
            _check_int("pagination.page_size", self.page_size, 1)
        if self.total_pages_path is not None:
            _check_path("pagination.total_pages_path", self.total_pages_path)

    def start_params(self) -> dict[str, str]:
        return self._params(self.start_page)

    def follow(self, page: _PageResponse) -> _NextRequest | None:
        if not page.n_records:
            return None
        number = int(page.params[self.page_param])
        total = _body_number(page.body, self.total_pages_path)
        if total is not None and number - self.start_page + 1 >= total:
            return None
        return _NextRequest(params=self._params(number + 1))

    def _params(self, number: int) -> dict[str, str]:
        params = {self.page_param: str(number)}
        if self.page_size_param is not None:
            params[self.page_size_param] = str(self.page_size)
        return params


@dataclass(frozen=True)
class OffsetPagination(Pagination):
    """``?offset=0&limit=100``: the offset advances by the records received (servers may cap the limit).

    Stops on an empty page, or when the total the body announces is reached.

    :param offset_param: the offset parameter.
    :param limit_param: the limit parameter.
    :param limit: records per page to ask for.
    :param start_offset: the first offset.
    :param total_path: dotted path of the total record count in the body, or None.
    """

    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    start_offset: int = 0
    total_path: str | None = None
    style = "offset"

    def validate(self) -> None:
        _check_text("pagination.offset_param", self.offset_param)
        _check_text("pagination.limit_param", self.limit_param)
        _check_int("pagination.limit", self.limit, 1)
        _check_int("pagination.start_offset", self.start_offset, 0)
        if self.total_path is not None:
            _check_path("pagination.total_path", self.total_path)

    def start_params(self) -> dict[str, str]:
        return {self.offset_param: str(self.start_offset), self.limit_param: str(self.limit)}

    def follow(self, page: _PageResponse) -> _NextRequest | None:
        if not page.n_records:
            return None
        offset = int(page.params[self.offset_param]) + page.n_records
        total = _body_number(page.body, self.total_path)
        if total is not None and offset >= total:
            return None
        return _NextRequest(params={self.offset_param: str(offset), self.limit_param: str(self.limit)})


@dataclass(frozen=True)
class CursorPagination(Pagination):
    """A next token read from the body and sent as a parameter; stops when the token is null, empty or absent.

    :param cursor_path: dotted path of the next token in the body.
    :param cursor_param: the parameter sending it.
    """

    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"
    style = "cursor"

    def validate(self) -> None:
        _check_path("pagination.cursor_path", self.cursor_path)
        _check_text("pagination.cursor_param", self.cursor_param)

    def follow(self, page: _PageResponse) -> _NextRequest | None:
        token = _get_path(page.body, self.cursor_path)
        if token is _MISSING or token is None or token == "":
            return None
        if isinstance(token, bool) or not isinstance(token, str | int):
            raise DataContractError(f"{self.cursor_path!r} holds {token!r}: a cursor must be a string or an integer")
        return _NextRequest(params={self.cursor_param: str(token)})


@dataclass(frozen=True)
class LinkHeaderPagination(Pagination):
    """The next page's URL in the ``Link`` response header (RFC 8288), ``rel="next"`` by default."""

    rel: str = "next"
    style = "Link header"

    def validate(self) -> None:
        _check_text("pagination.rel", self.rel)

    def follow(self, page: _PageResponse) -> _NextRequest | None:
        for rels, link in page.response.links.items():
            if self.rel in (rels or "").split() and link.get("url"):
                return _NextRequest(url=page.url.join(link["url"]))
        return None


@dataclass(frozen=True)
class NextUrlPagination(Pagination):
    """The next page's URL (absolute or relative) at a dotted path in the body; stops when null or absent."""

    next_url_path: str = "next"
    style = "next URL"

    def validate(self) -> None:
        _check_path("pagination.next_url_path", self.next_url_path)

    def follow(self, page: _PageResponse) -> _NextRequest | None:
        value = _get_path(page.body, self.next_url_path)
        if value is _MISSING or value is None or value == "":
            return None
        if not isinstance(value, str):
            raise DataContractError(f"{self.next_url_path!r} holds {value!r}: a next URL must be a string")
        return _NextRequest(url=page.url.join(value))


def _check_number(name: str, value: object, *, positive: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ConfigurationError(name, value, "must be a number > 0" if positive else "must be a number >= 0")


def _redacted_mapping(values: Mapping[str, Any] | None, secret_names: frozenset[str]) -> dict[str, Any] | None:
    if values is None or not isinstance(values, Mapping):
        return values
    return {k: REDACTED if str(k).lower() in secret_names else v for k, v in values.items()}


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


# --- redaction ----------------------------------------------------------------------------------


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class _Redactor:
    """Replaces secrets by ``***`` in URLs and free text."""

    def __init__(self, query_names: frozenset[str]) -> None:
        self._query_names = query_names
        self._variants: list[str] = []

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < _MIN_SCRUBBED_SECRET:
            return
        # a secret may show up percent-encoded (in a URL) as well as raw
        variants = {secret, quote(secret, safe=""), quote_plus(secret)} - set(self._variants)
        self._variants = sorted([*self._variants, *variants], key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self._variants:
            text = text.replace(secret, REDACTED)
        return text

    def url(self, url: httpx.URL | str) -> str:
        parts = urlsplit(_strip_userinfo(str(url)))
        pairs = [
            f"{pair.partition('=')[0]}={REDACTED}"
            if unquote_plus(pair.partition("=")[0]).lower() in self._query_names
            else pair
            for pair in parts.query.split("&")
        ]
        return self.text(urlunsplit(parts._replace(query="&".join(pairs) if parts.query else "")))


def _redactor_for(source: HttpSource) -> _Redactor:
    redactor = _Redactor(source.secret_query_names())
    for secret in source.auth.secrets() if source.auth is not None else []:
        redactor.add(secret)
    for name, value in (source.params or {}).items():
        if name.lower() in source.secret_query_names():
            redactor.add(str(value))
    for name, value in (source.headers or {}).items():
        if name.lower() in source.secret_header_names():
            redactor.add(value)
            redactor.add(value.partition(" ")[2])  # the credentials after "Bearer " or "Basic "
    return redactor


# --- rate limit ---------------------------------------------------------------------------------


class _RateLimiter:
    """One request slot every ``1/rate`` seconds per host, shared by all readers of the process.

    Slots are reserved under a lock and waited for outside it, so concurrent readers queue up
    instead of bursting; there is no burst allowance, so N requests take at least (N-1)/rate seconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}

    def wait(self, key: str, rate: float, sleep: Callable[[float], None]) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(key, now))
            self._next_slot[key] = slot + 1.0 / rate
        if slot > now:
            sleep(slot - now)


_RATE_LIMITER = _RateLimiter()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme)


# --- HTTP ---------------------------------------------------------------------------------------


class _Random(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


class _CredentialTransport(httpx.BaseTransport):
    """Adds credentials to a copy of each request just before it is sent.

    httpx logs the request it was given (``HTTP Request: GET <url>``) and keeps it as
    ``response.request``; adding the credentials to a copy here keeps an API key in the query
    string out of both.
    """

    def __init__(
        self, inner: httpx.BaseTransport, credentials: Callable[[], tuple[dict[str, str], dict[str, str]]]
    ) -> None:
        self._inner = inner
        self._credentials = credentials

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers, query = self._credentials()
        url = request.url
        for name, value in query.items():
            url = url.copy_set_param(name, value)
        merged = request.headers.copy()
        merged.update(headers)
        outgoing = httpx.Request(request.method, url, headers=merged, stream=request.stream)
        outgoing.extensions = request.extensions
        return self._inner.handle_request(outgoing)

    def close(self) -> None:
        self._inner.close()


def _response_message(response: httpx.Response, redactor: _Redactor) -> str:
    """The server's message: a ``message``/``error``/``detail`` field of a JSON body, else the text."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                text = body[key]
                break
    # redact before truncating, so half a secret cannot survive the cut
    text = redactor.text(" ".join(text.split()))
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "..."


def _retry_after(response: httpx.Response | None, wall_clock: Callable[[], float]) -> float | None:
    """Seconds asked by ``Retry-After`` (delta seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip() if response is not None else ""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - wall_clock())


class _Session:
    """The HTTP side of one read: clients, credentials, retries, rate limit and statistics."""

    def __init__(self, source: HttpSource, stats: HttpStats, redactor: _Redactor, hooks: _Hooks) -> None:
        self.source = source
        self.stats = stats
        self.redactor = redactor
        self.hooks = hooks
        self._token: str | None = None
        self._token_expires = 0.0
        timeout = httpx.Timeout(source.timeout_seconds)
        transport = _CredentialTransport(httpx.HTTPTransport(), self._credentials)
        # environment proxies are ignored by both clients alike (a custom transport disables them anyway)
        self._api = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
        self._plain = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
        host = httpx.URL(source.base_url)
        self._rate_key = "{}://{}:{}".format(*_origin(host))

    def close(self) -> None:
        self._api.close()
        self._plain.close()

    def get_page(self, url: httpx.URL) -> httpx.Response:
        return self._send(self._api, self.source.method, url, api=True)

    def _credentials(self) -> tuple[dict[str, str], dict[str, str]]:
        auth = self.source.auth
        if isinstance(auth, BasicAuth):
            return {"Authorization": auth.header()}, {}
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token}"}, {}
        if isinstance(auth, ApiKeyAuth):
            return ({auth.name: auth.key}, {}) if auth.location == "header" else ({}, {auth.name: auth.key})
        if isinstance(auth, OAuth2ClientCredentials) and self._token is not None:
            return {"Authorization": f"Bearer {self._token}"}, {}
        return {}, {}

    def _send(self, client: httpx.Client, method: str, url: httpx.URL, *, api: bool, **kwargs: Any) -> httpx.Response:
        attempt = 0
        refreshed = False
        while True:
            if api:
                self._before_api_request()
            outcome = self._attempt(client, method, url, kwargs)
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            if api and not refreshed and self._token_rejected(outcome):
                # the token may have been revoked before its announced expiry: fetch a new one, once
                refreshed = True
                self._token = None
                self.stats.retries += 1
                continue
            delay = self._retry_delay(url, outcome, attempt)
            attempt += 1
            self.stats.retries += 1
            log.warning(
                "%s: %s; retry %d/%d in %.2fs",
                self.redactor.url(url),
                self._describe(outcome),
                attempt,
                self.source.max_retries,
                delay,
            )
            self.hooks.sleep(delay)

    def _attempt(
        self, client: httpx.Client, method: str, url: httpx.URL, kwargs: dict[str, Any]
    ) -> httpx.Response | httpx.TransportError:
        self.stats.requests += 1
        try:
            response = client.request(
                method, url, headers=self.source.headers if client is self._api else None, **kwargs
            )
        except httpx.TransportError as exc:
            return exc
        self.stats.bytes += len(response.content)
        return response

    def _token_rejected(self, outcome: httpx.Response | httpx.TransportError) -> bool:
        return (
            isinstance(self.source.auth, OAuth2ClientCredentials)
            and isinstance(outcome, httpx.Response)
            and outcome.status_code == httpx.codes.UNAUTHORIZED
        )

    def _describe(self, outcome: httpx.Response | httpx.TransportError) -> str:
        if isinstance(outcome, httpx.Response):
            return f"HTTP {outcome.status_code}"
        return self.redactor.text(f"{type(outcome).__name__}: {outcome}")

    def _retry_delay(self, url: httpx.URL, outcome: httpx.Response | httpx.TransportError, attempt: int) -> float:
        """How long to wait before retrying; raises :class:`HttpSourceError` when not retrying."""
        response = outcome if isinstance(outcome, httpx.Response) else None
        shown = self.redactor.url(url)
        message = self._describe(outcome) if response is None else _response_message(response, self.redactor)
        status = response.status_code if response is not None else None
        if response is not None and response.is_redirect:
            location = self.redactor.url(response.headers.get("location", ""))
            raise HttpSourceError(shown, status, f"redirect to {location} not followed", retryable=False)
        if status is not None and status != httpx.codes.TOO_MANY_REQUESTS and status < 500:
            raise HttpSourceError(shown, status, message, retryable=False)
        if attempt >= self.source.max_retries:
            raise HttpSourceError(shown, status, f"{message} (gave up after {attempt} retries)", retryable=True)
        asked = _retry_after(response, self.hooks.wall_clock)
        if asked is not None:
            if asked > self.source.max_backoff_seconds:
                raise HttpSourceError(
                    shown,
                    status,
                    f"{message} (Retry-After asks for {asked:.0f}s, more than max_backoff_seconds="
                    f"{self.source.max_backoff_seconds})",
                    retryable=True,
                )
            return asked
        cap = min(self.source.max_backoff_seconds, self.source.backoff_seconds * 2**attempt)
        return self.hooks.rng.uniform(0.0, cap)  # full jitter: retries of many clients spread out

    def _before_api_request(self) -> None:
        if self.source.rate_limit_per_second is not None:
            _RATE_LIMITER.wait(self._rate_key, self.source.rate_limit_per_second, self.hooks.sleep)
        auth = self.source.auth
        if isinstance(auth, OAuth2ClientCredentials) and (
            self._token is None or self.hooks.clock() >= self._token_expires
        ):
            self._fetch_token(auth)

    def _fetch_token(self, auth: OAuth2ClientCredentials) -> None:
        data = {"grant_type": "client_credentials"}
        if auth.scope:
            data["scope"] = auth.scope
        basic = None
        if auth.credentials_in_body:
            data |= {"client_id": auth.client_id, "client_secret": auth.client_secret}
        else:
            basic = httpx.BasicAuth(auth.client_id, auth.client_secret)
        started = self.hooks.clock()
        response = self._send(self._plain, "POST", httpx.URL(auth.token_url), api=False, data=data, auth=basic)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise HttpSourceError(
                self.redactor.url(auth.token_url), response.status_code, "no access_token in the token response",
                retryable=False,
            )  # fmt: skip
        self.redactor.add(token)
        lifetime = _seconds(body.get("expires_in"))
        # renew a little early so a token does not expire between the check and the request
        self._token_expires = started + lifetime - min(30.0, lifetime / 10)
        self._token = token


def _seconds(value: Any) -> float:
    """A token lifetime (``expires_in``, a number or a numeric string); without one it lasts until a 401."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return math.inf
    return seconds if seconds > 0 and not isinstance(value, bool) else math.inf


# --- records ------------------------------------------------------------------------------------


class _Record(NamedTuple):
    number: int  # 1-based, across pages
    source: str  # the page URL, redacted
    value: Any


class _Unfit(Exception):
    """A record that cannot become a row (internal)."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


def _get_path(body: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(body, dict) or key not in body:
            return _MISSING
        body = body[key]
    return body


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_kind(value: Any) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return kinds.get(type(value), "null" if value is None else type(value).__name__)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if _INT64_MIN <= value <= _INT64_MAX else "big"
    if isinstance(value, float):
        return "float"
    return "str" if isinstance(value, str) else "other"


def _infer_type(values: Iterator[Any]) -> pa.DataType:
    kinds = {_kind(v) for v in values if v is not None}
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()  # strings, JSON text of lists, mixed kinds, and columns null on the whole page


def _as_number(value: Any, arrow_type: pa.DataType) -> Any:
    """``value`` as an int64 or a double, or ``_MISSING`` when it is not one (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _MISSING
    if pa.types.is_floating(arrow_type):
        try:
            return float(value)
        except OverflowError:  # an integer too large for a double
            return _MISSING
    if isinstance(value, float):
        if not value.is_integer():
            return _MISSING
        value = int(value)
    return value if _INT64_MIN <= value <= _INT64_MAX else _MISSING


def _fit(name: str, value: Any, arrow_type: pa.DataType) -> Any:
    """``value`` as its column's type wants it; raises :class:`_Unfit` when it does not fit."""
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        return value if isinstance(value, str) else _json_text(value)
    if pa.types.is_boolean(arrow_type):
        fitted = value if isinstance(value, bool) else _MISSING
    else:
        fitted = _as_number(value, arrow_type)
    if fitted is not _MISSING:
        return fitted
    shown = _json_text(value)
    shown = shown if len(shown) <= 100 else shown[:100] + "..."
    raise _Unfit(SCHEMA_MISMATCH_RULE, f"field {name!r}: {shown} does not fit the column type {arrow_type}")


class _RecordConverter:
    """Flattens records into rows of the schema decided from the first page holding an object."""

    def __init__(self, sep: str) -> None:
        self.sep = sep
        self.schema: dict[str, pa.DataType] | None = None
        self._prefixes: frozenset[str] = frozenset()

    def learn(self, values: Sequence[Any]) -> None:
        """Decide the columns and types from one page, if it holds at least one usable object."""
        rows = []
        for value in values:
            if isinstance(value, dict):
                try:
                    rows.append(self._flatten(value))
                except _Unfit:
                    continue
        if not rows:
            return
        names = list(dict.fromkeys(name for row in rows for name in row))
        self.schema = {name: _infer_type(row.get(name) for row in rows) for name in names}
        parts = (name.split(self.sep) for name in names)
        self._prefixes = frozenset(self.sep.join(p[:i]) for p in parts for i in range(1, len(p)))

    def convert(self, records: Sequence[_Record]) -> SourceBatch:
        rows: list[dict[str, Any]] = []
        good: list[_Record] = []
        bad: list[tuple[_Record, _Unfit]] = []
        for record in records:
            try:
                rows.append(self._row(record.value))
            except _Unfit as exc:
                bad.append((record, exc))
            else:
                good.append(record)
        return SourceBatch(self._table(rows, good), _rejected_frame(bad), rows_in=len(records))

    def _flatten(self, record: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {} if out is None else out
        known = self.schema
        for key, value in record.items():
            name = f"{prefix}{self.sep}{key}" if prefix else key
            if isinstance(value, dict) and not (known and name in known and name not in self._prefixes):
                if value:  # an empty object adds no columns (as pandas.json_normalize does)
                    self._flatten(value, name, out)
                continue
            if name in out:
                raise _Unfit(SCHEMA_MISMATCH_RULE, f"field {name!r} occurs twice once nested fields are flattened")
            if name in RESERVED_COLUMNS:
                raise _Unfit(SCHEMA_MISMATCH_RULE, f"field {name!r} is reserved for the reader")
            out[name] = _json_text(value) if isinstance(value, list | dict) else value
        return out

    def _row(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Unfit(NOT_OBJECT_RULE, f"record is a JSON {_json_kind(value)}, not an object")
        flat = self._flatten(value)
        schema = self.schema or {}
        # a null field the first page did not have carries nothing: dropping it loses nothing
        extra = [name for name, v in flat.items() if name not in schema and v is not None]
        if extra:
            raise _Unfit(SCHEMA_MISMATCH_RULE, f"fields not in the schema decided from the first page: {extra}")
        return {name: _fit(name, flat.get(name), arrow_type) for name, arrow_type in schema.items()}

    def _table(self, rows: list[dict[str, Any]], good: list[_Record]) -> pa.Table:
        columns = {
            name: pa.array([row[name] for row in rows], type=arrow_type)
            for name, arrow_type in (self.schema or {}).items()
        }
        columns[SOURCE_FILE_COLUMN] = pa.array([r.source for r in good], pa.string())
        columns[SOURCE_LINE_COLUMN] = pa.array([r.number for r in good], pa.int64())
        return pa.table(columns)


def _rejected_frame(bad: list[tuple[_Record, _Unfit]]) -> pd.DataFrame:
    """Quarantine rows: page URL, record number, raw JSON, rule, reason; indexed by record number."""
    if not bad:
        return pd.DataFrame()
    numbers = [record.number for record, _ in bad]
    return pd.DataFrame(
        {
            SOURCE_FILE_COLUMN: [record.source for record, _ in bad],
            SOURCE_LINE_COLUMN: pd.array(numbers, dtype="int64"),
            RAW_RECORD_COLUMN: [_json_text(record.value) for record, _ in bad],
            RULE_COLUMN: [exc.rule for _, exc in bad],
            REASON_COLUMN: [exc.reason for _, exc in bad],
        },
        index=pd.Index(numbers, dtype="int64"),
    )


# --- reader -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hooks:
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    rng: _Random


class HttpReader:
    """Reads an :class:`HttpSource` page by page as :class:`SourceBatch` blocks.

    :param source: what to read.
    :param sleep: waits between retries and for the rate limit (tests pass a recorder).
    :param clock: monotonic seconds, for token expiry and ``stats.seconds``.
    :param wall_clock: epoch seconds, to read a ``Retry-After`` HTTP date.
    :param rng: jitter source (anything with ``uniform(a, b)``); None: a fresh ``random.Random()``.
    """

    def __init__(
        self,
        source: HttpSource,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: _Random | None = None,
    ) -> None:
        self.source = source
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.rng = rng
        #: statistics of the current or last read (replaced when :meth:`batches` starts reading)
        self.stats = HttpStats()

    def batches(self) -> Iterator[SourceBatch]:
        """Validate the source now; fetch pages lazily as the batches are consumed.

        Yields batches of at most ``batch_rows`` records; a source without records yields one empty
        batch (provenance columns only when no object was seen).

        :raises ConfigurationError: bad configuration (raised immediately).
        :raises HttpSourceError: a request failed (``retryable`` says whether a later try may work).
        :raises DataContractError: the body is not JSON or has no list at ``records_path``.
        :raises PaginationLoopError: a cursor or next URL repeats.
        :raises UnsafeUrlError: a next link leaves the base URL's origin.
        """
        self.source.validate()
        return self._generate()

    def _generate(self) -> Iterator[SourceBatch]:
        source = self.source
        self.stats = HttpStats()
        started = self.clock()
        redactor = _redactor_for(source)
        hooks = _Hooks(self.sleep, self.clock, self.wall_clock, self.rng or random.Random())
        converter = _RecordConverter(source.flatten_sep)
        pending: list[_Record] = []
        yielded = False
        session = _Session(source, self.stats, redactor, hooks)
        try:
            for records in self._pages(session, redactor):
                if converter.schema is None:
                    converter.learn([record.value for record in records])
                pending.extend(records)
                self.stats.seconds = self.clock() - started
                while len(pending) >= source.batch_rows:
                    batch, pending = pending[: source.batch_rows], pending[source.batch_rows :]
                    yielded = True
                    yield converter.convert(batch)
        finally:
            session.close()
            self.stats.seconds = self.clock() - started
        if pending or not yielded:
            yield converter.convert(pending)

    def _pages(self, session: _Session, redactor: _Redactor) -> Iterator[list[_Record]]:
        source = self.source
        pagination = source.pagination
        endpoint = httpx.URL(source.url())
        base_params = {k: str(v) for k, v in (source.params or {}).items()}
        step = _NextRequest(params=pagination.start_params() if pagination else {})
        fetched: dict[str, int] = {}
        number = 0
        while True:
            url = step.url or endpoint.copy_merge_params({**base_params, **step.params})
            if step.url is not None and isinstance(source.auth, ApiKeyAuth) and source.auth.location == "query":
                # an API echoing the key in its next links: the transport adds it back, after httpx logs the URL
                url = url.copy_remove_param(source.auth.name)
            self._check_new(url, fetched, redactor)
            response = session.get_page(url)
            body = _json_body(response, redactor.url(url), redactor)
            values = _records(body, source.records_path, redactor.url(url))
            self.stats.pages += 1
            self.stats.records += len(values)
            shown = redactor.url(url)
            log.debug("page %d: %s: %d records", self.stats.pages, shown, len(values))
            yield [_Record(number + i, shown, value) for i, value in enumerate(values, start=1)]
            number += len(values)
            page = _PageResponse(url, {} if step.url else step.params, response, body, len(values))
            step = pagination.follow(page) if pagination else None
            if step is None or self._stop_at_bound(step, redactor):
                return

    def _check_new(self, url: httpx.URL, fetched: dict[str, int], redactor: _Redactor) -> None:
        key = str(url)
        if key in fetched:
            style = self.source.pagination.style if self.source.pagination else "pagination"
            raise PaginationLoopError(
                f"{style} pagination loops: page {self.stats.pages + 1} would fetch {redactor.url(url)} "
                f"again (page {fetched[key]} did); the API repeats a cursor or next URL"
            )
        fetched[key] = self.stats.pages + 1

    def _stop_at_bound(self, step: _NextRequest, redactor: _Redactor) -> bool:
        if step.url is not None and _origin(step.url) != _origin(httpx.URL(self.source.base_url)):
            raise UnsafeUrlError(
                f"next page link {redactor.url(step.url)} leaves {redactor.url(self.source.base_url)} "
                "(scheme, host and port must stay the same)"
            )
        if self.stats.pages < self.source.max_pages:
            return False
        self.stats.hit_max_pages = True
        log.warning(
            "%s: stopped at max_pages=%d although the API has more pages",
            redactor.url(self.source.url()),
            self.source.max_pages,
        )
        return True


def _json_body(response: httpx.Response, shown_url: str, redactor: _Redactor) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        start = redactor.text(response.text[:200])
        raise DataContractError(f"{shown_url}: the response is not JSON ({exc}); it starts with {start!r}") from None


def _records(body: Any, path: str | None, shown_url: str) -> list[Any]:
    value = body if path is None else _get_path(body, path)
    if value is _MISSING:
        raise DataContractError(f"{shown_url}: records_path {path!r} is not in the response")
    if value is None:
        return []
    if not isinstance(value, list):
        where = f"records_path {path!r}" if path is not None else "the body (records_path=None)"
        raise DataContractError(f"{shown_url}: {where} holds a JSON {_json_kind(value)}, not a list of records")
    return value
