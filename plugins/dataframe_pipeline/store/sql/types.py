"""Arrow types -> warehouse column types, the check of an existing table against the data, and Arrow
columns -> the Python values a driver loads exactly. Pure: no Airflow.

Type mapping of a table created by the sink (``create=True``):

=====================  ==================  ========================  =========================
Arrow                  PostgreSQL          MariaDB / MySQL           SQLite
=====================  ==================  ========================  =========================
bool                   BOOLEAN             BOOL (TINYINT(1))         BOOLEAN
int8, int16, uint8     SMALLINT            SMALLINT                  SMALLINT
int32, uint16          INTEGER             INTEGER                   INTEGER
int64, uint32          BIGINT              BIGINT                    BIGINT
float16, float32       REAL                FLOAT                     REAL
float64                DOUBLE PRECISION    DOUBLE                    DOUBLE (8-byte REAL)
decimal128(p, s)       NUMERIC(p, s)       DECIMAL(p, s), p <= 65    TEXT (every digit kept)
string                 TEXT                LONGTEXT; VARCHAR(255)    TEXT
                                           for key/partition columns
timestamp with zone    TIMESTAMPTZ         DATETIME(6), in UTC       DATETIME (text), in UTC
timestamp              TIMESTAMP           DATETIME(6)               DATETIME (text)
date32                 DATE                DATE                      DATE (text)
binary                 BYTEA               LONGBLOB                  BLOB
dictionary<_, v>       as v                as v                      as v
=====================  ==================  ========================  =========================

uint64, durations, lists and structs are refused (no exact column type in all three databases).
Timestamps are stored with microseconds: a value with nanoseconds is refused, never rounded.

An existing table is compared by type family (integer, float, decimal, string, boolean, timestamp,
timestamptz on PostgreSQL, date, binary): the data may not add, miss or retype a column; an exact
decimal column must hold the data's digits. Values are checked against the bounds the table declares
(VARCHAR(n) lengths, integer ranges) before anything is sent, so a value that does not fit is an error
naming the column and the value, whatever the database would have done with it.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from dataframe_pipeline.exceptions import DataContractError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: length of a key or partition string column on MariaDB (an index needs a bounded length)
KEY_STRING_LENGTH = 255
MYSQL_MAX_DECIMAL_PRECISION = 65
#: integer types whose range is checked before loading (the database would refuse or clamp)
INTEGER_RANGES = {
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INTEGER": (-(2**31), 2**31 - 1),
    "INT": (-(2**31), 2**31 - 1),
    "MEDIUMINT": (-(2**23), 2**23 - 1),
    "TINYINT": (-(2**7), 2**7 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
}
#: byte limits of MariaDB's text types
MYSQL_TEXT_BYTES = {"TINYTEXT": 255, "TEXT": 65_535, "MEDIUMTEXT": 16_777_215}


def dialect_family(dialect: str) -> str:
    """``postgresql``, ``mysql`` (MariaDB too) or ``sqlite``: the dialects the sink is written for."""
    return "mysql" if dialect in ("mysql", "mariadb") else dialect


def value_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type of the values (a dictionary-encoded column's value type)."""
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def _integer_type(t: pa.DataType, d: str) -> sa.types.TypeEngine[Any]:
    if t in (pa.int8(), pa.int16(), pa.uint8()):
        return sa.SmallInteger()
    if t in (pa.int32(), pa.uint16()):
        return sa.Integer()
    return sa.BigInteger()


def _float_type(t: pa.DataType, d: str) -> sa.types.TypeEngine[Any]:
    if t.bit_width < 64:
        return sa.REAL() if d != "mysql" else mysql.FLOAT()
    return {"postgresql": postgresql.DOUBLE_PRECISION(), "mysql": mysql.DOUBLE()}.get(d, sa.Double())


def _decimal_type(t: pa.DataType, d: str) -> sa.types.TypeEngine[Any]:
    if d == "sqlite":
        return sa.Text()  # SQLite's NUMERIC keeps 15 digits: text keeps them all
    if d == "mysql" and t.precision > MYSQL_MAX_DECIMAL_PRECISION:
        raise DataContractError(f"decimal({t.precision}, {t.scale}) exceeds MariaDB's DECIMAL(65)")
    return sa.Numeric(t.precision, t.scale)


