"""Airflow Assets of the curated tables: one definition, shared by the store step (which updates them)
and the DAGs scheduled on them. Light: safe at DAG parse time.

An asset's name is ``curated/<dataset>``; its URI is the table's location under
``DATAFRAME_PIPELINE_CURATED_ROOT`` without an Airflow connection id (``s3://conn@bucket/x`` is the
asset ``s3://bucket/x``: a connection says how to reach the data, not which data it is).
"""

from __future__ import annotations

import re

from airflow.sdk import Asset

from dataframe_pipeline.core import settings

_CONN_IN_URI = re.compile(r"^([a-z0-9+.-]+)://[^@/]+@", re.IGNORECASE)


def curated_uri(dataset_name: str, curated_root: str | None = None) -> str:
    """The URI of a curated table as an asset names it (no connection id)."""
    root = (curated_root or settings.curated_root()).rstrip("/")
    return _CONN_IN_URI.sub(r"\1://", f"{root}/{dataset_name}")


def curated_asset(dataset_name: str, curated_root: str | None = None) -> Asset:
    """The Asset of the curated table ``dataset_name`` (the store step's outlet)."""
    return Asset(name=f"curated/{dataset_name}", uri=curated_uri(dataset_name, curated_root), group="curated")
