"""Airflow operators of the ingest step: files, SQL databases, HTTP APIs, Kafka topics.

Each builds the step's :class:`~dataframe_pipeline.core.runner.SourceInput` (the parts of its source,
shaped at ingestion) and lets the runner write the output and the quarantine; a file that is malformed as
a whole is quarantined whole, the other files go on.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import StepOperator, location, run_partition
from dataframe_pipeline.exceptions import (
    ConfigurationError,
    EmptySourceError,
    NothingToIngestError,
    SourceDecodeError,
    SourceNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.runner import SourcePart, StepRunner


def landing_root() -> Path:
    """Local sources are confined to this folder (``DATAFRAME_PIPELINE_LANDING_ROOT``, default: the project)."""
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


def whole_file_rule(err: Exception) -> str:
    """The quarantine rule of a file refused as a whole, by the data-contract error that condemned it."""
    if isinstance(err, EmptySourceError):
        return "empty_file"
    if isinstance(err, SourceDecodeError):
        return "undecodable_file"
    return "malformed_file"


class IngestOperatorBase(StepOperator):
    """What every ingest operator shares: basic transformations at ingestion (``shaping``).

    :param shaping: ``{"rename": {...}, "dtypes": {...}, "filters": [[col, op, value], ...], "columns": [...]}``,
        applied to every batch in that order (see :mod:`dataframe_pipeline.ingest.shaping`). (templated)
    """

    template_fields: Sequence[str] = ("shaping", "storage_root")
    step = "ingest"
    ui_color = "#e0f0ff"

    def __init__(self, *, shaping: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shaping = shaping

    def shaping_spec(self) -> Any:
        if not self.shaping:
            return None
        from dataframe_pipeline.ingest.shaping import Shaping

        if not isinstance(self.shaping, dict):
            raise ConfigurationError("shaping", self.shaping, "must be a mapping of rename, dtypes, filters, columns")
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

    def state_path(self, name: str) -> ObjectStoragePath:
        """``<storage root>/<dag_id>/_state/<name>``: what incremental reads remember across partitions."""
        return self.root() / self.dag_id / "_state" / name


class FileIngestOperator(IngestOperatorBase):
    """Ingest files: CSV/TSV, JSON, JSON Lines, XML, HTML tables, Parquet, plain or compressed.

    Text columns stay text unless ``file_format["column_types"]`` says otherwise (typing is the clean
    step's job, where unparseable values are quarantined with their reason). Rows keep their origin
    in ``_source_file`` and ``_source_line``. Malformed records go to quarantine with file, line and
    reason. A file that is empty, does not decode or is malformed as a whole (broken XML/JSON,
    corrupt archive) is quarantined whole: nothing of it is kept, the other files go on. A missing
    source raises ``SourceNotFoundError`` and is retried (files can arrive late).

    :param source: a path or glob under the landing root, ``s3://conn@bucket/key`` (glob allowed) or
        an ``http(s)://`` URL; or a list of them (a window of daily files), read in that order, each file
        once. (templated)
    :param file_format: :class:`~dataframe_pipeline.ingest.files.format.FileFormat` fields
        (kind, compression, encoding, delimiter, columns, column_types, records_path, ...). (templated)
    :param incremental: ingest only files not ingested by an earlier partition (a manifest of path,
        size and sha256 per file); a re-run of the same partition re-reads the same files.
    :param on_nothing_new: with ``incremental``, when no file is new: ``"skip"`` the task (and so the
        steps after it) or ``"succeed"`` with an empty dataset. (templated)
    """

    template_fields: Sequence[str] = (*IngestOperatorBase.template_fields, "source", "file_format", "on_nothing_new")

    def __init__(
        self,
        *,
        source: str | list[str],
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

        if self.file_format is not None and not isinstance(self.file_format, dict):
            raise ConfigurationError("file_format", self.file_format, "must be a mapping of FileFormat fields")
        try:
            fmt = FileFormat(**{"batch_rows": self.rows_per_batch, **(self.file_format or {})})
        except TypeError as err:
            raise ConfigurationError("file_format", self.file_format, str(err)) from err
        fmt.validate()
        return fmt

    def validate_config(self) -> None:
        super().validate_config()
        sources = self.source if isinstance(self.source, list) else [self.source]
        if not sources or not all(isinstance(s, str) and s for s in sources):
            raise ConfigurationError("source", self.source, "must be a file path, glob or URI, or a list of them")
        if not isinstance(self.incremental, bool):
            raise ConfigurationError("incremental", self.incremental, "must be True or False")
        if self.on_nothing_new not in ("skip", "succeed"):
            raise ConfigurationError("on_nothing_new", self.on_nothing_new, "must be 'skip' or 'succeed'")
        self.fmt()

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import SourceInput, SourcePart

        fmt = self.fmt()
        listed = self._listed()
        files, record = self._plan(context, listed)
        parts = [
            SourcePart(str(f), functools.partial(self._read, f, fmt), whole_file_rule, f.fs.size(f.path)) for f in files
        ]
        details = {"files": len(files), "files_skipped": len(listed) - len(files)}
        source = SourceInput(parts, columns=self._declared_columns(fmt), details=lambda: details)
        meta = {"files": [str(f) for f in files]}
        return self.step_runner(context, source, meta=meta, after_commit=record)

    def _listed(self) -> list[SourceFile]:
        """The files of every source, in order, each once; a source matching nothing is missing (retried)."""
        files: dict[str, SourceFile] = {}
        for source in self.source if isinstance(self.source, list) else [self.source]:
            found = list_source_files(source)
            if not found:
                raise SourceNotFoundError(f"source={source!r}: no file")
            files.update((f.uri, f) for f in found if f.uri not in files)
        return list(files.values())

    def _plan(self, context: Context, files: list[SourceFile]) -> tuple[list[SourceFile], Any]:
        """The files of this partition (all, or the new ones when incremental) and what records them."""
        if not self.incremental:
            return files, None
        from dataframe_pipeline.ingest.files.locations import FileManifest, file_info

        path = self.state_path(f"files-{self.task_id}.json")
        manifest = FileManifest(path.fs, path.path)
        partition = run_partition(context).path
        take, skip = manifest.plan([file_info(f.fs, f.path) for f in files], partition)
        self.log.info("incremental: %d new or re-read file(s), %d ingested before", len(take), len(skip))
        if not take and self.on_nothing_new == "skip":
            raise NothingToIngestError(f"no new file for {self.source!r}: all {len(files)} ingested before")
        wanted = {i.path for i in take}

        def record() -> dict[str, Any]:
            manifest.record(take, partition)
            return {}

        return [f for f in files if f.path in wanted], record

    def _read(self, file: SourceFile, fmt: Any) -> Iterator[Any]:
        from dataframe_pipeline.ingest.files.format import read_source

        with file.fs.open(file.path, "rb") as fh:
            yield from self.shaped(read_source(fh, str(file), fmt))

    @staticmethod
    def _declared_columns(fmt: Any) -> dict[str, Any] | None:
        if not fmt.columns:
            return None
        import pyarrow as pa

        types = fmt.arrow_types()
        return {c: types.get(c, pa.string()) for c in fmt.columns}


class HttpIngestOperator(IngestOperatorBase):
    """Ingest the records of a paginated JSON API reached through an Airflow HTTP connection.

    Authentication, headers and the rate limit come from the connection (see
    :mod:`dataframe_pipeline.ingest.connections`); secrets never reach the logs. 429 and 5xx are
    retried with backoff inside the task; other 4xx fail the task without retry.

    :param http_conn_id: the HTTP connection. (templated)
    :param endpoint: path under the connection's base URL. (templated)
    :param query_params: query parameters of the first request. (templated)
    :param pagination: ``{"type": "cursor" | "page_number" | "offset" | "link_header" | "next_url", ...}``. (templated)
    :param records_path: where the records are in the JSON body (``"data.items"``); None: the body. (templated)
    :param flatten_sep: separator of flattened nested fields. (templated)
    :param max_pages: stop after this many pages (reported). (templated)
    """

    template_fields: Sequence[str] = (
        *IngestOperatorBase.template_fields,
        "http_conn_id",
        "endpoint",
        "query_params",
        "pagination",
        "records_path",
        "flatten_sep",
        "max_pages",
    )

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
        from dataframe_pipeline.ingest.connections import pagination

        super().validate_config()
        if not isinstance(self.http_conn_id, str) or not self.http_conn_id:
            raise ConfigurationError("http_conn_id", self.http_conn_id, "must be a connection id")
        pagination(self.pagination)

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import SourceInput
        from dataframe_pipeline.ingest.connections import http_source
        from dataframe_pipeline.ingest.http.reader import HttpReader

        source = http_source(
            self.http_conn_id,
            endpoint=self.endpoint,
            params=self.query_params,
            pagination=self.pagination,
            records_path=self.records_path,
            flatten_sep=self.flatten_sep,
            max_pages=self.max_pages,
            batch_rows=self.rows_per_batch,
        )
        reader = HttpReader(source)
        part = self._part(source.url(), reader)
        inputs = SourceInput([part], details=lambda: {"http": reader.stats.as_dict()})
        return self.step_runner(context, inputs, meta={"source": self.endpoint})

    def _part(self, name: str, reader: Any) -> SourcePart:
        from dataframe_pipeline.core.runner import SourcePart

        def batches() -> Iterator[Any]:
            yield from self.shaped(reader.batches())  # a 4xx is not retryable: execute fails without retry
            stats = reader.stats.as_dict()
            self.log.info("read %s: %s", self.endpoint or "/", stats)
            if stats.get("hit_max_pages"):
                self.log.warning("stopped at max_pages=%d: the API has more pages", self.max_pages)

        return SourcePart(name, batches)


class SqlIngestOperator(IngestOperatorBase):
    """Stream a table or a parameterised query of any SQLAlchemy database behind an Airflow connection.

    Values reach the database as bound parameters only, identifiers are checked against the
    database's catalogue, rows stream through a server-side cursor, and a lost connection is resumed
    after the last key read (or the task is retried: its output is replaced atomically).

    Incremental modes (``incremental``):

    - ``{"mode": "interval", "column": "time_hour"}``: ``column`` in the run's partition, the same
      interval however the run was started (``start``/``end`` may be given, templated); a backfill
      reloads exactly its partitions.
    - ``{"mode": "watermark", "column": "id"}``: rows with ``column`` above the high-water mark; the
      new mark is returned as ``watermark`` and saved only by :class:`CommitWatermarkOperator` placed
      after the store step, so a failed run re-reads instead of skipping.

    :param conn_id: a postgres, mysql or sqlite connection (see :mod:`~dataframe_pipeline.ingest.connections`).
        (templated)
    :param table: table to read (with ``schema`` and ``columns``); or ``query`` with ``query_params``. (templated)
    :param schema: the table's schema (database on MySQL). (templated)
    :param columns: table columns to read, in this order; all when None. (templated)
    :param query: a SELECT with ``:name`` placeholders. (templated)
    :param query_params: values of the placeholders. (templated)
    :param order_by: columns ordering the read; the resume key when unique. (templated)
    :param incremental: see above. (templated)
    """

    template_fields: Sequence[str] = (
        *IngestOperatorBase.template_fields,
        "conn_id",
        "table",
        "schema",
        "columns",
        "query",
        "query_params",
        "order_by",
        "incremental",
    )

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
        if not isinstance(self.conn_id, str) or not self.conn_id:
            raise ConfigurationError("conn_id", self.conn_id, "must be a connection id")
        if (self.table is None) == (self.query is None):
            raise ConfigurationError("table", self.table, "give exactly one of table and query")
        if self.incremental is not None and not isinstance(self.incremental, dict):
            raise ConfigurationError("incremental", self.incremental, "must be a mapping with mode and column")
        mode = (self.incremental or {}).get("mode")
        if self.incremental is not None and mode not in ("interval", "watermark"):
            raise ConfigurationError("incremental.mode", mode, "must be 'interval' or 'watermark'")

    def _watermarks(self) -> tuple[Any, str]:
        from dataframe_pipeline.ingest.sql.watermark import WatermarkStore

        path = self.state_path(f"watermark-{self.task_id}.json")
        return WatermarkStore(path.fs, path.path), str(path)

    def _incremental(self, context: Context) -> Any:
        from dataframe_pipeline.ingest.sql.source import Incremental

        if self.incremental is None:
            return None
        spec = dict(self.incremental)
        if spec["mode"] == "interval":
            partition = run_partition(context)
            spec.setdefault("start", partition.start)
            spec.setdefault("end", partition.end)
        else:
            spec["after"] = self._watermarks()[0].get(self.task_id)
        try:
            return Incremental(**spec)
        except TypeError as err:
            raise ConfigurationError("incremental", self.incremental, str(err)) from err

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import SourceInput, SourcePart
        from dataframe_pipeline.ingest.connections import sql_url
        from dataframe_pipeline.ingest.sql.reader import SqlReader
        from dataframe_pipeline.ingest.sql.source import SqlSource

        incremental = self._incremental(context)
        source = SqlSource(
            url=sql_url(self.conn_id),
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
        reader = SqlReader(source)
        reader.check()

        def batches() -> Iterator[Any]:
            with reader:
                yield from self.shaped(reader.batches())

        inputs = SourceInput([SourcePart(source.source_name, batches)], details=lambda: self._details(reader))
        return self.step_runner(context, inputs, meta={"source": source.source_name})

    def _details(self, reader: Any) -> dict[str, Any]:
        from dataframe_pipeline.ingest.sql.watermark import encode_watermark

        stats, incremental = reader.stats, reader.source.incremental
        self.log.info("read %s: %d rows in %.1fs (%d retries)", reader.source.source_name, stats.rows, stats.seconds,
                      stats.retries)  # fmt: skip
        details: dict[str, Any] = {
            "sql": {"source": reader.source.source_name, "rows": stats.rows, "retries": stats.retries}
        }
        if incremental is not None and incremental.mode == "watermark":
            value = stats.max_value if stats.max_value is not None else incremental.after
            details["watermark"] = {
                "store": self._watermarks()[1],
                "key": self.task_id,
                "previous": encode_watermark(incremental.after) if incremental.after is not None else None,
                "value": encode_watermark(value) if value is not None else None,
            }
            self.log.info("watermark candidate %s (committed after the store step)", details["watermark"]["value"])
        return details


def _batch_consumer_hook(topics: list[str], kafka_config_id: str, group_id: str | None = None) -> Any:
    """The provider's consumer hook, with end-of-partition events on (how a batch knows it is drained)
    and ``group_id`` (if given) as the consumer's ``group.id``, in place of the connection's."""
    from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook

    overrides: dict[str, Any] = {"enable.partition.eof": True}
    if group_id is not None:
        overrides["group.id"] = group_id

    class BatchConsumerHook(KafkaConsumerHook):
        def _get_client(self, config: dict[str, Any]) -> Any:
            return super()._get_client({**config, **overrides})

    return BatchConsumerHook(topics, kafka_config_id=kafka_config_id)


class KafkaIngestOperator(IngestOperatorBase):
    """Ingest one micro-batch of Kafka topics (JSON values), landing each message exactly once.

    The consumer and the dead-letter producer come from an Airflow Kafka connection: its extra is the
    confluent-kafka configuration (``bootstrap.servers``, ``group.id``, ``auto.offset.reset``,
    ``session.timeout.ms``, security settings) and must set ``enable.auto.commit`` to false. The batch
    reads every partition of the topics, up to ``max_messages`` or ``max_seconds``; it is written as the
    step's dataset with the offset range of each partition in its manifest, and only then are poison
    messages produced to ``dead_letter_topic`` and the offsets committed to the group. Where a batch
    starts is decided by the ranges recorded with the data (see
    :mod:`dataframe_pipeline.ingest.kafka.offsets`): a retry or re-run of a partition replays its
    recorded ranges (the same rows), the next partition starts where the last landed batch ended. One
    batch of a source runs at a time (``max_active_tis_per_dag`` defaults to 1).

    Values are decoded as JSON objects, flattened and typed like JSON Lines files; rows keep
    ``_source_file`` (``kafka://<topic>``), ``_source_line`` (the offset), ``_kafka_partition``,
    ``_kafka_key`` and ``_kafka_timestamp``. With ``json_schema``, each decoded object is validated
    against it before it is flattened. Poison messages (not UTF-8, not JSON, not an object, failing
    ``json_schema``: ``schema_violation``, not fitting the columns or their types, larger than
    ``max_message_bytes``) are quarantined with topic, partition, offset, key, timestamp, rule and
    reason, and the rest of the batch goes on.

    :param topics: the topics to read. (templated)
    :param kafka_config_id: the Kafka connection. (templated)
    :param max_messages: most messages per batch. (templated)
    :param max_seconds: most seconds spent reading per batch. (templated)
    :param idle_seconds: end the batch when no message came for this long. (templated)
    :param max_message_bytes: larger values are poison. (templated)
    :param dead_letter_topic: where poison messages are produced; None: quarantine only. (templated)
    :param source_id: the name of the offsets ledger (``<storage root>/_kafka_offsets/<source_id>``);
        default ``<dag_id>.<task_id>``. (templated)
    :param columns: the expected columns of the messages; None: decided by the first good ones. (templated)
    :param column_types: Arrow type alias per column. (templated)
    :param flatten_sep: separator of flattened nested fields; None keeps objects as JSON text. (templated)
    :param json_schema: a JSON Schema every message value (an object) must validate against: a mapping,
        or the path of a ``.json`` file, absolute or relative to the project's ``include/`` folder
        (``schemas/sensor_reading.schema.json``); checked before anything is read. None: no schema.
        (templated)
    :param group_id: the consumer group the offsets are committed to (what monitoring shows as lag), in
        place of the connection's ``group.id``; give each source reading a topic its own. None: the
        connection's. (templated)
    """

    template_fields: Sequence[str] = (
        *IngestOperatorBase.template_fields,
        "topics",
        "kafka_config_id",
        "max_messages",
        "max_seconds",
        "idle_seconds",
        "max_message_bytes",
        "dead_letter_topic",
        "source_id",
        "columns",
        "column_types",
        "flatten_sep",
        "json_schema",
        "group_id",
    )

    def __init__(
        self,
        *,
        topics: list[str],
        kafka_config_id: str = "kafka_default",
        max_messages: int = 100_000,
        max_seconds: float = 60.0,
        idle_seconds: float = 2.0,
        max_message_bytes: int = 1_000_000,
        dead_letter_topic: str | None = None,
        source_id: str | None = None,
        columns: list[str] | None = None,
        column_types: dict[str, str] | None = None,
        flatten_sep: str | None = ".",
        json_schema: dict[str, Any] | str | None = None,
        group_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_active_tis_per_dag", 1)  # the ledger has one writer
        super().__init__(**kwargs)
        self.topics = topics
        self.kafka_config_id = kafka_config_id
        self.max_messages = max_messages
        self.max_seconds = max_seconds
        self.idle_seconds = idle_seconds
        self.max_message_bytes = max_message_bytes
        self.dead_letter_topic = dead_letter_topic
        self.source_id = source_id
        self.columns = columns
        self.column_types = column_types
        self.flatten_sep = flatten_sep
        self.json_schema = json_schema
        self.group_id = group_id

    def kafka_source(self, offset_reset: str = "earliest") -> Any:
        from dataframe_pipeline.ingest.kafka.schema import load_json_schema
        from dataframe_pipeline.ingest.kafka.source import KafkaSource

        topics = tuple(self.topics) if isinstance(self.topics, list | tuple) else self.topics
        schema = None
        if self.json_schema is not None:
            schema = load_json_schema(self.json_schema, settings.PROJECT_DIR / "include")
        source = KafkaSource(
            topics=topics,
            max_messages=self.max_messages,
            max_seconds=self.max_seconds,
            idle_seconds=self.idle_seconds,
            max_message_bytes=self.max_message_bytes,
            dead_letter_topic=self.dead_letter_topic,
            flatten_sep=self.flatten_sep,
            columns=self.columns,
            column_types=self.column_types,
            json_schema=schema,
            offset_reset=offset_reset,
            poll_messages=min(100_000, self.rows_per_batch),
        )
        source.validate()
        return source

    def ledger_id(self) -> str:
        return self.source_id or f"{self.dag_id}.{self.task_id}"

    def validate_config(self) -> None:
        super().validate_config()
        if not isinstance(self.kafka_config_id, str) or not self.kafka_config_id:
            raise ConfigurationError("kafka_config_id", self.kafka_config_id, "must be a connection id")
        source_id = self.ledger_id()
        if not isinstance(source_id, str) or not source_id.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigurationError("source_id", self.source_id, "must be letters, digits, '.', '_' or '-'")
        if self.group_id is not None and (not isinstance(self.group_id, str) or not self.group_id.strip()):
            raise ConfigurationError("group_id", self.group_id, "must be a consumer group name or None")
        self.kafka_source()

    def kafka_config(self) -> dict[str, Any]:
        """The connection's confluent-kafka configuration (``group_id`` in place of its ``group.id``),
        checked: offsets are committed by the operator."""
        from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

        extra = KafkaBaseHook(kafka_config_id=self.kafka_config_id).get_connection(self.kafka_config_id).extra_dejson
        if self.group_id is not None:
            extra = {**extra, "group.id": self.group_id}
        field = f"{self.kafka_config_id}.extra"
        if not extra.get("bootstrap.servers"):
            raise ConfigurationError(f"{field}[bootstrap.servers]", extra.get("bootstrap.servers"), "must be set")
        if not extra.get("group.id"):
            raise ConfigurationError(f"{field}[group.id]", extra.get("group.id"), "must be set (offsets are committed)")
        if str(extra.get("enable.auto.commit", "true")).lower() != "false":
            raise ConfigurationError(f"{field}[enable.auto.commit]", extra.get("enable.auto.commit"),
                                     "must be false: the operator commits offsets after the data lands")  # fmt: skip
        return extra

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import SourceInput, SourcePart
        from dataframe_pipeline.ingest.kafka.offsets import OffsetLedger, manifest_section
        from dataframe_pipeline.ingest.kafka.reader import KafkaBatchReader
        from dataframe_pipeline.ingest.kafka.source import source_name

        extra = self.kafka_config()
        source = self.kafka_source(str(extra.get("auto.offset.reset", "earliest")))
        partition = run_partition(context).path
        dataset = self.task_place(context) / "output"
        ledger = OffsetLedger(
            location(self.root() / "_kafka_offsets" / self.ledger_id()),
            self.ledger_id(),
            lambda uri: location(ObjectStoragePath(uri)),
        )
        plan = ledger.plan(partition)
        consumer = _batch_consumer_hook(list(source.topics), self.kafka_config_id, self.group_id).get_conn
        reader = KafkaBatchReader(source, consumer, plan)
        reader.resolve()
        if plan.new_entry:
            ledger.register(dataclasses.replace(plan, starts=dict(reader.starts)), partition, dataset.uri)
        self.log.info("%s", plan.describe())
        name = ",".join(source_name(t) for t in source.topics)
        meta: dict[str, Any] = {"source": name}

        def batches() -> Iterator[Any]:
            yield from self.shaped(reader.batches())
            # read before the commit: the ranges go into the manifest, in the same write as the data
            meta["kafka"] = manifest_section(plan.seq, self.ledger_id(), reader.ranges())

        def after_commit() -> dict[str, Any]:
            return self._after_commit(reader, plan)

        inputs = SourceInput([SourcePart(name, batches)], details=lambda: {"kafka": reader.stats.as_dict()})
        return self.step_runner(context, inputs, meta=meta, after_commit=after_commit)

    def _after_commit(self, reader: Any, plan: Any) -> dict[str, Any]:
        """Once the dataset (with its ranges) is committed: dead letters, then the group's offsets."""
        from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

        from dataframe_pipeline.ingest.kafka.reader import pause_at

        pause_at("after_write")
        if reader.poison and reader.source.dead_letter_topic:
            reader.dead_letter(KafkaProducerHook(kafka_config_id=self.kafka_config_id).get_producer())
        committed = reader.commit_offsets()
        reader.consumer.close()
        self.log.info("committed offsets of batch %d: %s", plan.seq, [r.as_dict() for r in committed])
        return {
            "kafka": {
                **reader.stats.as_dict(),
                "seq": plan.seq,
                "replayed": plan.replay is not None,
                "ranges": [r.as_dict() for r in reader.ranges()],
            }
        }


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
        store = location(ObjectStoragePath(mark["store"]))
        WatermarkStore(store.fs, store.path).set(mark["key"], decode_watermark(mark["value"]))
        self.log.info("committed watermark %s=%s to %s", mark["key"], mark["value"], mark["store"])
        return mark["value"]
