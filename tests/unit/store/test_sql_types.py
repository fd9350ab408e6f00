"""Type mapping, table check, value bounds and value conversion of the SQL sink (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.store.sql import check_sink_config
from dataframe_pipeline.store.sql.dialects import merge_sql
from dataframe_pipeline.store.sql.types import (
    check_fits,
    expected_columns,
    python_columns,
    sql_type,
    table_difference,
    type_family,
)


@pytest.mark.parametrize(
    ("arrow", "dialect", "compiled"),
    [
        (pa.int64(), "postgresql", "BIGINT"),
        (pa.int32(), "mysql", "INTEGER"),
        (pa.float64(), "postgresql", "DOUBLE PRECISION"),
        (pa.float64(), "mysql", "DOUBLE"),
        (pa.decimal128(12, 4), "postgresql", "NUMERIC(12, 4)"),
        (pa.decimal128(12, 4), "sqlite", "TEXT"),
        (pa.string(), "mysql", "LONGTEXT"),
        (pa.timestamp("us", tz="UTC"), "postgresql", "TIMESTAMP WITH TIME ZONE"),
        (pa.timestamp("ns", tz="UTC"), "mysql", "DATETIME(6)"),
        (pa.dictionary(pa.int32(), pa.string()), "postgresql", "TEXT"),
        (pa.date32(), "sqlite", "DATE"),
    ],
)
def test_sql_type_per_dialect(arrow: pa.DataType, dialect: str, compiled: str) -> None:
    dialects = {"postgresql": postgresql.dialect(), "mysql": mysql.dialect(), "sqlite": sqlite.dialect()}
    assert sql_type(arrow, dialect).compile(dialect=dialects[dialect]) == compiled


def test_key_strings_are_bounded_on_mariadb() -> None:
    assert sql_type(pa.string(), "mysql", keyed=True).compile(dialect=mysql.dialect()) == "VARCHAR(255)"


@pytest.mark.parametrize("arrow", [pa.uint64(), pa.list_(pa.int64()), pa.duration("us")])
def test_types_without_an_exact_column_are_refused(arrow: pa.DataType) -> None:
    with pytest.raises(DataContractError, match="no exact column type"):
        sql_type(arrow, "postgresql")


def test_mariadb_booleans_are_integers_and_pg_zones_matter() -> None:
    assert type_family(sa.Boolean(), "mysql") == type_family(mysql.TINYINT(1), "mysql") == "integer"
    assert type_family(sa.DateTime(timezone=True), "postgresql") == "timestamptz"
    assert type_family(sa.DateTime(timezone=True), "sqlite") == "timestamp"


def test_table_difference_spells_out_each_difference() -> None:
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("price", sa.Numeric(6, 1)), sa.Column("old", sa.Text)
    )
    schema = pa.schema([("id", pa.int64()), ("price", pa.decimal128(6, 2)), ("new", pa.string())])
    assert table_difference(expected_columns(schema, "postgresql"), table, "postgresql") == [
        "column 'new' is in the data, not in the table",
        "column 'old' is in the table, not in the data",
        "column 'price': the table's NUMERIC(6, 1) cannot hold the data's NUMERIC(6, 2) without rounding",
    ]


def test_check_fits_names_the_column_row_and_value() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("code", sa.String(3)), sa.Column("n", sa.SmallInteger))
    check_fits(pa.table({"code": ["abc", None], "n": [1, 32767]}), table, "postgresql", 0)
    with pytest.raises(DataContractError, match=r"column 'code', row 11: value 'abcd' is longer than VARCHAR\(3\)"):
        check_fits(pa.table({"code": ["abc", "abcd"], "n": [1, 2]}), table, "mysql", 10)
    with pytest.raises(DataContractError, match=r"column 'n', row 0: value 40000 is out of the range of SMALLINT"):
        check_fits(pa.table({"code": ["a"], "n": [40000]}), table, "postgresql", 0)


def test_python_columns_keep_strings_and_convert_nan_and_zones() -> None:
    ts = pa.array([datetime(2026, 10, 1, 10, tzinfo=UTC)], pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("us", tz="Europe/Paris")
    )
    batch = pa.table(
        {
            "f": pa.array([float("nan")]),
            "s": pa.array(["nan"]),
            "ts": ts,
            "d": pa.array([Decimal("1.10")], pa.decimal128(4, 2)),
        }
    )
    pg = python_columns(batch, "postgresql")
    assert pg[0] == [None] and pg[1] == ["nan"]
    assert pg[2] == [datetime(2026, 10, 1, 10, tzinfo=UTC)] and pg[2][0].tzinfo is UTC
    assert python_columns(batch, "mysql")[2] == [datetime(2026, 10, 1, 10)]  # UTC wall time
    assert python_columns(batch, "sqlite")[3] == ["1.10"]  # every digit, as text


def test_nanoseconds_are_refused() -> None:
    batch = pa.table({"ts": pa.array([1], pa.timestamp("ns"))})
    with pytest.raises(DataContractError, match="'ts': timestamps with nanoseconds"):
        python_columns(batch, "postgresql")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("t;drop", None, "upsert", ["id"], {}), "table"),
        (("t", "bad schema", "upsert", ["id"], {}), "schema"),
        (("t", None, "merge", ["id"], {}), "mode"),
        (("t", None, "upsert", [], {}), "key"),
        (("t", None, "append_new", "id", {}), "key"),
        (("t", None, "replace_partition", [], {}), "partition"),
        (("t", None, "replace_partition", [], {"da te": "x"}), "partition"),
    ],
)
def test_sink_configuration_errors_name_the_field(args: tuple, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        check_sink_config(*args)
    assert err.value.field == field


class _Conn:
    """Just enough of a connection to compile SQL for a dialect."""

    def __init__(self, dialect: sa.engine.Dialect) -> None:
        self.dialect = dialect


@pytest.mark.parametrize(
    ("dialect", "update", "tail"),
    [
        (postgresql.dialect(), True, "ON CONFLICT (id) DO UPDATE SET v = excluded.v"),
        (sqlite.dialect(), False, "WHERE true ON CONFLICT (id) DO NOTHING"),
        (mysql.dialect(), True, "ON DUPLICATE KEY UPDATE v = VALUES(v)"),
        (mysql.dialect(), False, "ON DUPLICATE KEY UPDATE t.id = t.id"),
    ],
)
def test_merge_statement_per_dialect(dialect: sa.engine.Dialect, update: bool, tail: str) -> None:
    metadata = sa.MetaData()
    target = sa.Table("t", metadata, sa.Column("id", sa.Integer), sa.Column("v", sa.Text))
    staging = sa.Table("s", metadata, sa.Column("id", sa.Integer), sa.Column("v", sa.Text))
    sql = merge_sql(_Conn(dialect), target, staging, ["id"], update=update)
    assert sql.startswith("INSERT INTO t (id, v) SELECT id, v FROM s")
    assert sql.endswith(tail)
