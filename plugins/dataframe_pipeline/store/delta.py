"""Publish a run's rows as one partition of a Delta Lake table (delta-rs), with a manifest in the commit.

Layout (any Delta reader: delta-rs, DuckDB's ``delta_scan``, Spark, Polars)::

    <curated root>/<dataset>/_delta_log/00000000000000000000.json   the transaction log: versions
                            /date=2026-10-28/split=train/part-...zstd.parquet

- **Partitions.** The run's partition columns (``date``, ``date``/``hour_utc``) are added to every row
  as string columns, then the ``subpartition_by`` columns (``split``) follow. A run replaces exactly its
  partition: ``mode="overwrite"`` with the predicate ``date = '2026-10-28'``; rows of other partitions
  are never touched and a re-run never appends duplicates.
- **Atomic.** Data files are written first; one commit to ``_delta_log`` makes them visible. A writer
  killed before its commit leaves files no version names: readers never see them (``vacuum`` removes them).
- **Optimistic concurrency.** Two writers of one partition: one commits, the other gets delta-rs's
  ``CommitFailedError``. The loser looks at what won: the same run with the same input (another attempt
  of the same task) means the data is published once, and the loser reports that version; anything else
  is retried on the new version (``max_retries`` times, re-reading the input with ``replay``).
- **Schema contract.** The first commit fixes the table's schema; a partition whose columns or types
  differ is refused (:class:`~dataframe_pipeline.exceptions.DataContractError`) before a file is
  written, with the added, missing and retyped columns named.
- **Manifest.** Each commit's metadata holds ``run_id``, ``attempt`` and ``manifest`` (inputs with
  fingerprints, code version, configuration and its hash, fitted artifacts, rows, validation): see
  :func:`dataframe_pipeline.store.tables.history`.
- **Bounded memory.** Batches are streamed to delta-rs through a ``RecordBatchReader`` fed by a small
  queue, so the writer holds a few batches and its open files, never the dataset.

Pure: no Airflow import.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataframe_pipeline.core.dataset import DatasetRef, schema_to_columns, to_arrow
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import pandas as pd

log = logging.getLogger(__name__)

#: Parquet codecs of the curated files (delta-rs's names, lower case)
CODECS = ("zstd", "snappy", "lz4", "gzip", "brotli", "uncompressed")
#: custom commit-metadata keys written by the publisher
MANIFEST_KEY, RUN_KEY, ATTEMPT_KEY = "manifest", "run_id", "attempt"
_DONE = object()


def delta_type(field: Any) -> str:
    """A Delta field's type as a short name (``long``, ``string``, ``timestamp``, ``array<integer>``)."""
    kind = field.type
    name = getattr(kind, "type", None)
    if isinstance(name, str) and type(kind).__name__ == "PrimitiveType":
        return name
    return repr(kind)


def schema_difference(table: Mapping[str, str], data: Mapping[str, str]) -> str:
    """The difference between a table's columns and a partition's (name -> Delta type), in words; ``""``
    when they agree (order ignored: Delta matches columns by name)."""
    added = [f"{name} ({data[name]})" for name in data if name not in table]
    missing = [f"{name} ({table[name]})" for name in table if name not in data]
    retyped = [
        f"{name} (table {table[name]}, data {data[name]})"
        for name in data
        if name in table and table[name] != data[name]
    ]
    named = (("added", added), ("missing", missing), ("retyped", retyped))
    parts = [f"{label}: {', '.join(items)}" for label, items in named if items]
    return "; ".join(parts)


def delta_columns(schema: Any) -> dict[str, str]:
    """Column name -> Delta type of a delta-rs ``Schema`` or of an Arrow schema (as Delta would store it)."""
    from deltalake import Schema

    if isinstance(schema, pa.Schema):
        schema = Schema.from_arrow(schema)
    return {field.name: delta_type(field) for field in schema.fields}


