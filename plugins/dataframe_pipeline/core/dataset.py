"""Datasets exchanged between steps: Parquet files on any fsspec filesystem, committed atomically.

Layout of one dataset (a directory)::

    <dataset>/_manifest.json                   the commit: which files make the dataset
    <dataset>/attempt=<id>/part-00000.parquet  data written by one task attempt

A writer puts its files under an attempt-unique directory and commits by writing ``_manifest.json``
in one operation (a rename on local disks, a single PUT on object stores, both atomic). Readers only
read the files the manifest lists, so they never see a half-written dataset, and a retry or re-run
replaces the previous version in one step. Files of superseded attempts are removed after the commit.

This module never imports Airflow; operators hand it the filesystem and path of an
``ObjectStoragePath`` (``path.fs``, ``path.path``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import queue
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataframe_pipeline.exceptions import DataContractError, DatasetNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from concurrent.futures import Future

    from fsspec import AbstractFileSystem

MANIFEST = "_manifest.json"
FORMAT_VERSION = 1
DEFAULT_BATCH_ROWS = 100_000
DEFAULT_FILE_ROWS = 1_000_000


@dataclass(frozen=True)
class Location:
    """A place on a filesystem: the fsspec filesystem, the path it expects, and the URI shown for it.

    Operators make one from an Airflow ``ObjectStoragePath`` (``Location(p.fs, p.path, str(p))``); the
    pure logic never needs Airflow to find its way.
    """

    fs: AbstractFileSystem
    path: str
    uri: str

    @classmethod
    def local(cls, path: str) -> Location:
        """A local directory or file (tests, scripts)."""
        import fsspec

        path = path.removeprefix("file://")
        return cls(fsspec.filesystem("file"), path, f"file://{path}")

    def __truediv__(self, name: str) -> Location:
        name = name.strip("/")
        return Location(self.fs, f"{self.path.rstrip('/')}/{name}", f"{self.uri.rstrip('/')}/{name}")

    @property
    def parent(self) -> Location:
        return Location(self.fs, self.path.rstrip("/").rsplit("/", 1)[0], self.uri.rstrip("/").rsplit("/", 1)[0])

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def write_bytes(self, data: bytes) -> None:
        """Write a small file atomically (readers see the old or the new content), creating its folder."""
        self.fs.makedirs(self.parent.path, exist_ok=True)
        write_atomic(self.fs, self.path, data)

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.path)

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class DatasetRef:
    """The small reference that travels through XCom instead of the data.

    :param uri: where the dataset lives (its directory).
    :param rows: number of rows.
    :param columns: column name -> Arrow type, in order.
    :param fingerprint: sha256 of the data files' bytes, in manifest order.
    """

    uri: str
    rows: int
    columns: dict[str, str]
    fingerprint: str
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "rows": self.rows,
            "columns": dict(self.columns),
            "fingerprint": self.fingerprint,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetRef:
        return cls(
            uri=data["uri"],
            rows=int(data["rows"]),
            columns=dict(data["columns"]),
            fingerprint=data["fingerprint"],
            meta=dict(data.get("meta") or {}),
        )


class HashingFile:
    """File wrapper that hashes what is written through it (so fingerprints cost no extra read)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        self._raw.write(data)
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._raw.flush()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        self._raw.close()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False


def new_attempt_id(try_number: int | None = None) -> str:
    """An attempt-unique directory name; the try number keeps it readable in listings."""
    prefix = f"try{try_number}-" if try_number is not None else ""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def to_arrow(data: pd.DataFrame | pa.Table | pa.RecordBatch, schema: pa.Schema | None) -> pa.Table:
    """Convert a batch to an Arrow table, cast to ``schema`` when one is fixed already."""
    if isinstance(data, pd.DataFrame):
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    else:
        table = data
    if schema is None:
        return table
    if table.schema.names != schema.names:
        raise DataContractError(f"batch columns {table.schema.names} differ from the dataset's columns {schema.names}")
    if not table.schema.equals(schema, check_metadata=False):
        # e.g. an all-null batch infers type null; cast it to the type fixed by the first batch
        table = table.cast(schema)
    return table.replace_schema_metadata(schema.metadata)


