"""The SQL warehouse sink against real databases: PostgreSQL and MariaDB on loopback, SQLite in a file.

Each test gets its own schema (a database on MariaDB, a fresh file on SQLite), dropped afterwards.
Expected values are the ones the tests write, never read from the sink. Servers that are not reachable
are skipped, except under CI=true where that fails (``require_service``).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from dataframe_pipeline.exceptions import DataContractError
from dataframe_pipeline.store.sql import SqlTableSink
from dataframe_pipeline.store.sql.dialects import MYSQL_SQL_MODE, prepare_session
from tests.conftest import require_service
from tests.integration.ingest.test_sql_source import SERVERS, server_problem

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
BACKENDS = ["postgresql", "mariadb", "sqlite"]
DAY1, DAY2 = "2026-10-01", "2026-10-02"


@dataclass
class Db:
    backend: str
    url: str
    schema: str | None
    engine: sa.Engine

    def sink(self, table: str = "t", **options: Any) -> SqlTableSink:
        return SqlTableSink(self.engine, table, schema=self.schema, **options)

    def qualified(self, table: str) -> str:
        quote = self.engine.dialect.identifier_preparer.quote
        return ".".join(quote(p) for p in (self.schema, table) if p)

    def execute(self, sql: str) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql)

    def rows(self, table: str = "t", order_by: str = "id") -> list[dict[str, Any]]:
        """The table's rows through its reflected types (SQLite's DATETIME text comes back as datetime)."""
        reflected = sa.Table(table, sa.MetaData(), schema=self.schema, autoload_with=self.engine)
        for column in reflected.columns:
            if isinstance(column.type, sa.Float):
                column.type.asdecimal = False  # MariaDB's DOUBLE reflects as a 10-digit Decimal otherwise
        with self.engine.connect() as conn:
            result = conn.execute(sa.select(reflected).order_by(reflected.c[order_by]))
            return [dict(row._mapping) for row in result]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
        engine = sa.create_engine(url)
        yield Db(backend, url, None, engine)
        engine.dispose()
        return
    url = SERVERS[backend]
    problem = server_problem(url)
    require_service(problem is None, problem or "")
    schema = f"wh_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    create = "CREATE SCHEMA {}" if backend == "postgresql" else "CREATE DATABASE {} CHARACTER SET utf8mb4"
    drop = "DROP SCHEMA {} CASCADE" if backend == "postgresql" else "DROP DATABASE {}"
    with engine.begin() as conn:
        conn.exec_driver_sql(create.format(schema))
    try:
        yield Db(backend, url, schema, engine)
    finally:
        engine.dispose()
        cleanup = sa.create_engine(url)
        with cleanup.begin() as conn:
            conn.exec_driver_sql(drop.format(schema))
        cleanup.dispose()


def orders(ids: list[int], note: str = "x") -> pd.DataFrame:
    """Rows without the partition column: the sink adds it."""
    return pd.DataFrame(
        {
            "id": pd.array(ids, dtype="int64"),
            "amount": [float(i) + 0.25 for i in ids],
            "note": [f"{note}{i}" for i in ids],
        }
    )


def load(db: Db, *frames: pd.DataFrame, table: str = "t", **options: Any) -> SqlTableSink:
    options.setdefault("create", True)
    sink = db.sink(table, **options)
    for frame in frames:
        sink.write(frame)
    sink.commit({"step": "store"})
    return sink


# --- create, types, round trips -------------------------------------------------------------------


def test_created_table_round_trips_values_exactly(db: Db) -> None:
    paris = pd.Timestamp("2026-10-01 10:00:00.123456", tz="Europe/Paris")
    big, small = 2**63 - 1, -(2**63)
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "big": pa.array([big, small, None], pa.int64()),
            "price": pa.array([0.1 + 0.2, float("nan"), None], pa.float64()),
            "label": pa.array(["nan", None, "NULL"], pa.string()),
            "exact": pa.array([Decimal("12345678.9012"), Decimal("-0.0001"), None], pa.decimal128(12, 4)),
            "ts": pa.array([paris, paris + pd.Timedelta(hours=1), None], pa.timestamp("us", tz="Europe/Paris")),
            "local": pa.array([datetime(2026, 1, 2, 3, 4, 5, 6), None, None], pa.timestamp("us")),
            "flag": pa.array([True, False, None]),
            "day": pa.array([date(2026, 10, 1), None, date(1999, 12, 31)]),
        }
    )
    sink = load(db, table, key=["id"], mode="upsert")
    assert sink.details()["method"] == ("copy" if db.backend == "postgresql" else "executemany")
    assert sink.details()["table_created"] is True
    got = db.rows()
    assert [r["big"] for r in got] == [big, small, None]  # int64 exact at both ends
    assert got[0]["price"] == 0.1 + 0.2  # the same double, not 0.3
    assert got[1]["price"] is None and got[2]["price"] is None  # float NaN and null -> NULL
    assert [r["label"] for r in got] == ["nan", None, "NULL"]  # strings are never read as missing
    exact = [None if v is None else Decimal(str(v)) for v in (r["exact"] for r in got)]
    assert exact == [Decimal("12345678.9012"), Decimal("-0.0001"), None]
    utc = [r["ts"] if r["ts"] is None or r["ts"].tzinfo else r["ts"].replace(tzinfo=UTC) for r in got]
    assert utc == [paris.to_pydatetime().astimezone(UTC), (paris + pd.Timedelta(hours=1)).to_pydatetime(), None]
    assert got[0]["ts"].hour == 8  # stored in UTC, whatever the database's zone type
    assert got[0]["local"] == datetime(2026, 1, 2, 3, 4, 5, 6)
    assert [None if r["flag"] is None else bool(r["flag"]) for r in got] == [True, False, None]
    assert [r["day"] for r in got] == [date(2026, 10, 1), None, date(1999, 12, 31)]


def test_nanoseconds_are_refused_not_rounded(db: Db) -> None:
    frame = pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2026-10-01 00:00:00.000000001"])})
    with pytest.raises(DataContractError, match=r"'ts'.*nanoseconds"):
        load(db, frame, key=["id"], mode="upsert")


def test_partition_column_is_added_as_a_date_and_indexed(db: Db) -> None:
    load(db, orders([1, 2]), partition={"date": DAY1})
    assert [r["date"] for r in db.rows()] == [date(2026, 10, 1)] * 2
    indexes = sa.inspect(db.engine).get_indexes("t", schema=db.schema)
    assert any(ix["column_names"] == ["date"] for ix in indexes)


# --- modes ----------------------------------------------------------------------------------------


def test_replace_partition_rerun_keeps_one_copy_and_other_partitions(db: Db) -> None:
    load(db, orders([1, 2, 3]), partition={"date": DAY1})
    load(db, orders([10, 11]), partition={"date": DAY2})
    again = load(db, orders([1, 2], note="rerun"), partition={"date": DAY1})
    again_twice = load(db, orders([1, 2], note="rerun"), partition={"date": DAY1})
    assert again.details()["rows_deleted"] == 3 and again_twice.details()["rows_deleted"] == 2
    got = [(r["id"], r["note"], str(r["date"])) for r in db.rows()]
    assert got == [(1, "rerun1", DAY1), (2, "rerun2", DAY1), (10, "x10", DAY2), (11, "x11", DAY2)]


def test_a_partition_column_of_the_data_is_kept_and_checked(db: Db) -> None:
    load(db, orders([1, 2]).assign(date=DAY1), partition={"date": DAY1})
    load(db, orders([1, 2]).assign(date=DAY1), partition={"date": DAY1})  # the data's own type: text
    assert [(r["id"], r["date"]) for r in db.rows()] == [(1, DAY1), (2, DAY1)]
    mixed = pd.concat([orders([1]).assign(date=DAY1), orders([2]).assign(date=DAY2)])
    with pytest.raises(DataContractError, match=r"'date' holds \['2026-10-02'\] outside the partition"):
        load(db, mixed, partition={"date": DAY1})


def test_upsert_updates_existing_keys_and_inserts_new_ones(db: Db) -> None:
    load(db, orders([1, 2]), mode="upsert", key=["id"])
    sink = load(db, orders([2, 3], note="new"), mode="upsert", key=["id"])
    assert sink.details()["rows"] == 2
    assert [(r["id"], r["note"]) for r in db.rows()] == [(1, "x1"), (2, "new2"), (3, "new3")]


def test_append_new_keeps_existing_rows(db: Db) -> None:
    load(db, orders([1, 2]), mode="upsert", key=["id"])
    load(db, orders([2, 3], note="new"), mode="append_new", key=["id"])
    assert [(r["id"], r["note"]) for r in db.rows()] == [(1, "x1"), (2, "x2"), (3, "new3")]


def test_a_key_loaded_twice_in_one_upsert_is_refused(db: Db) -> None:
    load(db, orders([1]), mode="upsert", key=["id"])
    with pytest.raises(DataContractError, match=r"occurs more than once.*'id': 2"):
        load(db, orders([2, 3]), orders([2]), mode="upsert", key=["id"])
    assert [r["id"] for r in db.rows()] == [1]


def test_upsert_needs_the_key_to_be_unique_in_the_table(db: Db) -> None:
    load(db, orders([1]), partition={"date": DAY1})  # created without a key
    with pytest.raises(DataContractError, match=r"key \['id'\] is not its primary key"):
        load(db, orders([2]).assign(date=date(2026, 10, 1)), mode="upsert", key=["id"])


# --- the table check --------------------------------------------------------------------------------


def test_an_existing_table_that_differs_is_refused_with_the_difference(db: Db) -> None:
    db.execute(f"CREATE TABLE {db.qualified('t')} (id BIGINT, amount INTEGER, note TEXT, extra TEXT, date DATE)")
    db.execute(f"INSERT INTO {db.qualified('t')} (id, amount, note, date) VALUES (7, 1, 'old', '2026-10-01')")
    frame = orders([1]).assign(new_col=1.0)  # and the sink adds date
    with pytest.raises(DataContractError) as err:
        load(db, frame, partition={"date": DAY1}, create=False)
    message = str(err.value)
    assert "column 'new_col' is in the data, not in the table" in message
    assert "column 'extra' is in the table, not in the data" in message
    assert "column 'amount': the table has" in message and "(integer), the data needs float" in message
    assert [r["id"] for r in db.rows()] == [7]  # refused before anything was deleted


def test_a_missing_table_is_refused_without_create(db: Db) -> None:
    with pytest.raises(DataContractError, match=r"does not exist .*create=True"):
        load(db, orders([1]), partition={"date": DAY1}, create=False)


def test_a_value_too_long_is_refused_with_column_and_value(db: Db) -> None:
    db.execute(f"CREATE TABLE {db.qualified('t')} (id BIGINT, amount DOUBLE PRECISION, note VARCHAR(5), date DATE)")
    with pytest.raises(DataContractError, match=r"column 'note', row 1: value 'x-too-long2' is longer than"):
        load(db, orders([1]), orders([2], note="x-too-long"), partition={"date": DAY1}, create=False)
    assert db.rows() == []


@pytest.mark.parametrize("db", ["mariadb"], indirect=True)
def test_mariadb_session_is_strict(db: Db) -> None:
    """The sink's own checks come first; the session mode is the backstop for anything they miss."""
    db.execute(f"CREATE TABLE {db.qualified('s')} (note VARCHAR(3), n SMALLINT)")
    with db.engine.connect() as conn:
        prepare_session(conn)
        assert conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar() == MYSQL_SQL_MODE
        with pytest.raises(sa.exc.DataError, match="Data too long for column 'note'"):
            conn.exec_driver_sql(f"INSERT INTO {db.qualified('s')} VALUES ('abcdef', 1)")
        conn.rollback()
        with pytest.raises(sa.exc.DataError, match="Out of range value for column 'n'"):
            conn.exec_driver_sql(f"INSERT INTO {db.qualified('s')} VALUES ('ab', 70000)")


