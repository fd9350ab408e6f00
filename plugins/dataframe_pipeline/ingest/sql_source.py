"""Streaming SQL source through SQLAlchemy: a table or a query, read in batches, with incremental modes.

:class:`SqlReader` streams a :class:`SqlSource` as :class:`~dataframe_pipeline.ingest.base.SourceBatch`
objects of at most ``batch_rows`` rows, using a server-side cursor (``stream_results`` with
``yield_per``: a psycopg named cursor on PostgreSQL, an unbuffered ``SSCursor`` on MySQL/MariaDB,
SQLite's own lazy stepping), so memory is bounded by one batch whatever the table's size.

**Table mode** checks every identifier (schema, table, columns, order_by, incremental column) against
the database's catalogue and builds the ``SELECT`` with SQLAlchemy Core. **Query mode** runs the
caller's SQL as ``text(query)`` wrapped in a subquery; values reach the database as bound parameters
(``params``), never by string formatting. A trailing ``;`` is not allowed (the query is a subquery).

**Incremental reads** (:class:`Incremental`):

``interval``   ``start <= column < end`` (the DAG run's data interval), so a backfill of an interval
               reloads exactly that interval.
``watermark``  ``column > after`` (every non-null row when ``after`` is None), ordered by the column;
               :attr:`ReadStats.max_value` is the new high-water mark candidate, which the caller
               saves (:class:`WatermarkStore`) only after the store step committed. Rows arriving later
               with a value ``<=`` the saved mark are never read: use a strictly increasing column.

Rows whose incremental column is NULL belong to no interval and are never above a watermark.
Bounds given as ISO strings (Airflow templates render strings) are converted to the column's type;
naive database timestamps are taken to be UTC.

**Transient errors** (connection refused or lost, server restart) are retried up to ``max_retries``
times with exponential backoff. A connection lost in the middle of a read resumes after the last key
emitted when the read is ordered by a unique key: ``order_by`` or the watermark column when the
catalogue shows them unique, else extended with the primary key (table mode), or ``order_by`` as
declared by the caller (query mode: it must be a unique key of the result). Otherwise
:class:`TransientSourceError` is raised for the whole task to be retried (its output is rewritten
atomically, so that cannot duplicate rows).

A resumed read sees the rows committed by then: rows changed meanwhile ahead of the last key are
read as they are now, like in any read not run in one snapshot.

**Types**: integers -> int64, floats and exact numerics -> float64, booleans -> bool, dates ->
date32, timestamps -> timestamp[us] (``timestamp[us, UTC]`` for time-zone-aware columns), intervals
(and MySQL's TIME) -> duration[us], binary -> binary, everything else (text, UUID, JSON, enums) ->
string. Table mode takes the types from the catalogue; query mode from the result description on
PostgreSQL and MySQL, and on SQLite (no result types) from the first batch's values: the first batch
fixes the schema of the whole read (an all-NULL column there becomes string). Values that do not fit
their column's type (SQLite is dynamically typed) are quarantined under the rule
``sql_type_mismatch`` with the column and value.

Provenance: ``_source_file`` is ``<url without secrets>/<schema.table>`` (or ``.../query``) and
``_source_line`` the 1-based row number in the result, continuing across batches and resumptions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from dataframe_pipeline.core.batch import reject
from dataframe_pipeline.core.dataset import write_atomic
from dataframe_pipeline.exceptions import ConfigurationError, PipelineError
from dataframe_pipeline.ingest.base import RESERVED_COLUMNS, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, SourceBatch

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from fsspec import AbstractFileSystem
    from sqlalchemy.engine import Connection, Engine, Row
    from sqlalchemy.engine.interfaces import ReflectedColumn
    from sqlalchemy.engine.reflection import Inspector
    from sqlalchemy.sql.elements import ColumnElement

logger = logging.getLogger(__name__)

INTERVAL = "interval"
WATERMARK = "watermark"
#: rule name of the rows quarantined because a value does not fit its column's type
TYPE_MISMATCH_RULE = "sql_type_mismatch"
RETRY_BACKOFF_MAX_SECONDS = 60.0

_HIDDEN_LABEL = "_sql_source_hidden_{}"
_SECRET_QUERY_KEY = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
_BOUND_TYPES = (int, float, Decimal, str, datetime, date)
_MAX_LISTED = 50
_CONNECT_TIMEOUT_SECONDS = 10


class TransientSourceError(PipelineError, ConnectionError):
    """The source failed in a way a later retry of the task can fix (connection lost, server down)."""


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incremental:
    """Which slice of the source one run reads.

    :param mode: ``"interval"`` (``start <= column < end``) or ``"watermark"`` (``column > after``).
    :param column: the column compared (table column, or result column in query mode).
    :param start: interval mode: inclusive lower bound (the data interval's start). (templated)
    :param end: interval mode: exclusive upper bound (the data interval's end). (templated)
    :param after: watermark mode: the last committed high-water mark; None reads every row.
    """

    mode: str
    column: str
    start: Any = None
    end: Any = None
    after: Any = None

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value."""
        if self.mode not in (INTERVAL, WATERMARK):
            raise ConfigurationError("incremental.mode", self.mode, "must be 'interval' or 'watermark'")
        if not isinstance(self.column, str) or not self.column:
            raise ConfigurationError("incremental.column", self.column, "must be a column name")
        for name in ("start", "end", "after"):
            _check_bound(f"incremental.{name}", getattr(self, name))
        if self.mode == INTERVAL:
            self._validate_interval()
        elif self.start is not None or self.end is not None:
            field_name = "incremental.start" if self.start is not None else "incremental.end"
            raise ConfigurationError(field_name, getattr(self, field_name.split(".")[1]), "only for mode='interval'")

    def _validate_interval(self) -> None:
        if self.after is not None:
            raise ConfigurationError("incremental.after", self.after, "only for mode='watermark'")
        for name in ("start", "end"):
            if getattr(self, name) is None:
                raise ConfigurationError(f"incremental.{name}", None, "required for mode='interval'")
        _check_order(self.start, self.end)


@dataclass(frozen=True)
class SqlSource:
    """What to read from a database.

    :param url: SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host/db``, ``mysql+pymysql://...``,
        ``sqlite:////path/demo.db``. Never logged with its password (see :attr:`safe_url`).
    :param table: table (or view) to read; exactly one of ``table`` and ``query``.
    :param schema: the table's schema (database on MySQL); the connection's default when None.
    :param columns: table columns to read, in this order; all columns when None.
    :param query: SQL ``SELECT`` to read instead of a table; values go in ``params``. (templated)
    :param params: bound parameter values of ``query`` (``:name`` in the SQL). (templated)
    :param order_by: columns ordering the read; the resume key when unique.
    :param incremental: the slice to read (:class:`Incremental`).
    :param batch_rows: most rows per batch (and per round trip of the server-side cursor).
    :param max_retries: retries of transient errors (connection lost or refused) per read.
    """

    url: str
    table: str | None = None
    schema: str | None = None
    columns: list[str] | None = None
    query: str | None = None
    params: dict[str, Any] | None = None
    order_by: list[str] | None = None
    incremental: Incremental | None = None
    batch_rows: int = 100_000
    max_retries: int = 3

    @property
    def safe_url(self) -> str:
        """The URL with its password (and secret-looking query values) replaced by ``***``."""
        return safe_url(self.url)

    @property
    def source_name(self) -> str:
        """The ``_source_file`` value: ``<safe url>/<schema.table>`` or ``<safe url>/query``."""
        if self.table is None:
            return f"{self.safe_url}/query"
        qualified = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"{self.safe_url}/{qualified}"

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad field and its value."""
        _check_url(self.url)
        if (self.table is None) == (self.query is None):
            raise ConfigurationError("table", self.table, "give exactly one of table and query")
        if self.table is not None:
            self._validate_table_mode()
        else:
            self._validate_query_mode()
        _check_names("order_by", self.order_by)
        if self.incremental is not None:
            if not isinstance(self.incremental, Incremental):
                raise ConfigurationError("incremental", self.incremental, "must be an Incremental")
            self.incremental.validate()
        _check_int("batch_rows", self.batch_rows, 1)
        _check_int("max_retries", self.max_retries, 0)

    def _validate_table_mode(self) -> None:
        if not isinstance(self.table, str) or not self.table:
            raise ConfigurationError("table", self.table, "must be a table name")
        if self.schema is not None and (not isinstance(self.schema, str) or not self.schema):
            raise ConfigurationError("schema", self.schema, "must be a schema name or None")
        _check_names("columns", self.columns)
        if self.columns is not None and RESERVED_COLUMNS.intersection(self.columns):
            raise ConfigurationError("columns", self.columns, f"{sorted(RESERVED_COLUMNS)} are reserved")
        if self.params is not None:
            raise ConfigurationError("params", self.params, "only with query (table mode binds its own values)")

    def _validate_query_mode(self) -> None:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ConfigurationError("query", self.query, "must be a SQL SELECT statement")
        if self.query.rstrip().endswith(";"):
            raise ConfigurationError("query", _shorten(self.query), "must not end with ';' (it is run as a subquery)")
        for name, value in (("schema", self.schema), ("columns", self.columns)):
            if value is not None:
                raise ConfigurationError(name, value, "only with table (select columns in the query)")
        if self.params is not None and (
            not isinstance(self.params, dict) or not all(isinstance(k, str) for k in self.params)
        ):
            raise ConfigurationError("params", self.params, "must be a dict of parameter name -> value")
        needed = set(sa.text(self.query).compile().params)
        given = set(self.params or {})
        if needed != given:
            problem = f"the query's parameters are {sorted(needed)}"
            raise ConfigurationError("params", sorted(given), problem)


def safe_url(url: str) -> str:
    """Render a database URL for logs and provenance: password and secret query values hidden."""
    try:
        parsed = sa.engine.make_url(url)
    except (sa_exc.ArgumentError, ValueError, TypeError, AttributeError):
        # unparseable: anything after the scheme may be a password, so show none of it
        scheme = re.match(r"^[A-Za-z][\w+.-]*://", str(url))
        return f"{scheme.group(0) if scheme else ''}***"
    query = {key: ("***" if _SECRET_QUERY_KEY.search(key) else value) for key, value in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("=%2A%2A%2A", "=***")


def _check_url(url: object) -> None:
    if not isinstance(url, str) or not url:
        raise ConfigurationError("url", None if url is None else safe_url(str(url)), "must be a SQLAlchemy URL")
    try:
        parsed = sa.engine.make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        # the parser's message repeats the URL, password included: do not chain it
        raise ConfigurationError(
            "url", safe_url(url), "not a SQLAlchemy URL (dialect+driver://user:password@host:port/database)"
        ) from None
    try:
        parsed.get_dialect()
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError("url", safe_url(url), f"unknown dialect or driver ({exc})") from exc


def _check_names(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ConfigurationError(name, value, "must be a non-empty list of column names")
    if not all(isinstance(item, str) and item for item in value):
        raise ConfigurationError(name, value, "column names must be non-empty strings")
    if len(set(value)) != len(value):
        raise ConfigurationError(name, value, "column names must be unique")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(name, value, f"must be an integer >= {minimum}")


def _check_bound(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, _BOUND_TYPES):
        raise ConfigurationError(name, value, "must be a number, string, date or datetime")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigurationError(name, value, "must be finite")


def _check_order(start: Any, end: Any) -> None:
    if isinstance(start, str) or isinstance(end, str):
        return  # compared once converted to the column's type (ISO strings do not sort as instants)
    try:
        backwards = start > end
    except TypeError:
        return  # e.g. a date and a number: compared again once converted to the column's type
    if backwards:
        raise ConfigurationError("incremental.end", end, f"is before incremental.start={start!r}")


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- what a read returns ------------------------------------------------------------------------


@dataclass
class ReadStats:
    """What the last :meth:`SqlReader.batches` read did (complete once the iterator is exhausted).

    :param rows: rows read from the source (good and quarantined).
    :param rows_rejected: rows quarantined because a value did not fit its column's type.
    :param batches: batches yielded.
    :param retries: transient errors retried.
    :param seconds: wall time of the read.
    :param max_value: greatest non-null value of the incremental column among the rows read (the new
        watermark candidate); None when no row was read (keep the previous watermark).
    """

    rows: int = 0
    rows_rejected: int = 0
    batches: int = 0
    retries: int = 0
    seconds: float = 0.0
    max_value: Any = None


@dataclass(frozen=True, eq=False)
class _Key:
    name: str
    expr: ColumnElement[Any]
    nullable: bool


@dataclass(frozen=True, eq=False)
class _Plan:
    """The checked read: statement without order and resume condition, output layout, resume key."""

    select: sa.Select[Any]
    names: list[str]
    types: list[pa.DataType | None]
    keys: list[_Key]
    key_positions: list[int]
    resumable: bool
    max_position: int | None
    source_name: str

    def statement(self, last_key: tuple[Any, ...] | None) -> sa.Select[Any]:
        stmt = self.select if last_key is None else self.select.where(_after_key(self.keys, last_key))
        return stmt.order_by(*_order_clauses(self.keys))


@dataclass
class _Progress:
    """Where a read is: rows emitted, the last key emitted, the column types fixed so far."""

    types: list[pa.DataType | None]
    rows: int = 0
    last_key: tuple[Any, ...] | None = None
    max_value: Any = None
    failures: int = 0


class _RetryableError(Exception):
    """Internal: a transient database error, to be retried."""

    def __init__(self, error: sa_exc.DBAPIError) -> None:
        super().__init__(str(error))
        self.error = error


# --- the reader ---------------------------------------------------------------------------------


class SqlReader:
    """Stream a :class:`SqlSource` in batches.

    Use as a context manager (or call :meth:`close`) so the connection pool is released::

        with SqlReader(source) as reader:
            for batch in reader.batches():
                ...
            reader.stats.max_value

    :param source: what to read.
    :param backoff_seconds: first delay between retries (doubled each retry, at most 60 s).
    """

    def __init__(self, source: SqlSource, *, backoff_seconds: float = 1.0) -> None:
        self.source = source
        self.backoff_seconds = backoff_seconds
        self.stats = ReadStats()
        self._engine: Engine | None = None
        self._plan: _Plan | None = None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created once per reader (``pool_pre_ping`` drops dead connections)."""
        if self._engine is None:
            self.source.validate()
            self._engine = sa.create_engine(
                self.source.url, pool_pre_ping=True, connect_args=_connect_args(self.source.url)
            )
        return self._engine

    def check(self) -> None:
        """Validate the configuration and check it against the database's catalogue.

        :raises ConfigurationError: a bad field, or an identifier the database does not know.
        :raises TransientSourceError: the database stayed unreachable through ``max_retries`` retries.
        """
        if self._plan is None:
            self.source.validate()
            self._plan = self._with_retries(self._build_plan)

    def batches(self) -> Iterator[SourceBatch]:
        """Check now, then stream lazily; an empty result yields one batch with no rows (the schema).

        :raises ConfigurationError: as :meth:`check` (raised immediately).
        :raises TransientSourceError: while iterating: retries exhausted, or the connection was lost
            mid-read and the read has no unique key to resume after.
        """
        self.stats = ReadStats()
        self.check()
        assert self._plan is not None
        return self._stream(self._plan)

    def close(self) -> None:
        """Release the connection pool."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> SqlReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- retries ---

    def _with_retries(self, action: Any) -> Any:
        failures = 0
        while True:
            try:
                with self._connect() as conn:
                    return action(conn)
            except _RetryableError as err:
                failures += 1
                self._wait_before_retry(err, failures)
            except sa_exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                failures += 1
                self._wait_before_retry(_RetryableError(exc), failures)

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except sa_exc.DBAPIError as exc:
            # a refused or dropped connection attempt (server restarting, network): worth retrying
            raise _RetryableError(exc) from exc

    def _wait_before_retry(self, err: _RetryableError, failures: int) -> None:
        if failures > self.source.max_retries:
            raise TransientSourceError(
                f"{self.source.safe_url}: gave up after {self.source.max_retries} retries: {err.error.orig}"
            ) from err.error
        delay = min(self.backoff_seconds * 2 ** (failures - 1), RETRY_BACKOFF_MAX_SECONDS)
        logger.warning(
            "%s: transient error (%s), retry %d of %d in %.1f s",
            self.source.safe_url,
            err.error.orig,
            failures,
            self.source.max_retries,
            delay,
        )
        self.stats.retries += 1
        time.sleep(delay)

    # --- streaming ---

    def _stream(self, plan: _Plan) -> Iterator[SourceBatch]:
        started = time.monotonic()
        progress = _Progress(types=list(plan.types))
        logger.info("reading %s in batches of %d rows", plan.source_name, self.source.batch_rows)
        try:
            while True:
                try:
                    yield from self._read_attempt(plan, progress)
                    break
                except _RetryableError as err:
                    progress.failures += 1
                    self._check_resumable(plan, progress, err)
                    self._wait_before_retry(err, progress.failures)
            if self.stats.batches == 0:
                yield self._empty_batch(plan, progress)
        finally:
            self.stats.seconds = time.monotonic() - started
        logger.info(
            "read %d rows from %s in %d batches, %.1f s, %d retries",
            self.stats.rows,
            plan.source_name,
            self.stats.batches,
            self.stats.seconds,
            self.stats.retries,
        )

    def _check_resumable(self, plan: _Plan, progress: _Progress, err: _RetryableError) -> None:
        if progress.rows == 0:
            return  # nothing emitted yet: starting over cannot duplicate
        if not plan.resumable:
            problem = "the read is not ordered by a unique key, so it cannot resume"
        elif progress.last_key is None or any(value is None for value in progress.last_key):
            problem = f"the last key read {progress.last_key} has a NULL, so it cannot resume after it"
        else:
            return
        raise TransientSourceError(
            f"{plan.source_name}: connection lost after {progress.rows} rows ({err.error.orig}); {problem}; "
            "retry the task"
        ) from err.error

    def _read_attempt(self, plan: _Plan, progress: _Progress) -> Iterator[SourceBatch]:
        statement = plan.statement(progress.last_key)
        conn = self._connect()
        try:
            yield from self._read_rows(conn, statement, plan, progress)
        finally:
            _close_quietly(conn, plan.source_name)

    def _read_rows(
        self, conn: Connection, statement: sa.Select[Any], plan: _Plan, progress: _Progress
    ) -> Iterator[SourceBatch]:
        streaming = conn.execution_options(stream_results=True, yield_per=self.source.batch_rows)
        dbapi_cursor = None
        try:
            result = streaming.execute(statement)
            dbapi_cursor = getattr(result, "cursor", None)
            for rows in result.partitions():
                yield self._emit(rows, plan, progress)
        except GeneratorExit:
            # the consumer stopped early: drop the connection rather than let the driver read
            # (MySQL) or the server keep (PostgreSQL) the rest of the result
            _forget_unbuffered_result(dbapi_cursor)
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                result.close()
            conn.invalidate()
            raise
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                _discard_cursor(dbapi_cursor)
                raise _RetryableError(exc) from exc
            raise

    def _emit(self, rows: Sequence[Row[Any]], plan: _Plan, progress: _Progress) -> SourceBatch:
        columns = list(zip(*rows, strict=True))
        batch = _build_batch(columns, len(rows), plan, progress)
        if plan.key_positions:
            last = rows[-1]
            progress.last_key = tuple(last[i] for i in plan.key_positions)
        if plan.max_position is not None:
            progress.max_value = _max_value(progress.max_value, columns[plan.max_position])
        progress.rows += len(rows)
        self.stats.rows = progress.rows
        self.stats.rows_rejected += len(batch.rejected)
        self.stats.batches += 1
        self.stats.max_value = progress.max_value
        return batch

    def _empty_batch(self, plan: _Plan, progress: _Progress) -> SourceBatch:
        self.stats.batches += 1
        return _build_batch([() for _ in plan.select.selected_columns], 0, plan, progress)

    # --- checking against the catalogue ---

    def _build_plan(self, conn: Connection) -> _Plan:
        if self.source.table is not None:
            return _table_plan(self.source, conn)
        return _query_plan(self.source, conn)


def _close_quietly(conn: Connection, source_name: str) -> None:
    """Close a reading connection; losing it at this point changes nothing.

    Either every row was received (the driver saw the end of the result) or the read failed
    already; what remains is ending a read-only transaction, which a dead connection ends anyway.
    """
    try:
        conn.close()
    except sa_exc.DBAPIError as exc:
        logger.warning("%s: error while closing the connection (ignored): %s", source_name, exc.orig)


def _discard_cursor(dbapi_cursor: Any) -> None:
    """Close the cursor of a lost connection now (best effort), not when it is garbage-collected."""
    _forget_unbuffered_result(dbapi_cursor)
    if dbapi_cursor is not None:
        with contextlib.suppress(Exception):
            dbapi_cursor.close()


def _forget_unbuffered_result(dbapi_cursor: Any) -> None:
    """Stop PyMySQL from draining an unbuffered result over a connection that is already gone.

    PyMySQL leaves the result of a streaming cursor marked active when the connection drops, so
    closing or collecting the cursor later reads from a closed socket and prints errors.
    """
    result = getattr(dbapi_cursor, "_result", None)
    if getattr(result, "unbuffered_active", False):
        result.unbuffered_active = False


def _connect_args(url: str) -> dict[str, Any]:
    """A connect timeout, so an unreachable server fails (and is retried) instead of hanging."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in parsed.query:
        return {"connect_timeout": _CONNECT_TIMEOUT_SECONDS}
    return {}


# --- table mode ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    """What the database says about one table."""

    columns: dict[str, ReflectedColumn]
    primary_key: list[str]
    unique_sets: list[list[str]]


def _load_catalogue(inspector: Inspector, source: SqlSource) -> _Catalogue:
    schema, table = source.schema, source.table
    assert table is not None
    if schema is not None:
        schemas = inspector.get_schema_names()
        if schema not in schemas:
            raise ConfigurationError("schema", schema, f"no such schema; schemas are {_listed(schemas)}")
    if not inspector.has_table(table, schema=schema):
        tables = sorted(inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema))
        where = f"schema {schema!r}" if schema else "the default schema"
        raise ConfigurationError("table", table, f"no such table in {where}; tables are {_listed(tables)}")
    columns = {column["name"]: column for column in inspector.get_columns(table, schema=schema)}
    primary_key = list(inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or [])
    unique_sets = [primary_key] if primary_key else []
    with contextlib.suppress(NotImplementedError):
        unique_sets += [list(uc["column_names"]) for uc in inspector.get_unique_constraints(table, schema=schema)]
    unique_sets += [
        list(ix["column_names"])
        for ix in inspector.get_indexes(table, schema=schema)
        if ix.get("unique") and ix["column_names"] and None not in ix["column_names"]
    ]
    return _Catalogue(columns, primary_key, [names for names in unique_sets if names])


def _listed(names: Sequence[str]) -> str:
    shown = list(names[:_MAX_LISTED])
    return f"{shown}" + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _require_known(field_name: str, names: Sequence[str] | None, known: Sequence[str], where: str) -> None:
    missing = [name for name in names or () if name not in known]
    if missing:
        value: object = missing if field_name != "incremental.column" else missing[0]
        raise ConfigurationError(field_name, value, f"not in {where}; columns are {list(known)}")


def _table_plan(source: SqlSource, conn: Connection) -> _Plan:
    catalogue = _load_catalogue(sa.inspect(conn), source)
    known = list(catalogue.columns)
    where = f"table {source.table}"
    _require_known("columns", source.columns, known, where)
    _require_known("order_by", source.order_by, known, where)
    if source.incremental is not None:
        _require_known("incremental.column", [source.incremental.column], known, where)
    names = list(source.columns or known)
    reserved = sorted(RESERVED_COLUMNS.intersection(names))
    if reserved:
        raise ConfigurationError("columns", reserved, "reserved for provenance; select the other columns")
    dialect = conn.dialect.name
    table = sa.table(
        source.table,
        *[sa.column(name, _read_type(column["type"], dialect)) for name, column in catalogue.columns.items()],
        schema=source.schema,
    )
    exprs = {name: table.c[name] for name in known}
    types = {name: _arrow_type_of_sql(column["type"], dialect) for name, column in catalogue.columns.items()}
    nullable = {name: bool(column.get("nullable", True)) for name, column in catalogue.columns.items()}
    key_names, resumable = _table_key(source, catalogue)
    keys = [_Key(name, exprs[name], nullable[name]) for name in key_names]
    return _assemble(source, names=names, exprs=exprs, types=types, keys=keys, resumable=resumable)


def _table_key(source: SqlSource, catalogue: _Catalogue) -> tuple[list[str], bool]:
    """The ordering of a table read, and whether it is unique (so a lost read can resume after it)."""
    wanted = _wanted_order(source)
    if any(set(unique) <= set(wanted) for unique in catalogue.unique_sets):
        return wanted, True
    if catalogue.primary_key:
        return wanted + [name for name in catalogue.primary_key if name not in wanted], True
    if not wanted and catalogue.unique_sets:
        return catalogue.unique_sets[0], True
    return wanted, False


def _wanted_order(source: SqlSource) -> list[str]:
    wanted = list(source.order_by or [])
    incremental = source.incremental
    if incremental is not None and incremental.mode == WATERMARK:
        wanted = [incremental.column] + [name for name in wanted if name != incremental.column]
    return wanted


# --- query mode ---------------------------------------------------------------------------------


def _query_text(source: SqlSource) -> sa.TextClause:
    assert source.query is not None
    clause = sa.text(source.query)
    return clause.bindparams(**source.params) if source.params else clause


def _query_plan(source: SqlSource, conn: Connection) -> _Plan:
    clause = _query_text(source)
    # run the query with an always-false filter: names and types of its columns, and a syntax check
    probe = sa.select(sa.literal_column("*")).select_from(clause.columns().subquery("q")).where(sa.false())
    try:
        result = conn.execute(probe)
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _RetryableError(exc) from exc
        raise ConfigurationError(
            "query", _shorten(source.query or ""), f"rejected by the database: {exc.orig}"
        ) from exc
    with result:
        names = list(result.keys())
        description = result.cursor.description if isinstance(result, sa.CursorResult) else None
    _check_result_names(names)
    known_types = _description_types(conn.dialect.name, description, len(names))
    types = dict(zip(names, known_types, strict=True))
    subquery = clause.columns(*[sa.column(name, _sql_type_of_arrow(types[name])) for name in names]).subquery("q")
    exprs = {name: subquery.c[name] for name in names}
    _require_known("order_by", source.order_by, names, "the query's result")
    if source.incremental is not None:
        _require_known("incremental.column", [source.incremental.column], names, "the query's result")
    # the caller declares order_by a unique key of the result; NULLs in it are allowed (sorted last)
    keys = [_Key(name, exprs[name], True) for name in _wanted_order(source)]
    return _assemble(source, names=names, exprs=exprs, types=types, keys=keys, resumable=bool(source.order_by))


def _check_result_names(names: list[str]) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError("query", duplicates, "result column names must be unique (use AS aliases)")
    reserved = sorted(RESERVED_COLUMNS.intersection(names))
    if reserved:
        raise ConfigurationError("query", reserved, "reserved for provenance; rename these result columns")


# --- the statement ------------------------------------------------------------------------------


def _assemble(
    source: SqlSource,
    *,
    names: list[str],
    exprs: dict[str, ColumnElement[Any]],
    types: dict[str, pa.DataType | None],
    keys: list[_Key],
    resumable: bool,
) -> _Plan:
    """The SELECT: output columns, then hidden ones the read needs (resume key, watermark column)."""
    if source.incremental is not None:
        # the incremental filter excludes NULLs: ordering need not place them (and can use an index)
        column = source.incremental.column
        keys = [dataclasses.replace(key, nullable=False) if key.name == column else key for key in keys]
    selected: list[ColumnElement[Any]] = [exprs[name] for name in names]
    positions = {name: i for i, name in enumerate(names)}
    needed = [key.name for key in keys]
    if source.incremental is not None:
        needed.append(source.incremental.column)
    for name in needed:
        if name not in positions:
            positions[name] = len(selected)
            selected.append(exprs[name].label(_HIDDEN_LABEL.format(len(selected))))
    statement = sa.select(*selected)
    max_position = None
    if source.incremental is not None:
        column = source.incremental.column
        statement = statement.where(_incremental_clause(source.incremental, exprs[column], types[column]))
        max_position = positions[column]
    return _Plan(
        select=statement,
        names=names,
        types=[types[name] for name in names],
        keys=keys,
        key_positions=[positions[key.name] for key in keys],
        resumable=resumable,
        max_position=max_position,
        source_name=source.source_name,
    )


def _incremental_clause(
    incremental: Incremental, column: ColumnElement[Any], arrow_type: pa.DataType | None
) -> ColumnElement[bool]:
    def bound(name: str) -> Any:
        return _coerce_bound(f"incremental.{name}", getattr(incremental, name), arrow_type, incremental.column)

    if incremental.mode == INTERVAL:
        start, end = bound("start"), bound("end")
        _check_order(start, end)
        return sa.and_(column >= start, column < end)
    if incremental.after is None:
        return column.is_not(None)
    return column > bound("after")


def _order_clauses(keys: list[_Key]) -> list[ColumnElement[Any]]:
    """Ascending, NULLs last on every database (the resume condition relies on it)."""
    clauses: list[ColumnElement[Any]] = []
    for key in keys:
        if key.nullable:
            clauses.append(sa.case((key.expr.is_(None), 1), else_=0))
        clauses.append(key.expr)
    return clauses


def _after_key(keys: list[_Key], last: tuple[Any, ...]) -> ColumnElement[bool]:
    """Rows after ``last`` in :func:`_order_clauses` order (``last`` holds no NULL)."""
    alternatives = []
    for i, key in enumerate(keys):
        greater: ColumnElement[bool] = key.expr > last[i]
        if key.nullable:
            greater = sa.or_(greater, key.expr.is_(None))
        alternatives.append(sa.and_(*[k.expr == value for k, value in zip(keys[:i], last[:i], strict=True)], greater))
    return sa.or_(*alternatives)


# --- types --------------------------------------------------------------------------------------


def _arrow_type_of_sql(sql_type: sa.types.TypeEngine[Any], dialect: str) -> pa.DataType | None:
    """The Arrow type of a catalogue type; None: decided from the first batch's values."""
    checks: list[tuple[type | tuple[type, ...], pa.DataType]] = [
        (sa.Boolean, pa.bool_()),
        (sa.Integer, pa.int64()),
        ((sa.Float, sa.Numeric), pa.float64()),  # exact decimals too: ML-ready data wants floats
        (sa.Date, pa.date32()),
        # MySQL's TIME is a duration (-838:59:59 to 838:59:59), returned as timedelta
        (sa.Time, pa.duration("us") if dialect in ("mysql", "mariadb") else pa.time64("us")),
        (sa.Interval, pa.duration("us")),
        (sa.LargeBinary, pa.binary()),
        ((sa.String, sa.Uuid, sa.JSON), pa.string()),
    ]
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None)
    for types, arrow_type in checks:
        if isinstance(sql_type, types):
            return arrow_type
    if isinstance(sql_type, sa.types.NullType):
        return None
    return _arrow_type_of_python(sql_type)


