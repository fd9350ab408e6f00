"""The streaming SQL source against real databases: PostgreSQL and MariaDB on loopback, SQLite in a file.

Each test gets its own schema (a database on MariaDB, a fresh file on SQLite), dropped afterwards.
Expected values come from the Python rows the tests generate, never from the reader. Servers that are
not reachable are skipped, except under CI=true where that fails (``require_service``).
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import fsspec
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import ConfigurationError, TransientSourceError
from dataframe_pipeline.ingest.records.rules import TYPE_MISMATCH_RULE
from dataframe_pipeline.ingest.sql.load import load_dataframe
from dataframe_pipeline.ingest.sql.reader import SqlReader
from dataframe_pipeline.ingest.sql.source import Incremental, SqlSource, safe_url
from dataframe_pipeline.ingest.sql.watermark import WatermarkStore
from tests.conftest import require_service

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dataframe_pipeline.ingest.base import SourceBatch

pytestmark = pytest.mark.integration

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SERVERS = {"postgresql": PG_URL, "mariadb": MARIADB_URL}
BACKENDS = ["postgresql", "mariadb", "sqlite"]
PROVENANCE = ["_source_file", "_source_line"]
INJECTION = "x'; DROP TABLE t; --"
START = datetime(2024, 1, 1)
SAMPLE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("ts", pa.timestamp("us")),
        ("amount", pa.float64()),
        ("qty", pa.int64()),
        ("name", pa.string()),
    ]
)


# --- databases ----------------------------------------------------------------------------------


@functools.cache
def server_problem(url: str) -> str | None:
    """Why the server at ``url`` cannot be used (None when it can)."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        return f"{safe_url(url)} not reachable: {exc.orig}"
    finally:
        engine.dispose()
    return None


@dataclass
class Db:
    """One backend, with a schema of its own for the test."""

    backend: str
    url: str
    schema: str | None
    engine: sa.Engine

    def qualified(self, name: str) -> str:
        """The table's quoted, schema-qualified name, for SQL written by hand in query-mode tests."""
        quote = self.engine.dialect.identifier_preparer.quote
        return ".".join(quote(part) for part in (self.schema, name) if part)

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params)

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    def source_name(self, table: str) -> str:
        return f"{safe_url(self.url)}/{self.schema}.{table}" if self.schema else f"{safe_url(self.url)}/{table}"


def server_db(backend: str) -> Iterator[Db]:
    url = SERVERS[backend]
    problem = server_problem(url)
    require_service(problem is None, problem or "")
    schema = f"sqlsrc_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    create = "CREATE SCHEMA {}" if backend == "postgresql" else "CREATE DATABASE {} CHARACTER SET utf8mb4"
    drop = "DROP SCHEMA {} CASCADE" if backend == "postgresql" else "DROP DATABASE {}"
    with engine.begin() as conn:
        conn.execute(sa.text(create.format(schema)))
    try:
        yield Db(backend, url, schema, engine)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(drop.format(schema)))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Db]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'source.db'}"
        engine = sa.create_engine(url)
        yield Db("sqlite", url, None, engine)
        engine.dispose()
    else:
        yield from server_db(request.param)


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> Iterator[Db]:
    yield from server_db(request.param)


# --- data ---------------------------------------------------------------------------------------


def sample_rows(n: int, first_id: int = 1) -> list[dict[str, Any]]:
    """Rows with ids, whole-second timestamps (MySQL DATETIME keeps seconds), numbers, text and nulls."""
    return [
        {
            "id": i,
            "ts": START + timedelta(minutes=i),
            "amount": None if i % 7 == 0 else i * 1.25,
            "qty": None if i % 4 == 0 else i % 13,
            "name": None if i % 5 == 0 else f"name-{i}-é日",
        }
        for i in range(first_id, first_id + n)
    ]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=SAMPLE_SCHEMA.names)
    return df.astype({"id": "int64", "ts": "datetime64[us]", "amount": "float64", "qty": "Int64", "name": "str"})


def create_sample_table(db: Db, name: str, rows: list[dict[str, Any]], *, primary_key: bool = True) -> None:
    """The sample table with a primary key (or none), loaded in shuffled order through load_dataframe."""
    metadata = sa.MetaData(schema=db.schema)
    sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=primary_key, autoincrement=False, nullable=False),
        sa.Column("ts", sa.DateTime),
        sa.Column("amount", sa.Double),
        sa.Column("qty", sa.Integer),
        sa.Column("name", sa.String(64)),
    )
    metadata.create_all(db.engine)
    if rows:
        shuffled = frame(rows).sample(frac=1.0, random_state=7)
        assert load_dataframe(db.url, name, shuffled, if_exists="append", chunksize=250, schema=db.schema) == len(rows)


