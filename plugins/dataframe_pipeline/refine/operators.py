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
        normalize          RowNormalizer(columns, norm, suffix): each row to unit L2/L1/max norm
        standard_scale     StandardScaler(columns, with_mean, with_std, suffix)   (as in enrich)
        minmax_scale       MinMaxScaler(columns, feature_range, suffix)           (as in enrich)
        robust_scale       RobustScaler(columns, quantile_range, suffix)          (as in enrich)

    :param transforms: ``[{"pca": {"columns": [...], "n_components": 3}}, ...]`` (templated)
    :param split_outputs: the column a ``stratified_split`` writes (e.g. ``"split"``): besides the
        whole output (which validation and storage read), write each split as a dataset of its own,
        ``<task>/split=<name>/`` (an empty split too), returned as ``result["splits"][name]`` so a
        training task can read ``train`` and an evaluation task ``test``. (templated)
    :param tsne_picture: draw a t-SNE picture of the output for the quality report:
        ``{"columns": [...], "color_by": "label", "sample_size": 2000, "random_state": 0}`` (a seeded
        sample of complete rows, chosen while streaming the output). Written as ``<task>/tsne.png``
        and returned as ``result["pictures"]["tsne"]``. (templated)
    """

    template_fields: Sequence[str] = (*TransformStepOperator.template_fields, "split_outputs", "tsne_picture")
    TSNE_KEYS: ClassVar[frozenset[str]] = frozenset({"columns", "color_by", "sample_size", "random_state"})
    step = "refine"
    ui_color = "#efe6fa"
    registry: ClassVar[dict[str, str]] = {
        "pca": "dataframe_pipeline.refine.pca:PCAProjection",
        "stratified_split": "dataframe_pipeline.refine.sampling:StratifiedSplit",
        "sample": "dataframe_pipeline.refine.sampling:Sample",
        "truncated_svd": "dataframe_pipeline.refine.svd:TruncatedSVDProjection",
        "systematic_sample": "dataframe_pipeline.refine.sampling:SystematicSample",
        "balance_classes": "dataframe_pipeline.refine.balance:ClassBalancer",
        # normalisation and standardisation of the final features (the same classes as enrich's)
        "normalize": "dataframe_pipeline.refine.normalize:RowNormalizer",
        "standard_scale": "dataframe_pipeline.enrich.scaling:StandardScaler",
        "minmax_scale": "dataframe_pipeline.enrich.scaling:MinMaxScaler",
        "robust_scale": "dataframe_pipeline.enrich.scaling:RobustScaler",
    }

    def __init__(
        self, *, split_outputs: str | None = None, tsne_picture: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.split_outputs = split_outputs
        self.tsne_picture = tsne_picture

    def validate_config(self) -> None:
        super().validate_config()
        self._validate_tsne()
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

    def _validate_tsne(self) -> None:
        spec = self.tsne_picture
        if spec is None:
            return
        if not isinstance(spec, dict) or "columns" not in spec:
            raise ConfigurationError("tsne_picture", spec, "must be a mapping with at least 'columns'")
        unknown = sorted(set(spec) - self.TSNE_KEYS)
        if unknown:
            raise ConfigurationError("tsne_picture", unknown, f"unknown keys; known: {sorted(self.TSNE_KEYS)}")
        columns = spec["columns"]
        if isinstance(columns, str) or not isinstance(columns, list) or not columns:
            raise ConfigurationError("tsne_picture.columns", columns, "must be a non-empty list of column names")
        size = spec.get("sample_size", 2000)
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ConfigurationError("tsne_picture.sample_size", size, "must be an integer >= 2")

    def open_routed_outputs(self, context: Context, transformers: list) -> list[Any]:
        routed: list[Any] = []
        if self.split_outputs:
            from dataframe_pipeline.refine.sampling import StratifiedSplit

            split = [t for t in transformers if isinstance(t, StratifiedSplit) and t.column == self.split_outputs][-1]
            column = self.split_outputs
            writers = {str(name): self.open_output(context, f"{column}={name}") for name in split.fractions}
            routed.append(SplitOutputs(column, writers, self.log))
        if self.tsne_picture is not None:
            routed.append(TsnePicture(dict(self.tsne_picture), self.task_path(context) / "tsne.png", self.log))
        return routed


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


class TsnePicture:
    """The t-SNE picture of the output: its sample is gathered from the batches as they are written
    (numbered by their position in the output), the picture drawn once the output is committed."""

    def __init__(self, spec: dict[str, Any], target: Any, log: Any) -> None:
        from dataframe_pipeline.refine.tsne import StreamSample

        self.columns, self.color_by = list(spec["columns"]), spec.get("color_by")
        self.sample_size, self.random_state = spec.get("sample_size", 2000), spec.get("random_state", 0)
        self.wanted = [*self.columns, self.color_by] if self.color_by not in (None, *self.columns) else self.columns
        self.sample = StreamSample(self.columns, self.sample_size, self.random_state)
        self.target = target
        self.log = log
        self._rows = 0

    def __enter__(self) -> TsnePicture:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        return None  # nothing is written before commit()

    def write(self, batch: Any) -> None:
        import pandas as pd

        missing = [c for c in self.wanted if c not in batch.columns]
        if missing:
            raise ConfigurationError("tsne_picture", missing, f"not columns of the output {list(batch.columns)}")
        part = batch[self.wanted].set_axis(pd.RangeIndex(self._rows, self._rows + len(batch)))
        self._rows += len(batch)
        self.sample.add(part)

    def commit(self, output: DatasetRef) -> dict[str, Any]:
        import tempfile
        from pathlib import Path

        from dataframe_pipeline.core.dataset import write_atomic
        from dataframe_pipeline.refine.tsne import tsne_picture

        sample = self.sample.result()
        with tempfile.TemporaryDirectory() as tmp:
            png, _ = tsne_picture(
                sample, self.columns, self.color_by, self.sample_size, self.random_state, path=Path(tmp) / "tsne.png"
            )
            self.target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.target.fs, self.target.path, png.read_bytes())
        self.log.info("t-SNE picture of %d sampled rows of %s: %s", len(sample), output.uri, self.target)
        return {"pictures": {"tsne": str(self.target)}}
