"""Pagination styles: page number, offset/limit, cursor, ``Link`` header, next URL in the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.ingest.http.checks import (
    _MISSING,
    _body_number,
    _check_int,
    _check_path,
    _check_text,
    _get_path,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx


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
