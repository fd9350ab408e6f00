"""Write a DataFrame to a database table in one transaction (demo data, test fixtures)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.sql.source import _check_int, _check_url, safe_url

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def load_dataframe(
    url: str,
    table: str,
    df: pd.DataFrame,
    if_exists: str = "replace",
    chunksize: int = 10_000,
    *,
    schema: str | None = None,
) -> int:
    """Write a DataFrame to a database table in one transaction (demo data, test fixtures).

    ``replace`` drops and recreates the table (atomically where DDL is transactional: PostgreSQL,
    SQLite; MySQL commits DDL at once). The index is not written.

    :param url: SQLAlchemy URL.
    :param table: table name.
    :param df: the rows.
    :param if_exists: ``"replace"``, ``"append"`` or ``"fail"``.
    :param chunksize: rows per INSERT round trip.
    :param schema: the table's schema; the connection's default when None.
    :returns: the number of rows written.
    """
    _check_url(url)
    if if_exists not in ("replace", "append", "fail"):
        raise ConfigurationError("if_exists", if_exists, "must be 'replace', 'append' or 'fail'")
    _check_int("chunksize", chunksize, 1)
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.begin() as conn:
            df.to_sql(table, conn, schema=schema, if_exists=if_exists, index=False, chunksize=chunksize)
    finally:
        engine.dispose()
    logger.info("loaded %d rows into %s/%s", len(df), safe_url(url), table)
    return len(df)
