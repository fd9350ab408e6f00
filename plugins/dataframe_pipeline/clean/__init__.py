"""The clean step: type coercion, duplicates, missing values and outliers, as batch transformers."""

from __future__ import annotations

from dataframe_pipeline.clean.duplicates import ExactDuplicates
from dataframe_pipeline.clean.missing import MissingValues
from dataframe_pipeline.clean.outliers import IQROutliers
from dataframe_pipeline.clean.types import TypeCoercion

__all__ = ["ExactDuplicates", "IQROutliers", "MissingValues", "TypeCoercion"]
