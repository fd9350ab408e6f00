"""What differs between PostgreSQL, MariaDB and SQLite in a load: session settings, the bulk path (COPY
on PostgreSQL with psycopg 3, ``executemany`` in chunks elsewhere), staging tables and the merge
statement of an upsert. Pure: no Airflow.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dataframe_pipeline.store.sql.types import dialect_family

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

#: MariaDB session mode of a load: a value that does not fit is an error, never cut or clamped
MYSQL_SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"


def ensure_database(engine: sa.Engine) -> None:
    """A SQLite warehouse file's folder is created (the embedded default, ``data/warehouse.db``, lives
    in a folder that a fresh checkout does not have); server databases must exist already."""
    from pathlib import Path

    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def prepare_session(conn: sa.Connection) -> None:
    """Session settings of a load, before its transaction starts."""
    if dialect_family(conn.dialect.name) == "mysql":
        conn.exec_driver_sql(f"SET SESSION sql_mode = '{MYSQL_SQL_MODE}'")
        conn.exec_driver_sql("SET SESSION time_zone = '+00:00'")
        conn.commit()  # ends SQLAlchemy's autobegun transaction; the load's own begins after


#: how long a load waits for another load of the same partition to finish (MariaDB's GET_LOCK)
LOCK_TIMEOUT_SECONDS = 600


def _lock_name(name: str) -> str:
    import hashlib

    return "dfp_" + hashlib.sha256(name.encode()).hexdigest()[:40]


def lock_load(conn: sa.Connection, name: str) -> None:
    """Serialise loads of one partition (or key space): two attempts running at once would otherwise
    each delete before the other inserts, and both copies would stay. PostgreSQL: a transaction-level
    advisory lock; MariaDB: a named lock released by :func:`unlock_load`; SQLite serialises writers."""
    family = dialect_family(conn.dialect.name)
    if family == "postgresql":
        key = int(_lock_name(name)[4:20], 16) - 2**63  # a signed 64-bit key
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif family == "mysql":
        got = conn.execute(
            sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": _lock_name(name), "timeout": LOCK_TIMEOUT_SECONDS}
        ).scalar()
        if got != 1:
            raise TimeoutError(f"another load of {name} held its lock for {LOCK_TIMEOUT_SECONDS}s")


def unlock_load(conn: sa.Connection, name: str) -> None:
    """Release MariaDB's named lock (the connection goes back to the pool, the lock would stay)."""
    if dialect_family(conn.dialect.name) == "mysql":
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _lock_name(name)})


def uses_copy(conn: sa.Connection) -> bool:
    """PostgreSQL through psycopg 3: rows go in with ``COPY ... FROM STDIN``."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def qualified(conn: sa.Connection, table: sa.Table) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return ".".join(quote(part) for part in (table.schema, table.name) if part)


def copy_rows(conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: Sequence[tuple]) -> None:
    """``COPY`` the rows into the table on the connection's own transaction (psycopg 3)."""
    quote = conn.dialect.identifier_preparer.quote
    sql = f"COPY {qualified(conn, table)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    import psycopg

    raw = conn.connection.dbapi_connection
    if raw is None:
        raise RuntimeError("COPY needs an open DBAPI connection")
    cursor = raw.cursor()
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.IntegrityError as err:  # as SQLAlchemy's executemany path would raise them
        raise sa.exc.IntegrityError(sql, None, err) from err
    except psycopg.DataError as err:
        raise sa.exc.DataError(sql, None, err) from err
    finally:
        cursor.close()


def insert_rows(conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert the rows with one ``executemany`` (SQLAlchemy batches them into multi-row inserts)."""
    conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])


def staging_table(conn: sa.Connection, target: sa.Table, suffix: str) -> sa.Table:
    """A temporary table with the target's columns (no keys, so duplicates can be reported), created
    inside the load's transaction (a temporary table commits nothing on MariaDB either)."""
    schema = target.schema if dialect_family(conn.dialect.name) == "mysql" else None
    staging = sa.Table(
        f"_stage_{target.name}_{suffix}"[:60],
        sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in target.columns),
        schema=schema,
        prefixes=["TEMPORARY"],
    )
    staging.create(conn)
    return staging


def drop_staging(conn: sa.Connection, staging: sa.Table) -> None:
    # a plain DROP TABLE would commit the load on MariaDB
    keyword = "DROP TEMPORARY TABLE" if dialect_family(conn.dialect.name) == "mysql" else "DROP TABLE"
    conn.exec_driver_sql(f"{keyword} {qualified(conn, staging)}")


def duplicate_keys(conn: sa.Connection, staging: sa.Table, key: Sequence[str], limit: int = 3) -> list[dict]:
    """Keys that occur more than once in the staged rows (an upsert could not say which row wins)."""
    columns = [staging.c[k] for k in key]
    query = (
        sa.select(*columns, sa.func.count().label("n"))
        .group_by(*columns)
        .having(sa.func.count() > 1)
        .order_by(*columns)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def merge_sql(conn: sa.Connection, target: sa.Table, staging: sa.Table, key: Sequence[str], *, update: bool) -> str:
    """``INSERT INTO target SELECT FROM staging`` updating (upsert) or keeping (append_new) existing keys."""
    quote = conn.dialect.identifier_preparer.quote
    names = [c.name for c in target.columns]
    cols = ", ".join(quote(n) for n in names)
    changed = [n for n in names if n not in key] if update else []
    # identifiers only, each checked by check_identifier and quoted by the dialect; values are never inlined
    head = f"INSERT INTO {qualified(conn, target)} ({cols}) SELECT {cols} FROM {qualified(conn, staging)}"  # noqa: S608
    if dialect_family(conn.dialect.name) == "mysql":
        # VALUES(c): the row that was to be inserted; "k = k" keeps the existing row
        keep = f"{qualified(conn, target)}.{quote(key[0])}"
        sets = [f"{quote(n)} = VALUES({quote(n)})" for n in changed] or [f"{keep} = {keep}"]
        return f"{head} ON DUPLICATE KEY UPDATE {', '.join(sets)}"
    conflict = ", ".join(quote(k) for k in key)
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in changed) if changed else "DO NOTHING"
    )
    where = " WHERE true" if conn.dialect.name == "sqlite" else ""  # SQLite: parse ON CONFLICT after a SELECT
    return f"{head}{where} ON CONFLICT ({conflict}) {action}"


def key_constraints(inspector: Any, table: str, schema: str | None) -> list[set[str]]:
    """The column sets of the table's primary key and unique constraints/indexes."""
    sets = []
    pk = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or []
    if pk:
        sets.append(set(pk))
    sets += [set(u["column_names"]) for u in inspector.get_unique_constraints(table, schema=schema)]
    sets += [set(i["column_names"]) for i in inspector.get_indexes(table, schema=schema) if i.get("unique")]
    return sets
