"""Load a step's batches into a warehouse table in one transaction: :class:`SqlTableSink`. Pure: no Airflow.

Modes:

- ``replace_partition``: ``DELETE`` the rows whose partition columns hold the partition's values, then
  insert the batches, in the same transaction: a re-run of a partition replaces it (one copy).
- ``upsert``: stage the batches in a temporary table, then ``INSERT .. SELECT`` into the table, updating
  the rows whose key exists (PostgreSQL and SQLite ``ON CONFLICT (key) DO UPDATE``, MariaDB ``ON DUPLICATE
  KEY UPDATE``). A key staged twice is refused: there is no saying which row should win.
- ``append_new``: as upsert, but rows whose key exists are left as they are.

Every batch goes in on one connection inside one transaction, committed by :meth:`SqlTableSink.commit`:
readers see the old rows or the new ones, a failure (or a killed worker, whose connection the server
drops) rolls everything back. Rows are sent as they arrive (COPY on PostgreSQL with psycopg 3, chunked
``executemany`` elsewhere), so memory holds one batch, not the load.

The table is checked (or created with ``create=True``) before the transaction starts, because DDL
commits implicitly on MariaDB; types and checks: ``store/sql/types.py``. A partition column the data
lacks is added with the partition's value (an ISO date becomes a DATE column); one the data has must hold
that value on every row, or a re-run could not find the rows it loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from dataframe_pipeline.core.dataset import DatasetRef, schema_to_columns, to_arrow
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.store.sql import dialects
from dataframe_pipeline.store.sql.types import check_fits, expected_columns, python_columns, table_difference

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import pandas as pd

log = logging.getLogger(__name__)

MODES = ("replace_partition", "upsert", "append_new")
KEYED_MODES = ("upsert", "append_new")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_identifier(field: str, value: object) -> None:
    """A table, schema or column name: letters, digits and underscores (quoted anyway, never interpolated raw)."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ConfigurationError(field, value, "must be an identifier (letters, digits, _; at most 63)")


def check_sink_config(table: object, schema: object, mode: object, key: object, partition: object) -> None:
    """The sink's configuration, checked before anything connects (shared with the operator)."""
    check_identifier("table", table)
    if schema is not None:
        check_identifier("schema", schema)
    if mode not in MODES:
        raise ConfigurationError("mode", mode, f"must be one of {list(MODES)}")
    if not isinstance(key, list | tuple) or isinstance(key, str):
        raise ConfigurationError("key", key, "must be a list of column names")
    for name in key:
        check_identifier("key", name)
    if len(set(key)) != len(key):
        raise ConfigurationError("key", key, "column names must be unique")
    if mode in KEYED_MODES and not key:
        raise ConfigurationError("key", key, f"mode {mode} needs the key columns it matches rows by")
    if not isinstance(partition, dict):
        raise ConfigurationError("partition", partition, "must be a mapping column -> value")
    for name in partition:
        check_identifier("partition", name)
    if mode == "replace_partition" and not partition:
        raise ConfigurationError("partition", partition, "replace_partition needs the partition it replaces")


def partition_value(value: Any) -> Any:
    """A partition's value as stored: an ISO date string is a date, anything else as given."""
    if isinstance(value, str) and ISO_DATE.match(value):
        return date.fromisoformat(value)
    return value


