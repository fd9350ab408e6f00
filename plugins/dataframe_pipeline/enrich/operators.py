"""Airflow operator of the enrich step."""

from __future__ import annotations

from typing import ClassVar

from dataframe_pipeline.core.operators import TransformStepOperator


class EnrichOperator(TransformStepOperator):
    """Enrich a dataset with features: encodings and scaling.

    ``transforms`` names::

        one_hot          OneHotEncoder(columns, handle_unknown, max_categories, drop_input)
        standard_scale   StandardScaler(columns, with_mean, with_std)

    :param transforms: ``[{"one_hot": {"columns": ["country"]}}, ...]`` (templated)
    """

    step = "enrich"
    ui_color = "#e3f5e1"
    registry: ClassVar[dict[str, str]] = {
        "one_hot": "dataframe_pipeline.enrich.encoding:OneHotEncoder",
        "standard_scale": "dataframe_pipeline.enrich.scaling:StandardScaler",
    }