def expected_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)
    return table.select(columns) if columns else table


def read_all(source: SqlSource, **reader_options: Any) -> tuple[list[SourceBatch], pa.Table, SqlReader]:
    with SqlReader(source, **reader_options) as reader:
        batches = list(reader.batches())
    return batches, pa.concat_tables([batch.table for batch in batches]), reader


def data_only(table: pa.Table) -> pa.Table:
    return table.drop_columns(PROVENANCE)


def lines(table: pa.Table) -> list[int]:
    return table.column("_source_line").to_pylist()


# --- table mode ---------------------------------------------------------------------------------


def test_reads_whole_table_in_ordered_batches_with_provenance(db: Db) -> None:
    rows = sample_rows(1000)
    create_sample_table(db, "orders", rows)
    batches, table, reader = read_all(SqlSource(db.url, table="orders", schema=db.schema, batch_rows=300))

    assert [batch.table.num_rows for batch in batches] == [300, 300, 300, 100]
    assert all(batch.accounting().balanced and batch.rejected.empty for batch in batches)
    # the primary key orders the read even though the rows were inserted shuffled
    assert data_only(table).equals(expected_table(rows), check_metadata=False)
    assert lines(table) == list(range(1, 1001))
    assert set(table.column("_source_file").to_pylist()) == {db.source_name("orders")}
    assert table.schema.field("_source_line").type == pa.int64()
    assert (reader.stats.rows, reader.stats.batches, reader.stats.retries) == (1000, 4, 0)
    assert reader.stats.seconds > 0
    assert reader.stats.max_value is None


def test_output_does_not_depend_on_batch_size(db: Db) -> None:
    rows = sample_rows(40)
    create_sample_table(db, "small", rows)
    tables = [read_all(SqlSource(db.url, table="small", schema=db.schema, batch_rows=size))[1] for size in (1, 7, 500)]
    assert tables[0].equals(tables[1]) and tables[1].equals(tables[2])
    assert data_only(tables[0]).equals(expected_table(rows), check_metadata=False)


def test_selected_columns_in_the_given_order_sorted_by_order_by_then_key(db: Db) -> None:
    rows = sample_rows(200)
    create_sample_table(db, "orders", rows)
    source = SqlSource(db.url, table="orders", schema=db.schema, columns=["name", "qty"], order_by=["qty"])
    _, table, _ = read_all(source)

    # qty is not unique: the primary key breaks ties; NULLs sort last on every backend
    ordered = sorted(rows, key=lambda row: (row["qty"] is None, row["qty"] or 0, row["id"]))
    assert table.column_names == ["name", "qty", *PROVENANCE]
    assert data_only(table).equals(expected_table(ordered, ["name", "qty"]), check_metadata=False)


def test_empty_table_yields_one_batch_with_the_schema(db: Db) -> None:
    create_sample_table(db, "empty", [])
    batches, table, reader = read_all(SqlSource(db.url, table="empty", schema=db.schema))
    assert len(batches) == 1
    assert table.num_rows == 0
    assert table.schema.equals(
        SAMPLE_SCHEMA.append(pa.field("_source_file", pa.string())).append(pa.field("_source_line", pa.int64()))
    )
    assert batches[0].accounting().rows_in == 0
    assert reader.stats.rows == 0


def test_single_row_and_all_null_columns(db: Db) -> None:
    rows = [{"id": 42, "ts": None, "amount": None, "qty": None, "name": None}]
    create_sample_table(db, "one", rows)
    batches, table, _ = read_all(SqlSource(db.url, table="one", schema=db.schema))
    assert len(batches) == 1
    assert data_only(table).equals(expected_table(rows), check_metadata=False)
    assert lines(table) == [1]


def test_identifiers_are_checked_against_the_catalogue(db: Db) -> None:
    create_sample_table(db, "orders", sample_rows(3))
    cases = [
        ({"columns": ["id", "nope"]}, "columns", ["nope"]),
        ({"order_by": ["missing"]}, "order_by", ["missing"]),
        ({"incremental": Incremental("watermark", "no_such_col")}, "incremental.column", "no_such_col"),
    ]
    for options, field_name, value in cases:
        with (
            pytest.raises(ConfigurationError) as info,
            SqlReader(SqlSource(db.url, table="orders", schema=db.schema, **options)) as reader,
        ):
            reader.check()
        assert (info.value.field, info.value.value) == (field_name, value)
        assert "columns are ['id', 'ts', 'amount', 'qty', 'name']" in str(info.value)

    with (
        pytest.raises(ConfigurationError) as info,
        SqlReader(SqlSource(db.url, table="nope", schema=db.schema)) as reader,
    ):
        reader.check()
    assert info.value.field == "table" and "orders" in str(info.value)
    with (
        pytest.raises(ConfigurationError) as info,
        SqlReader(SqlSource(db.url, table="orders", schema="no_such_schema_here")) as reader,
    ):
        reader.check()
    assert info.value.field == "schema"


