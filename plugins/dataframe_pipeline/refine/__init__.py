"""Refine step: normalisation, dimensionality reduction (PCA, SVD), seeded stratified splits and samples.

The transformers are exported lazily, so importing this package (as the step's operators do
while a DAG file is parsed) does not import pandas or scikit-learn.
"""

from __future__ import annotations

from dataframe_pipeline._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "ClassBalancer": "balance",
        "PCAProjection": "pca",
        "RowNormalizer": "normalize",
        "Sample": "sampling",
        "StratifiedSplit": "sampling",
        "SystematicSample": "sampling",
        "TruncatedSVDProjection": "svd",
        "tsne_picture": "tsne",
    },
)