def test_an_integer_out_of_the_columns_range_is_refused(db: Db) -> None:
    db.execute(f"CREATE TABLE {db.qualified('t')} (id INTEGER, amount DOUBLE PRECISION, note TEXT, date DATE)")
    if db.backend == "sqlite":  # every SQLite integer column holds 64 bits: the value fits, exactly
        load(db, orders([3_000_000_000]), partition={"date": DAY1}, create=False)
        assert [r["id"] for r in db.rows()] == [3_000_000_000]
        return
    with pytest.raises(DataContractError, match=r"column 'id', row 0: value 3000000000 is out of the range"):
        load(db, orders([3_000_000_000]), partition={"date": DAY1}, create=False)


# --- atomicity ------------------------------------------------------------------------------------------


def test_a_failure_mid_load_rolls_everything_back(db: Db) -> None:
    load(db, orders([1, 2, 3]), partition={"date": DAY1}, key=["id"])
    sink = db.sink(partition={"date": DAY1}, key=["id"])
    sink.write(orders([1, 2], note="new"))
    # readers see the old version while the load runs
    assert [(r["id"], r["note"]) for r in db.rows()] == [(1, "x1"), (2, "x2"), (3, "x3")]
    with pytest.raises(DataContractError, match="refused rows"):
        sink.write(orders([2], note="dup"))  # the primary key refuses a second id 2
    sink.abort()
    assert [(r["id"], r["note"]) for r in db.rows()] == [(1, "x1"), (2, "x2"), (3, "x3")]


