"""Airflow operator of the store step (the publish in write-audit-publish)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from dataframe_pipeline.assets import curated_asset
from dataframe_pipeline.core import settings
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
        return str(ObjectStoragePath(self.curated_root or settings.curated_root()) / self.dataset_name)

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
        for outlet in self.outlets if events is not None else ():
            events[outlet].extra = extra
