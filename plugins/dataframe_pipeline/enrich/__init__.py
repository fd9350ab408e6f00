"""Enrich step: derived features (one-hot encoding, standard scaling).

The transformers are exported lazily, so importing this package (as the step's operators do
while a DAG file is parsed) does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataframe_pipeline.enrich.encoding import OneHotEncoder
    from dataframe_pipeline.enrich.scaling import StandardScaler

__all__ = ["OneHotEncoder", "StandardScaler"]

_EXPORTS = {
    "OneHotEncoder": "dataframe_pipeline.enrich.encoding",
    "StandardScaler": "dataframe_pipeline.enrich.scaling",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
