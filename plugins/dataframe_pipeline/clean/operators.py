"""Airflow operator of the clean step."""

from __future__ import annotations

from dataframe_pipeline.core.operators import TransformStepOperator


class CleanOperator(TransformStepOperator):
    """Clean a dataset: duplicates, types and formats, missing values, outliers.

    The chain's names are the clean transforms of the catalogue (``docs/transforms.md``): duplicates
    (``exact_duplicates``, ``key_duplicates``), types and formats (``coerce_types``, ``normalize_text``,
    ``rename_columns``, ``convert_units``, ``convert_timezone``), missing values (``missing_values``,
    ``group_impute``, ``fill_by_key``, ``interpolate``, ``drop_sparse_columns``, ``drop_sparse_rows``) and
    outliers (``iqr_outliers``, ``zscore_outliers``, ``isolation_forest``).

    :param transforms: ``[{"exact_duplicates": {}}, {"coerce_types": {"types": {...}}}, ...]`` (templated)
    """

    step = "clean"
    ui_color = "#fdf2d0"