class SqlTableSink:
    """A step's output loaded into a SQL table (a :class:`~dataframe_pipeline.core.runner.Sink`).

    :param engine_or_url: a SQLAlchemy engine or URL (PostgreSQL with psycopg 3, MariaDB/MySQL with
        PyMySQL, SQLite).
    :param table: the table's name.
    :param schema: its schema (PostgreSQL) or database (MariaDB); None: the connection's default.
    :param mode: ``replace_partition``, ``upsert`` or ``append_new`` (see the module docstring).
    :param partition: column -> value of the partition the load replaces (``{"date": "2026-10-01"}``).
    :param key: the columns identifying a row (upsert, append_new; primary key of a created table).
    :param create: create the table from the data's schema if it does not exist.
    :param chunk_rows: rows per COPY / executemany call.
    :param source: the reference of the dataset loaded (recorded in the result's meta).
    """

    def __init__(
        self,
        engine_or_url: sa.Engine | str,
        table: str,
        *,
        schema: str | None = None,
        mode: str = "replace_partition",
        partition: Mapping[str, Any] | None = None,
        key: Sequence[str] = (),
        create: bool = False,
        chunk_rows: int = 10_000,
        source: DatasetRef | None = None,
    ) -> None:
        check_sink_config(table, schema, mode, list(key), dict(partition or {}))
        self._own_engine = isinstance(engine_or_url, str)
        self.engine = sa.create_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
        self.table_name, self.schema, self.mode = table, schema, mode
        self.partition = dict(partition or {})
        self.key = list(key)
        self.create = create
        self.chunk_rows = chunk_rows
        self.source = source
        self.dialect = self.engine.dialect.name
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None
        self._target: sa.Table | None = None
        self._staging: sa.Table | None = None
        self._arrow_schema: pa.Schema | None = None
        self._digest = hashlib.sha256()
        self._stats: dict[str, Any] = {"rows": 0, "deleted": 0, "created": False}
        self._started = time.perf_counter()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table_name}" if self.schema else self.table_name

    @property
    def _lock_name(self) -> str:
        where = ",".join(f"{k}={v}" for k, v in sorted(self.partition.items())) or "key"
        return f"{self.url}/{self.qualified_name}/{where}"

    @property
    def method(self) -> str:
        pg = self.dialect == "postgresql" and self.engine.dialect.driver == "psycopg"
        return "copy" if pg else "executemany"

    # -- the Sink protocol -----------------------------------------------------------------------

    def write(self, batch: pd.DataFrame | pa.Table) -> None:
        """Send one batch inside the load's transaction; on any error the load is rolled back at once."""
        try:
            self._write(batch)
        except BaseException:
            self.abort()
            raise

    def _write(self, batch: pd.DataFrame | pa.Table) -> None:
        table = self._with_partition(to_arrow(batch, None))
        if self._arrow_schema is None:
            self._arrow_schema = table.schema
            self._start(table.schema)
        elif table.schema.names != self._arrow_schema.names:
            raise DataContractError(
                f"batch columns {table.schema.names} differ from the first batch's {self._arrow_schema.names}"
            )
        elif not table.schema.equals(self._arrow_schema):
            table = table.cast(self._arrow_schema)  # e.g. an all-null batch typed null
        if table.num_rows:
            self._load(table)

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef:
        """Merge the staged rows (upsert), commit the transaction, return the table's reference."""
        try:
            if self._conn is None:
                self._start(None)
            if self._conn is not None and self._tx is not None:
                if self._staging is not None:
                    self._merge(self._staging)
                self._tx.commit()
        except BaseException:
            self.abort()
            raise
        self._close()
        self._stats["seconds"] = round(time.perf_counter() - self._started, 3)
        log.info(
            "loaded %d rows into %s (%s, %s by %s) in %.2fs",
            self._stats["rows"], self.qualified_name, self.dialect, self.mode, self.method, self._stats["seconds"],
        )  # fmt: skip
        return DatasetRef(
            uri=f"{self.url}/{self.qualified_name}",
            rows=self._stats["rows"],
            columns=schema_to_columns(self._arrow_schema) if self._arrow_schema is not None else {},
            fingerprint=self._digest.hexdigest(),
            meta={
                "table": self.qualified_name,
                "mode": self.mode,
                "partition": {k: str(v) for k, v in self.partition.items()},
                "source": self.source.as_dict() if self.source is not None else None,
                **{k: v for k, v in meta.items() if k == "step"},
            },
        )

    def abort(self) -> None:
        """Roll the load back (nothing of it is visible) and release the connection."""
        if self._tx is not None and self._tx.is_active:
            self._tx.rollback()
        self._close()

    def details(self) -> Mapping[str, Any]:
        return {
            "table": self.qualified_name,
            "rows": self._stats["rows"],
            "rows_deleted": self._stats["deleted"],
            "table_created": self._stats["created"],
            "mode": self.mode,
            "dialect": self.dialect,
            "method": self.method,
            "seconds": self._stats.get("seconds"),
        }

    @property
    def url(self) -> str:
        from dataframe_pipeline.ingest.sql.source import safe_url

        return safe_url(self.engine.url.render_as_string(hide_password=False))

    # -- the load --------------------------------------------------------------------------------

    def _with_partition(self, table: pa.Table) -> pa.Table:
        """Add the partition columns the data lacks; check the ones it has hold the partition's value."""
        for name, value in self.partition.items():
            if name not in table.column_names:
                stored = partition_value(value)
                kind = pa.date32() if isinstance(stored, date) else None
                table = table.append_column(name, pa.array([stored] * table.num_rows, type=kind))
                continue
            found = {str(v) for v in table.column(name).unique().to_pylist()}
            outside = sorted(v for v in found if v != str(value))
            if outside:
                raise DataContractError(
                    f"column {name!r} holds {outside[:3]} outside the partition {name}={value}: "
                    "a re-run of this partition would not replace those rows"
                )
        return table

    def _partition_condition(self, target: sa.Table) -> Any:
        """``col = value AND ...`` with each value as the column's type (a DATE column gets a date)."""
        terms = []
        for name, value in self.partition.items():
            column = target.c[name]
            if isinstance(column.type, sa.Date | sa.DateTime):
                bound = partition_value(value)
            elif isinstance(column.type, sa.Integer):
                bound = int(value)
            else:
                bound = str(value)
            terms.append(column == bound)
        return sa.and_(*terms)

    def _start(self, schema: pa.Schema | None) -> None:
        """Check or create the table, then open the load's connection and transaction."""
        target = self._prepare_table(schema)
        if target is None:
            log.info("%s does not exist and no batch came to create it from: nothing loaded", self.qualified_name)
            return
        self._target = target
        self._conn = self.engine.connect()
        dialects.prepare_session(self._conn)
        self._tx = self._conn.begin()
        dialects.lock_load(self._conn, self._lock_name)
        if self.mode == "replace_partition":
            condition = self._partition_condition(target)
            self._stats["deleted"] = self._conn.execute(sa.delete(target).where(condition)).rowcount
        else:
            self._staging = dialects.staging_table(self._conn, target, uuid.uuid4().hex[:8])

    def _prepare_table(self, schema: pa.Schema | None) -> sa.Table | None:
        keyed = [*self.key, *self.partition]
        dialects.ensure_database(self.engine)
        with self.engine.begin() as conn:
            inspector = sa.inspect(conn)
            exists = inspector.has_table(self.table_name, schema=self.schema)
            if not exists and schema is None:
                return None
            if not exists:
                if not self.create:
                    raise DataContractError(
                        f"table {self.qualified_name} does not exist in {self.url} (create=True creates it)"
                    )
                return self._create(conn, expected_columns(schema, self.dialect, keyed))
            target = sa.Table(self.table_name, sa.MetaData(), schema=self.schema, autoload_with=conn)
            if schema is not None:
                difference = table_difference(expected_columns(schema, self.dialect, keyed), target, self.dialect)
                if difference:
                    raise DataContractError(
                        f"table {self.qualified_name} does not match the data: " + "; ".join(difference)
                    )
            if self.mode in KEYED_MODES:
                self._check_key(inspector)
            return target

    def _create(self, conn: sa.Connection, columns: Mapping[str, sa.types.TypeEngine[Any]]) -> sa.Table:
        missing = [k for k in self.key if k not in columns]
        if missing:
            raise DataContractError(f"key column(s) {missing} are not in the data {list(columns)}")
        metadata = sa.MetaData()
        table = sa.Table(
            self.table_name,
            metadata,
            *(sa.Column(name, kind, primary_key=name in self.key, nullable=name not in self.key, autoincrement=False)
              for name, kind in columns.items()),
            schema=self.schema,
        )  # fmt: skip
        if self.partition:
            sa.Index(f"ix_{self.table_name}_partition"[:63], *(table.c[n] for n in self.partition))
        metadata.create_all(conn, checkfirst=True)  # two runs creating at once: the second finds it
        self._stats["created"] = True
        log.info("created table %s with columns %s", self.qualified_name, {n: str(t) for n, t in columns.items()})
        return table

    def _check_key(self, inspector: Any) -> None:
        if set(self.key) not in dialects.key_constraints(inspector, self.table_name, self.schema):
            raise DataContractError(
                f"table {self.qualified_name}: key {self.key} is not its primary key or a unique constraint, "
                f"so mode {self.mode} cannot match rows by it"
            )

    def _opened(self) -> tuple[sa.Connection, sa.Table]:
        """The load's connection and target table (set by ``_start``)."""
        if self._conn is None or self._target is None:
            raise RuntimeError(f"{self.qualified_name}: the load has not started")
        return self._conn, self._target

    def _load(self, table: pa.Table) -> None:
        conn, target_table = self._opened()
        target = self._staging if self._staging is not None else target_table
        check_fits(table, target_table, self.dialect, self._stats["rows"])
        names = table.column_names
        send = dialects.copy_rows if self.method == "copy" else dialects.insert_rows
        for start in range(0, table.num_rows, self.chunk_rows):
            chunk = table.slice(start, self.chunk_rows)
            rows = list(zip(*python_columns(chunk, self.dialect), strict=True))
            try:
                send(conn, target, names, rows)
            except (sa.exc.IntegrityError, sa.exc.DataError) as err:
                raise DataContractError(
                    f"{self.qualified_name} refused rows {self._stats['rows'] + start}-"
                    f"{self._stats['rows'] + start + chunk.num_rows - 1}: {_db_message(err)}"
                ) from err
        self._digest.update(_batch_digest(table))
        self._stats["rows"] += table.num_rows

    def _merge(self, staging: sa.Table) -> None:
        conn, target = self._opened()
        duplicates = dialects.duplicate_keys(conn, staging, self.key)
        if duplicates:
            raise DataContractError(
                f"{self.qualified_name}: key {self.key} occurs more than once in this load, e.g. {duplicates} "
                "(deduplicate before an upsert: which row should win?)"
            )
        sql = dialects.merge_sql(conn, target, staging, self.key, update=self.mode == "upsert")
        conn.exec_driver_sql(sql)
        dialects.drop_staging(conn, staging)

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):  # a dropped connection holds no lock any more
                dialects.unlock_load(self._conn, self._lock_name)
                self._conn.commit()
            self._conn.close()
            self._conn = None
        self._tx = None
        if self._own_engine:
            self.engine.dispose()