def _timestamp_type(t: pa.DataType, d: str) -> sa.types.TypeEngine[Any]:
    if d == "mysql":
        return mysql.DATETIME(fsp=6)
    return sa.DateTime(timezone=t.tz is not None and d == "postgresql")


def _string_type(keyed: bool, d: str) -> sa.types.TypeEngine[Any]:
    if d == "mysql":
        return sa.String(KEY_STRING_LENGTH) if keyed else mysql.LONGTEXT()
    return sa.Text()


_TYPE_RULES: list[tuple[Any, Any]] = [
    (pa.types.is_boolean, lambda t, d: sa.Boolean()),
    (lambda t: pa.types.is_integer(t) and t != pa.uint64(), _integer_type),
    (pa.types.is_floating, _float_type),
    (pa.types.is_decimal, _decimal_type),
    (pa.types.is_timestamp, _timestamp_type),
    (lambda t: pa.types.is_date32(t) or pa.types.is_date64(t), lambda t, d: sa.Date()),
    (
        lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t),
        lambda t, d: mysql.LONGBLOB() if d == "mysql" else sa.LargeBinary(),
    ),
]


def sql_type(arrow_type: pa.DataType, dialect: str, *, keyed: bool = False) -> sa.types.TypeEngine[Any]:
    """The column type the sink creates for an Arrow type (see the module's table).

    :param keyed: the column is part of the key or of the partition (indexed).
    :raises DataContractError: for a type without an exact column type.
    """
    t, d = value_type(arrow_type), dialect_family(dialect)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _string_type(keyed, d)
    for matches, build in _TYPE_RULES:
        if matches(t):
            return build(t, d)
    raise DataContractError(f"Arrow type {t} has no exact column type in {dialect} (cast it first)")


def type_family(column_type: sa.types.TypeEngine[Any], dialect: str) -> str:
    """The family of a column type, declared or reflected, as the table check compares them."""
    d = dialect_family(dialect)
    if isinstance(column_type, sa.Boolean):
        return "integer" if d == "mysql" else "boolean"  # MariaDB's BOOL is TINYINT(1)
    checks: list[tuple[type | tuple[type, ...], str]] = [
        (sa.Integer, "integer"),
        (sa.Float, "float"),
        (sa.Numeric, "decimal"),
        (sa.Date, "date"),
        (sa.String, "string"),
        (sa.LargeBinary, "binary"),
        (sa.types._Binary, "binary"),
    ]
    if isinstance(column_type, sa.DateTime):
        return "timestamptz" if d == "postgresql" and column_type.timezone else "timestamp"
    for types, name in checks:
        if isinstance(column_type, types):
            return name
    return type(column_type).__name__.lower()


def expected_columns(schema: pa.Schema, dialect: str, keyed: Iterable[str] = ()) -> dict[str, sa.types.TypeEngine[Any]]:
    """Column name -> the type the sink would create, for the data's schema."""
    keyed = set(keyed)
    out = {}
    for field in schema:
        try:
            out[field.name] = sql_type(field.type, dialect, keyed=field.name in keyed)
        except DataContractError as err:
            raise DataContractError(f"column {field.name!r}: {err}") from err
    return out


def _decimal_fits(expected: sa.types.TypeEngine[Any], actual: sa.types.TypeEngine[Any]) -> bool:
    have_p, have_s = getattr(actual, "precision", None), getattr(actual, "scale", None)
    want_p, want_s = getattr(expected, "precision", None), getattr(expected, "scale", None)
    if have_p is None or want_p is None:  # unbounded NUMERIC holds any digits
        return True
    have_s, want_s = have_s or 0, want_s or 0
    return have_s >= want_s and have_p - have_s >= want_p - want_s


def table_difference(expected: Mapping[str, sa.types.TypeEngine[Any]], table: sa.Table, dialect: str) -> list[str]:
    """How an existing table differs from the data (empty: it matches), one line per difference."""
    actual = {column.name: column.type for column in table.columns}
    lines = [f"column {name!r} is in the data, not in the table" for name in expected if name not in actual]
    lines += [f"column {name!r} is in the table, not in the data" for name in actual if name not in expected]
    for name, want in expected.items():
        have = actual.get(name)
        if have is None:
            continue
        want_family, have_family = type_family(want, dialect), type_family(have, dialect)
        if want_family != have_family:
            lines.append(f"column {name!r}: the table has {have} ({have_family}), the data needs {want_family}")
        elif want_family == "decimal" and not _decimal_fits(want, have):
            lines.append(f"column {name!r}: the table's {have} cannot hold the data's {want} without rounding")
    return lines