def test_odd_identifiers_are_quoted_not_formatted(db: Db) -> None:
    metadata = sa.MetaData(schema=db.schema)
    odd = sa.Table(
        "Order Lines",
        metadata,
        sa.Column("select", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("Mixed Case", sa.String(20)),
    )
    metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(odd.insert(), [{"select": 2, "Mixed Case": "b"}, {"select": 1, "Mixed Case": "a"}])
    _, table, _ = read_all(SqlSource(db.url, table="Order Lines", schema=db.schema, columns=["Mixed Case", "select"]))
    assert data_only(table).to_pylist() == [{"Mixed Case": "a", "select": 1}, {"Mixed Case": "b", "select": 2}]


# --- query mode ---------------------------------------------------------------------------------


def test_query_values_are_bound_parameters_never_sql(db: Db) -> None:
    rows = sample_rows(20)
    rows[9]["name"] = INJECTION
    create_sample_table(db, "t", rows)
    source = SqlSource(
        db.url,
        query=f"SELECT id, name FROM {db.qualified('t')} WHERE name = :name OR id = :id",
        params={"name": INJECTION, "id": 3},
        order_by=["id"],
    )
    _, table, _ = read_all(source)
    assert data_only(table).to_pylist() == [{"id": 3, "name": "name-3-é日"}, {"id": 10, "name": INJECTION}]
    assert set(table.column("_source_file").to_pylist()) == {f"{safe_url(db.url)}/query"}
    assert db.scalar(f"SELECT COUNT(*) FROM {db.qualified('t')}") == 20


def test_query_result_types(db: Db) -> None:
    rows = sample_rows(30)
    create_sample_table(db, "t", rows)
    source = SqlSource(db.url, query=f"SELECT * FROM {db.qualified('t')}", order_by=["id"], batch_rows=8)
    _, table, _ = read_all(source)
    expected = expected_table(rows)
    if db.backend == "sqlite":
        # SQLite has no timestamp type: a query's result carries the stored text (table mode parses
        # it, knowing the declared column type from the catalogue)
        texts = pa.array([f"{row['ts']:%Y-%m-%d %H:%M:%S.%f}" for row in rows], pa.string())
        expected = expected.set_column(1, "ts", texts)
    assert data_only(table).equals(expected, check_metadata=False)
    assert lines(table) == list(range(1, 31))


def test_query_problems_are_configuration_errors(db: Db) -> None:
    create_sample_table(db, "t", sample_rows(3))
    qualified = db.qualified("t")
    cases = [
        (SqlSource(db.url, query="SELEKT nonsense"), "query"),
        (SqlSource(db.url, query=f"SELECT id FROM {qualified}", order_by=["name"]), "order_by"),
        (SqlSource(db.url, query=f"SELECT id AS _source_line FROM {qualified}"), "query"),
        (SqlSource(db.url, query=f"SELECT id FROM {qualified};"), "query"),
        (SqlSource(db.url, query=f"SELECT id FROM {qualified} WHERE id = :x"), "params"),
        (SqlSource(db.url, query=f"SELECT id FROM {qualified}", params={"x": 1}), "params"),
    ]
    duplicates = SqlSource(db.url, query=f"SELECT id, id FROM {qualified}")
    if db.backend == "sqlite":
        # SQLite renames a subquery's duplicate column itself
        assert read_all(duplicates)[1].column_names == ["id", "id:1", *PROVENANCE]
    else:
        cases.append((duplicates, "query"))
    for source, field_name in cases:
        with pytest.raises(ConfigurationError) as info, SqlReader(source) as reader:
            reader.check()
        assert info.value.field == field_name, source


# --- incremental reads --------------------------------------------------------------------------


def test_interval_mode_reads_exactly_its_interval(db: Db) -> None:
    rows = sample_rows(500)
    create_sample_table(db, "events", rows)

    def read_interval(start: Any, end: Any) -> pa.Table:
        incremental = Incremental("interval", "ts", start=start, end=end)
        source = SqlSource(db.url, table="events", schema=db.schema, incremental=incremental, batch_rows=64)
        return read_all(source)[1]

    # templates render ISO strings with an offset; naive database timestamps are UTC
    first = read_interval("2024-01-01T01:00:00+00:00", "2024-01-01T03:00:00+00:00")
    second = read_interval(datetime(2024, 1, 1, 3, tzinfo=UTC), datetime(2024, 1, 1, 6, tzinfo=UTC))
    in_first = [row for row in rows if datetime(2024, 1, 1, 1) <= row["ts"] < datetime(2024, 1, 1, 3)]
    in_second = [row for row in rows if datetime(2024, 1, 1, 3) <= row["ts"] < datetime(2024, 1, 1, 6)]
    assert data_only(first).equals(expected_table(in_first), check_metadata=False)
    assert data_only(second).equals(expected_table(in_second), check_metadata=False)
    assert [len(in_first), len(in_second)] == [120, 180]  # adjacent intervals: no gap, no overlap

    # a backfill of the same interval, the end given in another time zone, reloads exactly the same rows
    same_end = datetime(2024, 1, 1, 4, tzinfo=timezone(timedelta(hours=1)))
    again = read_interval(datetime(2024, 1, 1, 1), same_end)
    assert again.equals(first)

    empty = read_interval("2024-01-01T02:00:00Z", "2024-01-01T02:00:00Z")
    assert empty.num_rows == 0 and empty.schema.equals(first.schema)


def test_watermark_mode_reads_only_new_rows_and_reports_the_mark(db: Db, tmp_path) -> None:
    create_sample_table(db, "events", sample_rows(300))
    store = WatermarkStore(fsspec.filesystem("file"), str(tmp_path / "state" / "watermarks.json"))

    def run() -> tuple[pa.Table, Any]:
        incremental = Incremental("watermark", "ts", after=store.get("events"))
        source = SqlSource(db.url, table="events", schema=db.schema, incremental=incremental, batch_rows=100)
        _, table, reader = read_all(source)
        return table, reader.stats.max_value

    table, mark = run()
    assert table.column("id").to_pylist() == list(range(1, 301))
    assert mark == START + timedelta(minutes=300) and type(mark) is datetime
    store.set("events", mark)  # the caller commits the mark once the data is stored

    new_rows = sample_rows(50, first_id=301)
    load_dataframe(db.url, "events", frame(new_rows), if_exists="append", schema=db.schema)
    table, mark = run()
    assert data_only(table).equals(expected_table(new_rows), check_metadata=False)
    assert mark == START + timedelta(minutes=350)
    store.set("events", mark)

    table, mark = run()
    assert table.num_rows == 0 and mark is None  # nothing new: keep the stored mark
    assert store.get("events") == START + timedelta(minutes=350)


def test_watermark_given_as_iso_string_and_in_query_mode(db: Db) -> None:
    rows = sample_rows(100)
    create_sample_table(db, "events", rows)
    incremental = Incremental("watermark", "ts", after="2024-01-01T01:30:00+00:00")
    _, table, reader = read_all(SqlSource(db.url, table="events", schema=db.schema, incremental=incremental))
    assert table.column("id").to_pylist() == list(range(91, 101))
    assert reader.stats.max_value == START + timedelta(minutes=100)

    query = f"SELECT id, name FROM {db.qualified('events')} WHERE qty IS NOT NULL"
    incremental = Incremental("watermark", "id", after=80)
    _, table, reader = read_all(SqlSource(db.url, query=query, incremental=incremental, batch_rows=3))
    expected = [{"id": row["id"], "name": row["name"]} for row in rows if row["id"] > 80 and row["qty"] is not None]
    assert data_only(table).to_pylist() == expected
    assert reader.stats.max_value == 99


def test_interval_bounds_that_do_not_fit_the_column_are_configuration_errors(db: Db) -> None:
    create_sample_table(db, "events", sample_rows(3))
    cases = [
        (Incremental("interval", "ts", start="yesterday", end="2024-01-02"), "incremental.start"),
        (Incremental("interval", "id", start=1, end="ten"), "incremental.end"),
        (Incremental("interval", "ts", start="2024-01-02T00:00:00", end="2024-01-01T00:00:00"), "incremental.end"),
    ]
    for incremental, field_name in cases:
        source = SqlSource(db.url, table="events", schema=db.schema, incremental=incremental)
        with pytest.raises(ConfigurationError) as info, SqlReader(source) as reader:
            reader.check()
        assert info.value.field == field_name


def test_watermark_store_round_trips_types(tmp_path) -> None:
    values = {
        "int": 12345678901234,
        "float": 0.1,
        "decimal": Decimal("12.340"),
        "str": "01HZX5",
        "date": date(2024, 2, 29),
        "naive": datetime(2024, 1, 1, 12, 30, 0, 123456),
        "aware": datetime(2024, 1, 1, 12, 30, tzinfo=UTC),
        "offset": datetime(2024, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5))),
    }
    for fs, path in (
        (fsspec.filesystem("file"), str(tmp_path / "marks.json")),
        (fsspec.filesystem("memory"), "/w/m.json"),
    ):
        store = WatermarkStore(fs, path)
        assert store.get("int") is None  # no file yet
        for key, value in values.items():
            store.set(key, value)
        again = WatermarkStore(fs, path)
        for key, value in values.items():
            got = again.get(key)
            assert got == value and type(got) is type(value), key
            if isinstance(value, datetime):
                assert got.utcoffset() == value.utcoffset()
        assert again.get("missing") is None
        document = json.loads(fs.cat_file(path))
        assert document["version"] == 1 and sorted(document["watermarks"]) == sorted(values)
        for bad in (True, None, math.nan, [1]):
            with pytest.raises(ConfigurationError):
                store.set("bad", bad)
        assert store.get("bad") is None


