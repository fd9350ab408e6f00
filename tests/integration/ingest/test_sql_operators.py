"""SqlIngestOperator and CommitWatermarkOperator, run with a minimal context against SQLite (always
available), PostgreSQL and MariaDB (the connection comes from an AIRFLOW_CONN_* variable, as in a deployment)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from types import SimpleNamespace

import fsspec
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.ingest.operators import CommitWatermarkOperator, SqlIngestOperator


def context(day: int, try_number: int = 1) -> dict:
    start = datetime(2026, 10, day, tzinfo=UTC)
    return {
        "dag_run": SimpleNamespace(logical_date=start, run_id=f"scheduled__{day}"),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": f"scheduled__{day}",
        "data_interval_start": start,
        "data_interval_end": datetime(2026, 10, day + 1, tzinfo=UTC),
    }


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "src.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts DATETIME, amount REAL, note TEXT)")
        con.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            [
                (1, "2026-10-01 08:00:00.000000", 1.5, "a"),
                (2, "2026-10-01 23:59:59.000000", 2.5, "b"),
                (3, "2026-10-02 00:00:00.000000", 3.5, "x'; DROP TABLE events; --"),
            ],
        )
    monkeypatch.setenv("AIRFLOW_CONN_SRC_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def rows(result: dict) -> list[int]:
    reader = DatasetReader(fsspec.filesystem("file"), result["dataset"]["uri"].removeprefix("file://"))
    return reader.read_pandas()["id"].tolist()


def test_a_manual_run_and_a_backfill_run_of_a_day_read_the_same_rows(db, tmp_path) -> None:
    """Airflow gives a manual run for logical date X the interval ending at X (X-1 to X) and a backfill
    run for X the one starting at X: the read follows the run's partition, the day of X, for both."""
    from airflow.sdk import CronDataIntervalTimetable

    daily = SimpleNamespace(timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"))
    x = datetime(2026, 10, 1, tzinfo=UTC)
    manual = {
        "dag": daily,
        "dag_run": SimpleNamespace(logical_date=x, run_id="manual__2026-10-01"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "manual__2026-10-01",
        "data_interval_start": datetime(2026, 9, 30, tzinfo=UTC),
        "data_interval_end": x,
    }
    backfill = {**manual, "dag_run": SimpleNamespace(logical_date=x, run_id="backfill__2026-10-01")}
    backfill |= {
        "run_id": "backfill__2026-10-01",
        "data_interval_start": x,
        "data_interval_end": datetime(2026, 10, 2, tzinfo=UTC),
    }

    def ingest(ctx: dict) -> dict:
        return SqlIngestOperator(
            task_id="ingest", conn_id="src_db", table="events", storage_root=tmp_path.as_uri(),
            incremental={"mode": "interval", "column": "ts"},
        ).execute(ctx)  # fmt: skip

    by_manual, by_backfill = ingest(manual), ingest(backfill)
    assert rows(by_manual) == rows(by_backfill) == [1, 2]
    assert by_manual["dataset"]["uri"] == by_backfill["dataset"]["uri"]  # the same partition, replaced
    assert by_manual["dataset"]["fingerprint"] == by_backfill["dataset"]["fingerprint"]


def test_interval_mode_reads_exactly_the_runs_interval(db, tmp_path) -> None:
    op = SqlIngestOperator(
        task_id="ingest", conn_id="src_db", table="events", storage_root=tmp_path.as_uri(),
        incremental={"mode": "interval", "column": "ts"},
    )  # fmt: skip
    assert rows(op.execute(context(1))) == [1, 2]
    assert rows(op.execute(context(2))) == [3]
    assert rows(op.execute(context(3))) == []


def test_watermark_advances_only_when_committed(db, tmp_path) -> None:
    def ingest(day: int) -> dict:
        return SqlIngestOperator(
            task_id="ingest", conn_id="src_db", table="events", storage_root=tmp_path.as_uri(),
            incremental={"mode": "watermark", "column": "id"},
        ).execute(context(day))  # fmt: skip

    first = ingest(1)
    assert rows(first) == [1, 2, 3]
    assert first["watermark"]["value"] is not None
    # the run failed after ingest (no commit): the next run reads the same rows again
    assert rows(ingest(2)) == [1, 2, 3]
    CommitWatermarkOperator(task_id="commit", ingest_result=ingest(3)).execute(context(3))
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO events VALUES (4, '2026-10-04 00:00:00.000000', 4.5, 'd')")
    fourth = ingest(4)
    assert rows(fourth) == [4]
    CommitWatermarkOperator(task_id="commit", ingest_result=fourth).execute(context(4))
    fifth = ingest(5)
    assert rows(fifth) == []
    # nothing new: the mark stays where it was
    assert (
        CommitWatermarkOperator(task_id="commit", ingest_result=fifth).execute(context(5))
        == (fourth["watermark"]["value"])
    )


def test_query_values_are_bound_parameters(db, tmp_path) -> None:
    op = SqlIngestOperator(
        task_id="ingest", conn_id="src_db", storage_root=tmp_path.as_uri(),
        query="SELECT id, note FROM events WHERE note = :note", query_params={"note": "x'; DROP TABLE events; --"},
    )  # fmt: skip
    assert rows(op.execute(context(1))) == [3]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_unknown_column_fails_without_retry_and_names_it(db, tmp_path) -> None:
    op = SqlIngestOperator(
        task_id="ingest", conn_id="src_db", table="events", columns=["id", "amout"], storage_root=tmp_path.as_uri()
    )
    with pytest.raises(AirflowFailException, match="amout"):
        op.execute(context(1))


def test_configuration_checks() -> None:
    with pytest.raises(AirflowFailException, match="exactly one of table and query"):
        SqlIngestOperator(task_id="i", conn_id="x", table="t", query="select 1").execute(context(1))
    with pytest.raises(AirflowFailException, match=r"incremental\.mode"):
        SqlIngestOperator(task_id="i", conn_id="x", table="t", incremental={"mode": "daily"}).execute(context(1))


SERVERS = {
    "postgres": {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"},
    "mysql": {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"},
}


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_connection_types_map_to_real_servers(kind: str, tmp_path, monkeypatch) -> None:
    import sqlalchemy as sa

    from dataframe_pipeline.ingest.connections import sql_url
    from tests.conftest import require_service

    monkeypatch.setenv("AIRFLOW_CONN_SRV_DB", json.dumps({**SERVERS[kind], "password": None}))
    engine = sa.create_engine(sql_url("srv_db"))
    try:
        with engine.connect() as probe:
            probe.execute(sa.text("SELECT 1"))
        reachable, reason = True, ""
    except sa.exc.OperationalError as err:
        reachable, reason = False, f"{kind} on 127.0.0.1 not reachable: {err.orig}"
    require_service(reachable, reason)
    table = f"ops_events_{kind}"
    with engine.begin() as con:
        con.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        con.execute(sa.text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, ts TIMESTAMP NULL)"))
        con.execute(sa.text(f"INSERT INTO {table} VALUES (1, '2026-10-01 08:00:00'), (2, '2026-10-02 08:00:00')"))
    try:
        op = SqlIngestOperator(
            task_id="ingest", conn_id="srv_db", table=table, storage_root=tmp_path.as_uri(),
            incremental={"mode": "interval", "column": "ts"},
        )  # fmt: skip
        assert rows(op.execute(context(1))) == [1]
        assert rows(op.execute(context(2))) == [2]
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