class DatasetWriter:
    """Write batches to an attempt-unique location, then :meth:`commit` them atomically.

    :param fs: fsspec filesystem.
    :param path: the dataset directory (without protocol, as ``fs`` expects).
    :param uri: the dataset's URI as reported in the reference (``path`` with its protocol/connection).
    :param attempt_id: unique per task attempt (see :func:`new_attempt_id`).
    :param max_rows_per_file: roll over to a new part file after this many rows.
    :param compression: Parquet codec.
    :param background: encode and write each batch in a background thread while the caller computes
        the next one (Arrow and Parquet release the GIL, so this uses a second core). At most one
        batch is in flight; an error surfaces at the next call (``write``, ``commit``, ``rows``...).

    Dictionary encoding is used for text columns only: for numbers (one-hot flags, scaled values)
    it costs more time than it saves space once the pages are compressed.
    """

    def __init__(
        self,
        fs: AbstractFileSystem,
        path: str,
        *,
        uri: str | None = None,
        attempt_id: str | None = None,
        max_rows_per_file: int = DEFAULT_FILE_ROWS,
        compression: str = "zstd",
        schema: pa.Schema | None = None,
        background: bool = True,
    ) -> None:
        self.fs = fs
        self.path = path.rstrip("/")
        self.uri = uri or path
        self.attempt_id = attempt_id or new_attempt_id()
        self.max_rows_per_file = max_rows_per_file
        self.compression = compression
        self.schema = schema
        self._files: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._sink: HashingFile | None = None
        self._rows_in_file = 0
        self._committed = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-writer") if background else None
        self._pending: Future[None] | None = None
        self._names: list[str] | None = None  # the columns of the first batch, checked in the caller's thread

    def _drain(self) -> None:
        """Wait for the batch in flight; re-raise its error here, in the caller's thread."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def attempt_dir(self) -> str:
        return f"{self.path}/attempt={self.attempt_id}"

    @property
    def rows(self) -> int:
        self._drain()
        return sum(f["rows"] for f in self._files) + self._rows_in_file

    def write(self, data: pd.DataFrame | pa.Table | pa.RecordBatch) -> None:
        """Append a batch (the caller must not modify it afterwards: it may still be being written)."""
        self._drain()
        names = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else list(data.schema.names)
        expected = self.schema.names if self.schema is not None else self._names
        if expected is not None and names != expected:
            raise DataContractError(f"batch columns {names} differ from the dataset's columns {expected}")
        self._names = names
        if self._pool is None:
            self._write_now(data)
        else:
            self._pending = self._pool.submit(self._write_now, data)

    def _write_now(self, data: pd.DataFrame | pa.Table | pa.RecordBatch) -> None:
        table = to_arrow(data, self.schema)
        if self.schema is None:
            self.schema = table.schema
        schema = self.schema
        offset = 0
        while offset < table.num_rows or (table.num_rows == 0 and self._writer is None):
            writer = self._writer if self._writer is not None else self._open_file(schema)
            room = self.max_rows_per_file - self._rows_in_file
            chunk = table.slice(offset, room)
            writer.write_table(chunk)
            self._rows_in_file += chunk.num_rows
            offset += chunk.num_rows
            if self._rows_in_file >= self.max_rows_per_file:
                self._close_file()
            if table.num_rows == 0:
                break

    def _open_file(self, schema: pa.Schema) -> pq.ParquetWriter:
        name = f"part-{len(self._files):05d}.parquet"
        self.fs.makedirs(self.attempt_dir, exist_ok=True)
        self._sink = HashingFile(self.fs.open(f"{self.attempt_dir}/{name}", "wb"))
        text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        self._writer = pq.ParquetWriter(self._sink, schema, compression=self.compression, use_dictionary=text)
        self._files.append({"path": f"attempt={self.attempt_id}/{name}", "rows": 0})
        self._rows_in_file = 0
        return self._writer

    def _close_file(self) -> None:
        if self._writer is None or self._sink is None:
            return
        self._writer.close()
        self._sink.close()
        self._files[-1].update(rows=self._rows_in_file, bytes=self._sink.size, sha256=self._sink.sha256.hexdigest())
        self._writer = None
        self._sink = None
        self._rows_in_file = 0

    def begin_group(self) -> int:
        """Start writes that can be undone as a whole (e.g. one source file); returns a mark.

        The open part file is closed, so the group's rows land in part files of their own.
        """
        self._drain()
        self._close_file()
        return len(self._files)

    def rollback_group(self, mark: int) -> int:
        """Delete what was written since :meth:`begin_group` returned ``mark``; returns the rows removed."""
        self._drain()
        self._close_file()
        removed, self._files = self._files[mark:], self._files[:mark]
        for entry in removed:
            self.fs.rm(f"{self.path}/{entry['path']}")
        return sum(entry["rows"] for entry in removed)

    def commit(self, meta: dict[str, Any] | None = None) -> DatasetRef:
        """Close the open file, publish the manifest atomically and remove superseded attempts."""
        self._drain()
        self._shutdown()
        if self.schema is None:
            raise DataContractError(f"nothing was written to {self.uri}: the schema is unknown")
        if self._writer is None and not self._files:
            self.write(self.schema.empty_table())
        self._close_file()
        digest = hashlib.sha256()
        for f in self._files:
            digest.update(f["sha256"].encode())
        ref = DatasetRef(
            uri=self.uri,
            rows=self.rows,
            columns=schema_to_columns(self.schema),
            fingerprint=digest.hexdigest(),
            meta=meta or {},
        )
        manifest = {
            "format_version": FORMAT_VERSION,
            "attempt": self.attempt_id,
            "rows": ref.rows,
            "columns": ref.columns,
            "fingerprint": ref.fingerprint,
            "files": self._files,
            "meta": ref.meta,
        }
        write_atomic(self.fs, f"{self.path}/{MANIFEST}", json.dumps(manifest, indent=1, sort_keys=True).encode())
        self._committed = True
        self._remove_superseded()
        return ref

    def abort(self) -> None:
        """Drop what this attempt wrote; the committed version (if any) stays in place."""
        with contextlib.suppress(Exception):  # the error that made us abort is already on its way up
            self._drain()
        self._shutdown()
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                if self._sink is not None:  # opened with the writer
                    self._sink.close()
        self._writer = None
        if self.fs.exists(self.attempt_dir):
            self.fs.rm(self.attempt_dir, recursive=True)

    def _remove_superseded(self) -> None:
        mine = f"attempt={self.attempt_id}"
        for entry in self.fs.ls(self.path, detail=False):
            name = posixpath.basename(entry.rstrip("/"))
            if name.startswith("attempt=") and name != mine:
                self.fs.rm(entry, recursive=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and not self._committed:
            self.abort()


_DONE = object()


class _Producer(threading.Thread):
    """Runs an iterator in its own thread, handing ``(item, error)`` pairs over a bounded queue."""

    def __init__(self, items: Iterable[Any], depth: int) -> None:
        super().__init__(name="dataset-prefetch", daemon=True)
        self.items = items
        self.ready: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()

    def put(self, item: Any, error: BaseException | None = None) -> bool:
        while not self.stopped.is_set():
            try:
                self.ready.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        source = iter(self.items)
        try:
            if all(self.put(item) for item in source):
                self.put(_DONE)
        except BaseException as err:  # handed to the consumer, which re-raises it
            self.put(_DONE, err)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a generator's finally blocks (open files) run now, in this thread


def prefetch(items: Iterable[Any], depth: int = 1) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, keeping up to ``depth`` items ready ahead.

    For producers that spend their time outside the GIL (Parquet decoding, file reads). An error in
    the producer is raised by the consumer, at the item where it happened; a consumer that stops
    early (``break``, ``close()``) stops the producer at its next item.
    """
    producer = _Producer(items, depth)
    producer.start()
    try:
        while True:
            item, err = producer.ready.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item
    finally:
        producer.stopped.set()
        producer.join()


