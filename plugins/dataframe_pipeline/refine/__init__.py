"""Refine step: dimensionality reduction (PCA), seeded stratified splits and samples.

The transformers are exported lazily, so importing this package (as the step's operators do
while a DAG file is parsed) does not import pandas or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataframe_pipeline.refine.pca import PCAProjection
    from dataframe_pipeline.refine.sampling import Sample, StratifiedSplit

__all__ = ["PCAProjection", "Sample", "StratifiedSplit"]

_EXPORTS = {
    "PCAProjection": "dataframe_pipeline.refine.pca",
    "Sample": "dataframe_pipeline.refine.sampling",
    "StratifiedSplit": "dataframe_pipeline.refine.sampling",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
