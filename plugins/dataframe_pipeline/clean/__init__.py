"""The clean step: type coercion, duplicates, missing values and outliers, as batch transformers."""

from __future__ import annotations

from dataframe_pipeline._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "ExactDuplicates": "duplicates",
        "IQROutliers": "outliers",
        "MissingValues": "missing",
        "TypeCoercion": "coercion",
    },
)
