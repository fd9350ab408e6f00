"""Airflow operator of the store step (the publish in write-audit-publish)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataframe_pipeline.assets import curated_asset
from dataframe_pipeline.core.operators import StepOperator, run_partition
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.runner import StepRunner


class DeltaStoreOperator(StepOperator):
    """Publish the validated dataset as the run's partition of a curated Delta Lake table.

    The partition is the run's (``date=2026-10-09``; ``date=2026-11-01/hour_utc=03`` for an hourly DAG),
    the same however the run was started: a re-run replaces exactly that partition, never removes rows
    another run published and never appends duplicates. Each publish is one Delta commit (a new version)
    whose metadata holds the manifest: run, inputs and their fingerprints, code version, configuration
    and its hash, fitted artifacts, rows, validation. The first commit fixes the table's schema; a
    partition that differs is refused. Read and roll back with :mod:`dataframe_pipeline.store.tables`.

    The table's Asset (``curated/<dataset_name>``) is the default outlet; each publish emits an asset
    event whose extra holds ``partition``, ``version``, ``rows`` and ``table``.

    :param dataset_name: the table's directory under ``curated_root`` (also the Asset's name).
    :param subpartition_by: data column(s) that partition the table further (``split``), or None. (templated)
    :param curated_root: defaults to ``DATAFRAME_PIPELINE_CURATED_ROOT``. (templated)
    :param compression: Parquet codec of the table's files (``zstd``, ``snappy``, ``lz4``, ...). (templated)
    :param target_file_size: bytes per data file; None: delta-rs's default (about 100 MB). (templated)
    :param max_retries: commits retried after losing a commit race to another run.
    """

    template_fields: Sequence[str] = (
        *StepOperator.template_fields, "subpartition_by", "curated_root", "compression", "target_file_size",
    )  # fmt: skip
    step = "store"
    ui_color = "#dfe7fd"

    def __init__(
        self,
        *,
        dataset_name: str,
        subpartition_by: str | list[str] | None = None,
        curated_root: str | None = None,
        compression: str = "zstd",
        target_file_size: int | None = None,
        max_retries: int = 3,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [curated_asset(dataset_name, curated_root)])
        super().__init__(**kwargs)
        self.dataset_name = dataset_name
        self.subpartition_by = subpartition_by
        self.curated_root = curated_root
        self.compression = compression
        self.target_file_size = target_file_size
        self.max_retries = max_retries

    @property
    def subpartition_columns(self) -> list[str]:
        value = self.subpartition_by
        return [] if value is None else [value] if isinstance(value, str) else list(value)

    def validate_config(self) -> None:
        from dataframe_pipeline.store.delta import CODECS

        super().validate_config()
        name = self.dataset_name
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ConfigurationError("dataset_name", name, "must be a plain directory name")
        columns = self.subpartition_by
        names = self.subpartition_columns if isinstance(columns, str | list | tuple) else [None]
        if columns is not None and (not columns or not all(isinstance(c, str) and c for c in names)):
            raise ConfigurationError("subpartition_by", columns, "must be a column name, a list of them, or None")
        if self.compression not in CODECS:
            raise ConfigurationError("compression", self.compression, f"must be one of {list(CODECS)}")
        size = self.target_file_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigurationError("target_file_size", size, "must be a positive number of bytes or None")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigurationError("max_retries", self.max_retries, "must be a non-negative integer")

    def table_uri(self) -> str:
        """The table's lake URI, e.g. ``file:///.../curated/orders`` or ``s3://conn@bucket/curated/orders``."""
        from dataframe_pipeline.store.storage import curated_table_uri

        return curated_table_uri(self.curated_root, self.dataset_name)

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import DatasetInput
        from dataframe_pipeline.store.delta import DeltaPublisher
        from dataframe_pipeline.store.manifest import build_manifest
        from dataframe_pipeline.store.storage import storage_options

        source = DatasetInput(self.input_location())
        shown = self.table_uri()
        plain, options = storage_options(shown)
        manifest = build_manifest(
            run_id=str(context["run_id"]), dag_id=self.dag_id, task_id=self.task_id,
            partition=run_partition(context).as_dict(), source=source.ref, upstream=self.upstream_results(context),
            config=self.config(),
        )  # fmt: skip

        def publisher(_: Any) -> DeltaPublisher:
            return DeltaPublisher(
                plain, run_partition(context).values, subpartition_by=self.subpartition_columns, manifest=manifest,
                expected_rows=source.ref.rows, replay=source.batches(self.rows_per_batch), storage_options=options,
                compression=self.compression, target_file_size=self.target_file_size, max_retries=self.max_retries,
                shown_uri=shown,
            )  # fmt: skip

        return self.step_runner(context, source, sink=publisher, meta={"run_id": context["run_id"]})

    def config(self) -> dict[str, Any]:
        """The step's configuration as recorded (and hashed) in the manifest."""
        return {
            "dataset_name": self.dataset_name,
            "subpartition_by": self.subpartition_columns,
            "compression": self.compression,
            "target_file_size": self.target_file_size,
        }

    def upstream_results(self, context: Context) -> dict[str, Any]:
        """task id -> the result of every task upstream of this one (the manifest's inputs)."""
        ti = context.get("ti")
        if ti is None or getattr(ti, "xcom_pull", None) is None or not self.has_dag():
            return {}
        return {task: ti.xcom_pull(task_ids=task) for task in sorted(self.get_flat_relative_ids(upstream=True))}

    def execute(self, context: Context) -> dict[str, Any]:
        result = super().execute(context)
        self.announce(context, result)
        return result

    def announce(self, context: Context, result: dict[str, Any]) -> None:
        """Say on each outlet Asset which partition and version this publish made."""
        extra = {
            "partition": run_partition(context).as_dict(),
            "version": result.get("version"),
            "rows": result.get("rows"),
            "table": result.get("table_uri"),
        }
        events = context.get("outlet_events")
        if events is None:
            return
        for outlet in self.outlets:
            events[outlet].extra = extra


