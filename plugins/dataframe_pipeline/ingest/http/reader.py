"""Reads an :class:`~dataframe_pipeline.ingest.http.source.HttpSource` page by page as batches of records."""

from __future__ import annotations

import json
import logging
import random
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
import pandas as pd
import pyarrow as pa

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import (
    DataContractError,
    PaginationLoopError,
    UnsafeUrlError,
)
from dataframe_pipeline.ingest.base import RESERVED_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, SourceBatch
from dataframe_pipeline.ingest.http.auth import ApiKeyAuth
from dataframe_pipeline.ingest.http.checks import _MISSING, _get_path
from dataframe_pipeline.ingest.http.pagination import _NextRequest, _PageResponse
from dataframe_pipeline.ingest.http.redaction import _Redactor, _redactor_for
from dataframe_pipeline.ingest.http.session import _Hooks, _origin, _Random, _Session
from dataframe_pipeline.ingest.http.source import HttpSource, HttpStats

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

log = logging.getLogger(__name__)


RAW_RECORD_COLUMN = "_raw_record"


#: rule of the records that are not JSON objects
NOT_OBJECT_RULE = "http_record_not_object"


#: rule of the objects that do not fit the schema decided from the first page
SCHEMA_MISMATCH_RULE = "http_record_schema_mismatch"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


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