def select_columns(frame: pd.DataFrame, columns: Sequence[str] | Mapping[str, str]) -> pd.DataFrame:
    """The ``columns`` of a batch, in that order; a mapping renames (``{"amount": "amount_eur"}``)."""
    names = list(columns)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataContractError(f"columns {missing} are not in the data {list(frame.columns)}")
    out = frame[names]
    return out.rename(columns=dict(columns)) if isinstance(columns, dict) else out


class ShapedSink:
    """A sink whose batches are reshaped before loading (a column selection, a star-schema table).

    :param inner: the sink the shaped rows go to.
    :param shape: batch -> the rows to load.
    :param distinct_key: keep the shaped rows one per key over the whole load (the last seen wins) and
        send them at commit: a dimension, whose memory grows with its distinct keys, not with the rows.
    :param name: what shaped the rows (in the details).
    """

    def __init__(
        self,
        inner: SqlTableSink,
        shape: Callable[[pd.DataFrame], pd.DataFrame],
        *,
        distinct_key: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.inner, self.shape, self.name = inner, shape, name
        self.distinct_key = list(distinct_key) if distinct_key else None
        self._rows: pd.DataFrame | None = None

    def write(self, batch: pd.DataFrame) -> None:
        import pandas as pd

        frame = self.shape(batch)
        if self.distinct_key is None:
            self.inner.write(frame)
            return
        both = frame if self._rows is None else pd.concat([self._rows, frame], ignore_index=True)
        self._rows = both.drop_duplicates(subset=self.distinct_key, keep="last")

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef:
        if self._rows is not None:
            self.inner.write(self._rows.reset_index(drop=True))
        return self.inner.commit(meta)

    def abort(self) -> None:
        self.inner.abort()

    def details(self) -> Mapping[str, Any]:
        return {**self.inner.details(), "shaped_by": self.name}


def _db_message(err: sa.exc.DBAPIError) -> str:
    return str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)


def _batch_digest(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).digest()
