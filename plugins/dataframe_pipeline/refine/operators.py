"""Airflow operator of the refine step."""

from __future__ import annotations

from typing import ClassVar

from dataframe_pipeline.core.operators import TransformStepOperator


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
    """

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