def _arrow_type_of_python(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    """Dialect types outside the generic hierarchy (e.g. PostgreSQL's INTERVAL), by their Python type."""
    try:
        python_type = sql_type.python_type
    except NotImplementedError:
        return pa.string()
    by_python_type = {timedelta: pa.duration("us"), bytes: pa.binary(), bool: pa.bool_(), int: pa.int64()}
    by_python_type |= {float: pa.float64(), Decimal: pa.float64(), date: pa.date32(), datetime: pa.timestamp("us")}
    return by_python_type.get(python_type, pa.string())


def _read_type(sql_type: sa.types.TypeEngine[Any], dialect: str) -> sa.types.TypeEngine[Any]:
    """The type used in the SELECT: the catalogue's, except where it would only slow conversions down."""
    if isinstance(sql_type, sa.Float):
        # floats as floats (MySQL's DOUBLE would otherwise come back as Decimal)
        return sa.Float()
    if dialect == "sqlite" and isinstance(sql_type, sa.Numeric):
        # SQLite stores NUMERIC as INTEGER or REAL: nothing exact to keep, and no Decimal warning
        return sa.Float()
    return sql_type


_PG_TYPES = {
    16: pa.bool_(),
    **dict.fromkeys((20, 21, 23, 26), pa.int64()),
    **dict.fromkeys((700, 701, 1700), pa.float64()),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1083: pa.time64("us"),
    1186: pa.duration("us"),
    17: pa.binary(),
    **dict.fromkeys((18, 19, 25, 114, 142, 1042, 1043, 2950, 3802), pa.string()),
}
_MYSQL_TYPES = {
    **dict.fromkeys((1, 2, 3, 8, 9, 13), pa.int64()),
    **dict.fromkeys((0, 4, 5, 246), pa.float64()),
    **dict.fromkeys((10, 14), pa.date32()),
    **dict.fromkeys((7, 12), pa.timestamp("us")),
    11: pa.duration("us"),
    **dict.fromkeys((15, 245, 247, 248), pa.string()),
}


def _description_types(dialect: str, description: Any, width: int) -> list[pa.DataType | None]:
    """Arrow types of a query's columns from the DBAPI description (PostgreSQL OIDs, MySQL codes)."""
    mapping = {"postgresql": _PG_TYPES, "mysql": _MYSQL_TYPES, "mariadb": _MYSQL_TYPES}.get(dialect)
    if mapping is None or description is None:
        return [None] * width  # SQLite: types are per value, decided from the first batch
    return [mapping.get(column[1]) for column in description]


def _sql_type_of_arrow(arrow_type: pa.DataType | None) -> sa.types.TypeEngine[Any]:
    """A SQLAlchemy type for binding values compared with a query column (no result processing)."""
    if arrow_type is None:
        return sa.types.NullType()
    if pa.types.is_timestamp(arrow_type):
        return sa.DateTime(timezone=arrow_type.tz is not None)
    simple: list[tuple[Any, sa.types.TypeEngine[Any]]] = [
        (pa.types.is_boolean, sa.Boolean()),
        (pa.types.is_integer, sa.BigInteger()),
        (pa.types.is_date, sa.Date()),
        (pa.types.is_string, sa.String()),
    ]
    for test, sql_type in simple:
        if test(arrow_type):
            return sql_type
    return sa.types.NullType()


def _coerce_bound(field_name: str, value: Any, arrow_type: pa.DataType | None, column: str) -> Any:
    """An incremental bound as a value of the column's type (templates render strings)."""
    if arrow_type is None:
        return value
    try:
        converted = _convert_bound(value, arrow_type)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigurationError(
            field_name, value, f"not comparable with column {column!r} ({arrow_type}): {exc}"
        ) from exc
    return converted


def _convert_bound(value: Any, arrow_type: pa.DataType) -> Any:
    if pa.types.is_timestamp(arrow_type):
        return _as_datetime(value, aware=arrow_type.tz is not None)
    if pa.types.is_date(arrow_type):
        return _as_date(value)
    if pa.types.is_integer(arrow_type):
        return _as_int(value)
    if pa.types.is_floating(arrow_type):
        if isinstance(value, str):
            return float(value)
        if isinstance(value, int | float | Decimal):
            return value
        raise TypeError("expected a number")
    if pa.types.is_string(arrow_type) and not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _as_datetime(value: Any, *, aware: bool) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError("expected a datetime or an ISO 8601 string")
    if aware:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # a naive column holds UTC wall time: compare in UTC
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _as_date(value: Any) -> date:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip()) if len(value.strip()) > 10 else date.fromisoformat(value.strip())
    if isinstance(value, datetime):
        if value.timetz().replace(tzinfo=None) != datetime.min.time():
            raise ValueError("has a time of day, the column holds dates")
        return value.date()
    if not isinstance(value, date):
        raise TypeError("expected a date or an ISO 8601 string")
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer")
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, float | Decimal):
        if value != int(value):
            raise ValueError("not an integer")
        return int(value)
    if not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