def is_local(fs: AbstractFileSystem) -> bool:
    """A local filesystem (renames are atomic), as opposed to an object store."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def write_atomic(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write a small file so readers see the old or the new content, never a mix."""
    if is_local(fs):
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, path)  # os.rename within one directory: atomic
    else:
        fs.pipe_file(path, data)  # one PUT: object stores make it visible whole or not at all


def schema_to_columns(schema: pa.Schema) -> dict[str, str]:
    return {f.name: str(f.type) for f in schema}


class DatasetReader:
    """Read a committed dataset batch by batch.

    Batches are pandas DataFrames whose index is the row position in the dataset, which is how the
    logic modules trace rows (see :mod:`dataframe_pipeline.core.batch`).
    """

    def __init__(self, fs: AbstractFileSystem, path: str, *, uri: str | None = None) -> None:
        self.fs = fs
        self.path = path.rstrip("/")
        self.uri = uri or path
        manifest_path = f"{self.path}/{MANIFEST}"
        if not fs.exists(manifest_path):
            raise DatasetNotFoundError(f"no committed dataset at {self.uri} (missing {MANIFEST})")
        self.manifest: dict[str, Any] = json.loads(fs.cat_file(manifest_path))

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def columns(self) -> dict[str, str]:
        return dict(self.manifest["columns"])

    @property
    def ref(self) -> DatasetRef:
        m = self.manifest
        return DatasetRef(
            uri=self.uri, rows=m["rows"], columns=m["columns"], fingerprint=m["fingerprint"], meta=m["meta"]
        )

    def _parquet_files(self) -> Iterator[pq.ParquetFile]:
        for entry in self.manifest["files"]:
            with self.fs.open(f"{self.path}/{entry['path']}", "rb") as fh:
                yield pq.ParquetFile(fh)

    def schema(self) -> pa.Schema:
        for pf in self._parquet_files():
            return pf.schema_arrow
        raise DataContractError(f"dataset {self.uri} has no files")

    def iter_tables(
        self, batch_rows: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.Table]:
        """Arrow tables of at most ``batch_rows`` rows; one empty table if the dataset is empty.

        The next table is read and decoded in a background thread while the caller works on this one.
        """
        return prefetch(self._tables(batch_rows, columns))

    def _tables(self, batch_rows: int, columns: Sequence[str] | None) -> Iterator[pa.Table]:
        cols = list(columns) if columns is not None else None
        if self.rows == 0:
            empty = self.schema().empty_table()
            yield empty.select(cols) if cols is not None else empty
            return
        for pf in self._parquet_files():
            for batch in pf.iter_batches(batch_size=batch_rows, columns=cols):
                if batch.num_rows:
                    yield pa.Table.from_batches([batch])

    def iter_batches(
        self, batch_rows: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """pandas batches indexed by row position in the dataset (read, decoded and converted in a
        background thread while the caller works on the previous batch)."""
        return prefetch(self._frames(batch_rows, columns))

    def _frames(self, batch_rows: int, columns: Sequence[str] | None) -> Iterator[pd.DataFrame]:
        offset = 0
        for table in self._tables(batch_rows, columns):
            df = table.to_pandas()
            df.index = pd.RangeIndex(offset, offset + len(df))
            offset += len(df)
            yield df

    def read_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole dataset in memory (small datasets and tests only)."""
        frames = list(self.iter_batches(columns=columns))
        return frames[0] if len(frames) == 1 else pd.concat(frames)