def test_a_load_killed_mid_way_leaves_the_old_rows_and_a_retry_loads_once(db: Db) -> None:
    load(db, orders([1, 2, 3]), partition={"date": DAY1})
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(PROJECT / "plugins")!r}); sys.path.insert(0, {str(PROJECT)!r})
        from dataframe_pipeline.store.sql import SqlTableSink
        from tests.integration.test_sql_sink import orders
        sink = SqlTableSink({db.url!r}, "t", schema={db.schema!r}, partition={{"date": {DAY1!r}}})
        sink.write(orders(list(range(100, 1100))))
        print("written", flush=True)
        time.sleep(60)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "written"
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert [r["id"] for r in db.rows()] == [1, 2, 3]
    load(db, orders(list(range(100, 1100))), partition={"date": DAY1})  # the retry
    assert [r["id"] for r in db.rows()] == list(range(100, 1100))


def test_two_loads_of_one_partition_at_once_leave_one_copy(db: Db) -> None:
    """Two attempts of the same task running at once: the second waits for the first's commit, then
    replaces its rows (without the lock both deletes would run before either insert: two copies)."""
    import threading

    load(db, orders([1, 2]), partition={"date": DAY1})
    first = db.sink(partition={"date": DAY1})
    first.write(orders([10, 11], note="first"))
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            load(db, orders([10, 11], note="second"), partition={"date": DAY1})
            outcome["done"] = True
        except Exception as err:  # reported by the assertion below
            outcome["error"] = err

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1.5)
    assert thread.is_alive(), f"the second load did not wait for the first: {outcome}"
    first.commit({"step": "store"})
    thread.join(timeout=30)
    assert outcome == {"done": True}
    assert [(r["id"], r["note"]) for r in db.rows()] == [(10, "second10"), (11, "second11")]


