"""Airflow operator of the clean step."""

from __future__ import annotations

from typing import ClassVar

from dataframe_pipeline.core.operators import TransformStepOperator


class CleanOperator(TransformStepOperator):
    """Clean a dataset: duplicates, types and formats, missing values, outliers.

    ``transforms`` names, in the order given::

        exact_duplicates     ExactDuplicates(subset=None)                      dropped by rule
        key_duplicates       KeyDuplicates(keys, keep_latest_by, keep)         latest row per key
        coerce_types         TypeCoercion(types, on_error)                     unparseable values quarantined or nulled
        normalize_text       NormalizeText(columns, strip, case, unicode_form, remove_accents, ...)
        rename_columns       RenameColumns(mapping)
        convert_units        ConvertUnits(column, unit_column, factors, target, from_unit)
        convert_timezone     ConvertTimezone(columns, to, from_tz)
        missing_values       MissingValues(strategies, default)                impute / drop / quarantine
        group_impute         GroupImputer(columns, by, strategy, fallback)     per-group statistics
        fill_by_key          FillByKey(columns, key, order_by, method)         ffill / bfill within a key
        interpolate          InterpolateTimeSeries(columns, time_column, key, method)
        drop_sparse_columns  DropSparseColumns(threshold)
        drop_sparse_rows     DropSparseRows(max_missing, columns)
        iqr_outliers         IQROutliers(columns, factor, action, scale)       quarantine / drop / cap / flag
        zscore_outliers      ZScoreOutliers(columns, threshold, action)
        isolation_forest     IsolationForestOutliers(columns, contamination, sample_size, random_state, action)

    :param transforms: ``[{"exact_duplicates": {}}, {"coerce_types": {"types": {...}}}, ...]`` (templated)
    """

    step = "clean"
    ui_color = "#fdf2d0"
    registry: ClassVar[dict[str, str]] = {
        "exact_duplicates": "dataframe_pipeline.clean.duplicates:ExactDuplicates",
        "coerce_types": "dataframe_pipeline.clean.coercion:TypeCoercion",
        "missing_values": "dataframe_pipeline.clean.missing:MissingValues",
        "iqr_outliers": "dataframe_pipeline.clean.outliers:IQROutliers",
        "key_duplicates": "dataframe_pipeline.clean.duplicates:KeyDuplicates",
        "normalize_text": "dataframe_pipeline.clean.formats:NormalizeText",
        "rename_columns": "dataframe_pipeline.clean.formats:RenameColumns",
        "convert_units": "dataframe_pipeline.clean.formats:ConvertUnits",
        "convert_timezone": "dataframe_pipeline.clean.formats:ConvertTimezone",
        "group_impute": "dataframe_pipeline.clean.missing:GroupImputer",
        "fill_by_key": "dataframe_pipeline.clean.fill:FillByKey",
        "interpolate": "dataframe_pipeline.clean.fill:InterpolateTimeSeries",
        "drop_sparse_columns": "dataframe_pipeline.clean.sparse:DropSparseColumns",
        "drop_sparse_rows": "dataframe_pipeline.clean.sparse:DropSparseRows",
        "zscore_outliers": "dataframe_pipeline.clean.outliers:ZScoreOutliers",
        "isolation_forest": "dataframe_pipeline.clean.isolation_forest:IsolationForestOutliers",
    }