class SqlStoreOperator(StepOperator):
    """Load the validated dataset (or a curated table's partition) into a SQL warehouse table, in one
    transaction: PostgreSQL (``COPY``), MariaDB/MySQL, SQLite (``store/sql/``).

    ``replace_partition`` (the default) deletes the run's partition and inserts the rows in the same
    transaction, so a re-run replaces it; the partition columns are the run's (``date``; ``date`` and
    ``hour_utc`` for an hourly DAG) and **a partition column the data lacks is added by the sink** with the
    run's value (an ISO date becomes a DATE column). ``upsert`` and ``append_new`` match rows by ``key``.

    :param conn_id: the warehouse's Airflow connection (postgres, mysql/mariadb, sqlite, or any type with
        ``extra.sqlalchemy_url``). (templated)
    :param table: the table's name. (templated)
    :param schema: its schema (PostgreSQL) or database (MariaDB); None: the connection's. (templated)
    :param mode: ``replace_partition`` | ``upsert`` | ``append_new``; default: the star table's, else
        ``replace_partition``. (templated)
    :param key: the key columns (upsert, append_new; the primary key of a created table). (templated)
    :param partition_columns: which fields of the run's partition to replace (default: all of them;
        replace_partition only). (templated)
    :param create: create the table from the data's schema when it does not exist. (templated)
    :param columns: load only these columns (a list), or these renamed (a mapping old -> new). (templated)
    :param star_table: a table of the orders star schema (``store/star.py``: ``dim_customer``, ...,
        ``fact_orders``): its rows are built from the input's batches; mode and key are the model's.
        (templated)
    :param input_table: read this curated table's partition instead of ``input_dataset``; its version is
        the one announced by the triggering asset event, or ``input_version``, or the latest. (templated)
    :param input_version: the curated table version to read. (templated)
    """

    template_fields: Sequence[str] = (
        *StepOperator.template_fields,
        "conn_id", "table", "schema", "mode", "key", "partition_columns", "create", "columns", "star_table",
        "input_table", "input_version",
    )  # fmt: skip
    step = "store"
    ui_color = "#dfe7fd"

    def __init__(
        self,
        *,
        conn_id: str,
        table: str,
        schema: str | None = None,
        mode: str | None = None,
        key: list[str] | None = None,
        partition_columns: list[str] | None = None,
        create: bool = False,
        columns: list[str] | dict[str, str] | None = None,
        star_table: str | None = None,
        input_table: str | None = None,
        input_version: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.table = table
        self.schema = schema
        self.mode = mode
        self.key = key
        self.partition_columns = partition_columns
        self.create = create
        self.columns = columns
        self.star_table = star_table
        self.input_table = input_table
        self.input_version = input_version

    def _model(self) -> Any:
        from dataframe_pipeline.store.star import ORDERS_STAR

        if self.star_table is None:
            return None
        if self.star_table not in ORDERS_STAR:
            raise ConfigurationError("star_table", self.star_table, f"must be one of {sorted(ORDERS_STAR)}")
        return ORDERS_STAR[self.star_table]

    def _mode_and_key(self) -> tuple[str, list[str]]:
        model = self._model()
        mode = self.mode or (model.mode if model else "replace_partition")
        key = self.key if self.key is not None else (list(model.key) if model else [])
        if model is not None and (mode, list(key)) != (model.mode, list(model.key)):
            raise ConfigurationError(
                "mode", (mode, key), f"star table {model.name} loads by {model.mode} on key {list(model.key)}"
            )
        return mode, key

    def validate_config(self) -> None:
        from dataframe_pipeline.store.sql import check_sink_config
        from dataframe_pipeline.store.sql.sink import check_identifier

        super().validate_config()
        if not isinstance(self.conn_id, str) or not self.conn_id:
            raise ConfigurationError("conn_id", self.conn_id, "must be an Airflow connection id")
        mode, key = self._mode_and_key()
        for name in self.partition_columns or []:
            check_identifier("partition_columns", name)
        if self.partition_columns is not None and mode != "replace_partition":
            raise ConfigurationError(
                "partition_columns", self.partition_columns, f"only for replace_partition, not {mode}"
            )
        placeholder = {"date": "2026-01-01"} if mode == "replace_partition" else {}
        check_sink_config(self.table, self.schema, mode, key, placeholder)
        if not isinstance(self.create, bool):
            raise ConfigurationError("create", self.create, "must be true or false")
        self._check_columns()
        if (self.input_dataset is None) == (self.input_table is None):
            raise ConfigurationError(
                "input_table", self.input_table, "give exactly one of input_dataset and input_table"
            )
        if self.input_version is not None and (
            isinstance(self.input_version, bool) or not isinstance(self.input_version, int)
        ):
            raise ConfigurationError("input_version", self.input_version, "must be a table version (an integer)")

    def _check_columns(self) -> None:
        from dataframe_pipeline.store.sql.sink import check_identifier

        if self.columns is None:
            return
        if self.star_table is not None:
            raise ConfigurationError("columns", self.columns, "a star table chooses its own columns")
        if isinstance(self.columns, str) or not isinstance(self.columns, list | dict) or not self.columns:
            raise ConfigurationError("columns", self.columns, "must be a non-empty list or mapping old -> new")
        for name in self.columns.values() if isinstance(self.columns, dict) else self.columns:
            check_identifier("columns", name)

    def _input(self, context: Context, partition: dict[str, str]) -> Any:
        from dataframe_pipeline.core.runner import DatasetInput
        from dataframe_pipeline.store.sql.inputs import TableInput

        if self.input_table is None:
            return DatasetInput(self.input_location())
        version = self.input_version if self.input_version is not None else announced_version(context, self.input_table)
        return TableInput(self.input_table, version=version, filters=[(k, "=", v) for k, v in partition.items()])

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.ingest.connections import sql_url
        from dataframe_pipeline.store.sql import ShapedSink, SqlTableSink, select_columns

        partition = run_partition(context).values
        source = self._input(context, partition)
        mode, key = self._mode_and_key()
        replaced = (
            {k: partition[k] for k in (self.partition_columns or partition)} if mode == "replace_partition" else {}
        )
        model = self._model()

        def sink(_: Any) -> Any:
            inner = SqlTableSink(
                sql_url(self.conn_id), self.table, schema=self.schema, mode=mode, partition=replaced, key=key,
                create=self.create, source=source.ref,
            )  # fmt: skip
            if model is not None:
                distinct = list(model.key) if model.is_dimension else None
                return ShapedSink(inner, model.build, distinct_key=distinct, name=f"star:{model.name}")
            columns = self.columns
            if columns is not None:
                return ShapedSink(inner, lambda frame: select_columns(frame, columns), name="columns")
            return inner

        meta = {"run_id": context["run_id"], "table": self.table, "mode": mode, "star_table": self.star_table}
        return self.step_runner(context, source, sink=sink, meta=meta)


def announced_version(context: Context, table_uri: str) -> int | None:
    """The version of ``table_uri`` announced by the newest asset event that triggered the run (the store
    step's extra ``{"table", "version", "partition", "rows"}``), or None (read the latest)."""
    wanted = table_uri.rstrip("/")
    version = None
    for events in dict(context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            asset_uri = str(getattr(getattr(event, "asset", None), "uri", "") or "").rstrip("/")
            names = {str(extra.get("table", "")).rstrip("/"), asset_uri}
            if wanted in names and extra.get("version") is not None:
                version = int(extra["version"])
    return version