# --- streaming, memory, failures ----------------------------------------------------------------


def generate_rows_server_side(db: Db, name: str, n: int, *, primary_key: bool = True) -> None:
    """A big table filled by the database itself (fast, and no client memory involved)."""
    key = "PRIMARY KEY" if primary_key else "NOT NULL"
    db.execute(f"CREATE TABLE {db.qualified(name)} (id BIGINT {key}, x DOUBLE PRECISION, pad VARCHAR(250))")
    selects = {
        "postgresql": f"SELECT g, g * 0.5, repeat('x', 200) FROM generate_series(1, {n}) AS g",
        "mariadb": f"SELECT seq, seq * 0.5, repeat('x', 200) FROM seq_1_to_{n}",
        "sqlite": (
            f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "
            "SELECT i, i * 0.5, printf('%.200c', 'x') FROM g"
        ),
    }
    db.execute(f"INSERT INTO {db.qualified(name)} {selects[db.backend]}")


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read RSS")
def test_memory_is_bounded_by_the_batch_not_the_table(db: Db) -> None:
    n, batch_rows = 300_000, 5_000
    generate_rows_server_side(db, "big", n)
    with SqlReader(SqlSource(db.url, table="big", schema=db.schema, batch_rows=batch_rows)) as reader:
        reader.check()
        gc.collect()
        before = resident_mib()
        samples, rows, last_line = [], 0, 0
        for batch in reader.batches():
            assert batch.table.num_rows <= batch_rows
            rows += batch.table.num_rows
            last_line = batch.table.column("_source_line")[-1].as_py()
            samples.append(resident_mib())
    assert rows == n and last_line == n
    # the result is ~60 MB of text (~250 MB as Python objects): a client-side cursor would hold it
    # all; streaming holds one batch whatever the number of rows read so far
    assert max(samples) - before < 64, (before, max(samples))
    assert max(samples) - samples[len(samples) // 10] < 16, samples


class Killer:
    """Kills the reader's database connection from another connection, after given batches."""

    def __init__(self, db: Db, reader: SqlReader) -> None:
        self.db = db
        self.pids: list[int] = []
        self.killed: list[int] = []
        sa.event.listen(reader.engine, "checkout", self._record)

    def _record(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if self.db.backend == "postgresql":
            self.pids.append(dbapi_connection.info.backend_pid)
        else:
            self.pids.append(dbapi_connection.thread_id())

    def kill_current(self) -> None:
        pid = self.pids[-1]
        self.killed.append(pid)
        if self.db.backend == "postgresql":
            self.db.execute("SELECT pg_terminate_backend(:pid)", pid=pid)
        else:
            self.db.execute(f"KILL {int(pid)}")


def read_killing(db: Db, source: SqlSource, kills: int) -> tuple[pa.Table, SqlReader, Killer]:
    """Read, killing the reading connection after the first batch read on each new connection."""
    tables = []
    with SqlReader(source, backoff_seconds=0.01) as reader:
        killer = Killer(db, reader)
        for batch in reader.batches():
            tables.append(batch.table)
            # MariaDB keeps sending into socket buffers: the loss shows a few batches later
            if len(killer.killed) < kills and killer.pids[-1] not in killer.killed:
                killer.kill_current()
    return pa.concat_tables(tables), reader, killer


@pytest.mark.parametrize("mode", ["table_primary_key", "table_watermark", "query_order_by"])
def test_lost_connection_resumes_after_the_last_key_without_loss_or_duplicate(server: Db, mode: str) -> None:
    # rows large enough that MariaDB cannot have sent the whole result into socket buffers yet
    n = 100_000
    generate_rows_server_side(server, "big", n)
    if mode == "table_primary_key":
        source = SqlSource(server.url, table="big", schema=server.schema, columns=["pad", "x"], batch_rows=1000)
    elif mode == "table_watermark":
        incremental = Incremental("watermark", "id", after=0)
        source = SqlSource(server.url, table="big", schema=server.schema, incremental=incremental, batch_rows=1000)
    else:
        query = f"SELECT id, x, pad FROM {server.qualified('big')} WHERE id > :low"
        source = SqlSource(server.url, query=query, params={"low": 0}, order_by=["id"], batch_rows=1000)
    table, reader, killer = read_killing(server, source, kills=2)

    assert len(killer.killed) == 2 and reader.stats.retries == 2
    assert table.num_rows == n
    assert lines(table) == list(range(1, n + 1))
    assert table.column("x").to_pylist() == [i * 0.5 for i in range(1, n + 1)]
    assert reader.stats.rows == n
    assert reader.stats.max_value == (n if mode == "table_watermark" else None)


def test_lost_connection_without_unique_key_raises_transient_error(server: Db) -> None:
    generate_rows_server_side(server, "heap", 100_000, primary_key=False)
    source = SqlSource(server.url, table="heap", schema=server.schema, batch_rows=1000)
    with pytest.raises(TransientSourceError, match="cannot resume") as info:
        read_killing(server, source, kills=1)
    assert isinstance(info.value, ConnectionError)  # retried by Airflow like any I/O error


def test_unreachable_server_is_retried_then_reported_without_password() -> None:
    source = SqlSource("postgresql+psycopg://reader:s3cret@127.0.0.1:1/db", table="t", max_retries=2)
    reader = SqlReader(source, backoff_seconds=0.01)
    with pytest.raises(TransientSourceError, match="gave up after 2 retries") as info:
        reader.check()
    assert reader.stats.retries == 2
    assert "s3cret" not in str(info.value)
    assert source.safe_url == "postgresql+psycopg://reader:***@127.0.0.1:1/db"
    reader.close()


def test_retry_waits_double_up_to_the_cap_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    source = SqlSource("postgresql+psycopg://reader@127.0.0.1:1/db", table="t", max_retries=4)
    sleeps: list[float] = []
    reader = SqlReader(source, backoff_seconds=20, sleep=sleeps.append)
    with caplog.at_level(logging.WARNING, logger="dataframe_pipeline"), pytest.raises(TransientSourceError):
        reader.check()
    reader.close()
    assert sleeps == [20.0, 40.0, 60.0, 60.0]  # RETRY_BACKOFF_MAX_SECONDS
    assert reader.stats.retries == 4
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split("), ")[-1] for m in messages] == [
        "retry 1 of 4 in 20.0 s", "retry 2 of 4 in 40.0 s", "retry 3 of 4 in 60.0 s", "retry 4 of 4 in 60.0 s"
    ]  # fmt: skip
    assert all(m.startswith("postgresql+psycopg://reader@127.0.0.1:1/db: transient error (") for m in messages)


def test_consumer_stopping_early_is_not_retried_and_the_reader_reads_again(db: Db) -> None:
    rows = sample_rows(10)
    create_sample_table(db, "t", rows)
    sleeps: list[float] = []
    with SqlReader(SqlSource(db.url, table="t", schema=db.schema, batch_rows=3), sleep=sleeps.append) as reader:
        batches = reader.batches()
        first = next(batches)
        batches.close()  # GeneratorExit passes through the retry loop: no retry, no second attempt
        assert (reader.stats.batches, reader.stats.retries, sleeps) == (1, 0, [])
        assert data_only(first.table).equals(expected_table(rows[:3]))
        again = pa.concat_tables([batch.table for batch in reader.batches()])
    assert data_only(again).equals(expected_table(rows))
    assert reader.stats.retries == 0


# --- types and quarantine -----------------------------------------------------------------------


def test_sqlite_values_that_do_not_fit_their_column_are_quarantined(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'dynamic.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER, r REAL, ts TIMESTAMP)"))
        conn.execute(
            sa.text(
                "INSERT INTO m VALUES (1, 10, 1.5, '2024-01-01 00:00:00'), (2, 'abc', 2.5, NULL),"
                " (3, 30, 'high', NULL), (4, 40, 4.5, NULL)"
            )
        )
    engine.dispose()
    source = SqlSource(url, table="m", columns=["id", "n", "r"], batch_rows=3)
    batches, table, reader = read_all(source)

    assert data_only(table).to_pylist() == [{"id": 1, "n": 10, "r": 1.5}, {"id": 4, "n": 40, "r": 4.5}]
    assert lines(table) == [1, 4]
    rejected = pd.concat([batch.rejected for batch in batches if len(batch.rejected)], ignore_index=True)
    # the layout of every source's quarantine: provenance, the row as JSON, rule, reason; indexed by line
    assert list(rejected.columns) == ["_source_file", "_source_line", "_raw_line", RULE_COLUMN, REASON_COLUMN]
    assert rejected[["_source_line", "_raw_line", RULE_COLUMN, REASON_COLUMN]].to_dict("records") == [
        {
            "_source_line": 2,
            "_raw_line": '{"id": 2, "n": "abc", "r": 2.5}',
            RULE_COLUMN: TYPE_MISMATCH_RULE,
            REASON_COLUMN: "column 'n': cannot convert 'abc' to int64",
        },
        {
            "_source_line": 3,
            "_raw_line": '{"id": 3, "n": 30, "r": "high"}',
            RULE_COLUMN: TYPE_MISMATCH_RULE,
            REASON_COLUMN: "column 'r': cannot convert 'high' to double",
        },
    ]
    assert [batch.accounting().as_dict()["rows_in"] for batch in batches] == [3, 1]
    assert all(batch.accounting().balanced for batch in batches)
    assert (reader.stats.rows, reader.stats.rows_rejected) == (4, 2)


def test_sqlite_values_are_never_truncated_or_rounded_into_their_column(tmp_path) -> None:
    # the rules of every source: a float does not truncate into an int64, an int becomes a double only when exact
    url = f"sqlite:///{tmp_path / 'exact.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER, r NUMERIC)"))
        conn.execute(
            sa.text(
                f"INSERT INTO m VALUES (1, 10, 1.5), (2, 3.5, 2.5), (3, 30, {2**53 + 1}), (4, 40, {2**53}), (5, 5.0, 5)"
            )
        )
    engine.dispose()
    batches, table, _ = read_all(SqlSource(url, table="m", batch_rows=10))
    assert data_only(table).to_pylist() == [
        {"id": 1, "n": 10, "r": 1.5},
        {"id": 4, "n": 40, "r": float(2**53)},
        {"id": 5, "n": 5, "r": 5.0},
    ]
    rejected = batches[0].rejected
    assert list(rejected.index) == [2, 3]
    assert rejected[["_raw_line", RULE_COLUMN, REASON_COLUMN]].to_dict("records") == [
        {
            "_raw_line": '{"id": 2, "n": 3.5, "r": 2.5}',
            RULE_COLUMN: TYPE_MISMATCH_RULE,
            REASON_COLUMN: "column 'n': cannot convert 3.5 to int64",
        },
        {
            "_raw_line": f'{{"id": 3, "n": 30, "r": {2**53 + 1}}}',
            RULE_COLUMN: TYPE_MISMATCH_RULE,
            REASON_COLUMN: f"column 'r': cannot convert {2**53 + 1} to double",
        },
    ]
    assert batches[0].accounting().balanced