# --- batches ------------------------------------------------------------------------------------


def _build_batch(columns: list[tuple[Any, ...]], n_rows: int, plan: _Plan, progress: _Progress) -> SourceBatch:
    arrays: list[pa.Array] = []
    bad: dict[int, str] = {}
    for i, name in enumerate(plan.names):
        values = columns[i]
        if progress.types[i] is None:
            # the first batch fixes the type: every batch of one read must have the same schema
            progress.types[i] = _infer_type(values)
        array, failures = _to_arrow(values, progress.types[i])
        for row, reason in failures.items():
            bad.setdefault(row, f"column {name!r}: {reason}")
        arrays.append(array)
    lines = np.arange(progress.rows + 1, progress.rows + n_rows + 1, dtype=np.int64)
    arrays.append(pa.repeat(pa.scalar(plan.source_name, pa.string()), n_rows))
    arrays.append(pa.array(lines, pa.int64()))
    table = pa.Table.from_arrays(arrays, names=[*plan.names, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN])
    if not bad:
        return SourceBatch(table, rows_in=n_rows)
    keep = np.ones(n_rows, dtype=bool)
    keep[list(bad)] = False
    rejected = _rejected_rows(columns, sorted(bad), bad, lines, plan)
    return SourceBatch(table.filter(pa.array(keep)), rejected=rejected, rows_in=n_rows)


