"""Airflow operator of the enrich step."""

from __future__ import annotations

from dataframe_pipeline.core.operators import TransformStepOperator


class EnrichOperator(TransformStepOperator):
    """Enrich a dataset with features: encodings, scaling, date-time, geospatial, reference joins, text.

    The chain's names are the enrich transforms of the catalogue (``docs/transforms.md``): ``one_hot``,
    ``ordinal``, ``frequency``, ``standard_scale``, ``minmax_scale``, ``robust_scale``,
    ``datetime_features``, ``haversine``, ``region``, ``lookup`` and ``text``.

    :param transforms: ``[{"one_hot": {"columns": ["country"]}}, ...]`` (templated)
    """

    step = "enrich"
    ui_color = "#e3f5e1"