def test_an_empty_load_empties_the_partition(db: Db) -> None:
    load(db, orders([1, 2]), partition={"date": DAY1})
    load(db, orders([5]), partition={"date": DAY2})
    sink = load(db, partition={"date": DAY1})
    assert sink.details()["rows_deleted"] == 2
    assert [r["id"] for r in db.rows()] == [5]


def test_many_batches_stream_in_chunks(db: Db) -> None:
    frames = [orders(list(range(i * 1000, (i + 1) * 1000))) for i in range(5)]
    sink = load(db, *frames, partition={"date": DAY1}, chunk_rows=700)
    assert sink.details()["rows"] == 5000
    got = db.rows()
    assert len(got) == 5000 and got[-1]["id"] == 4999
    assert math.isclose(sum(r["amount"] for r in got), float(np.arange(5000).sum() + 0.25 * 5000))


# --- the operator and the star schema, end to end on SQLite ------------------------------------------------


def curated_orders(day: str, ids: list[int], email: str = "a") -> pd.DataFrame:
    """Rows shaped like the curated orders table (features and provenance included)."""
    n = len(ids)
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in ids],
            "customer_id": [f"c{i % 3}" for i in ids],
            "customer_email": [f"{email}{i % 3}@example.com" for i in ids],
            "order_ts": pd.to_datetime([f"{day}T23:30:00+00:00"] * n, utc=True),
            "country": ["DE", "FR", "JP"][:1] * n,
            "channel": [["web", "app"][i % 2] for i in ids],
            "product_category": ["books"] * n,
            "quantity": pd.array([1] * n, dtype="int64"),
            "unit_price": [9.5] * n,
            "amount": [9.5] * n,
            "returned": pd.array([0] * n, dtype="int64"),
            "amount_scaled": [0.1] * n,
            "split": ["train"] * n,
            "_source_file": [f"orders_{day}.csv"] * n,
            "_source_line": pd.array([i + 2 for i in ids], dtype="int64"),
        }
    )