@pytest.fixture
def postgres() -> Iterator[Db]:
    yield from server_db("postgresql")


def test_postgresql_types_map_to_arrow(postgres: Db) -> None:
    db = postgres
    db.execute(
        f"CREATE TABLE {db.qualified('typed')} (id INT PRIMARY KEY, at TIMESTAMPTZ, price NUMERIC(12, 3),"
        " ok BOOLEAN, day DATE, ref UUID, doc JSONB, took INTERVAL, raw BYTEA, small REAL)"
    )
    db.execute(
        f"INSERT INTO {db.qualified('typed')} VALUES (1, '2024-03-01 10:00:00.123456+02', 1234.567, TRUE,"
        " '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": 1, \"a\": [1, 2]}',"
        " '1 day 02:00:00', '\\x00ff', 0.5), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
    )
    _, table, _ = read_all(SqlSource(db.url, table="typed", schema=db.schema))
    expected_schema = pa.schema(
        [
            ("id", pa.int64()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("price", pa.float64()),
            ("ok", pa.bool_()),
            ("day", pa.date32()),
            ("ref", pa.string()),
            ("doc", pa.string()),
            ("took", pa.duration("us")),
            ("raw", pa.binary()),
            ("small", pa.float64()),
        ]
    )
    assert data_only(table).schema.equals(expected_schema)
    first = data_only(table).to_pylist()[0]
    assert first == {
        "id": 1,
        "at": datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=UTC),
        "price": 1234.567,
        "ok": True,
        "day": date(2024, 2, 29),
        "ref": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "doc": '{"a": [1, 2], "b": 1}',
        "took": timedelta(days=1, hours=2),
        "raw": b"\x00\xff",
        "small": 0.5,
    }
    # naive bounds on a time-zone-aware column are taken as UTC
    incremental = Incremental("interval", "at", start="2024-03-01T08:00:00", end="2024-03-01T08:00:01")
    _, hit, _ = read_all(SqlSource(db.url, table="typed", schema=db.schema, incremental=incremental))
    assert hit.column("id").to_pylist() == [1]


