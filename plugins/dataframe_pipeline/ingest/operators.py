"""Airflow operators of the ingest step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import DataFrameStepOperator
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, SourceNotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.dataset import DatasetWriter
    from dataframe_pipeline.core.quarantine import QuarantineWriter


def landing_root() -> Path:
    """Local sources are confined to this folder (``DATAFRAME_PIPELINE_LANDING_ROOT``, default: the project)."""
    import os

    return Path(os.environ.get("DATAFRAME_PIPELINE_LANDING_ROOT") or settings.PROJECT_DIR).resolve()


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: its filesystem, its path there, and the URI reported as its source."""

    fs: Any
    path: str
    uri: str

    def __str__(self) -> str:
        return self.uri

    @classmethod
    def of(cls, path: ObjectStoragePath) -> SourceFile:
        return cls(path.fs, path.path, str(path))


def list_source_files(source: str, root: Path | None = None) -> list[SourceFile]:
    """The files a source names: a local path or glob (confined to the landing root), an
    ``s3://conn@bucket/key`` path or glob, or an ``http(s)://`` URL."""
    from dataframe_pipeline.ingest.files.locations import confine, is_glob

    if source.startswith(("http://", "https://")):
        import fsspec

        return [SourceFile(fsspec.filesystem(source.split(":", 1)[0]), source, source)]
    if "://" in source and not source.startswith("file://"):
        path = ObjectStoragePath(source)
        if not is_glob(source):
            return [SourceFile.of(path)] if path.is_file() else []
        protocol = path.protocol if isinstance(path.protocol, str) else path.protocol[0]
        return [
            SourceFile.of(ObjectStoragePath(f"{protocol}://{p}", conn_id=path.conn_id))
            for p in sorted(path.fs.glob(path.path))
        ]
    local = source.removeprefix("file://")
    return [SourceFile.of(ObjectStoragePath(p.absolute().as_uri())) for p in confine(root or landing_root(), local)]


