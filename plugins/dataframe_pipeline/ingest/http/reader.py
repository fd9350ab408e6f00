"""Reads an :class:`~dataframe_pipeline.ingest.http.source.HttpSource` page by page as batches of records.

A page is decoded whole (``response.json`` with the record layer's ``object_pairs_hook``, which
notices repeated keys); its records go through the shared record layer
(:mod:`dataframe_pipeline.ingest.records`), the columns being decided by the first page holding a
good record. A rejected record's ``_raw_line`` is its compact JSON, repeated keys written out.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

import httpx

from dataframe_pipeline.exceptions import (
    DataContractError,
    PaginationLoopError,
    RepeatedKeyError,
    UnsafeUrlError,
)
from dataframe_pipeline.ingest.http.auth import ApiKeyAuth
from dataframe_pipeline.ingest.http.checks import _MISSING, _get_path
from dataframe_pipeline.ingest.http.pagination import _NextRequest, _PageResponse
from dataframe_pipeline.ingest.http.redaction import _Redactor, _redactor_for
from dataframe_pipeline.ingest.http.session import _Hooks, _origin, _Random, _Session
from dataframe_pipeline.ingest.http.source import HttpSource, HttpStats
from dataframe_pipeline.ingest.records.flatten import _json_type_name, _Record
from dataframe_pipeline.ingest.records.keys import _marked_pairs, _repeated_key, _unique_pairs
from dataframe_pipeline.ingest.records.tabulate import RecordOptions, _Tabulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from dataframe_pipeline.ingest.base import SourceBatch

log = logging.getLogger(__name__)


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
        :raises DataContractError: the body is not JSON, has no list at ``records_path``, or repeats a
            key outside the records (a record repeating one is quarantined under ``duplicate_key``).
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
        hooks = _Hooks(self.sleep, self.clock, self.wall_clock, self.rng or random.Random())  # noqa: S311 - backoff jitter, not a secret
        # records of every page are flattened, typed and rejected by the shared record layer; the
        # columns are decided by the first page holding a good record
        tabulator = _Tabulator(None, RecordOptions(flatten_sep=source.flatten_sep), typed_values=True)
        pending: list[_Record] = []
        yielded = False
        session = _Session(source, self.stats, redactor, hooks)
        try:
            for records in self._pages(session, redactor, tabulator):
                tabulator.learn(records)
                pending.extend(records)
                self.stats.seconds = self.clock() - started
                while len(pending) >= source.batch_rows:
                    batch, pending = pending[: source.batch_rows], pending[source.batch_rows :]
                    yielded = True
                    yield tabulator.batch(batch)
        finally:
            session.close()
            self.stats.seconds = self.clock() - started
        if pending or not yielded:
            yield tabulator.batch(pending)

    def _pages(self, session: _Session, redactor: _Redactor, tabulator: _Tabulator) -> Iterator[list[_Record]]:
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
            shown = redactor.url(url)
            body, repeated = _json_body(response, shown, redactor)
            values = _records(body, source.records_path, shown, repeated)
            self.stats.pages += 1
            self.stats.records += len(values)
            log.debug("page %d: %s: %d records", self.stats.pages, shown, len(values))
            yield [
                tabulator.json_record(number + i, value, None, repeated=repeated, source=shown)
                for i, value in enumerate(values, start=1)
            ]
            number += len(values)
            page = _PageResponse(url, {} if step.url else step.params, response, body, len(values))
            following = pagination.follow(page) if pagination else None
            if following is None or self._stop_at_bound(following, redactor):
                return
            step = following

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


def _json_body(response: httpx.Response, shown_url: str, redactor: _Redactor) -> tuple[Any, bool]:
    """The decoded body, and whether some object in it holds a key twice (then marked, see records)."""
    try:
        try:
            return response.json(object_pairs_hook=_unique_pairs), False
        except RepeatedKeyError:
            # the rare case: decode again, keeping every value of the repeated keys as evidence
            return response.json(object_pairs_hook=_marked_pairs), True
    except RecursionError:
        raise DataContractError(f"{shown_url}: the response nests values too deeply to decode") from None
    except ValueError as exc:
        start = redactor.text(response.text[:200])
        raise DataContractError(f"{shown_url}: the response is not JSON ({exc}); it starts with {start!r}") from None


def _records(body: Any, path: str | None, shown_url: str, repeated: bool) -> list[Any]:
    value = body if path is None else _get_path(body, path)
    found = _repeated_key(body, skip=value if isinstance(value, list) else None) if repeated else None
    if found is not None:
        # which of the values is meant cannot be told: the page is not a valid answer
        raise DataContractError(
            f"{shown_url}: the key {found[0]!r} is repeated outside the records ({found[2]} times in one "
            "object): the response is ambiguous, no value can be chosen"
        )
    if value is _MISSING:
        raise DataContractError(f"{shown_url}: records_path {path!r} is not in the response")
    if value is None:
        return []
    if not isinstance(value, list):
        where = f"records_path {path!r}" if path is not None else "the body (records_path=None)"
        raise DataContractError(f"{shown_url}: {where} holds a JSON {_json_type_name(value)}, not a list of records")
    return value