def partition_predicate(values: Mapping[str, str]) -> str:
    """The SQL predicate of one partition: ``date = '2026-10-28' AND hour_utc = '03'``."""
    return " AND ".join(f"{name} = '{str(value).replace(chr(39), chr(39) * 2)}'" for name, value in values.items())


def _delta_field(field: pa.Field) -> pa.Field:
    if pa.types.is_dictionary(field.type):
        return _delta_field(pa.field(field.name, field.type.value_type, field.nullable))
    if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
        return pa.field(field.name, pa.timestamp("us", field.type.tz), field.nullable)
    return field


def decoded(table: pa.Table) -> pa.Table:
    """The batch in the types a Delta table stores: dictionary-encoded columns (pandas categoricals) as
    their values (Delta has no dictionary type, and delta-rs cannot partition by one), nanosecond
    timestamps (pandas) as microseconds, Delta's timestamp unit. The cast is a safe one: a value with
    sub-microsecond digits fails instead of being truncated."""
    schema = pa.schema([_delta_field(f) for f in table.schema], metadata=table.schema.metadata)
    if schema.equals(table.schema):
        return table
    try:
        return table.cast(schema)
    except pa.ArrowInvalid as err:
        raise DataContractError(f"the data does not fit Delta's types (microsecond timestamps): {err}") from err


def _check_partition(partition: Mapping[str, str], subpartition_by: Sequence[str]) -> None:
    if not partition:
        raise ConfigurationError("partition", dict(partition), "at least one partition column is needed")
    for name, value in partition.items():
        if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
            raise ConfigurationError("partition", dict(partition), f"value {value!r} of {name!r} cannot be a directory")
    both = sorted(set(partition).intersection(subpartition_by))
    if both:
        raise ConfigurationError("subpartition_by", list(subpartition_by), f"{both} is already a run partition column")


class _BatchFeed:
    """A ``RecordBatchReader`` fed from another thread through a bounded queue (``depth`` batches)."""

    def __init__(self, schema: pa.Schema, depth: int, expected_rows: int | None) -> None:
        self.schema = schema
        self.items: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.expected_rows = expected_rows
        self.rows = 0
        #: the error the feed raised to stop the writer (delta-rs hands it back wrapped in a DeltaError)
        self.failure: BaseException | None = None

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self.items.get()
            if item is _DONE:
                if self.expected_rows is not None and self.rows != self.expected_rows:
                    # never commit a partial partition: failing here leaves the commit unmade
                    self.failure = DataContractError(f"received {self.rows} rows, the input has {self.expected_rows}")
                    raise self.failure
                return
            if isinstance(item, BaseException):
                self.failure = item
                raise item
            self.rows += item.num_rows
            yield item

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())


