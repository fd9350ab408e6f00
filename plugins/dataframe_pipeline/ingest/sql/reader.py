"""Streams a :class:`~dataframe_pipeline.ingest.sql.source.SqlSource` through a server-side cursor,
retrying transient errors and resuming a lost read after the last key.

Retries are :class:`tenacity.Retrying` (exponential backoff without jitter, capped at
:data:`RETRY_BACKOFF_MAX_SECONDS`): called with the action for the catalogue check, and as a loop of
attempts around the streaming generator, whose attempt resumes after the last key emitted. The log
line before each wait is written here rather than with tenacity's ``before_sleep_log``, which prints
the exception, and a driver's error can show the URL; ours shows the URL without its password.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import sqlalchemy as sa
import tenacity
from sqlalchemy import exc as sa_exc

from dataframe_pipeline.exceptions import TransientSourceError
from dataframe_pipeline.ingest.sql.plan import _Plan, _query_plan, _RetryableError, _table_plan
from dataframe_pipeline.ingest.sql.rows import _build_batch, _max_value

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import pyarrow as pa
    from sqlalchemy.engine import Connection, Engine, Row

    from dataframe_pipeline.ingest.base import SourceBatch
    from dataframe_pipeline.ingest.sql.source import SqlSource


logger = logging.getLogger(__name__)


RETRY_BACKOFF_MAX_SECONDS = 60.0


_CONNECT_TIMEOUT_SECONDS = 10


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


@dataclass
class _Progress:
    """Where a read is: rows emitted, the last key emitted, the column types fixed so far."""

    types: list[pa.DataType | None]
    rows: int = 0
    last_key: tuple[Any, ...] | None = None
    max_value: Any = None


class SqlReader:
    """Stream a :class:`SqlSource` in batches.

    Use as a context manager (or call :meth:`close`) so the connection pool is released::

        with SqlReader(source) as reader:
            for batch in reader.batches():
                ...
            reader.stats.max_value

    :param source: what to read.
    :param backoff_seconds: first delay between retries (doubled each retry, at most 60 s).
    :param sleep: waits between retries (tests pass a recorder).
    """

    def __init__(
        self, source: SqlSource, *, backoff_seconds: float = 1.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.source = source
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
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
        if self._plan is None:  # check() plans or raises
            raise RuntimeError("the read was not planned")
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

    def _retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_RetryableError),
            stop=tenacity.stop_after_attempt(self.source.max_retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, max=RETRY_BACKOFF_MAX_SECONDS),
            sleep=self.sleep,
            before_sleep=self._before_retry,
            retry_error_callback=self._give_up,
        )

    def _with_retries(self, action: Any) -> Any:
        return self._retrying()(self._connected, action)

    def _connected(self, action: Any) -> Any:
        try:
            with self._connect() as conn:
                return action(conn)
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise _RetryableError(exc) from exc
            raise

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except sa_exc.DBAPIError as exc:
            # a refused or dropped connection attempt (server restarting, network): worth retrying
            raise _RetryableError(exc) from exc

    def _before_retry(self, state: tenacity.RetryCallState) -> None:
        logger.warning(
            "%s: transient error (%s), retry %d of %d in %.1f s",
            self.source.safe_url,
            _retried(state).error.orig,
            state.attempt_number,
            self.source.max_retries,
            state.upcoming_sleep,
        )
        self.stats.retries += 1

    def _give_up(self, state: tenacity.RetryCallState) -> NoReturn:
        err = _retried(state)
        raise TransientSourceError(
            f"{self.source.safe_url}: gave up after {self.source.max_retries} retries: {err.error.orig}"
        ) from err.error

    # --- streaming ---

    def _stream(self, plan: _Plan) -> Iterator[SourceBatch]:
        started = time.monotonic()
        progress = _Progress(types=list(plan.types))
        logger.info("reading %s in batches of %d rows", plan.source_name, self.source.batch_rows)
        try:
            # tenacity's loop of attempts, as a call cannot retry a generator; each attempt resumes
            # after the last key emitted. An attempt's block keeps what it raised and the loop raises
            # it again when it is not retried (GeneratorExit too, when the consumer stops early)
            for attempt in self._retrying():
                with attempt:
                    yield from self._read_attempt(plan, progress)
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
        except _RetryableError as err:
            self._check_resumable(plan, progress, err)
            raise
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


def _retried(state: tenacity.RetryCallState) -> _RetryableError:
    """The :class:`_RetryableError` of the attempt the retries are deciding on."""
    error = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(error, _RetryableError):  # the retry predicate retries nothing else
        raise TypeError(f"not a retryable attempt: {error!r}")
    return error


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
    if result is not None and getattr(result, "unbuffered_active", False):
        result.unbuffered_active = False


def _connect_args(url: str) -> dict[str, Any]:
    """A connect timeout, so an unreachable server fails (and is retried) instead of hanging."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in parsed.query:
        return {"connect_timeout": _CONNECT_TIMEOUT_SECONDS}
    return {}
