"""Shared test configuration: tier markers by folder, and the skip rule for missing services."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Airflow reads its plugins folder when it is first imported: the project's, as in a deployment (the
# timetables a DAG uses are registered by a plugin there; serializing a DAG needs them)
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(Path(__file__).resolve().parents[1] / "plugins"))

TIERS = ("unit", "dags", "integration", "e2e")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier (the folder under tests/) so `-m unit` etc. select them."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def require_service(available: bool, reason: str) -> None:
    """Skip when a service the test needs is missing, except under CI=true, where it fails."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required service missing under CI=true: {reason}")
    pytest.skip(reason)
