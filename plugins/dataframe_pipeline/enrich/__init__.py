"""Enrich step: derived features (one-hot encoding, standard scaling).

The transformers are exported lazily, so importing this package (as the step's operators do
while a DAG file is parsed) does not import pandas.
"""

from __future__ import annotations

from dataframe_pipeline._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"OneHotEncoder": "encoding", "StandardScaler": "scaling"})
