"""Publish a dataset as Hive-style partitioned Parquet, replacing one partition per run.

Layout (readable by pyarrow.dataset, Spark, DuckDB, Athena with ``hive`` partitioning)::

    <curated root>/<dataset>/date=2026-10-28/split=train/part-00000.parquet
                                            /split=test/part-00000.parquet
                                            /_manifest.json   rows, files, fingerprint, source

The new version of a partition is written under ``<dataset>/_staging/`` and then swapped in. On a
local filesystem the swap is two renames: a reader sees the old or the new partition, never a mix.
Object stores have no rename; there the old partition is deleted and the staged files are moved in,
and the manifest is written last, so manifest-aware readers still never see a partial version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from dataframe_pipeline.core.dataset import (
    MANIFEST,
    DatasetRef,
    HashingFile,
    is_local,
    schema_to_columns,
    to_arrow,
    write_atomic,
)
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd
    from fsspec import AbstractFileSystem

    from dataframe_pipeline.core.dataset import Location

log = logging.getLogger(__name__)


def _move_tree(fs: AbstractFileSystem, src: str, dst: str) -> None:
    """Move every file under ``src`` to the same relative key under ``dst`` (object stores have no directories)."""
    src = src.rstrip("/")
    for path in fs.find(src):
        fs.mv(path, dst.rstrip("/") + path[len(src) :])
    if fs.exists(src):
        fs.rm(src, recursive=True)


def _safe_value(column: str, value: object) -> str:
    text = "__HIVE_DEFAULT_PARTITION__" if value is None else str(value)
    if "/" in text or text in ("", ".", ".."):
        raise DataContractError(f"partition value {text!r} of column {column!r} cannot be a directory name")
    return text


@dataclass
class _PartFile:
    writer: pq.ParquetWriter
    sink: HashingFile
    path: str
    rows: int = 0


@dataclass
class PartitionedParquetWriter:
    """Write one partition (e.g. ``date=2026-10-28``) of a curated dataset.

    :param fs: fsspec filesystem.
    :param dataset_path: the dataset directory (``<curated root>/<dataset>``).
    :param partition: the partition written by this run, e.g. ``{"date": "2026-10-28"}``.
    :param subpartition_by: optional column whose values become sub-directories (``split=train``).
    """

    fs: AbstractFileSystem
    dataset_path: str
    partition: dict[str, str]
    subpartition_by: str | None = None
    compression: str = "zstd"
    attempt_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _files: dict[str, _PartFile] = field(default_factory=dict)
    _schema: pa.Schema | None = None

    def __post_init__(self) -> None:
        if not self.partition:
            raise ConfigurationError("partition", self.partition, "at least one partition column is needed")
        for key, value in self.partition.items():
            _safe_value(key, value)

    @property
    def partition_dir(self) -> str:
        return "/".join(f"{k}={v}" for k, v in self.partition.items())

    @property
    def final_path(self) -> str:
        return f"{self.dataset_path.rstrip('/')}/{self.partition_dir}"

    @property
    def staging_path(self) -> str:
        flat = self.partition_dir.replace("/", "_")
        return f"{self.dataset_path.rstrip('/')}/_staging/{flat}-{self.attempt_id}"

    def write(self, batch: pd.DataFrame) -> None:
        clash = sorted(set(self.partition).intersection(map(str, batch.columns)))
        if clash:
            raise DataContractError(
                f"the data has column(s) {clash} named like the partition fields {list(self.partition)}: Hive-style "
                "readers would see two fields of one name; rename them before publishing (clean's rename_columns)"
            )
        if self.subpartition_by is None:
            self._write_group("", batch)
            return
        if self.subpartition_by not in batch.columns:
            raise DataContractError(f"subpartition column {self.subpartition_by!r} is not in the data")
        for value, group in batch.groupby(self.subpartition_by, sort=True, dropna=False, observed=True):
            sub = f"{self.subpartition_by}={_safe_value(self.subpartition_by, value)}/"
            self._write_group(sub, group.drop(columns=[self.subpartition_by]))

    def _write_group(self, sub: str, frame: pd.DataFrame) -> None:
        table = to_arrow(frame, self._schema)
        if self._schema is None:
            self._schema = table.schema
        part = self._files.get(sub)
        if part is None:
            directory = f"{self.staging_path}/{sub}".rstrip("/")
            self.fs.makedirs(directory, exist_ok=True)
            path = f"{directory}/part-00000.parquet"
            sink = HashingFile(self.fs.open(path, "wb"))
            part = _PartFile(pq.ParquetWriter(sink, table.schema, compression=self.compression), sink, path)
            self._files[sub] = part
        part.writer.write_table(table)
        part.rows += table.num_rows

    def commit(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Close the files, swap the staged partition in, return its manifest."""
        files = []
        digest = hashlib.sha256()
        for sub in sorted(self._files):
            part = self._files[sub]
            part.writer.close()
            part.sink.close()
            sha = part.sink.sha256.hexdigest()
            digest.update(sha.encode())
            files.append(
                {
                    "path": f"{sub}part-00000.parquet",
                    "rows": part.rows,
                    "bytes": part.sink.size,
                    "sha256": sha,
                }
            )
        manifest = {
            "partition": self.partition,
            "rows": sum(f["rows"] for f in files),
            "files": files,
            "columns": schema_to_columns(self._schema) if self._schema is not None else {},
            "fingerprint": digest.hexdigest(),
            "meta": meta or {},
        }
        self.fs.makedirs(self.staging_path, exist_ok=True)
        self._swap()
        write_atomic(self.fs, f"{self.final_path}/{MANIFEST}", json.dumps(manifest, indent=1, sort_keys=True).encode())
        return manifest

    def _swap(self) -> None:
        exists = self.fs.exists(self.final_path)
        if is_local(self.fs):
            trash = f"{self.staging_path}.old"
            if exists:
                self.fs.mv(self.final_path, trash, recursive=True)
            self.fs.makedirs(self.final_path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(self.staging_path, self.final_path, recursive=True)
            if exists:
                self.fs.rm(trash, recursive=True)
        else:
            if exists:
                self.fs.rm(self.final_path, recursive=True)
            _move_tree(self.fs, self.staging_path, self.final_path)
        log.info("published partition %s", self.final_path)

    def abort(self) -> None:
        for part in self._files.values():
            part.sink.close()
        if self.fs.exists(self.staging_path):
            self.fs.rm(self.staging_path, recursive=True)


class PartitionPublisher:
    """The store step's output: the rows of a run published as one partition of a curated dataset
    (a :class:`~dataframe_pipeline.core.runner.Sink`).

    :param target: the curated dataset (``<curated root>/<dataset>``).
    :param partition: the run's partition fields, e.g. ``{"date": "2026-11-01", "hour": "03"}``.
    :param subpartition_by: a column whose values become sub-directories (``split=train``), or None.
    :param source: the reference of the dataset published (recorded in the partition's manifest).
    """

    def __init__(
        self, target: Location, partition: dict[str, str], subpartition_by: str | None, source: DatasetRef
    ) -> None:
        self.target = target
        self.source = source
        self.writer = PartitionedParquetWriter(
            fs=target.fs, dataset_path=target.path, partition=partition, subpartition_by=subpartition_by
        )
        self._manifest: dict[str, Any] | None = None

    @property
    def uri(self) -> str:
        return (self.target / self.writer.partition_dir).uri

    def write(self, batch: pd.DataFrame) -> None:
        self.writer.write(batch)

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef:
        self._manifest = self.writer.commit({**meta, "source": self.source.as_dict()})
        log.info("published %d rows to %s", self._manifest["rows"], self.uri)
        return DatasetRef(
            uri=self.uri,
            rows=self._manifest["rows"],
            columns=self._manifest["columns"],
            fingerprint=self._manifest["fingerprint"],
            meta={"partition": self._manifest["partition"]},
        )

    def details(self) -> Mapping[str, Any]:
        manifest = self._manifest or {}
        return {
            "curated_uri": self.uri,
            "rows": manifest.get("rows", 0),
            "fingerprint": manifest.get("fingerprint"),
            "files": [f["path"] for f in manifest.get("files", [])],
        }

    def abort(self) -> None:
        self.writer.abort()
