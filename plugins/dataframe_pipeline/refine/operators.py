"""Airflow operator of the refine step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dataframe_pipeline.core.operators import TransformStepOperator
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.dataset import DatasetRef, DatasetWriter


class RefineOperator(TransformStepOperator):
    """Refine a dataset for training: dimensionality reduction, sampling, splits.

    ``transforms`` names::

        pca                PCAProjection(columns, n_components, prefix, keep_input, solver)
        truncated_svd      TruncatedSVDProjection(columns, n_components, prefix, sample_size, random_state)
        stratified_split   StratifiedSplit(fractions, stratify_by, random_state, column)
        sample             Sample(fraction, stratify_by, random_state)
        systematic_sample  SystematicSample(step, start)
        balance_classes    ClassBalancer(target, strategy, ratio, random_state, weight_column)

    :param transforms: ``[{"pca": {"columns": [...], "n_components": 3}}, ...]`` (templated)
    :param split_outputs: the column a ``stratified_split`` writes (e.g. ``"split"``): besides the
        whole output (which validation and storage read), write each split as a dataset of its own,
        ``<task>/split=<name>/`` (an empty split too), returned as ``result["splits"][name]`` so a
        training task can read ``train`` and an evaluation task ``test``. (templated)
    """

    template_fields: Sequence[str] = (*TransformStepOperator.template_fields, "split_outputs")
    step = "refine"
    ui_color = "#efe6fa"
    registry: ClassVar[dict[str, str]] = {
        "pca": "dataframe_pipeline.refine.pca:PCAProjection",
        "stratified_split": "dataframe_pipeline.refine.sampling:StratifiedSplit",
        "sample": "dataframe_pipeline.refine.sampling:Sample",
        "truncated_svd": "dataframe_pipeline.refine.svd:TruncatedSVDProjection",
        "systematic_sample": "dataframe_pipeline.refine.sampling_more:SystematicSample",
        "balance_classes": "dataframe_pipeline.refine.balance:ClassBalancer",
    }

    def __init__(self, *, split_outputs: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.split_outputs = split_outputs

    def validate_config(self) -> None:
        super().validate_config()
        if self.split_outputs is None:
            return
        if not isinstance(self.split_outputs, str) or not self.split_outputs:
            raise ConfigurationError("split_outputs", self.split_outputs, "must be a column name or None")
        columns = [
            (params or {}).get("column", "split")
            for item in self.transforms
            for name, params in item.items()
            if name == "stratified_split"
        ]
        if self.split_outputs not in columns:
            raise ConfigurationError(
                "split_outputs", self.split_outputs, f"no stratified_split writes this column (they write {columns})"
            )

    def open_routed_outputs(self, context: Context, transformers: list) -> SplitOutputs | None:
        if not self.split_outputs:
            return None
        from dataframe_pipeline.refine.sampling import StratifiedSplit

        split = [t for t in transformers if isinstance(t, StratifiedSplit) and t.column == self.split_outputs][-1]
        names = [str(name) for name in split.fractions]
        column = self.split_outputs
        return SplitOutputs(column, {name: self.open_output(context, f"{column}={name}") for name in names}, self.log)


class SplitOutputs:
    """One committed dataset per split: the rows of each batch routed by the split column."""

    def __init__(self, column: str, writers: dict[str, DatasetWriter], log: Any) -> None:
        self.column = column
        self.writers = writers
        self.log = log

    def __enter__(self) -> SplitOutputs:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        for writer in self.writers.values():
            writer.__exit__(exc_type, exc, tb)  # a failed step removes what they wrote

    def write(self, batch: Any) -> None:
        labels = batch[self.column].astype("object")
        for name, writer in self.writers.items():
            part = batch[(labels == name).to_numpy()]
            if len(part) or writer.schema is None:  # an empty part only to fix the schema
                writer.write(part)

    def commit(self, output: DatasetRef) -> dict[str, Any]:
        refs = {name: w.commit({"step": "refine", "split": name, "of": output.uri}) for name, w in self.writers.items()}
        total = sum(ref.rows for ref in refs.values())
        if total != output.rows:
            raise DataContractError(f"the splits hold {total} rows, the output {output.rows}")
        self.log.info("splits: %s", ", ".join(f"{name}={ref.rows}" for name, ref in refs.items()))
        return {"splits": {name: ref.as_dict() for name, ref in refs.items()}}