class DeltaPublisher:
    """The store step's output: a run's rows published as one partition of a Delta table (a
    :class:`~dataframe_pipeline.core.runner.Sink`).

    :param table_uri: the table as delta-rs opens it (a local path, ``s3://bucket/prefix``, ...).
    :param partition: the run's partition, e.g. ``{"date": "2026-10-28"}`` (added to every row).
    :param subpartition_by: data columns that partition the table further (``["split"]``).
    :param manifest: the commit's manifest (``run_id`` and ``input_fingerprint`` are used to recognise
        a concurrent attempt of the same run); ``rows`` and ``partition`` are added.
    :param expected_rows: rows the input holds; a different count refuses the commit. None: unchecked.
    :param replay: re-reads the input (Arrow tables or DataFrames) for a retry after losing a commit race
        to another run; None: such a loss fails.
    :param storage_options: delta-rs storage options (credentials, endpoint).
    :param compression: Parquet codec of the data files.
    :param target_file_size: bytes per data file (delta-rs default: about 100 MB).
    :param max_retries: commits retried after losing a race to a different run.
    :param shown_uri: the table's URI in results and logs (with the Airflow connection id).
    """

    def __init__(
        self,
        table_uri: str,
        partition: Mapping[str, str],
        *,
        subpartition_by: Sequence[str] = (),
        manifest: Mapping[str, Any] | None = None,
        expected_rows: int | None = None,
        replay: Callable[[], Iterable[Any]] | None = None,
        storage_options: Mapping[str, str] | None = None,
        compression: str = "zstd",
        target_file_size: int | None = None,
        max_retries: int = 3,
        queue_depth: int = 2,
        shown_uri: str | None = None,
    ) -> None:
        _check_partition(partition, subpartition_by)
        if compression not in CODECS:
            raise ConfigurationError("compression", compression, f"must be one of {list(CODECS)}")
        if target_file_size is not None and (isinstance(target_file_size, bool) or target_file_size < 1):
            raise ConfigurationError("target_file_size", target_file_size, "must be a positive number of bytes")
        self.table_uri = table_uri
        self.partition = {str(k): str(v) for k, v in partition.items()}
        self.subpartition_by = list(subpartition_by)
        self.manifest = dict(manifest or {})
        self.expected_rows = expected_rows
        self.replay = replay
        self.storage_options = dict(storage_options or {})
        self.compression = compression
        self.target_file_size = target_file_size
        self.max_retries = max_retries
        self.queue_depth = queue_depth
        self.shown_uri = shown_uri or table_uri
        self.attempt = uuid.uuid4().hex
        self._data_schema: pa.Schema | None = None  # the input's columns, fixed by the first batch
        self._feed: _BatchFeed | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._start_version: int | None = None
        self._published: dict[str, Any] = {}
        #: whether this writer lost a commit race (then: published by the same run, or retried)
        self.lost_race = False

    # -- the table ------------------------------------------------------------------------------

    def _table(self, version: int | None = None) -> Any:
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(self.table_uri, storage_options=self.storage_options):
            return None
        return DeltaTable(self.table_uri, version=version, storage_options=self.storage_options)

    def _prepare(self, data: pa.Table) -> pa.Table:
        """The rows as the table holds them: the data columns, then the run's partition columns."""
        for name, value in self.partition.items():
            data = data.append_column(pa.field(name, pa.string()), pa.repeat(pa.scalar(value, pa.string()), len(data)))
        return data

    def _schema(self) -> pa.Schema:
        """The input's columns (fixed by the first batch)."""
        if self._data_schema is None:
            raise RuntimeError(f"{self.shown_uri}: no batch was written yet")
        return self._data_schema

    def _started(self) -> tuple[_BatchFeed, threading.Thread]:
        """The writer's feed and thread (set by ``_start``)."""
        if self._feed is None or self._thread is None:
            raise RuntimeError(f"{self.shown_uri}: the Delta writer has not started")
        return self._feed, self._thread

    def _check_contract(self, schema: pa.Schema) -> None:
        clash = sorted(set(self.partition).intersection(self._schema().names))
        if clash:
            raise DataContractError(
                f"the data has column(s) {clash} named like the partition columns {list(self.partition)}; "
                "rename them before publishing (clean's rename_columns)"
            )
        missing = [c for c in self.subpartition_by if c not in self._schema().names]
        if missing:
            raise DataContractError(f"subpartition column(s) {missing} are not in the data")
        table = self._table()
        self._start_version = None if table is None else table.version()
        if table is None:
            return
        difference = schema_difference(delta_columns(table.schema()), delta_columns(schema))
        if difference:
            raise DataContractError(
                f"the partition {self.partition} does not match the schema of table {self.shown_uri}: {difference}. "
                "A published table has one schema: fix the upstream steps, or publish a new table"
            )
        expected = [*self.partition, *self.subpartition_by]
        if list(table.metadata().partition_columns) != expected:
            raise DataContractError(
                f"table {self.shown_uri} is partitioned by {table.metadata().partition_columns}, this run by {expected}"
            )

    # -- the Sink -------------------------------------------------------------------------------

    def write(self, batch: pd.DataFrame | pa.Table | pa.RecordBatch) -> None:
        data = to_arrow(batch, self._data_schema)
        if self._data_schema is None and data.num_rows == 0:
            return  # the types of a batch without rows may be guesses (pandas): the first rows decide
        if self._data_schema is None:
            data = decoded(data)
            self._data_schema = data.schema
            rows = self._prepare(data)
            self._check_contract(rows.schema)  # before any file is written
            self._start(rows.schema)
        else:
            rows = self._prepare(data)
        for record_batch in rows.to_batches():
            self._put(record_batch)

    def _put(self, item: Any) -> None:
        feed, thread = self._started()
        while True:
            if self._error is not None or not thread.is_alive():
                thread.join()
                raise self._error or RuntimeError("the Delta writer stopped before the end of the input")
            try:
                feed.items.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _start(self, schema: pa.Schema) -> None:
        feed = self._feed = _BatchFeed(schema, self.queue_depth, self.expected_rows)

        def run() -> None:
            try:
                self._write(feed.reader())
            except BaseException as err:  # handed to the caller's thread in commit()
                self._error = feed.failure or err

        self._thread = threading.Thread(target=run, name="delta-writer", daemon=True)
        self._thread.start()

    def _commit_properties(self) -> Any:
        from deltalake import CommitProperties

        manifest = {**self.manifest, "partition": self.partition, "rows": self.expected_rows}
        metadata = {RUN_KEY: manifest.get("run_id"), ATTEMPT_KEY: self.attempt, MANIFEST_KEY: manifest}
        return CommitProperties(custom_metadata=metadata)

    def _write(self, data: Any) -> None:
        from deltalake import WriterProperties, write_deltalake

        write_deltalake(
            self.table_uri,
            data,
            partition_by=[*self.partition, *self.subpartition_by],
            mode="overwrite",
            predicate=partition_predicate(self.partition),
            storage_options=self.storage_options or None,
            target_file_size=self.target_file_size,
            writer_properties=WriterProperties(compression=self.compression.upper()),  # type: ignore[arg-type]  # checked in __init__
            commit_properties=self._commit_properties(),
        )

    def commit(self, meta: Mapping[str, Any] | None = None) -> DatasetRef:
        """Finish the write and commit; resolve a lost commit race (see the module docstring)."""
        from deltalake.exceptions import CommitFailedError

        if self._thread is None:
            self._publish_empty()
        else:
            with contextlib.suppress(Exception):  # a writer that stopped early left its error in _error
                self._put(_DONE)
            self._thread.join()
        error, self._error = self._error, None
        if isinstance(error, CommitFailedError):
            self._after_lost_race(error)
        elif error is not None:
            raise error
        version = self._published["version"] if "version" in self._published else self._find_own_version()
        self._published = self._describe(version)
        log.info("published %d rows to %s version %d", self._published["rows"], self.shown_uri, version)
        return DatasetRef(
            uri=self.curated_uri,
            rows=self._published["rows"],
            columns=schema_to_columns(self._data_schema) if self._data_schema is not None else {},
            fingerprint=self.fingerprint,
            meta={"partition": self.partition, "version": version, "table_uri": self.shown_uri},
        )

    def _publish_empty(self) -> None:
        """No row came: the partition becomes empty (a table's schema comes from a first run with rows)."""
        table = self._table()
        if table is None:
            raise DataContractError(f"no rows to publish and no table at {self.shown_uri} to take a schema from")
        schema = pa.schema(table.schema().to_arrow())
        self._start_version = table.version()
        data_names = [n for n in schema.names if n not in self.partition]
        self._data_schema = pa.schema([schema.field(n) for n in data_names])
        try:
            self._write(schema.empty_table())
        except Exception as err:
            self._error = err

    def _after_lost_race(self, error: Exception) -> None:
        from deltalake.exceptions import CommitFailedError

        self.lost_race = True
        for attempt in range(1, self.max_retries + 1):
            winner = self._same_run_version()
            if winner is not None:
                log.info(
                    "a concurrent attempt of run %s published it as version %d: published once",
                    self.manifest.get("run_id"), winner,
                )  # fmt: skip
                self._published = {"version": winner}
                return
            if self.replay is None:
                raise error
            log.warning(
                "commit to %s lost a race to another run (%s); retry %d of %d",
                self.shown_uri, error, attempt, self.max_retries,
            )  # fmt: skip
            self.attempt = uuid.uuid4().hex
            self._start_version = self._table().version()
            try:
                self._write(self._replayed())
                return
            except CommitFailedError as err:
                error = err
        raise error

    def _replayed(self) -> pa.RecordBatchReader:
        schema = self._feed.schema if self._feed is not None else None
        replay = self.replay
        if replay is None:
            raise RuntimeError(f"{self.shown_uri}: lost a commit race and has no way to re-read its input")

        def batches() -> Iterator[pa.RecordBatch]:
            for item in replay():
                yield from self._prepare(to_arrow(item, self._data_schema)).to_batches()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _commits_since_start(self) -> list[dict[str, Any]]:
        start = -1 if self._start_version is None else self._start_version
        return [c for c in self._table().history() if c["version"] > start]

    def _same_run_version(self) -> int | None:
        """The version a concurrent attempt of the same run, with the same input, published, if any."""
        for commit in self._commits_since_start():
            manifest = commit.get(MANIFEST_KEY) or {}
            if (
                manifest.get("run_id") == self.manifest.get("run_id")
                and manifest.get("input_fingerprint") == self.manifest.get("input_fingerprint")
                and manifest.get("partition") == self.partition
            ):
                return int(commit["version"])
        return None

    def _find_own_version(self) -> int:
        for wait in (0, 0.2, 0.5, 1, 2):  # a listing taken while another writer commits may lag behind
            time.sleep(wait)
            for commit in self._commits_since_start():
                if commit.get(ATTEMPT_KEY) == self.attempt:
                    return int(commit["version"])
        raise DataContractError(f"the commit of attempt {self.attempt} is not in the history of {self.shown_uri}")

    def _describe(self, version: int) -> dict[str, Any]:
        """Rows and files of the run's partition in ``version``."""
        import pyarrow.compute as pc

        actions = pa.table(self._table(version).get_add_actions(flatten=True))
        for name, value in self.partition.items():
            actions = actions.filter(pc.equal(actions[f"partition.{name}"], value))
        return {
            "version": version,
            "rows": int(pc.sum(actions["num_records"]).as_py() or 0),
            "files": sorted(actions["path"].to_pylist()),
            "bytes": int(pc.sum(actions["size_bytes"]).as_py() or 0),
        }

    @property
    def partition_path(self) -> str:
        return "/".join(f"{k}={v}" for k, v in self.partition.items())

    @property
    def curated_uri(self) -> str:
        return f"{self.shown_uri.rstrip('/')}/{self.partition_path}"

    @property
    def fingerprint(self) -> str:
        """What the partition was made from: the input's fingerprint, the partition and the columns
        (the same input published again has the same fingerprint, whatever the file names)."""
        basis = {
            "input": self.manifest.get("input_fingerprint"),
            "partition": self.partition,
            "subpartition_by": self.subpartition_by,
            "columns": schema_to_columns(self._data_schema) if self._data_schema is not None else {},
        }
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()

    def details(self) -> Mapping[str, Any]:
        return {
            "curated_uri": self.curated_uri,
            "table_uri": self.shown_uri,
            "version": self._published.get("version"),
            "rows": self._published.get("rows", 0),
            "fingerprint": self.fingerprint,
            "files": self._published.get("files", []),
            "bytes": self._published.get("bytes", 0),
        }

    def abort(self) -> None:
        """Stop the writer without committing (its files are orphans no version names)."""
        if self._thread is not None and self._feed is not None and self._thread.is_alive():
            try:
                self._feed.items.put(DataContractError("the store step failed before its commit"), timeout=5)
            except queue.Full:
                log.warning("the Delta writer of %s did not take the abort", self.shown_uri)
            self._thread.join(timeout=60)