def lake_dataset(root: Path, name: str, frame: pd.DataFrame) -> str:
    import fsspec

    from dataframe_pipeline.core.dataset import DatasetWriter

    path = root / name
    writer = DatasetWriter(fsspec.filesystem("file"), str(path), uri=path.as_uri())
    writer.write(frame)
    writer.commit({"step": "validate"})
    return path.as_uri()


def run_context(day: str, try_number: int = 1) -> dict[str, Any]:
    from types import SimpleNamespace

    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return {
        "dag_run": SimpleNamespace(logical_date=start, run_id=f"scheduled__{day}"),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": f"scheduled__{day}",
    }


def load_star(tmp_path: Path, day: str, dataset: str) -> dict[str, dict]:
    from dataframe_pipeline.store.operators import SqlStoreOperator
    from dataframe_pipeline.store.star import ORDERS_STAR

    results = {}
    for table in ORDERS_STAR:  # dimensions first, as in the DAG
        op = SqlStoreOperator(
            task_id=f"load_{table}", conn_id="warehouse_db", table=table, star_table=table, create=True,
            input_dataset=dataset, storage_root=(tmp_path / "lake").as_uri(),
        )  # fmt: skip
        results[table] = op.execute(run_context(day))
    return results


def test_the_star_schema_loads_from_a_lake_dataset_and_reruns_idempotently(tmp_path: Path, monkeypatch) -> None:
    import json

    warehouse = tmp_path / "data" / "warehouse.db"  # a folder that does not exist yet, as in a fresh checkout
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))
    day1 = lake_dataset(tmp_path, "day1", curated_orders(DAY1, [1, 2, 3, 4]))
    day2 = lake_dataset(tmp_path, "day2", curated_orders(DAY2, [5, 6], email="b"))
    first = load_star(tmp_path, DAY1, day1)
    fact = first["fact_orders"]
    assert {k: fact[k] for k in ("table", "rows", "mode", "dialect", "method")} == {
        "table": "fact_orders", "rows": 4, "mode": "replace_partition", "dialect": "sqlite", "method": "executemany",
    }  # fmt: skip
    assert fact["seconds"] >= 0 and fact["accounting"]["rows_in"] == 4
    assert first["dim_customer"]["rows"] == 3  # one row per customer over the load, not per order
    load_star(tmp_path, DAY1, day1)  # a re-run of the day
    load_star(tmp_path, DAY2, day2)
    db = Db("sqlite", f"sqlite:///{warehouse}", None, sa.create_engine(f"sqlite:///{warehouse}"))
    facts = db.rows("fact_orders", order_by="order_id")
    assert [(r["order_id"], str(r["date"]), r["date_key"]) for r in facts] == [
        *[(f"o{i}", DAY1, 20261001) for i in (1, 2, 3, 4)],
        *[(f"o{i}", DAY2, 20261002) for i in (5, 6)],
    ]
    assert facts[0]["_source_file"] == "orders_2026-10-01.csv" and facts[0]["_source_line"] == 3
    assert "amount_scaled" not in facts[0]  # features stay in the lake
    customers = db.rows("dim_customer", order_by="customer_id")
    # c0 and c2 came again on day 2 with a new email: upserted; c1 kept its day-1 row
    assert [(r["customer_id"], r["customer_email"]) for r in customers] == [
        ("c0", "b0@example.com"), ("c1", "a1@example.com"), ("c2", "b2@example.com"),
    ]  # fmt: skip
    dates = db.rows("dim_date", order_by="date_key")
    assert [(r["date_key"], r["day_of_week"], bool(r["is_weekend"])) for r in dates] == [
        (20261001, 3, False), (20261002, 4, False),
    ]  # fmt: skip
    assert [r["channel"] for r in db.rows("dim_channel", order_by="channel")] == ["app", "web"]
    db.engine.dispose()


