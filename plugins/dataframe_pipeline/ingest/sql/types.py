"""Database types to Arrow types, and bounds or values converted to a column's type."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import sqlalchemy as sa


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
