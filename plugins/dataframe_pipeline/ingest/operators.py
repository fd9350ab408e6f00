"""Airflow operators of the ingest step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import DataFrameStepOperator
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, SourceNotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.dataset import DatasetWriter
    from dataframe_pipeline.core.quarantine import QuarantineWriter
    from dataframe_pipeline.ingest.csv_reader import CsvOptions


def resolve_source(source: str) -> ObjectStoragePath:
    """A URI (``file://``, ``s3://conn@bucket/key``) or a path; relative paths are under the project."""
    if "://" in source:
        return ObjectStoragePath(source)
    path = Path(source)
    return ObjectStoragePath((path if path.is_absolute() else settings.PROJECT_DIR / path).as_uri())


class CsvIngestOperator(DataFrameStepOperator):
    """Ingest one CSV file, or every file matching a glob, into a dataset.

    Every column is read as text unless ``csv_options["column_types"]`` says otherwise (typing is the
    clean step's job, where unparseable values are quarantined with their reason). Each row keeps
    its origin in ``_source_file`` and ``_source_line``. Malformed lines go to quarantine with file,
    line and reason; a file that is empty or does not decode is quarantined whole and reported.
    A missing source raises ``SourceNotFoundError`` and is retried (files can arrive late).

    :param source: file path, glob or URI; relative paths are under the project directory. (templated)
    :param csv_options: :class:`~dataframe_pipeline.ingest.csv_reader.CsvOptions` fields
        (delimiter, quotechar, encoding, header, columns, column_types, null_values). (templated)
    """

    template_fields: Sequence[str] = ("source", "csv_options", "storage_root")
    step = "ingest"
    ui_color = "#e0f0ff"

    def __init__(self, *, source: str, csv_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.csv_options = csv_options

    def options(self) -> CsvOptions:
        from dataframe_pipeline.ingest.csv_reader import CsvOptions

        try:
            options = CsvOptions(**{"batch_rows": self.rows_per_batch, **(self.csv_options or {})})
        except TypeError as err:
            raise ConfigurationError("csv_options", self.csv_options, str(err)) from err
        options.validate()
        return options

    def validate_config(self) -> None:
        super().validate_config()
        if not self.source or not isinstance(self.source, str):
            raise ConfigurationError("source", self.source, "must be a file path, glob or URI")
        self.options()

    def source_files(self) -> list[ObjectStoragePath]:
        path = resolve_source(self.source)
        if any(ch in self.source for ch in "*?["):
            files = sorted(
                ObjectStoragePath(f"{path.protocol}://{p}", conn_id=path.conn_id) for p in path.fs.glob(path.path)
            )
        else:
            files = [path] if path.is_file() else []
        if not files:
            raise SourceNotFoundError(f"source={self.source!r}: no file at {path}")
        return files

    def run_step(self, context: Context) -> dict[str, Any]:
        from dataframe_pipeline.core.batch import RowAccounting
        from dataframe_pipeline.ingest.csv_reader import MALFORMED_ROW_RULE

        options = self.options()
        files = self.source_files()
        totals = {"rows_in": 0, "rows_out": 0, "quarantined": 0}
        dropped: dict[str, int] = {}
        unreadable: list[dict[str, str]] = []
        with self.open_output(context) as out, self.open_quarantine(context) as quarantine:
            for file in files:
                problem = self._ingest_file(file, options, out, quarantine, totals=totals, dropped=dropped)
                if problem:
                    unreadable.append({"file": str(file), "reason": problem})
            if out.schema is None:  # nothing readable: an empty dataset with the declared columns
                out.write(self._empty_table(options))
            output_ref = out.commit({"step": self.step, "files": [str(f) for f in files]})
            quarantine_ref = quarantine.commit()
        by_rule = {MALFORMED_ROW_RULE: totals["quarantined"]} if totals["quarantined"] else {}
        accounting = RowAccounting(totals["rows_in"], totals["rows_out"], totals["quarantined"], dropped, by_rule)
        for item in unreadable:
            self.log.warning("quarantined whole file %s: %s", item["file"], item["reason"])
        return self.report(accounting, output_ref, quarantine_ref, files=len(files), files_quarantined=unreadable)

    def _ingest_file(
        self,
        file: ObjectStoragePath,
        options: CsvOptions,
        out: DatasetWriter,
        quarantine: QuarantineWriter,
        *,
        totals: dict[str, int],
        dropped: dict[str, int],
    ) -> str | None:
        """Stream one file; returns why the whole file was quarantined, or None."""
        from dataframe_pipeline.ingest.csv_reader import (
            EmptySourceError,
            SourceDecodeError,
            bad_rows_table,
            read_csv_batches,
        )

        source = str(file)
        rows_before = out.rows
        try:
            with file.open("rb") as fh:
                for batch in read_csv_batches(fh, source, options):
                    acct = batch.row_accounting()
                    out.write(batch.table)
                    if batch.bad_rows:
                        bad = bad_rows_table(batch.bad_rows, source).to_pandas()
                        bad.index = bad["_source_line"].to_numpy()
                        quarantine.write(bad)
                    totals["rows_in"] += acct.rows_in
                    totals["rows_out"] += acct.rows_out
                    totals["quarantined"] += acct.rows_quarantined
                    for rule, n in acct.dropped_by_rule.items():
                        dropped[rule] = dropped.get(rule, 0) + n
        except (EmptySourceError, SourceDecodeError) as err:
            if out.rows != rows_before:
                raise  # part of the file was written already: fail rather than keep half a file
            quarantine.write_table(self._file_quarantine_row(source, err))
            return str(err)
        self.log.info("read %s: %d rows", source, out.rows - rows_before)
        return None

    def _file_quarantine_row(self, source: str, err: Exception) -> Any:
        import pyarrow as pa

        from dataframe_pipeline.core.quarantine import QUARANTINE_SCHEMA

        rule = "unreadable_file" if type(err).__name__ == "SourceDecodeError" else "empty_file"
        return pa.table(
            {
                "step": [self.step],
                "rule": [rule],
                "reason": [str(err)],
                "source": [source],
                "input_position": [None],
                "record": [None],
            },
            schema=QUARANTINE_SCHEMA,
        )

    @staticmethod
    def _empty_table(options: CsvOptions) -> Any:
        import pyarrow as pa

        columns = list(options.columns or [])
        types = options.arrow_types()
        fields = [pa.field(c, types.get(c, pa.string())) for c in columns]
        fields += [pa.field("_source_file", pa.string()), pa.field("_source_line", pa.int64())]
        return pa.schema(fields).empty_table()


class _SourceIngestOperator(DataFrameStepOperator):
    """Shared run of the connectors that yield :class:`~dataframe_pipeline.ingest.base.SourceBatch`."""

    step = "ingest"
    ui_color = "#e0f0ff"

    def write_source(self, context: Context, batches: Any, meta: dict[str, Any]) -> tuple[Any, Any, Any]:
        from dataframe_pipeline.ingest.base import write_batches

        with self.open_output(context) as out, self.open_quarantine(context) as quarantine:
            accounting = write_batches(batches, out, quarantine)
            if out.schema is None:
                raise DataContractError(f"{meta.get('source')}: the source returned no batch at all")
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

    template_fields: Sequence[str] = ("endpoint", "query_params", "storage_root")

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

        from dataframe_pipeline.ingest.connections import http_source
        from dataframe_pipeline.ingest.http_source import HttpReader, HttpSourceError

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

    template_fields: Sequence[str] = ("query", "query_params", "incremental", "storage_root")

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
        from dataframe_pipeline.ingest.sql_source import WatermarkStore

        root = ObjectStoragePath(self.storage_root or settings.storage_root())
        path = root / self.dag_id / "_state" / f"watermark-{self.task_id}.json"
        return WatermarkStore(path.fs, path.path), str(path)

    def _incremental(self, context: Context) -> Any:
        from dataframe_pipeline.ingest.sql_source import Incremental

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
        from dataframe_pipeline.ingest.sql_source import SqlReader, SqlSource, encode_watermark

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
        from dataframe_pipeline.ingest.sql_source import WatermarkStore, decode_watermark

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