def _rejected_rows(
    columns: list[tuple[Any, ...]], rows: list[int], reasons: dict[int, str], lines: np.ndarray, plan: _Plan
) -> pd.DataFrame:
    data: dict[str, list[Any]] = {
        name: [_as_text(columns[i][row]) for row in rows] for i, name in enumerate(plan.names)
    }
    data[SOURCE_FILE_COLUMN] = [plan.source_name] * len(rows)
    data[SOURCE_LINE_COLUMN] = [int(lines[row]) for row in rows]
    frame = pd.DataFrame(data)
    return reject(frame, TYPE_MISMATCH_RULE, pd.Series([reasons[row] for row in rows], index=frame.index))


def _infer_type(values: Sequence[Any]) -> pa.DataType:
    try:
        inferred = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.string()  # mixed kinds of values (SQLite): text keeps them all
    return _normalized(inferred)


def _normalized(arrow_type: pa.DataType) -> pa.DataType:
    rules: list[tuple[Any, pa.DataType]] = [
        (pa.types.is_boolean, pa.bool_()),
        (pa.types.is_integer, pa.int64()),
        (lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t), pa.float64()),
        (pa.types.is_date, pa.date32()),
        (pa.types.is_time, pa.time64("us")),
        (pa.types.is_duration, pa.duration("us")),
        (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), pa.binary()),
    ]
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz=arrow_type.tz)
    for test, normalized in rules:
        if test(arrow_type):
            return normalized
    return pa.string()


