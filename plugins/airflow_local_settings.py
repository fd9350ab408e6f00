"""Process-wide settings Airflow imports at start-up in every component, task and CLI process
(``airflow.settings.initialize`` imports ``airflow_local_settings`` from the plugins folder, which it puts
on ``sys.path``: the astro layout's place for it).

Two things, both for the embedded default and neither a change of Airflow's behaviour elsewhere:

* **SQLite waits instead of failing.** With the metadata database in one SQLite file, the CLI (``airflow
  backfill create``, ``airflow dags trigger``) writes while the scheduler, dag-processor, triggerer and
  api-server write too; SQLite's default (journal mode DELETE, 5 s busy wait) made such a command fail
  with ``sqlite3.OperationalError: database is locked``. Every SQLite connection here uses WAL (readers
  never block the writer) and waits up to ``SQLITE_BUSY_TIMEOUT_S`` (60 s) for the write lock. Other
  databases are untouched.
* **One deprecation less in every task log.** Airflow 3.3 compiles ``.airflowignore`` glob patterns with
  pathspec's ``GitWildMatchPattern``, deprecated since pathspec 1.0, so every process that walks the
  plugins folder (``plugins/.airflowignore``) logged it. Nothing a user can act on; the filter matches
  that one message only (Airflow's own deprecation warnings still show).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

__all__ = ["create_metadata_engine"]

warnings.filterwarnings(
    "ignore", message=r"GitWildMatchPattern \('gitwildmatch'\) is deprecated", category=DeprecationWarning
)


def sqlite_busy_timeout() -> float:
    return float(os.environ.get("SQLITE_BUSY_TIMEOUT_S", "60"))


def create_metadata_engine(sql_alchemy_conn: str, *, engine_args: dict[str, Any], connect_args: dict[str, Any]):
    """Airflow's metadata engine (``airflow.settings.create_metadata_engine``, overridable here), with WAL
    and a busy timeout when the database is SQLite."""
    from sqlalchemy import create_engine, event

    sqlite = sql_alchemy_conn.startswith("sqlite")
    if sqlite:
        connect_args = {**connect_args, "timeout": sqlite_busy_timeout()}
    engine = create_engine(sql_alchemy_conn, connect_args=connect_args, **engine_args, future=True)
    if sqlite:
        timeout_ms = int(sqlite_busy_timeout() * 1000)

        @event.listens_for(engine, "connect")
        def _wal_and_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            cursor.close()

    return engine
