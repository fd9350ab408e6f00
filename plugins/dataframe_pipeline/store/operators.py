"""Airflow operator of the store step (the publish in write-audit-publish)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import DataFrameStepOperator
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class ParquetStoreOperator(DataFrameStepOperator):
    """Publish the validated dataset as one date partition of a curated Parquet dataset.

    Re-running the same date replaces that partition (never appends duplicates).

    :param dataset_name: directory of the curated dataset under ``curated_root``.
    :param partition_date: value of the ``date=`` partition, e.g. ``"{{ ds }}"``. (templated)
    :param subpartition_by: column whose values become sub-directories (``split=train``), or None.
    :param curated_root: defaults to ``DATAFRAME_PIPELINE_CURATED_ROOT``. (templated)
    """

    template_fields: Sequence[str] = (
        *DataFrameStepOperator.template_fields,
        "partition_date",
        "curated_root",
    )
    step = "store"
    ui_color = "#dfe7fd"

    def __init__(
        self,
        *,
        dataset_name: str,
        partition_date: str = "{{ ds }}",
        subpartition_by: str | None = None,
        curated_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset_name = dataset_name
        self.partition_date = partition_date
        self.subpartition_by = subpartition_by
        self.curated_root = curated_root

    def validate_config(self) -> None:
        super().validate_config()
        if not self.dataset_name or "/" in self.dataset_name or self.dataset_name.startswith("."):
            raise ConfigurationError("dataset_name", self.dataset_name, "must be a plain directory name")

    def run_step(self, context: Context) -> dict[str, Any]:
        from dataframe_pipeline.core.batch import RowAccounting
        from dataframe_pipeline.store.partitioned import PartitionedParquetWriter

        if not self.partition_date:
            raise ConfigurationError("partition_date", self.partition_date, "is empty for this run")
        reader = self.open_input()
        target = ObjectStoragePath(self.curated_root or settings.curated_root()) / self.dataset_name
        writer = PartitionedParquetWriter(
            fs=target.fs,
            dataset_path=target.path,
            partition={"date": str(self.partition_date)[:10]},
            subpartition_by=self.subpartition_by,
        )
        try:
            for batch in reader.iter_batches(self.rows_per_batch):
                writer.write(batch)
            manifest = writer.commit({"source": reader.ref.as_dict(), "run_id": context["run_id"]})
        except BaseException:
            writer.abort()
            raise
        curated_uri = str(target / writer.partition_dir)
        accounting = RowAccounting(reader.rows, manifest["rows"], 0, {})
        self.log.info("row accounting [%s]: %s", self.step, accounting.summary())
        self.log.info("published %d rows to %s", manifest["rows"], curated_uri)
        return {
            "step": self.step,
            "curated_uri": curated_uri,
            "rows": manifest["rows"],
            "fingerprint": manifest["fingerprint"],
            "files": [f["path"] for f in manifest["files"]],
            "accounting": accounting.as_dict(),
        }