def _to_arrow(values: Sequence[Any], arrow_type: pa.DataType) -> tuple[pa.Array, dict[int, str]]:
    """The values as an Arrow array; values that do not fit are null there and reported by position."""
    try:
        return pa.array(values, type=arrow_type), {}
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass  # e.g. Decimal for float64, UUID or dict for string, or a mistyped SQLite value
    converted: list[Any] = []
    failures: dict[int, str] = {}
    for i, value in enumerate(values):
        try:
            converted.append(_convert_value(value, arrow_type))
        except (ValueError, TypeError, ArithmeticError, UnicodeDecodeError):
            failures[i] = f"cannot convert {_as_text(value)!r} to {arrow_type}"
            converted.append(None)
    try:
        return pa.array(converted, type=arrow_type), failures
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return _checked_one_by_one(converted, arrow_type, failures)


def _checked_one_by_one(
    values: list[Any], arrow_type: pa.DataType, failures: dict[int, str]
) -> tuple[pa.Array, dict[int, str]]:
    for i, value in enumerate(values):
        try:
            pa.array([value], type=arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            failures[i] = f"cannot convert {_as_text(value)!r} to {arrow_type}"
            values[i] = None
    return pa.array(values, type=arrow_type), failures


def _convert_value(value: Any, arrow_type: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        return _as_text(value)
    if pa.types.is_floating(arrow_type):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise TypeError("not a number")
        return float(value)
    if pa.types.is_integer(arrow_type):
        if isinstance(value, str):
            raise TypeError("text, not an integer")
        return _as_int(value)
    if pa.types.is_binary(arrow_type):
        return value.encode() if isinstance(value, str) else bytes(value)
    if pa.types.is_timestamp(arrow_type) and isinstance(value, str):
        return _as_datetime(value, aware=arrow_type.tz is not None)
    if pa.types.is_date(arrow_type) and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def _max_value(current: Any, values: Sequence[Any]) -> Any:
    present = [value for value in values if value is not None]
    if not present:
        return current
    batch_max = max(present)
    return batch_max if current is None or batch_max > current else current


# --- watermarks ---------------------------------------------------------------------------------


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
    decoders = {
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


# --- loading demo data --------------------------------------------------------------------------


def load_dataframe(
    url: str,
    table: str,
    df: pd.DataFrame,
    if_exists: str = "replace",
    chunksize: int = 10_000,
    *,
    schema: str | None = None,
) -> int:
    """Write a DataFrame to a database table in one transaction (demo data, test fixtures).

    ``replace`` drops and recreates the table (atomically where DDL is transactional: PostgreSQL,
    SQLite; MySQL commits DDL at once). The index is not written.

    :param url: SQLAlchemy URL.
    :param table: table name.
    :param df: the rows.
    :param if_exists: ``"replace"``, ``"append"`` or ``"fail"``.
    :param chunksize: rows per INSERT round trip.
    :param schema: the table's schema; the connection's default when None.
    :returns: the number of rows written.
    """
    _check_url(url)
    if if_exists not in ("replace", "append", "fail"):
        raise ConfigurationError("if_exists", if_exists, "must be 'replace', 'append' or 'fail'")
    _check_int("chunksize", chunksize, 1)
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.begin() as conn:
            df.to_sql(table, conn, schema=schema, if_exists=if_exists, index=False, chunksize=chunksize)
    finally:
        engine.dispose()
    logger.info("loaded %d rows into %s/%s", len(df), safe_url(url), table)
    return len(df)


__all__ = [
    "INTERVAL",
    "TYPE_MISMATCH_RULE",
    "WATERMARK",
    "Incremental",
    "ReadStats",
    "SqlReader",
    "SqlSource",
    "TransientSourceError",
    "WatermarkStore",
    "decode_watermark",
    "encode_watermark",
    "load_dataframe",
    "safe_url",
]
