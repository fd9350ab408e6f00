"""plugins/airflow_local_settings.py: SQLite waits for the lock (WAL, busy timeout), and the one pathspec
deprecation every task logged is filtered, nothing else."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from sqlalchemy import text

import airflow_local_settings

pytestmark = pytest.mark.unit


def test_sqlite_connections_use_wal_and_wait_for_the_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    engine = airflow_local_settings.create_metadata_engine(f"sqlite:///{db}", engine_args={}, connect_args={})
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 60_000
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.commit()

    # another process' writer holds the lock for 6 s (longer than sqlite3's default 5 s wait)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    threading.Timer(6, holder.execute, args=("COMMIT",)).start()
    t0 = time.monotonic()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert time.monotonic() - t0 >= 5
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    holder.close()
    engine.dispose()


def test_only_the_gitwildmatch_deprecation_is_filtered() -> None:
    from pathspec.patterns import GitWildMatchPattern

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        # run the module again (its filter is set at import); other tests may have dropped it from sys.modules
        sys.modules.pop("airflow_local_settings", None)
        importlib.import_module("airflow_local_settings")
        GitWildMatchPattern("dataframe_pipeline/")
        warnings.warn("another deprecation", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another deprecation"]