# --- configuration and helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field_name"),
    [
        ({"table": "t", "query": "SELECT 1"}, "table"),
        ({}, "table"),
        ({"table": ""}, "table"),
        ({"table": "t", "batch_rows": 0}, "batch_rows"),
        ({"table": "t", "batch_rows": True}, "batch_rows"),
        ({"table": "t", "max_retries": -1}, "max_retries"),
        ({"table": "t", "columns": []}, "columns"),
        ({"table": "t", "columns": ["a", "a"]}, "columns"),
        ({"table": "t", "columns": ["_source_line"]}, "columns"),
        ({"table": "t", "order_by": "id"}, "order_by"),
        ({"table": "t", "params": {"x": 1}}, "params"),
        ({"query": "SELECT 1", "schema": "s"}, "schema"),
        ({"query": "SELECT 1", "columns": ["a"]}, "columns"),
        ({"query": "  "}, "query"),
        ({"table": "t", "incremental": {"mode": "watermark"}}, "incremental"),
        ({"table": "t", "incremental": Incremental("daily", "ts")}, "incremental.mode"),
        ({"table": "t", "incremental": Incremental("interval", "", start=1, end=2)}, "incremental.column"),
        ({"table": "t", "incremental": Incremental("interval", "ts", start=1)}, "incremental.end"),
        ({"table": "t", "incremental": Incremental("interval", "ts", start=5, end=2)}, "incremental.end"),
        ({"table": "t", "incremental": Incremental("interval", "ts", start=1, end=2, after=1)}, "incremental.after"),
        ({"table": "t", "incremental": Incremental("watermark", "ts", start=1)}, "incremental.start"),
        ({"table": "t", "incremental": Incremental("watermark", "ts", after=True)}, "incremental.after"),
        ({"table": "t", "incremental": Incremental("watermark", "ts", after=math.inf)}, "incremental.after"),
    ],
)
def test_validate_names_the_bad_field(options: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        SqlSource("sqlite://", **options).validate()
    assert info.value.field == field_name


def test_urls_are_never_echoed_with_their_password() -> None:
    for url in ("postgresql+nodriver://u:s3cret@h/db", "not a url u:s3cret@host", ""):
        with pytest.raises(ConfigurationError) as info:
            SqlSource(url, table="t").validate()
        assert info.value.field == "url" and "s3cret" not in str(info.value)
        assert info.value.__cause__ is None or "s3cret" not in str(info.value.__cause__)
    assert safe_url("mysql+pymysql://u:s3cret@h/db?charset=utf8mb4&ssl_key_password=s3cret") == (
        "mysql+pymysql://u:***@h/db?charset=utf8mb4&ssl_key_password=***"
    )
    source = SqlSource("postgresql+psycopg://u:s3cret@h:5432/db", table="t", schema="s")
    assert source.source_name == "postgresql+psycopg://u:***@h:5432/db/s.t"


def test_load_dataframe_replaces_or_appends(db: Db) -> None:
    rows = sample_rows(10)
    assert load_dataframe(db.url, "demo", frame(rows), schema=db.schema) == 10
    assert load_dataframe(db.url, "demo", frame(rows[:4]), schema=db.schema) == 4
    assert load_dataframe(db.url, "demo", frame(rows[4:]), if_exists="append", chunksize=2, schema=db.schema) == 6
    _, table, _ = read_all(SqlSource(db.url, table="demo", schema=db.schema, order_by=["id"]))
    assert table.column("id").to_pylist() == list(range(1, 11))
    assert table.column("name").to_pylist() == [row["name"] for row in rows]
    with pytest.raises(ConfigurationError) as info:
        load_dataframe(db.url, "demo", frame(rows), if_exists="upsert", schema=db.schema)
    assert info.value.field == "if_exists"