# --- values -------------------------------------------------------------------------------------


def _bounds(column_type: sa.types.TypeEngine[Any], dialect: str) -> tuple[str, Any] | None:
    """What the table declares a value must fit: ("chars", n), ("bytes", n) or ("range", (lo, hi))."""
    name = type(column_type).__name__.upper()
    if isinstance(column_type, sa.Integer) and not isinstance(column_type, sa.Boolean):
        if dialect_family(dialect) == "sqlite":
            return ("range", INTEGER_RANGES["BIGINT"])  # any integer column holds 64 bits
        if name not in INTEGER_RANGES:
            generic = {sa.BigInteger: "BIGINT", sa.SmallInteger: "SMALLINT"}
            name = next((n for kind, n in generic.items() if isinstance(column_type, kind)), "INTEGER")
        return ("range", INTEGER_RANGES[name])
    if isinstance(column_type, sa.String):
        if getattr(column_type, "length", None):
            return ("chars", column_type.length)
        if dialect_family(dialect) == "mysql" and name in MYSQL_TEXT_BYTES:
            return ("bytes", MYSQL_TEXT_BYTES[name])
    return None


def check_fits(batch: pa.Table, table: sa.Table, dialect: str, first_row: int) -> None:
    """Refuse a batch holding a value the table's column cannot take whole (named with its row)."""
    for column in table.columns:
        bounds = _bounds(column.type, dialect)
        if bounds is None or column.name not in batch.column_names:
            continue
        values = batch.column(column.name)
        kind, limit = bounds
        if kind == "range":
            if not pa.types.is_integer(value_type(values.type)):
                continue
            bad = pc.or_(pc.less(values, limit[0]), pc.greater(values, limit[1]))
            problem = f"out of the range of {column.type} [{limit[0]}, {limit[1]}]"
        else:
            vt = value_type(values.type)
            if not (pa.types.is_string(vt) or pa.types.is_large_string(vt)):
                continue
            values = values.cast(value_type(values.type))
            size = pc.utf8_length(values) if kind == "chars" else pc.binary_length(values)
            bad = pc.greater(size, limit)
            problem = f"longer than {column.type} allows ({limit} {'characters' if kind == 'chars' else 'bytes'})"
        hits = pc.indices_nonzero(pc.fill_null(bad, False))
        if len(hits):
            row = hits[0].as_py()
            value = values[row].as_py()
            shown = value if not isinstance(value, str) or len(value) <= 80 else value[:80] + "..."
            raise DataContractError(
                f"column {column.name!r}, row {first_row + row}: value {shown!r} is {problem}; "
                f"{len(hits)} value(s) of this batch do not fit (nothing is cut)"
            )


def _timestamps(values: pa.ChunkedArray, name: str, dialect: str) -> list[Any]:
    t = values.type
    try:
        values = values.cast(pa.timestamp("us", tz=t.tz), safe=True)
    except pa.ArrowInvalid as err:
        raise DataContractError(
            f"column {name!r}: timestamps with nanoseconds would be cut to microseconds ({err})"
        ) from err
    if t.tz is None:
        return values.to_pylist()
    out = [None if v is None else v.astimezone(UTC) for v in values.to_pylist()]
    if dialect_family(dialect) == "postgresql":
        return out
    return [None if v is None else v.replace(tzinfo=None) for v in out]  # stored as UTC wall time


def python_columns(batch: pa.Table, dialect: str) -> list[list[Any]]:
    """Each column of a batch as the Python values the driver loads exactly: null and float NaN -> None
    (NULL); a string is never missing, whatever it says ('nan', 'NULL', '')."""
    d = dialect_family(dialect)
    columns = []
    for name, column in zip(batch.column_names, batch.columns, strict=True):
        values = column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        t = values.type
        if pa.types.is_timestamp(t):
            columns.append(_timestamps(values, name, dialect))
        elif pa.types.is_floating(t):
            # NaN is pandas' missing float: NULL in every database (MariaDB has no NaN at all)
            columns.append(pc.if_else(pc.is_nan(values), pa.scalar(None, t), values).to_pylist())
        elif pa.types.is_decimal(t) and d == "sqlite":
            columns.append([None if v is None else str(v) for v in values.to_pylist()])
        else:
            columns.append(values.to_pylist())
    return columns