class IngestOperatorBase(DataFrameStepOperator):
    """What every ingest operator shares: basic transformations at ingestion (``shaping``).

    :param shaping: ``{"rename": {...}, "dtypes": {...}, "filters": [[col, op, value], ...], "columns": [...]}``,
        applied to every batch in that order (see :mod:`dataframe_pipeline.ingest.shaping`). (templated)
    """

    step = "ingest"
    ui_color = "#e0f0ff"

    def __init__(self, *, shaping: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shaping = shaping

    def shaping_spec(self) -> Any:
        if not self.shaping:
            return None
        from dataframe_pipeline.ingest.shaping import Shaping

        try:
            spec = Shaping(**self.shaping)
        except TypeError as err:
            raise ConfigurationError("shaping", self.shaping, str(err)) from err
        spec.validate()
        return spec

    def validate_config(self) -> None:
        super().validate_config()
        self.shaping_spec()

    def shaped(self, batches: Any) -> Any:
        from dataframe_pipeline.ingest.shaping import shape_batches

        return shape_batches(batches, self.shaping_spec())


#: quarantine rule of a whole file, by the data-contract error that condemned it
WHOLE_FILE_RULES = {"SourceDecodeError": "undecodable_file", "EmptySourceError": "empty_file"}


class FileIngestOperator(IngestOperatorBase):
    """Ingest files: CSV/TSV, JSON, JSON Lines, XML, HTML tables, Parquet, plain or compressed.

    Text columns stay text unless ``file_format["column_types"]`` says otherwise (typing is the clean
    step's job, where unparseable values are quarantined with their reason). Rows keep their origin
    in ``_source_file`` and ``_source_line``. Malformed records go to quarantine with file, line and
    reason. A file that is empty, does not decode or is malformed as a whole (broken XML/JSON,
    corrupt archive) is quarantined whole: nothing of it is kept, the other files go on. A missing
    source raises ``SourceNotFoundError`` and is retried (files can arrive late).

    :param source: a path or glob under the landing root, ``s3://conn@bucket/key`` (glob allowed) or
        an ``http(s)://`` URL. (templated)
    :param file_format: :class:`~dataframe_pipeline.ingest.formats.FileFormat` fields
        (kind, compression, encoding, delimiter, columns, column_types, records_path, ...). (templated)
    :param incremental: ingest only files not ingested by an earlier partition (a manifest of path,
        size and sha256 per file); a re-run of the same partition re-reads the same files.
    :param on_nothing_new: with ``incremental``, when no file is new: ``"skip"`` the task (and so the
        steps after it) or ``"succeed"`` with an empty dataset.
    """

    template_fields: Sequence[str] = ("source", "file_format", "shaping", "storage_root")

    def __init__(
        self,
        *,
        source: str,
        file_format: dict[str, Any] | None = None,
        incremental: bool = False,
        on_nothing_new: str = "skip",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.file_format = file_format
        self.incremental = incremental
        self.on_nothing_new = on_nothing_new

    def fmt(self) -> Any:
        from dataframe_pipeline.ingest.files.format import FileFormat

        try:
            fmt = FileFormat(**{"batch_rows": self.rows_per_batch, **(self.file_format or {})})
        except TypeError as err:
            raise ConfigurationError("file_format", self.file_format, str(err)) from err
        fmt.validate()
        return fmt

    def validate_config(self) -> None:
        super().validate_config()
        if not self.source or not isinstance(self.source, str):
            raise ConfigurationError("source", self.source, "must be a file path, glob or URI")
        if self.on_nothing_new not in ("skip", "succeed"):
            raise ConfigurationError("on_nothing_new", self.on_nothing_new, "must be 'skip' or 'succeed'")
        self.fmt()

    def manifest(self, context: Context) -> Any:
        from dataframe_pipeline.ingest.files.locations import FileManifest

        path = ObjectStoragePath(self.storage_root or settings.storage_root())
        path = path / self.dag_id / "_state" / f"files-{self.task_id}.json"
        return FileManifest(path.fs, path.path)

    def plan(self, context: Context, files: list[SourceFile]) -> tuple[list[SourceFile], Any]:
        """The files to read in this partition (all, or the new ones when incremental)."""
        if not self.incremental:
            return files, None
        from dataframe_pipeline.ingest.files.locations import file_info

        infos = {str(f): file_info(f.fs, f.path) for f in files}
        manifest = self.manifest(context)
        dag_run = context["dag_run"]
        partition = settings.partition_key(dag_run.logical_date, dag_run.run_id)
        take, skip = manifest.plan([i for i in infos.values()], partition)
        self.log.info("incremental: %d new or re-read file(s), %d ingested before", len(take), len(skip))
        wanted = {i.path for i in take}
        return [f for f in files if f.path in wanted], (manifest, take, partition)

    def run_step(self, context: Context) -> dict[str, Any]:
        from dataframe_pipeline.ingest.base import IngestTally

        fmt = self.fmt()
        listed = list_source_files(self.source)
        if not listed:
            raise SourceNotFoundError(f"source={self.source!r}: no file")
        files, plan = self.plan(context, listed)
        if plan is not None and not files and self.on_nothing_new == "skip":
            raise AirflowSkipException(f"no new file for {self.source!r}: all {len(listed)} ingested before")
        tally = IngestTally()
        with self.open_output(context) as out, self.open_quarantine(context) as quarantine:
            for file in files:
                self._ingest_file(file, fmt, out, quarantine, tally)
            tally.finish(out, self._declared_columns(fmt))
            output_ref = out.commit({"step": self.step, "files": [str(f) for f in files]})
            quarantine_ref = quarantine.commit()
        if plan is not None:
            manifest, take, partition = plan
            manifest.record(take, partition)
        for item in tally.unreadable:
            self.log.warning("quarantined whole file %s: %s", item["file"], item["reason"])
        return self.report(
            tally.accounting(), output_ref, quarantine_ref,
            files=len(files), files_skipped=len(listed) - len(files), files_quarantined=tally.unreadable,
        )  # fmt: skip

    def _ingest_file(
        self, file: SourceFile, fmt: Any, out: DatasetWriter, quarantine: QuarantineWriter, tally: Any
    ) -> None:
        """Stream one file; on a whole-file error, undo what it wrote and quarantine it whole."""
        from dataframe_pipeline.ingest.files.format import read_source

        source = str(file)
        started = time.monotonic()
        marks = (out.begin_group(), quarantine.writer.begin_group())
        file_tally = tally.for_file()
        try:
            with file.fs.open(file.path, "rb") as fh:
                for batch in self.shaped(read_source(fh, source, fmt)):
                    file_tally.add(batch, out, quarantine)
        except DataContractError as err:  # empty, undecodable, malformed as a whole, wrong columns
            out.rollback_group(marks[0])
            quarantine.writer.rollback_group(marks[1])
            quarantine.write_source(WHOLE_FILE_RULES.get(type(err).__name__, "malformed_file"), str(err), source)
            tally.unreadable.append({"file": source, "reason": str(err)})
            return
        tally.merge(file_tally)
        self.log.info(
            "read %s: %d bytes, %d records in %.2fs (%d rows kept, %d quarantined)",
            source, file.fs.size(file.path), file_tally.rows_in, time.monotonic() - started,
            file_tally.rows_out, file_tally.rows_quarantined,
        )  # fmt: skip

    @staticmethod
    def _declared_columns(fmt: Any) -> dict[str, Any] | None:
        if not fmt.columns:
            return None
        import pyarrow as pa

        types = fmt.arrow_types()
        return {c: types.get(c, pa.string()) for c in fmt.columns}


class _SourceIngestOperator(IngestOperatorBase):
    """Shared run of the connectors that yield :class:`~dataframe_pipeline.ingest.base.SourceBatch`."""

    def write_source(self, context: Context, batches: Any, meta: dict[str, Any]) -> tuple[Any, Any, Any]:
        from dataframe_pipeline.ingest.base import write_batches

        with self.open_output(context) as out, self.open_quarantine(context) as quarantine:
            accounting = write_batches(self.shaped(batches), out, quarantine)
            return accounting, out.commit({"step": self.step, **meta}), quarantine.commit()


class HttpIngestOperator(_SourceIngestOperator):
    """Ingest the records of a paginated JSON API reached through an Airflow HTTP connection.

    Authentication, headers and the rate limit come from the connection (see
    :mod:`dataframe_pipeline.ingest.connections`); secrets never reach the logs. 429 and 5xx are
    retried with backoff inside the task; other 4xx fail the task without retry.

    :param http_conn_id: the HTTP connection.
    :param endpoint: path under the connection's base URL. (templated)
    :param query_params: query parameters of the first request. (templated)
    :param pagination: ``{"type": "cursor" | "page_number" | "offset" | "link_header" | "next_url", ...}``
    :param records_path: where the records are in the JSON body (``"data.items"``); None: the body.
    :param flatten_sep: separator of flattened nested fields.
    :param max_pages: stop after this many pages (reported).
    """

    template_fields: Sequence[str] = ("endpoint", "query_params", "shaping", "storage_root")

    def __init__(
        self,
        *,
        http_conn_id: str,
        endpoint: str = "",
        query_params: dict[str, Any] | None = None,
        pagination: dict[str, Any] | None = None,
        records_path: str | None = None,
        flatten_sep: str = ".",
        max_pages: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint
        self.query_params = query_params
        self.pagination = pagination
        self.records_path = records_path
        self.flatten_sep = flatten_sep
        self.max_pages = max_pages

    def validate_config(self) -> None:
        super().validate_config()
        from dataframe_pipeline.ingest.connections import pagination

        pagination(self.pagination)

    def run_step(self, context: Context) -> dict[str, Any]:
        from airflow.sdk import BaseHook

        from dataframe_pipeline.exceptions import HttpSourceError
        from dataframe_pipeline.ingest.connections import http_source
        from dataframe_pipeline.ingest.http.reader import HttpReader

        source = http_source(
            BaseHook.get_connection(self.http_conn_id),
            endpoint=self.endpoint,
            params=self.query_params,
            pagination=self.pagination,
            records_path=self.records_path,
            flatten_sep=self.flatten_sep,
            max_pages=self.max_pages,
            batch_rows=self.rows_per_batch,
        )
        reader = HttpReader(source)
        try:
            accounting, output, quarantine = self.write_source(context, reader.batches(), {"source": self.endpoint})
        except HttpSourceError as err:
            if not err.retryable:
                raise AirflowFailException(str(err)) from err
            raise
        stats = reader.stats.as_dict()
        self.log.info("read %s: %s", self.endpoint or "/", stats)
        if stats.get("hit_max_pages"):
            self.log.warning("stopped at max_pages=%d: the API has more pages", self.max_pages)
        return self.report(accounting, output, quarantine, http=stats)


class SqlIngestOperator(_SourceIngestOperator):
    """Stream a table or a parameterised query of any SQLAlchemy database behind an Airflow connection.

    Values reach the database as bound parameters only, identifiers are checked against the
    database's catalogue, rows stream through a server-side cursor, and a lost connection is resumed
    after the last key read (or the task is retried: its output is replaced atomically).

    Incremental modes (``incremental``):

    - ``{"mode": "interval", "column": "time_hour"}``: ``column`` in the run's data interval
      (``start``/``end`` may be given, templated); a backfill reloads exactly its interval.
    - ``{"mode": "watermark", "column": "id"}``: rows with ``column`` above the high-water mark; the
      new mark is returned as ``watermark`` and saved only by :class:`CommitWatermarkOperator` placed
      after the store step, so a failed run re-reads instead of skipping.

    :param conn_id: a postgres, mysql or sqlite connection (see :mod:`~dataframe_pipeline.ingest.connections`).
    :param table: table to read (with ``schema`` and ``columns``); or ``query`` with ``query_params``.
    :param query: a SELECT with ``:name`` placeholders. (templated)
    :param query_params: values of the placeholders. (templated)
    :param incremental: see above. (templated)
    """

    template_fields: Sequence[str] = ("query", "query_params", "incremental", "shaping", "storage_root")

    def __init__(
        self,
        *,
        conn_id: str,
        table: str | None = None,
        schema: str | None = None,
        columns: list[str] | None = None,
        query: str | None = None,
        query_params: dict[str, Any] | None = None,
        order_by: list[str] | None = None,
        incremental: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.table = table
        self.schema = schema
        self.columns = columns
        self.query = query
        self.query_params = query_params
        self.order_by = order_by
        self.incremental = incremental

    def validate_config(self) -> None:
        super().validate_config()
        if (self.table is None) == (self.query is None):
            raise ConfigurationError("table", self.table, "give exactly one of table and query")
        mode = (self.incremental or {}).get("mode")
        if self.incremental is not None and mode not in ("interval", "watermark"):
            raise ConfigurationError("incremental.mode", mode, "must be 'interval' or 'watermark'")

    def watermark_store(self, context: Context) -> Any:
        from dataframe_pipeline.ingest.sql.watermark import WatermarkStore

        root = ObjectStoragePath(self.storage_root or settings.storage_root())
        path = root / self.dag_id / "_state" / f"watermark-{self.task_id}.json"
        return WatermarkStore(path.fs, path.path), str(path)

    def _incremental(self, context: Context) -> Any:
        from dataframe_pipeline.ingest.sql.source import Incremental

        if self.incremental is None:
            return None
        spec = dict(self.incremental)
        if spec["mode"] == "interval":
            spec.setdefault("start", context.get("data_interval_start"))
            spec.setdefault("end", context.get("data_interval_end"))
        else:
            store, _ = self.watermark_store(context)
            spec["after"] = store.get(self.task_id)
        try:
            return Incremental(**spec)
        except TypeError as err:
            raise ConfigurationError("incremental", self.incremental, str(err)) from err

    def run_step(self, context: Context) -> dict[str, Any]:
        from airflow.sdk import BaseHook

        from dataframe_pipeline.ingest.connections import sqlalchemy_url
        from dataframe_pipeline.ingest.sql.reader import SqlReader
        from dataframe_pipeline.ingest.sql.source import SqlSource
        from dataframe_pipeline.ingest.sql.watermark import encode_watermark

        incremental = self._incremental(context)
        source = SqlSource(
            url=sqlalchemy_url(BaseHook.get_connection(self.conn_id)),
            table=self.table,
            schema=self.schema,
            columns=self.columns,
            query=self.query,
            params=self.query_params,
            order_by=self.order_by,
            incremental=incremental,
            batch_rows=self.rows_per_batch,
        )
        source.validate()
        with SqlReader(source) as reader:
            reader.check()
            accounting, output, quarantine = self.write_source(
                context, reader.batches(), {"source": source.source_name}
            )
            stats = reader.stats
        self.log.info(
            "read %s: %d rows in %.1fs (%d retries)", source.source_name, stats.rows, stats.seconds, stats.retries
        )
        extra: dict[str, Any] = {"sql": {"source": source.source_name, "rows": stats.rows, "retries": stats.retries}}
        if incremental is not None and incremental.mode == "watermark":
            value = stats.max_value if stats.max_value is not None else incremental.after
            _, uri = self.watermark_store(context)
            extra["watermark"] = {
                "store": uri,
                "key": self.task_id,
                "previous": encode_watermark(incremental.after) if incremental.after is not None else None,
                "value": encode_watermark(value) if value is not None else None,
            }
            self.log.info("watermark candidate %s (committed after the store step)", extra["watermark"]["value"])
        return self.report(accounting, output, quarantine, **extra)


class CommitWatermarkOperator(BaseOperator):
    """Save the high-water mark an incremental SQL ingest read up to; place it after the store step.

    :param ingest_result: the ingest task's result (``ingest.output``). (templated)
    """

    template_fields: Sequence[str] = ("ingest_result",)
    ui_color = "#f0f0f0"

    def __init__(self, *, ingest_result: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ingest_result = ingest_result

    def execute(self, context: Context) -> Any:
        from dataframe_pipeline.ingest.sql.watermark import WatermarkStore, decode_watermark

        mark = (self.ingest_result or {}).get("watermark")
        if not mark:
            raise AirflowFailException("ingest_result has no watermark: is the ingest incremental by watermark?")
        if mark["value"] is None:
            self.log.info("no row read yet: nothing to commit")
            return None
        path = ObjectStoragePath(mark["store"])
        WatermarkStore(path.fs, path.path).set(mark["key"], decode_watermark(mark["value"]))
        self.log.info("committed watermark %s=%s to %s", mark["key"], mark["value"], mark["store"])
        return mark["value"]
