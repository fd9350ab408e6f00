"""Airflow operator of the enrich step."""

from __future__ import annotations

from typing import ClassVar

from dataframe_pipeline.core.operators import TransformStepOperator


class EnrichOperator(TransformStepOperator):
    """Enrich a dataset with features: encodings, scaling, date-time, geospatial, reference joins, text.

    ``transforms`` names::

        one_hot            OneHotEncoder(columns, handle_unknown, max_categories, drop_input)
        ordinal            OrdinalEncoder(columns, categories, handle_unknown, unknown_value)
        frequency          FrequencyEncoder(columns, normalize, suffix)
        standard_scale     StandardScaler(columns, with_mean, with_std, suffix)
        minmax_scale       MinMaxScaler(columns, feature_range, suffix)
        robust_scale       RobustScaler(columns, quantile_range, suffix)
        datetime_features  DateTimeFeatures(column, features, cyclical, prefix)
        haversine          HaversineDistance(lat1, lon1, lat2, lon2, output)
        region             CoordinatesToRegion(lat, lon, output, regions)
        lookup             LookupJoin(reference, on, columns, prefix, how, on_missing, name)
        text               TextFeatures(column, stop_words, stemmer, lemmatize, method, n_features, max_features, ...)

    :param transforms: ``[{"one_hot": {"columns": ["country"]}}, ...]`` (templated)
    """

    step = "enrich"
    ui_color = "#e3f5e1"
    registry: ClassVar[dict[str, str]] = {
        "one_hot": "dataframe_pipeline.enrich.encoding:OneHotEncoder",
        "standard_scale": "dataframe_pipeline.enrich.scaling:StandardScaler",
        "ordinal": "dataframe_pipeline.enrich.encoding:OrdinalEncoder",
        "frequency": "dataframe_pipeline.enrich.encoding:FrequencyEncoder",
        "minmax_scale": "dataframe_pipeline.enrich.scaling:MinMaxScaler",
        "robust_scale": "dataframe_pipeline.enrich.scaling:RobustScaler",
        "datetime_features": "dataframe_pipeline.enrich.datetime_features:DateTimeFeatures",
        "haversine": "dataframe_pipeline.enrich.geo:HaversineDistance",
        "region": "dataframe_pipeline.enrich.geo:CoordinatesToRegion",
        "lookup": "dataframe_pipeline.enrich.lookup:LookupJoin",
        "text": "dataframe_pipeline.enrich.text:TextFeatures",
    }
