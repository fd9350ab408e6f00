"""Airflow operator of the store step (the publish in write-audit-publish)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import StepOperator, location, run_partition
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.runner import StepRunner


class ParquetStoreOperator(StepOperator):
    """Publish the validated dataset as the run's partition of a curated Parquet dataset.

    The partition is the run's (``date=2026-10-09``; ``date=2026-11-01/hour_utc=03`` for an hourly DAG), the
    same however the run was started, so a re-run of a partition replaces exactly that partition and
    never removes rows another run published (never appends duplicates either).

    :param dataset_name: directory of the curated dataset under ``curated_root``. (templated)
    :param subpartition_by: column whose values become sub-directories (``split=train``), or None. (templated)
    :param curated_root: defaults to ``DATAFRAME_PIPELINE_CURATED_ROOT``. (templated)
    """

    template_fields: Sequence[str] = (*StepOperator.template_fields, "dataset_name", "subpartition_by", "curated_root")
    step = "store"
    ui_color = "#dfe7fd"

    def __init__(
        self,
        *,
        dataset_name: str,
        subpartition_by: str | None = None,
        curated_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset_name = dataset_name
        self.subpartition_by = subpartition_by
        self.curated_root = curated_root

    def validate_config(self) -> None:
        super().validate_config()
        name = self.dataset_name
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ConfigurationError("dataset_name", name, "must be a plain directory name")
        if self.subpartition_by is not None and (not isinstance(self.subpartition_by, str) or not self.subpartition_by):
            raise ConfigurationError("subpartition_by", self.subpartition_by, "must be a column name or None")

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import DatasetInput
        from dataframe_pipeline.store.partitioned import PartitionPublisher

        source = DatasetInput(self.input_location())
        target = location(ObjectStoragePath(self.curated_root or settings.curated_root()) / self.dataset_name)
        partition = run_partition(context).values

        def publisher(_: Any) -> PartitionPublisher:
            return PartitionPublisher(target, partition, self.subpartition_by, source.ref)

        return self.step_runner(context, source, sink=publisher, meta={"run_id": context["run_id"]})
