"""One real Airflow for the whole e2e tier: started from the venv in a temporary AIRFLOW_HOME on free
ports, with the demo API, driven only through the v2 REST API (JWT from /auth/token)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from include.scripts.local_airflow import LocalAirflow, prepare_demo_data, train
from tests.integration.servers import JsonReceiver


@pytest.fixture(scope="module")
def receiver():
    """A webhook receiver of the module's own (an alert connection of its Airflow points at it)."""
    server = JsonReceiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("e2e")
    af = LocalAirflow.isolated(
        base,
        # only the runs a test asks for (trigger, clear, backfill): no scheduled run racing them
        extra_env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"},
    )
    t0 = time.monotonic()
    prepare_demo_data()
    try:
        af.start(timeout=240)
        print(f"Airflow healthy after {time.monotonic() - t0:.1f}s")
        af.load_settings()
        train(af)  # orders_training publishes the features every orders_pipeline run applies
        yield af
    finally:
        af.stop()


def local_path(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(uri.removeprefix("file://"))


def curated(af: LocalAirflow, dataset: str, day: str) -> pd.DataFrame:
    """The rows of one day of a curated Delta table, as its latest version holds them."""
    from dataframe_pipeline.store.tables import read_table

    return read_table(str(af.data_dir / "curated" / dataset), filters=[("date", "=", day)]).to_pandas()
