"""The checked read: identifiers against the catalogue (table mode) or the result's columns (query
mode), the SELECT with its incremental filter, its order, and the condition that resumes a lost read.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.base import RESERVED_COLUMNS
from dataframe_pipeline.ingest.sql.source import INTERVAL, WATERMARK, Incremental, SqlSource, _check_order, _shorten
from dataframe_pipeline.ingest.sql.types import (
    _arrow_type_of_sql,
    _as_date,
    _as_datetime,
    _as_int,
    _description_types,
    _read_type,
    _sql_type_of_arrow,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Connection
    from sqlalchemy.engine.interfaces import ReflectedColumn
    from sqlalchemy.engine.reflection import Inspector
    from sqlalchemy.sql.elements import ColumnElement


_HIDDEN_LABEL = "_sql_source_hidden_{}"


_MAX_LISTED = 50


class _RetryableError(Exception):
    """Internal: a transient database error, to be retried."""

    def __init__(self, error: sa_exc.DBAPIError) -> None:
        super().__init__(str(error))
        self.error = error


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


@dataclass(frozen=True)
class _Catalogue:
    """What the database says about one table."""

    columns: dict[str, ReflectedColumn]
    primary_key: list[str]
    unique_sets: list[list[str]]


def _table_name(source: SqlSource) -> str:
    if source.table is None:  # a table source always names its table (SqlSource checks it)
        raise ValueError("a table source needs a table")
    return source.table


def _load_catalogue(inspector: Inspector, source: SqlSource) -> _Catalogue:
    schema, table = source.schema, _table_name(source)
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
    for ix in inspector.get_indexes(table, schema=schema):
        indexed = [name for name in ix["column_names"] if name is not None]  # None: an expression
        if ix.get("unique") and indexed and len(indexed) == len(ix["column_names"]):
            unique_sets.append(indexed)
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
        _table_name(source),
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


def _query_text(source: SqlSource) -> sa.TextClause:
    if source.query is None:  # a query source always has its query (SqlSource checks it)
        raise ValueError("a query source needs a query")
    clause = sa.text(source.query)
    return clause.bindparams(**source.params) if source.params else clause


def _query_plan(source: SqlSource, conn: Connection) -> _Plan:
    clause = _query_text(source)
    # run the query with an always-false filter: names and types of its columns, and a syntax check
    probe: sa.Select[Any] = (
        sa.select(sa.literal_column("*")).select_from(clause.columns().subquery("q")).where(sa.false())
    )
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


def _assemble(
    source: SqlSource,
    *,
    names: list[str],
    exprs: Mapping[str, ColumnElement[Any]],
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
