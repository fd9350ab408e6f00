"""What to read from a database (:class:`SqlSource`, :class:`Incremental`), checked before connecting,
and database URLs shown without their secrets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.base import RESERVED_COLUMNS

INTERVAL = "interval"


WATERMARK = "watermark"


_SECRET_QUERY_KEY = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


_BOUND_TYPES = (int, float, Decimal, str, datetime, date)


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
