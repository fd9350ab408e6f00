"""Streaming SQL source through SQLAlchemy: a table or a query, read in batches, with incremental modes.

:class:`SqlReader` streams a :class:`SqlSource` as :class:`~dataframe_pipeline.ingest.base.SourceBatch`
objects of at most ``batch_rows`` rows, using a server-side cursor (``stream_results`` with
``yield_per``: a psycopg named cursor on PostgreSQL, an unbuffered ``SSCursor`` on MySQL/MariaDB,
SQLite's own lazy stepping), so memory is bounded by one batch whatever the table's size.

**Table mode** checks every identifier (schema, table, columns, order_by, incremental column) against
the database's catalogue and builds the ``SELECT`` with SQLAlchemy Core. **Query mode** runs the
caller's SQL as ``text(query)`` wrapped in a subquery; values reach the database as bound parameters
(``params``), never by string formatting. A trailing ``;`` is not allowed (the query is a subquery).

**Incremental reads** (:class:`Incremental`):

``interval``   ``start <= column < end`` (the DAG run's data interval), so a backfill of an interval
               reloads exactly that interval.
``watermark``  ``column > after`` (every non-null row when ``after`` is None), ordered by the column;
               :attr:`ReadStats.max_value` is the new high-water mark candidate, which the caller
               saves (:class:`WatermarkStore`) only after the store step committed. Rows arriving later
               with a value ``<=`` the saved mark are never read: use a strictly increasing column.

Rows whose incremental column is NULL belong to no interval and are never above a watermark.
Bounds given as ISO strings (Airflow templates render strings) are converted to the column's type;
naive database timestamps are taken to be UTC.

**Transient errors** (connection refused or lost, server restart) are retried up to ``max_retries``
times with exponential backoff. A connection lost in the middle of a read resumes after the last key
emitted when the read is ordered by a unique key: ``order_by`` or the watermark column when the
catalogue shows them unique, else extended with the primary key (table mode), or ``order_by`` as
declared by the caller (query mode: it must be a unique key of the result). Otherwise
:class:`TransientSourceError` is raised for the whole task to be retried (its output is rewritten
atomically, so that cannot duplicate rows).

A resumed read sees the rows committed by then: rows changed meanwhile ahead of the last key are
read as they are now, like in any read not run in one snapshot.

**Types**: integers -> int64, floats and exact numerics -> float64, booleans -> bool, dates ->
date32, timestamps -> timestamp[us] (``timestamp[us, UTC]`` for time-zone-aware columns), intervals
(and MySQL's TIME) -> duration[us], binary -> binary, everything else (text, UUID, JSON, enums) ->
string. Table mode takes the types from the catalogue; query mode from the result description on
PostgreSQL and MySQL, and on SQLite (no result types) from the first batch's values: the first batch
fixes the schema of the whole read (an all-NULL column there becomes string). A row with a value
that does not fit its column's type (SQLite is dynamically typed: ``'abc'`` in an INTEGER column,
``3.5`` in an int64 column, an integer beyond ``2**53`` in a double one) is quarantined the way
every source rejects a record (:mod:`dataframe_pipeline.ingest.records`): rule ``type_mismatch``,
a reason naming the column and the value, the row as a JSON object in ``_raw_line``.

Provenance: ``_source_file`` is ``<url without secrets>/<schema.table>`` (or ``.../query``) and
``_source_line`` the 1-based row number in the result, continuing across batches and resumptions.
"""

from __future__ import annotations