def test_the_fact_loads_from_the_curated_table_version_of_the_asset_event(tmp_path: Path, monkeypatch) -> None:
    """The curated-table read path (``input_table``), over a stand-in of ``store.tables.read_batches``
    on a real Delta table until the Delta store step is merged (see tests/unit/store/test_sql_inputs.py)."""
    import json
    import types
    from types import SimpleNamespace

    from deltalake import write_deltalake

    from dataframe_pipeline.store.operators import SqlStoreOperator
    from tests.unit.store.test_sql_inputs import _read_batches

    module = types.ModuleType("dataframe_pipeline.store.tables")
    module.read_batches = _read_batches
    monkeypatch.setitem(sys.modules, "dataframe_pipeline.store.tables", module)
    warehouse = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))
    uri = str(tmp_path / "curated" / "orders")
    for day, ids in ((DAY1, [1, 2]), (DAY2, [3])):  # versions 0 and 1
        frame = curated_orders(day, ids).assign(date=day)
        write_deltalake(uri, pa.Table.from_pandas(frame, preserve_index=False), partition_by=["date"], mode="append")
    write_deltalake(  # version 2: day 1 republished with one more row
        uri, pa.Table.from_pandas(curated_orders(DAY1, [1, 2, 9]).assign(date=DAY1), preserve_index=False),
        partition_by=["date"], mode="overwrite", predicate=f"date = '{DAY1}'",
    )  # fmt: skip
    context = run_context(DAY1)
    context["triggering_asset_events"] = {"curated/orders": [SimpleNamespace(extra={"table": uri, "version": 1})]}
    op = SqlStoreOperator(
        task_id="load_fact_orders", conn_id="warehouse_db", table="fact_orders", star_table="fact_orders",
        create=True, input_table=uri, storage_root=(tmp_path / "lake").as_uri(),
    )  # fmt: skip
    result = op.execute(context)
    assert result["rows"] == 2  # version 1 as announced, the run's day only (not version 2's three rows)
    db = Db("sqlite", f"sqlite:///{warehouse}", None, sa.create_engine(f"sqlite:///{warehouse}"))
    assert [r["order_id"] for r in db.rows("fact_orders", order_by="order_id")] == ["o1", "o2"]
    db.engine.dispose()
