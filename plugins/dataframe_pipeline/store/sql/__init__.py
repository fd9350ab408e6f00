"""The SQL warehouse sink: batches loaded into a table in one transaction (``sink.py``), the column
types per dialect (``types.py``), what differs between PostgreSQL, MariaDB and SQLite (``dialects.py``),
and the inputs a load reads (``inputs.py``). Pure: no Airflow."""

from __future__ import annotations

from dataframe_pipeline.store.sql.sink import MODES, ShapedSink, SqlTableSink, check_sink_config, select_columns

__all__ = ["MODES", "ShapedSink", "SqlTableSink", "check_sink_config", "select_columns"]
