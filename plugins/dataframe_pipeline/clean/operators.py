"""Airflow operator of the clean step."""

from __future__ import annotations

from typing import ClassVar

from dataframe_pipeline.core.operators import TransformStepOperator


class CleanOperator(TransformStepOperator):
    """Clean a dataset: duplicates, types and formats, missing values, outliers.

    ``transforms`` names, in the order given::

        exact_duplicates  ExactDuplicates(subset=None)            dropped by rule
        coerce_types      TypeCoercion(types, on_error)           unparseable values quarantined or nulled
        missing_values    MissingValues(strategies, default)      impute / drop / quarantine
        iqr_outliers      IQROutliers(columns, factor, action)    quarantine / drop / cap / flag

    :param transforms: ``[{"exact_duplicates": {}}, {"coerce_types": {"types": {...}}}, ...]`` (templated)
    """

    step = "clean"
    ui_color = "#fdf2d0"
    registry: ClassVar[dict[str, str]] = {
        "exact_duplicates": "dataframe_pipeline.clean.duplicates:ExactDuplicates",
        "coerce_types": "dataframe_pipeline.clean.coercion:TypeCoercion",
        "missing_values": "dataframe_pipeline.clean.missing:MissingValues",
        "iqr_outliers": "dataframe_pipeline.clean.outliers:IQROutliers",
    }
